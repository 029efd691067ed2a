"""What tokens cost: the one cost rule, for a model's own responses and for judge calls.

Prices are per million tokens. A model run's price lives in its config,
``"token_price_per_million"`` (a number): a run's responses record one token count each
(``tokens_used``, prompt and completion together), so a run has one price for them (a blended
one when a provider prices input and output differently); it is the run's, so a later price
change does not rewrite old costs. A judge's calls know their prompt and completion tokens
apart and are priced with their connection's ``input_price_per_million`` and
``output_price_per_million``: both call :func:`token_cost`.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

PRICE_KEY = "token_price_per_million"
PER_CASES = 1000  # cost per 1,000 cases


def token_cost(*priced: tuple[float | int | None, float | Decimal | None]) -> float | None:
    """The cost of ``(tokens, price per million)`` parts, summed; None when any part's tokens
    or price is unknown (a partial sum would read as the whole cost)."""
    total = 0.0
    for tokens, price in priced:
        if tokens is None or price is None:
            return None
        total += float(tokens) * float(price) / 1_000_000
    return total


def run_price(config: dict | None) -> float | None:
    """The run's price per million tokens (None: not given, or not a valid number)."""
    value = (config or {}).get(PRICE_KEY)
    return None if price_error(value) else value


def price_error(value) -> str:
    """Why a config's price is refused ("" when it is fine or absent)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{PRICE_KEY}: must be a number, got {json.dumps(value)[:80]}"
    if value < 0:
        return f"{PRICE_KEY}: cannot be negative, got {value}"
    return ""


def cost_per_thousand_cases(mean_tokens: float | None, config: dict | None) -> float | None:
    """Mean tokens per answered case (the report's ``tokens.mean``) priced at the run's price,
    for 1,000 cases; None when tokens or the price are unknown."""
    if mean_tokens is None:
        return None
    return token_cost((mean_tokens * PER_CASES, run_price(config)))
