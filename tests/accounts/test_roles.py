"""Roles keep every app's permissions after `flush` (which re-sends post_migrate): the roles are
synced once the last app's permissions exist, not when accounts' turn comes."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command


@pytest.mark.django_db(transaction=True)
def test_roles_get_later_apps_permissions_after_a_flush():
    call_command("flush", "--no-input", verbosity=0)
    grader = Group.objects.get(name="grader")
    codenames = set(grader.permissions.values_list("content_type__app_label", "codename"))
    assert ("grading", "grade") in codenames
    assert ("cases", "view_testcase") in codenames
