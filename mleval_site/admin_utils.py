"""Pieces the apps' admin classes share: pretty JSON and links to related rows."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from mleval_site.pagination import EstimatedCountPaginator


def pretty_json(value) -> str:
    return format_html('<pre class="json">{}</pre>', json.dumps(value, indent=2, sort_keys=True))


def admin_link(obj, label: str | None = None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def changelist_link(model, label: str, **filters) -> str:
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist that never counts a huge table exactly on every page."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
