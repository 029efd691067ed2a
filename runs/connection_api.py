"""/api/v1/connections/: saved connections (runs/connections.py), and `POST .../<id>/test/`.

The request schema is written here by hand, next to the fields that enforce it, so it says
exactly what is accepted (tests/api/test_schema.py runs schemathesis against it): the rules of
runs.endpoint_config.parse_config (batch_size, rate_limit, headers with credentials only as
${NAME} references, params without model/messages) as JSON Schema. Where the model's own
validators are looser than a schema can say (a Unicode name, any URL Django accepts), the API
takes the stricter ASCII subset that the schema states.
"""

import re
from dataclasses import asdict

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response as ApiResponse

from accounts.audit import record
from mleval_site.api import StrictCharField, StrictModelSerializer
from mleval_site.api_schema import NOT_BLANK, json_object
from runs.connections import Connection, probe_connection
from runs.endpoint_config import MAX_BATCH_SIZE, RESERVED_HEADERS
from runs.endpoint_grammar import IPV4, LABEL, PORT, RATE

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # the model's pattern, ASCII (its \w is Unicode)
# http(s), a host (localhost, an IPv4 address or a dotted name with a letter TLD), a port up
# to 65535, then printable ASCII: a subset of what Django's URLValidator accepts (and of a
# run's endpoint URL, runs.endpoint_grammar, whose pieces these are).
BASE_URL = (
    rf"^https?://(?:localhost|{IPV4}|(?:{LABEL}\.)+[A-Za-z]{{2,63}})"
    rf"(?::{PORT})?(?:[/?#][!-~]*)?$"
)
PRICE = r"^(?:[0-9]{1,8}(?:\.[0-9]{0,4})?|\.[0-9]{1,4})$"
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_REFERENCE = r"\$\{[A-Za-z_][A-Za-z0-9_]*\}"
# One line of printable ASCII and tab (what an HTTP header value carries), and every "${"
# starts a well-formed ${NAME} reference.
HEADER_VALUE = (
    rf"^(?:[\t\x20-\x23\x25-\x7e]|\$+(?:[\t\x20-\x23\x25-\x7a\x7c-\x7e]|{_REFERENCE[2:]}))*\$*$"
)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


SECRET_NAME = "|".join(
    _any_case(word) for word in ("authorization", "cookie", "key", "token", "secret", "password")
)
RESERVED_NAME = "^(?:" + "|".join(_any_case(n) for n in sorted(RESERVED_HEADERS)) + ")$"
HEADERS_SCHEMA = {
    "type": "object",
    "description": "Request headers. A header whose name holds authorization, cookie, key, "
    "token, secret or password must take its value from the worker's environment: "
    '`"Bearer ${OPENAI_API_KEY}"` (the reference is stored, never the value).',
    "propertyNames": {"pattern": HEADER_NAME, "not": {"pattern": RESERVED_NAME}},
    "patternProperties": {
        SECRET_NAME: {
            "type": "string",
            "allOf": [{"pattern": HEADER_VALUE}, {"pattern": _REFERENCE}],
        }
    },
    "additionalProperties": {"type": "string", "pattern": HEADER_VALUE},
}
PARAMS_SCHEMA = json_object(
    description='Request fields for every call, e.g. {"temperature": 0}; not model or messages.',
)


@extend_schema_field(HEADERS_SCHEMA)
class HeadersField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "allOf": [
            PARAMS_SCHEMA,
            {"not": {"anyOf": [{"required": ["model"]}, {"required": ["messages"]}]}},
        ]
    }
)
class ParamsField(serializers.JSONField):
    pass


@extend_schema_field(
    {"anyOf": [{"const": ""}, {"type": "string", "maxLength": 255, "pattern": NOT_BLANK}]}
)
class ModelNameField(StrictCharField):
    """The model to ask for: empty (the run's name) or more than spaces."""


@extend_schema_field(
    {"anyOf": [{"const": ""}, {"type": "string", "maxLength": 40, "pattern": RATE}]}
)
class RateField(StrictCharField):
    """N/second, N/minute or N/hour (N ≥ 1), or empty: no limit."""


