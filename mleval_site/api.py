"""What every /api/v1/ endpoint shares: roles, errors, pagination and throttling.

Each app's `api.py` declares serializers and views; the policy lives here once.
"""

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ObjectNotUpdated, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, models
from django.db.models import CheckConstraint
from django.http import JsonResponse
from django.utils.encoding import force_str
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from mleval_site import jsonsafe
from mleval_site.api_schema import CURSOR_FORMAT


class RolePermissions(DjangoModelPermissions):
    """The pages' rule, for the API: view_* to read, add/change/delete_* to write.

    A user with no role (no view permission) gets 403 on reads too. A view that is not backed by
    one model (reports, tasks) names the model whose permissions guard it in `permission_model`;
    an extra action may name its own in `action_permissions` ({"cancel": ["runs.change_..."]}).
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        action = getattr(view, "action", None)
        if action in getattr(view, "action_permissions", {}):
            return request.user.has_perms(view.action_permissions[action])
        model = getattr(view, "permission_model", None)
        if model is None:
            return super().has_permission(request, view)
        return request.user.has_perms(self.get_required_permissions(request.method, model))


class TokenRateThrottle(SimpleRateThrottle):
    """One budget per API token (per user for session requests, per address for anonymous).

    The rate is REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api"] (MLEVAL_API_THROTTLE_RATE),
    read at request time so it can be changed without re-importing this class.
    """

    scope = "api"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        token = getattr(request, "auth", None)
        if token is not None and hasattr(token, "key_hash"):
            ident = f"token-{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"addr-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class CursorPage(CursorPagination):
    """Newest first, stable under inserts, and no COUNT(*) over millions of rows.

    A view may choose another order per request with `page_ordering()` (e.g. the case list's
    `sort` parameter); every order should end with the id so that page boundaries are exact.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        if hasattr(view, "page_ordering"):
            return tuple(view.page_ordering())
        return super().get_ordering(request, queryset, view)

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # decode_cursor checks the position against its field
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's cursor, its position checked against the first ordering column: a cursor that
        does not decode, or whose position that column cannot hold (`p=abc` for the id), is a
        400 "Invalid cursor" instead of a database error."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
            position = ""
        else:
            position = cursor.position if cursor is not None else None
        if position is not None:
            try:
                if jsonsafe.text_problem(position):
                    raise ValueError(position)
                name = self.ordering[0].lstrip("-")
                field = self.model._meta.get_field("id" if name == "pk" else name)
                if field.to_python(position) is None:
                    raise ValueError(position)
            except (ValueError, TypeError, OverflowError, DjangoValidationError):
                raise exceptions.ValidationError(
                    {"cursor": ["Invalid cursor: follow the `next` and `previous` links."]}
                ) from None
        return cursor

    def get_page_size(self, request) -> int:
        """`page_size` from 1 to max_page_size (the default when absent); anything else is a 400
        naming it, as the schema says (DRF quietly used the default for `page_size=null`)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            message = f"give a whole number from 1 to {self.max_page_size}, got {raw[:20]!r}"
            raise exceptions.ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        """The paging parameters as the API checks them: an opaque cursor, a bounded size."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                cursor = {"type": "string", "format": CURSOR_FORMAT}
                parameter["schema"] = {"anyOf": [cursor, {"const": ""}]}  # "": the first page
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters


class OldestFirstCursorPage(CursorPage):
    ordering = "id"


NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class SafeJSONParser(JSONParser):
    """DRF's JSON parser through mleval_site.jsonsafe: NaN/Infinity and nesting past
    jsonsafe.MAX_DEPTH are a 400 saying so (3,000 levels were a RecursionError, a 500). What
    jsonb refuses inside a value (a NUL, 1e400) is left to the validators, which name the
    field."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = (stream.read() if stream is not None else b"").decode(encoding)
            value = jsonsafe.decode(text)
        except (ValueError, UnicodeDecodeError) as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        if jsonsafe.suspect(text):  # nesting here; the rest is each field's validator's to name
            where, reason = jsonsafe.problem_at(value)
            if reason == jsonsafe.DEPTH_MESSAGE:
                raise exceptions.ValidationError({where or NON_FIELD: [f"the JSON {reason}"]})
        return value


class StringsOnly:
    """A string and nothing else: DRF's CharField turns 0 or 1.5 into "0" and "1.5", which the
    schema (type: string) says is refused. NUL is refused by CharField already."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StringsOnly, serializers.CharField):
    pass


