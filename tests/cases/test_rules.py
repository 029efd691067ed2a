"""Rules with one home: the pages' notices and counts read the FilterSet's and queryset's."""

import pytest
from django.urls import reverse

from cases import filters
from cases.models import TestCase


@pytest.fixture
def mixed(make_case):
    make_case()  # golden
    make_case(is_verified=False)  # human, unverified
    make_case(origin="ai-generated", is_verified=False)  # awaiting review
    make_case(origin="ai-generated", is_verified=True)  # reviewed
    make_case(model_type="cv", output_type="bounding_boxes", ground_truth=[])  # golden, cv


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "shown", "notice"),
    [
        ({}, 2, "Showing the golden set"),
        ({"origin": "ai-generated"}, 2, "Widened beyond the golden set by the origin"),
        ({"is_verified": "false"}, 2, "Widened beyond the golden set by the origin"),
        ({"scope": "verified"}, 3, "Widened: the golden set plus reviewed"),
        ({"scope": "verified", "is_verified": "false"}, 0, "Widened: the golden set plus"),
        ({"scope": "all", "origin": "human"}, 3, "Widened to every case"),
        ({"difficulty": "impossible"}, 0, "Showing the golden set"),
    ],
)
def test_the_notice_says_what_the_filterset_selects(mixed, login, viewer, params, shown, notice):
    page = login(viewer).get(reverse("cases:list"), params)
    assert len(page.context["page"]) == shown
    assert notice in page.context["scope_notice"]
    filterset = filters.TestCaseFilterSet(params, queryset=TestCase.objects.all())
    expected = filterset.qs.count() if filterset.is_valid() else 0
    assert expected == shown
    assert page.context["scope"] == filterset.effective_scope()[0]


@pytest.mark.django_db
def test_dashboard_counts_the_querysets_golden_set_and_review_queue(mixed, login, viewer):
    context = login(viewer).get("/").context
    assert context["totals"] == {"total": 5, "golden": 2, "awaiting_review": 1}
    assert TestCase.objects.golden().count() == 2
    assert TestCase.objects.awaiting_review().count() == 1
    by_domain = {row["model_type"]: row for row in context["by_domain"]}
    assert by_domain["nlp"]["golden"] == 1 and by_domain["cv"]["golden"] == 1
