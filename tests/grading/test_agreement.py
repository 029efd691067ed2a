"""Agreement figures against the reference libraries, on hand-built tables; then the report
block, the task and evaluator pages, trust marks and disagreements on graded rows."""

import krippendorff
import numpy as np
import pytest
from django.test import override_settings
from sklearn.metrics import cohen_kappa_score

from evaluations.reports.run_report import build_run_report
from grading import agreement
from grading.models import Assignment
from grading.verdicts import record_grade

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the nominal example:
# four observers, twelve units; alpha = 0.743.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def test_alpha_matches_the_published_example_and_the_library():
    figures = agreement.alpha_figures(KRIPPENDORFF_2011)
    assert figures["alpha"] == pytest.approx(0.743, abs=5e-4)
    assert figures["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=KRIPPENDORFF_2011, level_of_measurement="nominal")
    )
    assert figures["n"] == 11  # the last unit has one value: not pairable
    low, high = figures["alpha_ci95"]
    assert low <= figures["alpha"] <= high


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1, 1, 0, 0, 1, 0, 1, 1, 0, 1], [1, 0, 0, 0, 1, 0, 1, 1, 1, 1]),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0]),
        ([1, 0] * 20, [1, 0] * 20),
    ],
)
def test_kappa_matches_scikit_learn(a, b):
    figures = agreement.paired_figures([bool(x) for x in a], [bool(y) for y in b])
    assert figures["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    assert figures["accuracy"] == pytest.approx(np.mean(np.array(a) == np.array(b)))
    low, high = figures["kappa_ci95"]
    assert low <= figures["kappa"] <= high
    low, high = figures["accuracy_ci95"]
    assert low <= figures["accuracy"] <= high
    confusion = figures["confusion"]
    assert sum(confusion.values()) == len(a) == figures["n"]


def test_undefined_figures_are_none():
    same = agreement.paired_figures([True] * 5, [True] * 5)  # no variation: chance is 1
    assert same["kappa"] is None and same["accuracy"] == 1.0
    assert agreement.alpha_figures(np.array([[1.0], [1.0]]))["alpha"] is None


def test_graders_agreement_gives_alpha_and_a_kappa_per_pair():
    rows = []
    truth = [True, False, True, True, False, False, True, False]
    for unit, value in enumerate(truth):
        rows.append((unit, "alice", value, 5 if value else 1))
        rows.append((unit, "bob", value if unit != 3 else not value, 4 if value else 2))
    figures = agreement.graders_agreement(rows)
    alice = [int(v) for v in truth]
    bob = [int(v if u != 3 else not v) for u, v in enumerate(truth)]
    (pair,) = figures["pairs"]
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(alice, bob))
    expected = krippendorff.alpha(reliability_data=[alice, bob], level_of_measurement="nominal")
    assert figures["alpha"] == pytest.approx(expected)
    assert figures["scores"]["alpha"] is not None and figures["n"] == 8


def grade_all(task, verdict):
    """Every assignment graded: verdict(item_position, grader_name) -> passed."""
    for assignment in Assignment.objects.filter(item__task=task).select_related("item", "grader"):
        record_grade(
            assignment, passed=verdict(assignment.item.position, assignment.grader.username)
        )


def test_report_block_page_and_api_show_the_agreement(task, graded_run, graders, viewer, login):
    # People pass exactly what the judge passed: the judge passes even-numbered answers.
    judge = {
        item.position: item.response.evaluations.get(evaluator_type="llm_judge").passed
        for item in task.items.select_related("response")
    }
    grade_all(task, lambda position, name: judge[position])
    block = build_run_report(graded_run.run)["agreement"]
    assert set(block) == {"llm_judge"}
    assert block["llm_judge"]["n"] == 12 and block["llm_judge"]["kappa"] == pytest.approx(1.0)
    assert block["llm_judge"]["accuracy"] == 1.0
    api = login(viewer).get(f"/api/v1/runs/{graded_run.run.pk}/report/").json()
    assert api["agreement"]["llm_judge"]["n"] == 12
    assert "human" in api["evaluators"]  # human verdicts are an evaluator of the report
    page = login(viewer).get(f"/grading/tasks/{task.pk}/").content.decode()
    assert "Krippendorff" in page and 'id="calibration"' in page


