"""The runs list's filters and sorting (the page; the API can reuse the same FilterSet)."""

import django_filters

from runs.models import ModelRun, RunStatus


class ModelRunFilterSet(django_filters.FilterSet):
    model_name = django_filters.CharFilter(lookup_expr="icontains", label="Model name")
    model_version = django_filters.CharFilter(label="Version")
    model_type = django_filters.CharFilter(label="Domain")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    ordering = django_filters.OrderingFilter(
        fields=(
            ("created_at", "created"),
            ("model_name", "model"),
            ("model_version", "version"),
            ("model_type", "domain"),
            ("status", "status"),
            ("total_cases", "cases"),
            ("completed_cases", "completed"),
            ("failed_cases", "failed"),
        ),
        label="Sort",
    )

    class Meta:
        model = ModelRun
        fields: list[str] = []
