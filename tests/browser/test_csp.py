"""The Content Security Policy in Chromium: the main pages load with no violation in the console.

The policy (settings.SECURE_CSP) allows no inline script or style, so a page that still had a
`style="..."` attribute, an inline `<script>` or htmx's injected `<style>` would log
"Refused to ... because it violates the following Content Security Policy directive".
"""

import pytest

from cases.models import TestCase
from evaluations.evaluators import run_evaluator, validate_params
from evaluations.models import Evaluation
from runs.models import ModelRun, Response

# A 1x1 PNG: an image preview that needs no network.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="  # noqa: E501
# Every violation also fires this event; the init script runs outside the page's CSP.
COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sample);
});
"""


@pytest.fixture
def seeded(transactional_db):
    """Cases with every kind of preview, two scored runs of one model (report, comparison,
    leaderboard) and an ai-generated case awaiting review."""
    params = validate_params("label_match", {})
    runs = [
        ModelRun.objects.create(
            model_name="clf",
            model_version=version,
            model_type="nlp",
            status=ModelRun.Status.COMPLETED,
            total_cases=30,
        )
        for version in ("1.0", "2.0")
    ]
    for i in range(30):
        truth = "ab"[i % 2]
        case = TestCase.objects.create(
            input_data={"text": f"case {i}"},
            input_type="text",
            ground_truth={"label": truth},
            output_type="classification",
            model_type="nlp",
            category=f"c{i % 3}",
            tags=["en", f"t{i % 2}"],
        )
        for shift, run in enumerate(runs):
            predicted = truth if (i + shift) % 3 else "ab"[(i + 1) % 2]
            response = Response.objects.create(
                run=run, test_case=case, output_data={"label": predicted}, latency_ms=10 + i
            )
            verdict = run_evaluator("label_match", response.output_data, case.ground_truth, params)
            Evaluation.objects.create(
                response=response,
                evaluator_type="label_match",
                score=verdict.score,
                passed=verdict.passed,
                metrics=verdict.metrics,
                feedback=verdict.feedback,
            )
    previews = {
        "image": TestCase.objects.create(
            input_data={"image_base64": PIXEL},
            input_type="image_base64",
            ground_truth={"label": "cat"},
            output_type="classification",
            model_type="vision",
        ),
        "series": TestCase.objects.create(
            input_data={"series": [1, 3, 2, 5, 4, 6]},
            input_type="time_series",
            ground_truth={"values": [7, 8]},
            output_type="forecast",
            model_type="timeseries",
        ),
        "table": TestCase.objects.create(
            input_data={"features": {"age": 41, "plan": "pro"}},
            input_type="tabular",
            ground_truth={"label": "stay"},
            output_type="classification",
            model_type="tabular",
        ),
    }
    TestCase.objects.create(
        input_data={"text": "generated"},
        input_type="text",
        ground_truth={"label": "a"},
        output_type="classification",
        origin=TestCase.Origin.AI_GENERATED,
        is_verified=False,
    )
    return {"runs": runs, "previews": previews}


@pytest.mark.browser
def test_main_pages_log_no_csp_violation(live_server, admin_user, session_context, seeded):
    first, second = seeded["runs"]
    previews = seeded["previews"]
    pages = [
        "/",
        "/cases/?category=c1",
        *(f"/cases/{case.pk}/" for case in previews.values()),
        f"/cases/{previews['table'].pk}/edit/",
        "/cases/review/",
        "/cases/import/",
        "/runs/",
        "/runs/new/",
        f"/runs/{first.pk}/",
        f"/runs/{first.pk}/report/",
        f"/runs/compare/?a={first.pk}&b={second.pk}",
        "/leaderboard/",
        "/models/",
        "/models/clf/",
        "/evaluators/",
        "/accounts/tokens/",
        "/audit/",
        "/api/docs/",
        "/admin/",
        "/admin/cases/testcase/",
        f"/admin/cases/testcase/{previews['image'].pk}/change/",
        "/admin/runs/modelrun/",
    ]
    console: list[str] = []
    context = session_context(admin_user)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            console.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    violations = {}
    for path in pages:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        assert "Content-Security-Policy" in response.headers or (
            "content-security-policy" in response.headers
        ), path
        page.wait_for_load_state("networkidle")  # htmx panels and the docs' script
        if found := page.evaluate("window.__csp"):
            violations[path] = found
    # The docs page really drew the API (its init script ran under the policy).
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector(".opblock-tag", timeout=15_000)
    assert not violations, violations
    assert not console, console
