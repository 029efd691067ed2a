"""Model pages, slice 2: runs by golden set, cost per 1,000 cases, baselines (marking,
personas, the run page's comparison equal to the comparison's figures) and the lineage form."""

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from cases.models import TestCase
from evaluations import summaries
from evaluations.model_figures import model_trend
from evaluations.pipeline import evaluate_run
from evaluations.reports import compare_runs
from runs import baselines
from runs.costs import token_cost
from runs.ingestion import ingest_responses
from runs.lineage import ModelVersion
from runs.models import ModelRun
from runs.selection import register_run
from versions.freezing import freeze

LABELS = ("positive", "negative", "neutral")


@pytest.fixture
def golden(db) -> list[TestCase]:
    return [
        TestCase.objects.create(
            input_data={"text": f"t{i}"},
            input_type="text",
            ground_truth={"label": LABELS[i % 3]},
            output_type="classification",
            model_type="nlp",
            category="hard" if i < 20 else "easy",
        )
        for i in range(40)
    ]


def scored_run(name, model_version, wrong: set[int], *, tokens=None, config=None, **kwargs):
    """A run answering every golden case, wrong on the indexes in ``wrong``."""
    run = register_run(
        model_name=name, model_version=model_version, model_type="nlp", config=config, **kwargs
    )
    cases = list(TestCase.objects.order_by("pk"))
    lines = [
        json.dumps(
            {
                "test_case_id": case.pk,
                "output_data": {"label": LABELS[(i + (i in wrong)) % 3]},
                "latency_ms": 10 + i,
                **({"tokens_used": tokens(i)} if tokens else {}),
            }
        )
        for i, case in enumerate(cases)
    ]
    ingest_responses(run, lines)
    evaluate_run(run, ["label_match"])
    run.refresh_from_db()
    return run


def test_cost_per_1000_cases_is_the_reports_mean_tokens_at_the_runs_price(golden):
    priced = scored_run(
        "gpt", "1", set(), tokens=lambda i: 100 + i, config={"token_price_per_million": 2.5}
    )
    unpriced = scored_run("gpt", "2", set(), tokens=lambda i: 100)
    no_tokens = scored_run("gpt", "3", set(), config={"token_price_per_million": 2.5})
    rows = {row["run"].pk: row for row in model_trend("gpt")["rows"]}
    mean = summaries.run_report(priced)["tokens"]["mean"]
    assert mean == pytest.approx(119.5)
    assert rows[priced.pk]["cost_per_1000"] == pytest.approx(mean * 1000 * 2.5 / 1_000_000)
    assert rows[unpriced.pk]["cost_per_1000"] is None
    assert rows[no_tokens.pk]["cost_per_1000"] is None
    # The shared rule: parts priced apart (a judge's prompt and completion), None if unknown.
    assert token_cost((1_000_000, 0.5), (2_000_000, 1.5)) == pytest.approx(3.5)
    assert token_cost((10, 1.0), (None, 1.0)) is None


@pytest.mark.django_db
@pytest.mark.parametrize("price", [-1, "2", True, {"input": 1}])
def test_a_bad_price_is_refused_naming_the_config(golden, price):
    with pytest.raises(ValidationError) as refused:
        register_run(model_name="m", model_version="1", model_type="nlp",
                     config={"token_price_per_million": price})  # fmt: skip
    assert "token_price_per_million" in " ".join(refused.value.message_dict["config"])
    assert not ModelRun.objects.exists()


def test_runs_are_grouped_by_golden_set_with_their_baseline(golden, curator):
    version = freeze("golden-1", selection={}, created_by=curator)
    on_live = scored_run("bert", "1", set())
    on_version = scored_run("bert", "1", set(), version=version)
    newer_live = scored_run("bert", "2", {0, 1})
    baselines.mark(on_live)
    groups = model_trend("bert")["groups"]
    assert [[row["run"].pk for row in group["rows"]] for group in groups] == [
        [newer_live.pk, on_live.pk],
        [on_version.pk],
    ]
    assert groups[0]["baseline"]["run"] == on_live and groups[1]["baseline"] is None
    assert groups[1]["label"] == "golden-set version golden-1"
    assert groups[0]["label"].startswith(f"case set {on_live.cases_hash[:8]} (40 cases")


