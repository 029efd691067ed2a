"""/evaluators/ lists `human`, the graders' verdict, which no one can choose for scoring."""

from evaluations.forms import EvaluateRunForm
from tests.grading.test_api import api


def test_evaluators_page_lists_human_as_the_graders_verdict(viewer, login):
    page = login(viewer).get("/evaluators/").content.decode()
    assert 'id="human"' in page and 'href="#human"' in page
    section = page[page.index('id="human"') :]
    assert "The graders&#x27; verdict" in section and 'href="/grading/"' in section
    assert "not computed" in section


def test_human_cannot_be_chosen_for_scoring(graded_run, engineer):
    form = EvaluateRunForm(run=graded_run.run)
    names = {value for value, _ in form.fields["evaluators"].choices}
    assert "human" not in names and "llm_judge" in names
    refused = api(engineer).post(
        f"/api/v1/runs/{graded_run.run.pk}/evaluate/",
        {"evaluators": ["human"]},
        content_type="application/json",
    )
    assert refused.status_code == 400, refused.content
    assert refused.json()["errors"] == {
        "evaluators.0": [
            "human verdicts are recorded by people on the grading pages, not computed, so "
            "they cannot be scored: create a grading task instead"
        ]
    }
