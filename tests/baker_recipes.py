"""The one recipe for test cases: a golden nlp sentiment case, realistic on every filtered field.

Tests override what they are about: `make_case(origin="ai-generated", is_verified=False)`;
`make_cases(3, model_type="tabular")`. Fixtures: `make_case` (tests/conftest.py).
model-bakery finds it as `baker.make_recipe("tests.case")`.
"""

from model_bakery.recipe import Recipe

from cases.models import TestCase

case = Recipe(
    TestCase,
    # Callables: each case gets its own dicts and lists.
    input_data=lambda: {"text": "The kettle is great, I love it.", "lang": "en"},
    input_type="text",
    ground_truth=lambda: {"label": "positive"},
    output_type="classification",
    model_type="nlp",
    category="sentiment",
    tags=lambda: ["en", "reviews"],
    difficulty="easy",
    origin="human",
    is_verified=True,
    metadata=lambda: {"source": "tests"},
)


def make_case(**fields) -> TestCase:
    """A saved case: the recipe's defaults with `fields` on top."""
    return case.make(**fields)


def make_cases(n: int = 3, **fields) -> list[TestCase]:
    """`n` saved cases, each with the recipe's defaults and `fields` on top."""
    return case.make(_quantity=n, **fields)
