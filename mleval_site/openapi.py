"""The API's drf-spectacular AutoSchema (settings: DEFAULT_SCHEMA_CLASS)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from mleval_site.api_schema import TRIMMED


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, marking the request fields DRF trims before refusing them blank (a
    CharField with trim_whitespace, not allow_blank): `complete_schema` gives them NOT_BLANK,
    since minLength 1 alone lets " " (or any other space) through, which the field refuses."""

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and field.trim_whitespace
            and not field.allow_blank
        ):
            meta[TRIMMED] = True
        return meta
