"""Words the pages use: one term per thing, no generated filter labels, plain time phrases."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evaluations.templatetags.charts import ago

GENERATED = ("is greater than", "is less than", "Created at date")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/runs/new/", "/audit/", "/cases/"])
def test_no_generated_filter_labels(path, admin_user, login):
    html = login(admin_user).get(path).content.decode()
    assert not [words for words in GENERATED if words in html]


@pytest.mark.django_db
def test_the_run_form_says_domain_like_the_lists(admin_user, login):
    client = login(admin_user)
    form = client.get("/runs/new/").content.decode()
    assert "Domain" in form and "Model type" not in form and "model type)" not in form
    assert "Domain" in client.get("/runs/").content.decode()


def test_ago_says_just_now_under_a_minute():
    now = timezone.now()
    assert ago(now - timedelta(seconds=20)) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=5)) == "3\xa0minutes ago"
    assert ago(None) == ""


@pytest.mark.django_db
def test_audit_details_are_json_not_python(admin_user, login):
    from accounts.audit import record

    record(admin_user, "case.update", None, changed=True, fields=["tags"], note=None)
    html = login(admin_user).get("/audit/").content.decode()
    assert "&quot;changed&quot;: true" in html and "&quot;note&quot;: null" in html
    assert "True" not in html and "&#x27;fields&#x27;" not in html