def test_a_newer_runs_page_compares_it_with_the_baseline(
    golden, login, viewer, admin_user, django_assert_max_num_queries
):
    wrong = set(range(12))  # 12 regressions, all in "hard": significant
    baseline = scored_run("bert", "1", set())
    older_than_baseline = scored_run("bert", "0", set())
    ModelRun.objects.filter(pk=older_than_baseline.pk).update(
        created_at=baseline.created_at.replace(year=2000)
    )
    candidate = scored_run("bert", "2", wrong)
    client = login(viewer)
    fragment = client.get(reverse("evaluations:run-baseline", args=[candidate.pk])).content.decode()
    assert "No baseline" in fragment

    login(admin_user).post(reverse("evaluations:run-mark-baseline", args=[baseline.pk]))
    fragment = client.get(reverse("evaluations:run-baseline", args=[candidate.pk])).content.decode()
    # The comparison is cached now; + its judges' trust (a fingerprint, and its figures when not
    # cached) for the JSON and the marks.
    with django_assert_max_num_queries(10):
        client.get(reverse("evaluations:run-baseline", args=[candidate.pk]))
    figures = compare_runs(baseline, candidate)["evaluators"]["label_match"]
    assert figures["regressions"] == 12 and figures["improvements"] == 0
    row = re.search(r"<td>label_match / overall</td>(.*?)</tr>", fragment, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[0] == str(figures["paired"]) and cells[4] == "12" and cells[5] == "0"
    assert cells[6] == f"{figures['mcnemar_p']:.3f}" and "significant regression" in cells[7]
    assert "trust-unmeasured" in cells[2]  # label_match is not checked against people
    assert "label_match / category=hard" in fragment  # the regressed slice, named
    # The baseline's own page says so; an older run is not compared.
    own = client.get(reverse("evaluations:run-baseline", args=[baseline.pk])).content.decode()
    assert "This run is the baseline" in own
    older = client.get(reverse("evaluations:run-baseline", args=[older_than_baseline.pk]))
    assert "No baseline" in older.content.decode()
    # The run page and the report load the fragment.
    fragment_url = reverse("evaluations:run-baseline", args=[candidate.pk])
    for page in ("evaluations:run-report", "runs:detail"):
        assert fragment_url in client.get(reverse(page, args=[candidate.pk])).content.decode()


def test_who_may_mark_a_baseline(golden, login, viewer, curator, engineer, admin_user):
    run = scored_run("bert", "1", set())
    url = reverse("evaluations:run-mark-baseline", args=[run.pk])
    for user in (viewer, curator, engineer):
        assert login(user).post(url).status_code == 403
    assert not ModelRun.objects.filter(baseline_since__isnull=False).exists()
    # A lead: an engineer given the permission.
    engineer.user_permissions.add(Permission.objects.get(codename="mark_baseline"))
    lead = login(engineer)
    assert lead.post(url).status_code == 302
    run.refresh_from_db()
    assert run.baseline_since is not None
    assert AuditEvent.objects.filter(action="run.baseline", actor=engineer).exists()
    page = lead.get(reverse("evaluations:model", args=["bert"])).content.decode()
    assert "Unmark" in page and "<strong>baseline</strong>" in page
    assert (
        "Mark baseline"
        not in login(viewer).get(reverse("evaluations:model", args=["bert"])).content.decode()
    )
    assert login(admin_user).post(url, {"unmark": "1"}).status_code == 302
    run.refresh_from_db()
    assert run.baseline_since is None


def test_lineage_form_records_parents_and_refuses_a_cycle(golden, login, viewer, engineer):
    scored_run("bert", "1", set())
    scored_run("bert", "2", set())
    url = reverse("evaluations:model", args=["bert"])
    form = {"model_name": "bert", "model_version": "2", "parent_name": "bert",
            "parent_version": "1", "kind": "distilled", "note": "half the layers"}  # fmt: skip
    assert login(viewer).post(url, form).status_code == 403
    client = login(engineer)
    assert client.post(url, form).status_code == 302
    base = {
        "model_version": "1",
        "parent_name": "llama",
        "parent_version": "3",
        "kind": "fine_tuned",
    }
    assert client.post(url, {**form, **base}).status_code == 302
    page = client.get(url).content.decode()
    assert "distilled from" in page and "llama" in page
    refused = client.post(url, {**form, "model_version": "1", "parent_version": "2"})
    assert refused.status_code == 400 and "lineage has no cycle" in refused.content.decode()
    assert (
        ModelVersion.objects.get(model_name="bert", model_version="1").parent.model_name == "llama"
    )
    half = client.post(url, {**form, "parent_version": ""})
    assert half.status_code == 400 and "Give the parent" in half.content.decode()


def test_model_page_queries_do_not_grow_with_runs(
    golden, login, viewer, django_assert_max_num_queries
):
    for version in ("1", "2", "3"):
        scored_run("bert", version, set())
    ModelVersion.record("bert", "2", ("bert", "1"), "fine_tuned")
    client = login(viewer)
    url = reverse("evaluations:model", args=["bert"])
    client.get(url)  # summaries computed once
    with django_assert_max_num_queries(11):  # + grading's trust mark (cached figures)
        assert client.get(url).status_code == 200
    for version in ("4", "5", "6", "7"):
        scored_run("bert", version, set())
        ModelVersion.record("bert", version, ("bert", "2"), "quantized")
    client.get(url)
    with django_assert_max_num_queries(11):  # the same, with more runs and lineage
        assert client.get(url).status_code == 200


def test_a_model_with_many_runs_shows_the_newest(golden, monkeypatch):
    monkeypatch.setattr("evaluations.model_figures.SHOWN_RUNS", 2)
    monkeypatch.setattr("evaluations.model_figures.SHOWN_VERSIONS", 2)
    runs = [scored_run("ci", str(i), set()) for i in range(4)]
    baselines.mark(runs[0])
    model = model_trend("ci")
    (group,) = model["groups"]
    assert group["count"] == 4
    assert [row["run"] for row in group["rows"]] == [runs[3], runs[2], runs[0]]  # + baseline
    assert [row["run"] for row in model["trend"]] == runs[2:]