class StrictSlugField(StringsOnly, serializers.SlugField):
    pass


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose text model fields take strings only (StringsOnly)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.SlugField: StrictSlugField,
        models.TextField: StrictCharField,
    }


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def check_body_size(parser_context: dict | None, limit: int, setting: str) -> None:
    """413 before reading a body whose declared length is over `limit` bytes."""
    request = (parser_context or {}).get("request")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(
            f"The request body is {length} bytes; at most {limit} are accepted ({setting})."
        )


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflicts with the current state."
    default_code = "conflict"


def _flatten(data, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """DRF's nested error structures as ("0.ground_truth", ["..."]) pairs, in order."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list) and any(isinstance(item, dict | list) for item in data):
        for index, item in enumerate(data):
            if item:  # a bulk list has {} for each valid object
                yield from _flatten(item, f"{prefix}.{index}" if prefix else str(index))
    elif isinstance(data, list):
        yield prefix or api_settings.NON_FIELD_ERRORS_KEY, [force_str(item) for item in data]
    else:
        yield prefix or api_settings.NON_FIELD_ERRORS_KEY, [force_str(data)]


def check_constraint_errors(instance) -> dict[str, list[str]]:
    """The model's CheckConstraints that `instance` breaks, named by the field each guards.

    Django's full_clean reports them all under "__all__"; a script wants the field's name.
    A constraint over several fields stays a non-field error naming the constraint.
    """
    errors: dict[str, list[str]] = {}
    model = type(instance)
    for constraint in model._meta.constraints:
        if not isinstance(constraint, CheckConstraint):
            continue
        try:
            constraint.validate(model, instance)
        except DjangoValidationError:
            fields = constraint.condition.referenced_base_fields
            if len(fields) == 1:
                name = next(iter(fields))
                rule = model._meta.get_field(name).help_text or f"rule {constraint.name}"
                message = f"{getattr(instance, name)!r} is not allowed ({rule})"
            else:
                name = api_settings.NON_FIELD_ERRORS_KEY
                message = f"breaks the rule {constraint.name}"
            errors.setdefault(name, []).append(str(message))
    return errors


def error_body(detail: str, errors: dict[str, list[str]] | None = None) -> dict:
    """The one error shape of the API: {"detail": "...", "errors": {"field": ["..."]}}."""
    return {"detail": detail, "errors": errors or {}}


def _database_error(exc: IntegrityError | DataError) -> exceptions.APIException:
    """A constraint or type error from PostgreSQL: the client's fault, never a 500."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    message = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    if isinstance(exc, IntegrityError) and type(cause).__name__ == "UniqueViolation":
        return Conflict(f"Conflicts with an existing row ({constraint}).")
    reason = f"violates {constraint}" if constraint else message
    return exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [f"Rejected: {reason}."]})


def exception_handler(exc, context):
    """DRF's handler, reshaped into the one error format, plus database and model errors."""
    from rest_framework.views import exception_handler as drf_exception_handler  # import cycle

    if isinstance(exc, IntegrityError | DataError):
        exc = _database_error(exc)
    elif isinstance(exc, ObjectNotUpdated):  # deleted meanwhile: never inserted again
        exc = exceptions.NotFound("It was deleted while you were changing it: nothing was saved.")
    elif isinstance(exc, RequestDataTooBig):  # a JSON body over DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE); send large response sets as NDJSON (streamed)."
        )
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    by_field = isinstance(data, list) or (isinstance(data, dict) and set(data) != {"detail"})
    if isinstance(exc, exceptions.ValidationError) or by_field:  # or Conflict({field: [...]})
        errors: dict[str, list[str]] = {}
        for field, messages in _flatten(data):
            errors.setdefault(field, []).extend(messages)
        first_field, first_messages = next(iter(errors.items()), ("", [""]))
        where = "" if first_field == api_settings.NON_FIELD_ERRORS_KEY else f"{first_field}: "
        kind = {404: "Not found", 409: "Conflict"}.get(response.status_code, "Invalid input")
        response.data = error_body(f"{kind}: {where}{first_messages[0]}", errors)
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else data
        response.data = error_body(force_str(detail))
    return response


@csrf_exempt  # it writes nothing; a PATCH to a bad path is a 404, not a CSRF failure
def not_found(request, path: str = "") -> JsonResponse:
    """JSON 404 for any path under /api/ that no endpoint serves (instead of an HTML page)."""
    hint = "" if request.path.endswith("/") else " (API paths end with a slash)"
    return JsonResponse(error_body(f"No API endpoint at {request.path}{hint}."), status=404)


not_found.login_required = False  # answer scripts with JSON, never a login redirect