@extend_schema_field({"anyOf": [{"type": "string", "pattern": PRICE}, {"type": "null"}]})
class PriceField(serializers.DecimalField):
    """A price as a decimal string (at most 8 digits, then 4 decimals), as the schema says:
    DRF's DecimalField also takes numbers and exponents."""

    def run_validation(self, data=serializers.empty):
        # Before DRF's empty-value handling, which makes "" and " " a null.
        if data is not serializers.empty and data is not None:
            if not isinstance(data, str) or not re.fullmatch(PRICE, data):
                self.fail("invalid")
        return super().run_validation(data)


def _price(help_text: str) -> PriceField:
    return PriceField(
        max_digits=12, decimal_places=4, required=False, allow_null=True, help_text=help_text
    )


class ConnectionSerializer(StrictModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    endpoint = serializers.CharField(read_only=True, help_text="kind:base_url")
    # No unique validator: a taken name is the database's unique violation, a 409.
    name = StrictCharField(
        max_length=100,
        validators=[RegexValidator(NAME)],
        help_text="Runs name it as connection:NAME.",
    )
    base_url = StrictCharField(
        max_length=2000, validators=[RegexValidator(BASE_URL)], trim_whitespace=False,
        help_text=Connection._meta.get_field("base_url").help_text,
    )  # fmt: skip
    headers = HeadersField(required=False)
    params = ParamsField(required=False)
    model = ModelNameField(
        max_length=255, required=False, allow_blank=True, trim_whitespace=False,
        help_text="Default: the run's name.",
    )  # fmt: skip
    batch_size = serializers.IntegerField(
        min_value=1, max_value=MAX_BATCH_SIZE, required=False, allow_null=True
    )
    rate_limit = RateField(
        max_length=40, required=False, allow_blank=True, trim_whitespace=False,
        validators=[RegexValidator(RATE)], help_text='e.g. "600/minute"',
    )  # fmt: skip
    input_price_per_million = _price("per 1M input tokens")
    output_price_per_million = _price("per 1M output tokens")

    class Meta:
        model = Connection
        fields = (
            "id",
            "name",
            "kind",
            "base_url",
            "endpoint",
            "headers",
            "model",
            "params",
            "batch_size",
            "rate_limit",
            "input_price_per_million",
            "output_price_per_million",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")

    def validate(self, attrs: dict) -> dict:
        """The model's own rules (runs.connections.Connection.clean), field by field."""
        candidate = Connection(**{**(self._stored() if self.instance else {}), **attrs})
        try:
            candidate.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return attrs

    def _stored(self) -> dict:
        return {
            field: getattr(self.instance, field)
            for field in self.Meta.fields
            if field not in ("id", "endpoint", "created_by", "created_at", "updated_at")
        }


class ConnectionViewSet(viewsets.ModelViewSet):
    queryset = Connection.objects.select_related("created_by")
    serializer_class = ConnectionSerializer
    pagination_class = None  # a handful of rows
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {"test": ["runs.change_connection"]}

    def perform_create(self, serializer) -> None:
        with transaction.atomic():
            connection = serializer.save(created_by=self.request.user)
            record(self.request.user, "connection.create", connection, via="api")

    def perform_update(self, serializer) -> None:
        with transaction.atomic():
            connection = serializer.save()
            fields = sorted(serializer.validated_data)
            record(self.request.user, "connection.update", connection, via="api", fields=fields)

    def perform_destroy(self, connection: Connection) -> None:
        with transaction.atomic():
            record(self.request.user, "connection.delete", connection, via="api")
            connection.delete()

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ConnectionTest",
            {
                "ok": serializers.BooleanField(),
                "latency_ms": serializers.IntegerField(allow_null=True),
                "status": serializers.IntegerField(allow_null=True),
                "reply": serializers.CharField(),
                "problem": serializers.CharField(),
            },
        ),
        description="Sends one real request through the connection (a one-line chat completion "
        "for openai; the health or model-status GET for the others).",
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        return ApiResponse(asdict(probe_connection(self.get_object())))
