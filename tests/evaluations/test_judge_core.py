"""The pure half of llm_judge (evaluations/evaluators/judge.py): prompts, replies, repeats.

Mapped scores are worked out by hand: 1-5 maps (v - 1) / 4, 0-10 maps v / 10.
"""

import pytest
from jinja2.exceptions import SecurityError

from evaluations.evaluators.judge import (
    BUILT_IN_RUBRICS,
    JudgeReading,
    JudgeReplyError,
    check_judge_params,
    combine,
    judge_messages,
    read_reply,
)


def test_built_in_rubrics_render_the_case():
    for name in BUILT_IN_RUBRICS:
        system, user = judge_messages(
            name, "1-5", {"text": "How many legs?"}, {"text": "8"}, {"text": "Eight."}
        )
        assert (
            system["role"] == "system" and '"score": <an integer from 1 to 5>' in system["content"]
        )
        assert "How many legs?" in user["content"] and "Eight." in user["content"]
    _, user = judge_messages("correctness", "pass_fail", "q", {"text": "8"}, "a")
    assert "Reference answer: 8\nAnswer: a" in user["content"]  # the text, not a dict
    _, user = judge_messages("pass_fail", "pass_fail", "q", {"criterion": "mentions 8"}, "a")
    assert "meets this criterion: mentions 8" in user["content"]


def test_custom_rubric_is_sandboxed_jinja():
    rubric = "Is {{ output_data }} about {{ input_data.upper() }}?"
    _, user = judge_messages(rubric, "0-10", "spiders", None, "legs")
    assert user["content"] == "Is legs about SPIDERS?"
    with pytest.raises(SecurityError):
        judge_messages("{{ output_data.__class__.__mro__ }}", "0-10", "q", None, "a")


@pytest.mark.parametrize(
    ("content", "scale", "score", "raw"),
    [
        ('{"reasoning": "ok", "verdict": "pass"}', "pass_fail", 1.0, "pass"),
        ('{"reasoning": "no", "verdict": "FAIL"}', "pass_fail", 0.0, "fail"),
        ('{"verdict": true}', "pass_fail", 1.0, True),
        ('{"reasoning": "r", "score": 1}', "1-5", 0.0, 1),
        ('{"reasoning": "r", "score": 4}', "1-5", 0.75, 4),
        ('{"reasoning": "r", "score": 5}', "1-5", 1.0, 5),
        ('{"reasoning": "r", "score": 0}', "0-10", 0.0, 0),
        ('{"reasoning": "r", "score": 7}', "0-10", 0.7, 7),
        ('```json\n{"score": 3}\n```', "1-5", 0.5, 3),
    ],
)
def test_replies_map_exactly_to_the_unit_interval(content, scale, score, raw):
    reading = read_reply(content, scale)
    assert reading.score == pytest.approx(score) and reading.raw == raw


@pytest.mark.parametrize(
    ("content", "scale", "message"),
    [
        ("The answer is good.", "1-5", "not JSON"),
        ("[4]", "1-5", "not a JSON object"),
        ('{"score": 6}', "1-5", "outside 1-5"),
        ('{"score": 0}', "1-5", "outside 1-5"),
        ('{"score": "4"}', "1-5", "must be a number"),
        ('{"score": true}', "0-10", "must be a number"),
        ('{"verdict": "maybe"}', "pass_fail", '"verdict" must be "pass" or "fail"'),
        ('{"score": 5}', "pass_fail", '"verdict" must be'),
    ],
)
def test_unreadable_replies_are_judge_errors(content, scale, message):
    with pytest.raises(JudgeReplyError, match=message):
        read_reply(content, scale)


def test_repeats_mean_agreement_and_errors():
    readings = [
        JudgeReading(1.0, 5, "good"),
        JudgeReading(0.75, 4, ""),
        JudgeReading(0.0, 1, "bad"),
    ]
    score, passed, metrics, feedback = combine(readings, threshold=0.5)
    assert score == pytest.approx(1.75 / 3) and passed is True
    assert metrics == {"verdicts": [5, 4, 1], "agreement": pytest.approx(2 / 3)}
    assert feedback == "good"
    error = JudgeReplyError("the reply is not JSON: 'x'")
    score, passed, metrics, feedback = combine([error], threshold=0.5)
    assert (score, passed, metrics["verdicts"]) == (0.0, False, [None])
    assert metrics["judge_error"] == "the reply is not JSON: 'x'"
    assert feedback.startswith("The judge's reply could not be read")


def test_params_need_a_judge_and_a_known_scale():
    check_judge_params({"connection": "judge", "scale": "1-5", "rubric": "correctness"})
    with pytest.raises(ValueError, match="connection, or endpoint and model"):
        check_judge_params({"endpoint": "openai:http://x/v1", "scale": "1-5"})
    with pytest.raises(ValueError, match="scale must be one of"):
        check_judge_params({"connection": "j", "scale": "1-10"})
    with pytest.raises(ValueError, match="rubric is not a valid template"):
        check_judge_params({"connection": "j", "scale": "1-5", "rubric": "{{ broken"})
