"""The runs list's filters and sorting (the page; the API can reuse the same FilterSet)."""

import django_filters
from django.db.models import F

from runs.models import ModelRun, RunStatus

# Sort keys whose runs may have no value (no summary yet): those sort last either way. The page
# sorts by them; the API's cursor pages cannot (a cursor needs a non-null column).
HEADLINE_ORDERINGS = frozenset({"pass_rate", "latency_p95"})


class RunOrderingFilter(django_filters.OrderingFilter):
    def filter(self, qs, value):
        """Sorting by a headline figure annotates it first (the API's queryset has not)."""
        wanted = {param.lstrip("-") for param in value or ()}
        if wanted & HEADLINE_ORDERINGS and "pass_rate" not in qs.query.annotations:
            qs = qs.with_headline()
        return super().filter(qs, value)

    def get_ordering_value(self, param: str):
        value = super().get_ordering_value(param)
        name = value.lstrip("-")
        if name not in HEADLINE_ORDERINGS:
            return value
        return (
            F(name).desc(nulls_last=True) if value.startswith("-") else F(name).asc(nulls_last=True)
        )


class ModelRunFilterSet(django_filters.FilterSet):
    model_name = django_filters.CharFilter(lookup_expr="icontains", label="Model name")
    model_version = django_filters.CharFilter(label="Version")
    model_type = django_filters.CharFilter(label="Domain")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    ordering = RunOrderingFilter(
        fields=(
            ("created_at", "created"),
            ("model_name", "model"),
            ("model_version", "version"),
            ("model_type", "domain"),
            ("status", "status"),
            ("total_cases", "cases"),
            ("completed_cases", "completed"),
            ("failed_cases", "failed"),
            # The headline figures of the run's summary (annotated by the run list's queryset).
            ("pass_rate", "pass_rate"),
            ("latency_p95", "latency_p95"),
        ),
        label="Sort",
    )

    class Meta:
        model = ModelRun
        fields: list[str] = []
