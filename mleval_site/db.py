"""Small database helpers shared by the apps."""

from collections.abc import Iterator

from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import EmptyResultSet
from django.db import connections, models, transaction
from django.db.models.functions import Now


class JsonbTypeOf(models.lookups.Exact):
    """`jsonb_typeof(field) = 'object'`, usable in a CheckConstraint."""

    def __init__(self, field: str, json_type: str) -> None:
        super().__init__(
            models.Func(models.F(field), function="jsonb_typeof", output_field=models.TextField()),
            json_type,
        )


class UpdateNeverInserts:
    """Model mixin: saving a row loaded from the database only ever UPDATEs it.

    Django's `save()` on a stored instance runs UPDATE and, when no row matched (someone deleted
    it meanwhile), INSERTs it again under the same id: a deleted case came back without its
    responses when a PATCH raced a DELETE. Here that save raises `Model.NotUpdated` instead
    (Django's ObjectNotUpdated), which the API and the pages answer with 404.
    """

    def save(self, **kwargs) -> None:
        if not self._state.adding and not kwargs.get("force_insert"):
            if kwargs.get("update_fields") is None:  # update_fields already never inserts
                kwargs["force_update"] = True
        super().save(**kwargs)


class TouchingQuerySet(models.QuerySet):
    """A QuerySet whose bulk `update()` also moves `updated_at`, like `save()` does."""

    def update(self, **kwargs):
        kwargs.setdefault("updated_at", Now())
        return super().update(**kwargs)


# --- Deleting a selection with everything that hangs off it, in set-based SQL ---------------
# The one cascade walker: the case delete page, bulk delete, the run delete page, the admin and
# the API all count and delete through it. Django's collector would load every response of a
# million-case run (or of 800,000 selected cases) into memory; here each kind of dependent row
# goes in one DELETE ... WHERE id IN (subquery), deepest first, in one transaction.

MAX_CASCADE_DEPTH = 5


def cascade(queryset: models.QuerySet, depth: int = 0) -> Iterator[tuple[type, models.QuerySet]]:
    """(model, queryset of its rows) for every CASCADE below `queryset`, parents before children.

    Walks the models' relations, so an app deletes rows of apps it does not import.
    """
    if depth > MAX_CASCADE_DEPTH:
        return
    for relation in queryset.model._meta.related_objects:
        if relation.on_delete is not models.CASCADE or relation.many_to_many:
            continue
        related = relation.related_model._base_manager.using(queryset.db).filter(
            **{f"{relation.field.name}__in": queryset.order_by().values("pk")}
        )
        yield relation.related_model, related
        yield from cascade(related, depth + 1)
    for field in queryset.model._meta.private_fields:  # GenericRelations (a run's jobs)
        if isinstance(field, GenericRelation):
            related = field.related_model._base_manager.using(queryset.db).filter(
                **{
                    field.content_type_field_name: ContentType.objects.db_manager(
                        queryset.db
                    ).get_for_model(queryset.model),
                    f"{field.object_id_field_name}__in": queryset.order_by().values("pk"),
                }
            )
            yield field.related_model, related
            yield from cascade(related, depth + 1)


def cascade_counts(queryset: models.QuerySet, *, skip: tuple = ()) -> list[tuple[str, int]]:
    """(verbose plural, rows) that deleting `queryset` takes along, one COUNT each; `skip`
    leaves out bookkeeping models a confirmation page need not mention."""
    return [
        (str(model._meta.verbose_name_plural), related.count())
        for model, related in cascade(queryset)
        if model not in skip
    ]


def _check_no_protection(queryset: models.QuerySet) -> None:
    for relation in queryset.model._meta.related_objects:
        if relation.on_delete in (models.PROTECT, models.RESTRICT):
            raise ValueError(f"{relation.related_model.__name__} protects {queryset.model}")


def _set_null(queryset: models.QuerySet) -> None:
    """What points at the rows with on_delete=SET_NULL lets go of them first."""
    for relation in queryset.model._meta.related_objects:
        if relation.on_delete is models.SET_NULL:
            relation.related_model._base_manager.using(queryset.db).filter(
                **{f"{relation.field.name}__in": queryset.values("pk")}
            ).update(**{relation.field.name: None})


def _raw_delete(queryset: models.QuerySet) -> int:
    """DELETE ... WHERE id IN (the selection): one statement, no rows fetched."""
    meta = queryset.model._meta
    try:
        inner, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # e.g. filter(pk__in=[]): nothing to delete, no SQL to write
        return 0
    key = ", ".join(f'"{field.column}"' for field in meta.pk_fields)  # composite keys too
    sql = f'DELETE FROM "{meta.db_table}" WHERE ({key}) IN ({inner})'
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def delete_cascading(queryset: models.QuerySet) -> dict[type, int]:
    """Delete `queryset` and its CASCADE dependents, deepest first, in one transaction.

    Rows deleted per model, dependents first (zeros included), the selection's own model last.
    A PROTECT or RESTRICT relation anywhere below refuses the whole delete (ValueError).
    """
    queryset = queryset.order_by()
    with transaction.atomic(using=queryset.db):
        _check_no_protection(queryset)
        deleted = delete_dependents(queryset)
        _set_null(queryset)
        deleted[queryset.model] = _raw_delete(queryset)
    return deleted


def delete_dependents(queryset: models.QuerySet) -> dict[type, int]:
    """Delete the CASCADE dependents of `queryset`, deepest first, but not its rows (a
    replaced response keeps its row; what judged its old content goes)."""
    queryset = queryset.order_by()
    deleted: dict[type, int] = {}
    with transaction.atomic(using=queryset.db):
        for model, related in reversed(list(cascade(queryset))):
            _check_no_protection(related)
            _set_null(related)
            deleted[model] = deleted.get(model, 0) + _raw_delete(related)
    return deleted


class CascadingDeleteQuerySet(models.QuerySet):
    """`delete()` through `delete_cascading`, answering like Django's: (total, {label: rows})."""

    def delete(self) -> tuple[int, dict[str, int]]:
        counts = {model._meta.label: n for model, n in delete_cascading(self).items() if n}
        return sum(counts.values()), counts


# --- Who is writing: the case revision triggers (versions app) read it ----------------------
# A session setting, set for the rest of the request (or command) and reset by the middleware,
# since a request's writes run in several transactions. Null when nobody is named.
ACTING_USER_SETTING = "mleval.user_id"


def set_acting_user(user, using: str = "default") -> None:
    """Name `user` (or None) as the author of the writes this connection makes from now on."""
    user_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    connection = connections[using]
    if user_id is None and not getattr(connection, "mleval_acting_user", None):
        return  # nothing set, nothing to reset: no query
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, false)",
            [ACTING_USER_SETTING, "" if user_id is None else str(user_id)],
        )
    connection.mleval_acting_user = user_id


class ActingUserMiddleware:
    """Writes of a request are the request user's (set before a write method's view runs; the
    API's token authentication sets it too); reset afterwards, the connection is reused."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            set_acting_user(getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            set_acting_user(None)
