"""Small template helpers of the curation pages: JSON previews and query strings."""

import json

from django import template
from django.http import QueryDict

from cases import tasks
from cases.choices import known_values
from mleval_site import jsontext

register = template.Library()
PREVIEW_CHARS = 90


@register.filter
def json_preview(value, limit: int = PREVIEW_CHARS) -> str:
    """Compact one-line JSON, cut with an ellipsis: enough to recognise a case in a table."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@register.filter
def pretty_json(value) -> str:
    return jsontext.pretty_json(value)


@register.simple_tag
def query_with(querystring: str, **changes) -> str:
    """`querystring` with some parameters replaced (None or "" removes one)."""
    params = QueryDict(querystring, mutable=True)
    for name, value in changes.items():
        params.pop(name, None)
        if value not in (None, ""):
            params[name] = value
    return params.urlencode()


@register.filter
def get_item(mapping, key):
    """mapping[key] for keys a template cannot spell (`ai-generated`)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.inclusion_tag("cases/_known_values.html")
def known_value_lists() -> dict:
    """The datalists the case filters' text inputs point at (cases.choices)."""
    return {"known": known_values()}


@register.simple_tag
def import_outcome(job) -> tuple[str, str]:
    """`{% import_outcome job as outcome %}`: (label, badge class), cases.tasks.import_outcome."""
    return tasks.import_outcome(job)


READABLE_CHARS = 600


@register.filter
def readable(value, limit: int = READABLE_CHARS) -> str:
    """An input or ground truth to judge in a table without opening the case: a flat object
    as `key: value` lines (the text itself when it has one key), else compact JSON; cut at
    `limit` characters."""
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, str | int | float | bool) for v in value.values())
    ):
        if len(value) == 1:
            text = str(next(iter(value.values())))
        else:
            text = "\n".join(f"{key}: {v}" for key, v in value.items())
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
