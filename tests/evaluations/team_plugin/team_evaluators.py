"""A team's own evaluators, as a plugin package would ship them (tests/evaluations/
test_custom_evaluators.py puts this folder on the path)."""

from cases.shapes import coerce_text
from evaluations.evaluators import Evaluator, Example, Param, Verdict


def _at_most(output, truth, params):
    words = len(coerce_text(output).split())
    ok = words <= params["max_words"]
    return Verdict(
        float(ok), ok, {"words": words}, f"{words} words (at most {params['max_words']})."
    )


WORD_LIMIT = Evaluator(
    name="team_word_limit",
    version="3",
    description="1 when the answer has at most max_words words.",
    expects='output {"text": str} or a string',
    passed_when="words <= max_words",
    params=(Param("max_words", "integer", 5, "the most words allowed", minimum=1),),
    example=Example({"text": "Eight legs."}, None, {"max_words": 3}),
    score=_at_most,
)


def team_shouting(output, truth, params):
    """1 when the answer is written in capitals."""
    text = coerce_text(output)
    return {"score": 1.0 if text.isupper() else 0.0, "passed": text.isupper()}


def team_broken(output, truth, params):
    """Returns nonsense: the registry turns it into an error verdict."""
    return "yes"
