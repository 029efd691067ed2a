"""/models/ and /models/<name>/: versions newest first, trend figures equal the runs' reports."""

import json

import pytest
from django.urls import reverse

from cases.models import TestCase
from evaluations import summaries
from evaluations.model_figures import model_list, model_trend
from evaluations.pipeline import evaluate_run
from runs.ingestion import ingest_responses
from runs.selection import register_run

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
        )
        for i in range(12)
    ]


def scored_run(golden, name: str, version: str, shift: int, slow: int = 0):
    run = register_run(model_name=name, model_version=version, model_type="nlp")
    lines = [
        json.dumps(
            {
                "test_case_id": case.pk,
                "output_data": {"label": LABELS[(i + (i < shift)) % 3]},
                "latency_ms": 10 + 7 * i + slow,
            }
        )
        for i, case in enumerate(golden)
    ]
    ingest_responses(run, lines)
    evaluate_run(run, ["label_match"])
    return run


def test_trend_figures_equal_the_runs_reports(golden, login, viewer):
    v1 = scored_run(golden, "bert", "1", shift=6)
    v2_old = scored_run(golden, "bert", "2", shift=5)
    v2 = scored_run(golden, "bert", "2", shift=2, slow=30)  # the newest run of version 2
    scored_run(golden, "gpt", "a", shift=0)

    models = {model["model_name"]: model for model in model_list()}
    assert models["bert"]["versions"] == ["2", "1"] and models["bert"]["runs"] == 3
    assert models["gpt"]["versions"] == ["a"]

    trend = model_trend("bert")
    assert trend["evaluator"] == "label_match"
    assert [row["run"].pk for row in trend["trend"]] == [v1.pk, v2.pk]
    assert [row["run"].pk for row in trend["rows"]] == [v2.pk, v2_old.pk, v1.pk]
    for row in trend["trend"]:
        report = summaries.run_report(row["run"])
        scored = report["evaluators"]["label_match"]
        assert row["pass_rate"] == scored["pass_rate"]
        assert list(row["ci95"]) == list(scored["pass_rate_ci95"])
        assert row["latency_p95"] == report["latency_ms"]["p95"]
    assert trend["trend"][0]["pass_rate"] < trend["trend"][1]["pass_rate"]
    assert len(trend["chart"]["whiskers"]) == 2

    client = login(viewer)
    page = client.get(reverse("evaluations:model", args=["bert"]))
    assert page.status_code == 200 and b"<polyline" in page.content
    listing = client.get(reverse("evaluations:models")).content.decode()
    assert "/models/bert/" in listing and "2, 1" in listing
    assert client.get(reverse("evaluations:model", args=["nobody"])).status_code == 404


@pytest.mark.django_db
def test_models_need_the_report_permission(login, outsider):
    assert login(outsider).get(reverse("evaluations:models")).status_code == 403
