"""Forms of the run pages; the rules live in runs.selection / runs.ingestion / runs.execution."""

import json

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from mleval_site import jsonsafe
from runs.execution import ExecutionOptions
from runs.models import ModelRun

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

    config = ConfigField(
        required=False,
        decoder=jsonsafe.FormDecoder,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='Model parameters sent with every call, a JSON object, e.g. {"temperature": 0}.',
    )

    class Meta:
        model = ModelRun
        fields = ["model_name", "model_version", "model_type", "model_endpoint", "config"]
        labels = {"model_type": "Domain (model type)", "model_endpoint": "Endpoint"}
        widgets = {"model_endpoint": forms.TextInput(attrs={"spellcheck": "false"})}
        help_texts = {
            "model_type": "nlp, computer_vision, time_series, ...: cases of this domain are used.",
            "model_endpoint": "http(s)://... URL, or python:package.module:function (e.g. "
            "python:runs.demo_models:sentiment_classifier). Leave empty to push responses.",
        }

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
