"""Case rows for the curation tests: realistic, few, and varied on every filtered field."""

import pytest
from model_bakery import baker

from cases.models import TestCase


@pytest.fixture
def make_case(db):
    """make_case(**fields) → a saved TestCase with sensible defaults (a golden nlp case)."""

    def make(**fields) -> TestCase:
        defaults = {
            "input_data": {"text": "The kettle is great, I love it.", "lang": "en"},
            "input_type": "text",
            "ground_truth": {"label": "positive"},
            "output_type": "classification",
            "model_type": "nlp",
            "category": "sentiment",
            "tags": ["en", "reviews"],
            "difficulty": "easy",
            "origin": "human",
            "is_verified": True,
            "metadata": {"source": "tests"},
        }
        return baker.make(TestCase, **{**defaults, **fields})

    return make
