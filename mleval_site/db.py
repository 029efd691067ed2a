"""Small database helpers shared by the apps."""

from django.db import models
from django.db.models.functions import Now


class JsonbTypeOf(models.lookups.Exact):
    """`jsonb_typeof(field) = 'object'`, usable in a CheckConstraint."""

    def __init__(self, field: str, json_type: str) -> None:
        super().__init__(
            models.Func(models.F(field), function="jsonb_typeof", output_field=models.TextField()),
            json_type,
        )


class TouchingQuerySet(models.QuerySet):
    """A QuerySet whose bulk `update()` also moves `updated_at`, like `save()` does."""

    def update(self, **kwargs):
        kwargs.setdefault("updated_at", Now())
        return super().update(**kwargs)
