"""Forms of the run pages; the rules live in runs.selection / runs.ingestion / runs.execution."""

import json

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from mleval_site import jsonsafe
from runs.callers import ExecutionOptions
from runs.connections import Connection, expand_connection
from runs.endpoint_config import CONNECTION_PREFIX
from runs.models import ModelRun
from versions.models import Version

DEFAULTS = ExecutionOptions()


class ConfigField(forms.JSONField):
    """Django's JSON field, saying what jsonsafe refuses (NaN, 1e400, depth past its limit)
    instead of "Enter a valid JSON"."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            try:
                jsonsafe.checked_loads(value)
            except json.JSONDecodeError:
                pass  # Django's own message
            except ValueError as error:
                raise forms.ValidationError(f"Invalid JSON: {error}.") from None
        return super().to_python(value)


class RunForm(forms.ModelForm):
    """A run's own fields; its case selection is the case list's filter form beside it."""

    connection = forms.ModelChoiceField(
        queryset=Connection.objects.all(),
        required=False,
        to_field_name="name",
        label="Saved connection",
        empty_label="(none: use the endpoint below)",
        help_text="Its endpoint and settings are copied into the run (your config keys win).",
    )
    config = ConfigField(
        required=False,
        decoder=jsonsafe.FormDecoder,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="A JSON object. http(s):// and python: endpoints get it with every call; the "
        "connector kinds read their keys from it (examples below).",
    )
    field_order = ["model_name", "model_version", "model_type", "connection"]

    version = forms.ModelChoiceField(
        queryset=Version.objects.order_by("-id"),
        required=False,
        label="Golden-set version",
        empty_label="— none: use the case filters —",
        help_text="Run on a frozen version: its cases and their contents as frozen (the case "
        "filters are then ignored).",
    )

    class Meta:
        model = ModelRun
        fields = ["model_name", "model_version", "model_type", "model_endpoint", "config"]
        labels = {"model_type": "Domain", "model_endpoint": "Endpoint"}
        widgets = {"model_endpoint": forms.TextInput(attrs={"spellcheck": "false"})}
        help_texts = {
            "model_type": "nlp, computer_vision, time_series, ...: cases of this domain are used.",
            "model_endpoint": "http(s)://... URL, python:package.module:function (e.g. "
            "python:runs.demo_models:sentiment_classifier), openai:https://host/v1, "
            "mlflow:http://host:5000, kserve-v1:http://host/v1/models/NAME, "
            "kserve-v2:http://host/v2/models/NAME, or connection:NAME. Leave empty to push "
            "responses.",
        }

    def clean(self) -> dict:
        """A saved connection (chosen, or typed as connection:NAME) becomes its endpoint and a
        copy of its settings here, so the run's own checks see what will be stored."""
        data = super().clean()
        connection = data.pop("connection", None)
        endpoint = data.get("model_endpoint") or ""
        if connection is not None:
            if endpoint:
                self.add_error("connection", "Choose a saved connection or an endpoint, not both.")
                return data
            endpoint = f"{CONNECTION_PREFIX}{connection.name}"
        if endpoint.startswith(CONNECTION_PREFIX) and "config" in data:
            try:
                data["model_endpoint"], data["config"] = expand_connection(endpoint, data["config"])
            except ValidationError as error:
                self.add_error("model_endpoint", error.message_dict["model_endpoint"])
        return data

    def clean_config(self) -> dict:
        config = self.cleaned_data.get("config")
        if config in (None, ""):
            return {}
        if not isinstance(config, dict):
            raise forms.ValidationError("The config must be a JSON object ({...}).")
        if "selection" in config:
            raise forms.ValidationError(
                '"selection" is set from the case filters below; leave it out of the config.'
            )
        return config


class ExecuteForm(forms.Form):
    concurrency = forms.IntegerField(min_value=1, max_value=256, initial=DEFAULTS.concurrency)
    timeout = forms.FloatField(
        min_value=0.1, max_value=3600, initial=DEFAULTS.timeout, label="Timeout (s)"
    )
    retries = forms.IntegerField(min_value=0, max_value=10, initial=DEFAULTS.retries)
    retry_failed = forms.BooleanField(required=False, label="Call failed cases again")

    def options(self) -> ExecutionOptions:
        data = self.cleaned_data
        return ExecutionOptions(
            concurrency=data["concurrency"], timeout=data["timeout"], retries=data["retries"]
        )


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Responses (JSONL)",
        help_text='One {"test_case_id": 17, "output_data": {...}, "latency_ms": 12} per line.',
    )
    keep_existing = forms.BooleanField(
        required=False, label="Keep responses the run already has (default: replace them)"
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.MLEVAL_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is {filesizeformat(limit)} "
                "(use manage.py import_responses or the API for bigger ones)."
            )
        return upload
