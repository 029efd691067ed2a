"""The audit trail: one call records who did what, from a page, the API, a command or a task."""

import django_filters
from django.contrib.auth import get_user_model
from django.db import models

from accounts.models import AuditEvent


def record(
    actor,
    action: str,
    target: models.Model | str | None = None,
    *,
    target_id: object = "",
    count: int | None = None,
    **detail,
) -> AuditEvent:
    """Record an action. `target` is a model instance, or a kind of rows ("testcase") for bulk
    work. `actor` is a user, a user's id (code that only holds `created_by_id`), or None for
    work nobody signed in for (a management command: pass `via="command"`).

    Call it inside the action's transaction, so a rolled-back action leaves no audit row.
    """
    if isinstance(target, models.Model):
        target_type, target_id = target._meta.model_name, target.pk
    else:
        target_type = target or ""
    if isinstance(actor, int):
        actor = get_user_model()._default_manager.filter(pk=actor).first()
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "",
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        count=count,
        detail=detail,
    )


class AuditEventFilterSet(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_name", label="User")
    action = django_filters.CharFilter(lookup_expr="startswith", label="Action (prefix)")
    target_type = django_filters.CharFilter(label="Target type")
    target_id = django_filters.CharFilter(label="Target id")
    since = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From (date)"
    )
    until = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Until (date)"
    )
    exports = django_filters.BooleanFilter(
        field_name="action", method="filter_exports", label="Downloads only"
    )

    def filter_exports(self, queryset, name, value):
        """The export history: every `<kind>.export` action (cases, reports, versions...)."""
        return queryset.filter(action__endswith=".export") if value else queryset

    class Meta:
        model = AuditEvent
        fields: list[str] = []