@override_settings(MLEVAL_TRUST_MIN_GRADED=5, MLEVAL_TRUST_MIN_KAPPA=0.6)
def test_a_judge_people_disagree_with_is_marked_untrusted(task, graded_run, viewer, login):
    # People fail the answers the judge passed, and pass half of those it failed.
    judge = {
        item.position: item.response.evaluations.get(evaluator_type="llm_judge").passed
        for item in task.items.select_related("response")
    }
    grade_all(task, lambda position, name: (not judge[position]) and position % 4 != 0)
    client = login(viewer)
    page = client.get("/grading/evaluators/llm_judge/").content.decode()
    assert "untrusted" in page
    report = client.get(f"/runs/{graded_run.run.pk}/report/").content.decode()
    assert "trust-untrusted" in report and "low agreement with people" in report
    # The report's JSON (API and download) states it too, with what it rests on.
    api = client.get(f"/api/v1/runs/{graded_run.run.pk}/report/").json()
    judged = api["trust"]["llm_judge"]
    assert judged["status"] == "untrusted" and judged["n"] == 12
    assert judged["kappa_low"] < 0.6 and judged["kappa"] is not None
    assert "human" not in api["trust"]  # people are the reference, not a judged evaluator
    download = client.get(f"/runs/{graded_run.run.pk}/report/?format=json").json()
    assert download["trust"] == api["trust"]
    csv = client.get(f"/runs/{graded_run.run.pk}/report/?format=csv").content.decode()
    assert "trust,llm_judge,,,status,untrusted" in csv and "trust,llm_judge,,,n,12" in csv
    listing = client.get("/grading/disagreements/?evaluator=llm_judge").content.decode()
    assert listing.count("<tr>") >= 6
    # Wherever a headline pass rate is shown: the run list and the dashboard. The graded run's
    # headline is human (no mark: people are the reference); a run judged only by llm_judge
    # has the judge's.
    from model_bakery import baker

    from evaluations.models import Evaluation
    from evaluations.summary_store import compute_summary
    from runs.models import ModelRun, Response

    judged = baker.make(ModelRun, model_name="chat", model_version="2", status="completed")
    for response in graded_run.responses:
        answer = baker.make(Response, run=judged, test_case=response.test_case, output_data={})
        baker.make(Evaluation, response=answer, evaluator_type="llm_judge", score=1, passed=True)
    for run in (graded_run.run, judged):
        compute_summary(run)  # a headline pass rate is its run's summary's
    for url in ("/runs/", "/"):
        page = client.get(url).content.decode()
        rows = {
            run.pk: page[page.index(f'href="/runs/{run.pk}/"') :].split("</tr>")[0]
            for run in (graded_run.run, judged)
        }
        assert 'title="llm_judge">100%' in rows[judged.pk] and "trust-untrusted" in rows[judged.pk]
        assert 'title="human"' in rows[graded_run.run.pk]
        assert "trust-" not in rows[graded_run.run.pk], url


@override_settings(MLEVAL_TRUST_MIN_GRADED=5, MLEVAL_TRUST_MIN_KAPPA=0.6)
def test_a_judge_people_agree_with_is_trusted(task, graded_run, viewer, login):
    judge = {
        item.position: item.response.evaluations.get(evaluator_type="llm_judge").passed
        for item in task.items.select_related("response")
    }
    grade_all(task, lambda position, name: judge[position])
    page = login(viewer).get("/grading/evaluators/llm_judge/").content.decode()
    assert 'badge ok">trusted' in page


def test_unmeasured_evaluators_are_marked(graded_run, viewer, login):
    report = login(viewer).get(f"/runs/{graded_run.run.pk}/report/").content.decode()
    assert "trust-unmeasured" in report
    trust = login(viewer).get(f"/api/v1/runs/{graded_run.run.pk}/report/").json()["trust"]
    assert trust["llm_judge"] == {
        "status": "unmeasured",
        "reason": "not yet checked against human grades",
        "kappa": None,
        "kappa_low": None,
        "n": 0,
    }


