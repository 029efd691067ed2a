"""What the model said, next to what was expected: the run page, the report's failing cases,
the comparison's per-case rows and the case history all show it through one partial
(runs/templatetags/outputs.py)."""

import re

import pytest

from runs.templatetags.outputs import FOLD_CHARS, model_output, shown, word_diff

EXPECTED = {"text": "the cat sat on the mat"}


@pytest.fixture
def scored(build):
    """One text case answered differently by two runs (A: close, B: far), both failing."""
    case = build.case(EXPECTED, output_type="text", input_data={"text": "describe"})
    run_a, run_b = build.run("gen", "1"), build.run("gen", "2")
    for run, said in ((run_a, "the cat sat on a mat"), (run_b, "dogs everywhere")):
        build.judge(build.respond(run, case, {"text": said}, latency_ms=3), "exact_match")
    return case, run_a, run_b


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_a_text_diff_marks_the_words_that_differ():
    assert word_diff("the cat sat", "the dog sat") == [
        ("equal", "the "),
        ("delete", "cat"),
        ("insert", "dog"),
        ("equal", " sat"),
    ]
    assert word_diff("a " * 5000, "b") is None  # too long to diff: shown, not diffed


def test_json_is_pretty_and_long_values_fold():
    assert shown({"boxes": [1, 2]})["text"] == '{"boxes": [1, 2]}'  # short: one line
    wide = {"boxes": [[10, 20, 30, 40], [50, 60, 70, 80]], "labels": ["cat", "dog"]}
    # Arrays of numbers stay on a line: a box reads as one line, not four.
    assert shown(wide)["text"].startswith('{\n  "boxes": [\n    [10, 20, 30, 40],\n')
    assert not shown("short")["folded"]
    long = shown("word " * FOLD_CHARS)
    assert long["folded"] and len(long["preview"]) <= 120
    assert shown(None) == {"missing": True}


def test_same_scalar_label_is_a_match_and_a_failed_call_shows_its_error():
    assert model_output({"label": 3}, {"label": 3})["matches"]
    failed = model_output({}, {"label": 3}, "timeout after 5 s")
    assert failed["error"] == "timeout after 5 s" and failed["diff"] is None


def test_run_page_shows_output_next_to_expected(scored, engineer, login):
    case, run_a, _ = scored
    html = squeeze(login(engineer).get(f"/runs/{run_a.pk}/").content.decode())
    section = html[html.index('id="run-answers"') :]
    assert "Expected" in section and "the cat sat on the mat" in section
    assert "<del>the</del>" in section and "<ins>a</ins>" in section


def test_failing_cases_show_the_output(scored, viewer, login):
    _, run_a, _ = scored
    failing = squeeze(
        login(viewer)
        .get(f"/runs/{run_a.pk}/report/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="failing")
        .content.decode()
    )
    assert "the cat sat on a mat" in failing and "the cat sat on the mat" in failing


def test_comparison_rows_show_both_outputs_side_by_side(scored, viewer, login):
    _, run_a, run_b = scored
    html = squeeze(
        login(viewer)
        .get(
            f"/runs/compare/?a={run_a.pk}&b={run_b.pk}",
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="compare-cases",
        )
        .content.decode()
    )
    row = html[html.index('class="outputs-row"') :]
    row = row[: row.index("</tr>")]
    assert row.index("the cat sat on the mat") < row.index("on a mat") < row.index("dogs")


def test_case_history_shows_each_runs_output(scored, viewer, login):
    case, _, _ = scored
    html = squeeze(login(viewer).get(f"/reports/cases/{case.pk}/history/").content.decode())
    assert "the cat sat on a mat" in html and "dogs everywhere" in html
    assert "<ins>dogs</ins>" in html and "<ins>a</ins> mat" in html
