"""The admin site renders every model's changelist and change page with seeded data, cheaply."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from cases.models import TestCase
from evaluations.models import Evaluation
from runs.models import ModelRun, Response

MODELS = [TestCase, ModelRun, Response, Evaluation]


@pytest.fixture
def seeded(db):
    call_command("seed_user_data", verbosity=0, stdout=open("/dev/null", "w"))
    response = Response.objects.first()
    Evaluation.objects.get_or_create(
        response=response,
        evaluator_type="exact_match",
        defaults={"score": 1.0, "passed": True, "metrics": {"note": "<b>escaped</b>"}},
    )


def url(model, action: str, *args) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_renders_with_bounded_queries(
    model, seeded, admin_user, login, django_assert_max_num_queries
):
    client = login(admin_user)
    with django_assert_max_num_queries(15):
        response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    assert model.objects.exists()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_renders_with_bounded_queries(
    model, seeded, admin_user, login, django_assert_max_num_queries
):
    client = login(admin_user)
    obj = model.objects.order_by("pk").first()
    with django_assert_max_num_queries(15):
        response = client.get(url(model, "change", obj.pk))
    assert response.status_code == 200
    assert b'<pre class="json">' in response.content


def test_changelist_filters_and_search(seeded, admin_user, login):
    client = login(admin_user)
    response = client.get(url(TestCase, "changelist"), {"q": "Lisbon", "origin__exact": "human"})
    assert response.status_code == 200
    shown = response.context["cl"].result_count
    assert 0 < shown < TestCase.objects.count()


def test_huge_table_count_is_estimated_not_exact(seeded, admin_user, login, monkeypatch):
    """Past the exact-count limit the paginator asks the planner instead of COUNT(*)."""
    from mleval_site import pagination

    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 50)
    response = login(admin_user).get(url(TestCase, "changelist"))
    paginator = response.context["cl"].paginator
    assert paginator.count_is_estimate
    assert paginator.count > 50