@override_settings(MLEVAL_TRUST_MIN_GRADED=5, MLEVAL_TRUST_MIN_KAPPA=0.6)
def test_the_comparison_says_a_significant_change_rests_on_an_untrusted_judge(
    task, graded_run, viewer, login
):
    from model_bakery import baker

    from evaluations.models import Evaluation
    from runs.models import ModelRun, Response

    judge = {
        item.position: item.response.evaluations.get(evaluator_type="llm_judge").passed
        for item in task.items.select_related("response")
    }
    grade_all(task, lambda position, name: not judge[position])  # people disagree throughout
    candidate = baker.make(
        ModelRun, model_name="chat", model_version="2", model_type="llm", status="completed"
    )
    for response in graded_run.responses:  # the judge now fails everything: 6 regressions
        answer = baker.make(
            Response, run=candidate, test_case=response.test_case, output_data={"text": "?"}
        )
        baker.make(Evaluation, response=answer, evaluator_type="llm_judge", score=0, passed=False)
    page = login(viewer).get(f"/runs/compare/?a={graded_run.run.pk}&b={candidate.pk}")
    text = page.content.decode()
    assert "significant regression" in text
    assert "rests on an untrusted judge" in text and "trust-untrusted" in text
    compared = login(viewer).get(f"/api/v1/compare/?a={graded_run.run.pk}&b={candidate.pk}")
    body = compared.json()
    assert body["trust"]["llm_judge"]["status"] == "untrusted"
    [change] = body["untrusted_significant_changes"]
    assert change["evaluator"] == "llm_judge" and change["change"] == "regression"
    assert change["trust"] == "untrusted" and change["mcnemar_p"] < 0.05
    assert "rests on llm_judge" in change["message"]
    csv = (
        login(viewer)
        .get(f"/runs/compare/?a={graded_run.run.pk}&b={candidate.pk}&format=csv")
        .content.decode()
    )
    assert "untrusted_significant_change,llm_judge,,,message," in csv


def test_a_grader_flags_a_disagreement_for_curation(task, graded_run, graders, curator, login):
    from cases.models import CaseFlag

    grade_all(task, lambda position, name: True)  # people pass all: the judge's fails disagree
    alice = graders[0]
    client = login(alice)
    listing = client.get("/grading/disagreements/?evaluator=llm_judge").content.decode()
    assert "Flag case" in listing
    case = graded_run.responses[1].test_case  # the judge failed it, people passed it
    back = "/grading/disagreements/?evaluator=llm_judge"
    answer = client.post("/grading/flag/", {"case": case.pk, "comment": "", "next": back})
    assert answer.status_code == 302 and not CaseFlag.objects.exists()  # a comment is required
    client.post("/grading/flag/", {"case": case.pk, "comment": "rubric unclear", "next": back})
    flag = CaseFlag.objects.get()
    assert flag.case == case and flag.flagged_by == alice and flag.source == "grading"
    queue = login(curator).get("/cases/review/").content.decode()
    assert "Flagged for curation" in queue and "rubric unclear" in queue
    assert login(alice).post(f"/cases/flags/{flag.pk}/resolve/").status_code == 403
    login(curator).post(f"/cases/flags/{flag.pk}/resolve/")
    flag.refresh_from_db()
    assert flag.resolved_by == curator
    assert "rubric unclear" not in login(curator).get("/cases/review/").content.decode()


@pytest.mark.parametrize("level", ["nominal", "interval"])
def test_the_bootstraps_alpha_formula_equals_the_library(level):
    """The resamples compute alpha from per-unit sums: the same number as krippendorff's."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        table = rng.integers(1, 6, size=(4, 30)).astype(float)
        table[rng.random(table.shape) < 0.3] = NAN
        table = table[:, np.isfinite(table).sum(axis=0) >= 2]
        sums = agreement._unit_statistics(table, level).sum(axis=0, keepdims=True)
        mine = agreement._alpha_from_sums(sums, level)[0]
        expected = krippendorff.alpha(reliability_data=table, level_of_measurement=level)
        assert mine == pytest.approx(expected, abs=1e-9)


def test_a_significant_change_on_an_unchecked_judge_is_said_so(graded_run, viewer, login):
    from model_bakery import baker

    from evaluations.models import Evaluation
    from runs.models import ModelRun, Response

    candidate = baker.make(
        ModelRun, model_name="chat", model_version="2", model_type="llm", status="completed"
    )
    for response in graded_run.responses:  # the judge now fails everything
        answer = baker.make(Response, run=candidate, test_case=response.test_case, output_data={})
        baker.make(Evaluation, response=answer, evaluator_type="llm_judge", score=0, passed=False)
    client = login(viewer)
    query = f"a={graded_run.run.pk}&b={candidate.pk}"
    text = client.get(f"/runs/compare/?{query}").content.decode()
    assert "significant regression" in text
    assert "rests on a judge not yet checked against people" in text
    assert "rests on an untrusted judge" not in text
    [change] = client.get(f"/api/v1/compare/?{query}").json()["untrusted_significant_changes"]
    assert (change["evaluator"], change["trust"]) == ("llm_judge", "unmeasured")
    assert "not checked against people" in change["message"]
