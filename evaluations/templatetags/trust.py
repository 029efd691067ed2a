"""`{% trust_mark name %}`: how far people trust an evaluator, beside its pass rate.

Reads evaluations/reports/extensions.py's trust providers (grading registers one) once per
request, however many marks a page shows; renders nothing when no provider is registered.
"""

from django import template
from django.utils.html import format_html

from evaluations.reports.extensions import UNMEASURED, known_trust, trust_enabled

register = template.Library()

LABELS = {
    "trusted": ("ok", "agrees with people"),
    "untrusted": ("bad", "low agreement with people"),
    "unmeasured": ("warn", "not checked against people"),
}


def _trust(context, name: str) -> dict | None:
    if not trust_enabled() or name == "human":
        return None
    request = context.get("request")
    memo = getattr(request, "_mleval_trust", None) if request is not None else None
    if memo is None:
        memo = known_trust()
        if request is not None:
            request._mleval_trust = memo
    return memo.get(name, UNMEASURED)


@register.simple_tag(takes_context=True)
def trust_status(context, name: str) -> str:
    """`{% trust_status name as status %}`: trusted, untrusted, unmeasured or "" (unknown)."""
    trust = _trust(context, name)
    return trust["status"] if trust else ""


@register.simple_tag(takes_context=True)
def trust_mark(context, name: str) -> str:
    trust = _trust(context, name)
    if trust is None:
        return ""
    css, label = LABELS[trust["status"]]
    return format_html(
        '<span class="badge {} trust trust-{}" title="{}">{}</span>',
        css,
        trust["status"],
        trust["reason"],
        label,
    )
