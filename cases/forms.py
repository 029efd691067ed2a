"""Forms of the curation pages. The rules themselves live in cases.validation (one set of rules
for the form, the import and the API); the forms only translate them into field errors."""

import json

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.urls import reverse_lazy

from cases.curation import BulkAction
from cases.models import ImportMapping, Origin, TestCase
from cases.readers import FORMATS, format_from_name
from cases.validation import validate_record
from mleval_site import jsonsafe


def json_error_message(text: str, error: json.JSONDecodeError) -> str:
    """Where the JSON breaks, in words: line and column (and what the parser expected)."""
    return f"Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}."


def check_json(text: str) -> tuple[object | None, str | None]:
    """(value, None) for valid JSON text, else (None, a message naming the position, or what
    mleval_site.jsonsafe refuses: NaN, 1e400, a NUL, nesting past its depth limit)."""
    try:
        return jsonsafe.checked_loads(text), None
    except json.JSONDecodeError as error:
        return None, json_error_message(text, error)
    except ValueError as error:
        return None, f"Invalid JSON: {error}."


class JSONTextarea(forms.Textarea):
    """A JSON editor: pretty-printed, with a live hint (htmx asks the server as you type)."""

    def __init__(self, attrs: dict | None = None) -> None:
        defaults = {
            "rows": 8,
            "spellcheck": "false",
            "class": "json-editor",
            "hx-post": reverse_lazy("cases:check_json"),
            "hx-trigger": "input changed delay:300ms, load",
            "hx-include": "[name=output_type]",
        }
        super().__init__({**defaults, **(attrs or {})})

    def get_context(self, name, value, attrs):
        attrs = {**attrs, "hx-target": f"#hint-{name}", "hx-vals": json.dumps({"field": name})}
        return super().get_context(name, value, attrs)

    def format_value(self, value):
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            return value  # what the curator typed, kept as typed when the form comes back
        return json.dumps(value, indent=2, ensure_ascii=False)


class JSONTextField(forms.CharField):
    """JSON typed as text; an error names the line and column where it breaks."""

    widget = JSONTextarea

    def to_python(self, value):
        text = super().to_python(value)
        if not text.strip():
            return None
        parsed, message = check_json(text)
        if message:
            raise forms.ValidationError(message, code="invalid_json")
        return parsed

    def prepare_value(self, value):
        return value if isinstance(value, str) else self.widget.format_value(value)

    def has_changed(self, initial, data):
        try:
            return jsonsafe.decode(data or "null") != initial
        except ValueError:
            return True


class TagsInput(forms.CharField):
    """Tags as a comma-separated list: `en, short, reviews`."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [tag.strip() for tag in text.split(",") if tag.strip()]


class CaseForm(forms.ModelForm):
    """Create or edit one case, checked by the same rules as an import line."""

    input_data = JSONTextField(
        label="Input data", help_text='A JSON object, e.g. {"text": "...", "lang": "en"}.'
    )
    ground_truth = JSONTextField(
        label="Ground truth",
        help_text='Its shape follows the output type: classification {"label": ...}, '
        'bounding_boxes {"boxes": [{"label": ..., "bbox": [x1, y1, x2, y2]}]}, ...',
    )
    metadata = JSONTextField(
        required=False, label="Metadata", help_text="A JSON object (source, licence, notes)."
    )
    tags = TagsInput(
        required=False,
        help_text="Comma-separated, e.g. en, reviews, sarcasm.",
        widget=forms.TextInput(attrs={"class": "tags-input", "autocomplete": "off"}),
    )
    # Three states, so that "say nothing" keeps the rule: human cases are verified,
    # ai-generated ones wait for review.
    is_verified = forms.TypedChoiceField(
        label="Verified",
        choices=[
            ("", "As its origin implies (human: yes; ai-generated: after review)"),
            ("true", "Yes"),
            ("false", "No"),
        ],
        coerce=lambda value: value == "true",
        empty_value=None,
        required=False,
    )

    class Meta:
        model = TestCase
        fields = (
            "model_type",
            "category",
            "input_type",
            "input_format",
            "input_data",
            "output_type",
            "ground_truth",
            "tags",
            "difficulty",
            "origin",
            "is_verified",
            "metadata",
            "external_id",
        )
        labels = {"external_id": "External id"}
        help_texts = {
            "external_id": "Optional: the case's id in the system it came from; unique. Imports "
            "and the API match on it, and response files may name the case by it.",
            "model_type": "Domain: nlp, computer_vision, time_series, recommender, tabular, ...",
            "input_type": "text, image_path, image_base64, tabular, time_series, json, ...",
            "output_type": "classification, multilabel, regression, text, bounding_boxes, "
            "ranking, forecast, structured, ...",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        origin = self.fields["origin"]
        if self.instance.pk:  # provenance is never rewritten: origin stays what it was
            self.initial["is_verified"] = "true" if self.instance.is_verified else "false"
            origin.disabled = True
            origin.help_text = "Where the case came from; it does not change."
        else:
            origin.help_text = "ai-generated cases wait in the review queue until approved."

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        record = {name: cleaned.get(name) for name in self.Meta.fields}
        record["external_id"] = record["external_id"] or None
        values, errors = validate_record(record)
        for error in errors:
            field = error.field if error.field in self.fields else None
            message = error.message
            if field == "ground_truth" and message.startswith("needs "):
                message = f"Ground truth {message}."
            self.add_error(field, message)
        if values is not None:
            cleaned.update(values)
        return cleaned


class BulkActionForm(forms.Form):
    """A bulk action over the ticked rows or over every case matching the current filters."""

    action = forms.ChoiceField(choices=BulkAction.choices)
    value = forms.CharField(required=False, max_length=100)
    target = forms.ChoiceField(
        choices=[("selected", "Selected rows"), ("all", "All matching")], initial="selected"
    )
    ids = forms.CharField(required=False)  # comma-separated, or repeated `ids` fields
    filters = forms.CharField(required=False)  # the list page's query string
    confirmed = forms.BooleanField(required=False)
    next = forms.CharField(required=False)

    def __init__(self, data=None, *args, **kwargs) -> None:
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            data["ids"] = ",".join(i for raw in data.getlist("ids") for i in raw.split(",") if i)
        super().__init__(data, *args, **kwargs)

    def clean_ids(self) -> list[int]:
        try:
            return [int(i) for i in self.cleaned_data["ids"].split(",") if i.strip()]
        except ValueError:
            raise forms.ValidationError("Row ids must be numbers.") from None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("target") == "selected" and not cleaned.get("ids"):
            raise forms.ValidationError(
                "Tick at least one row, or apply the action to all matching cases."
            )
        from cases.curation import check_value

        if cleaned.get("action") and (
            message := check_value(cleaned["action"], cleaned.get("value", ""))
        ):
            self.add_error("value", message)
        return cleaned


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="JSONL (one case per line), CSV, a JSON array (UTF-8) or Parquet."
    )
    file_format = forms.ChoiceField(
        label="Format",
        choices=[("", "From the file name"), *((f, f.upper()) for f in FORMATS)],
        required=False,
    )
    origin = forms.ChoiceField(
        label="Origin of every case",
        choices=[("", "As each case says (default human)"), *Origin.choices],
        required=False,
    )
    on_conflict = forms.ChoiceField(
        label="A case whose external_id is already stored",
        choices=[
            ("error", "Stops the import (nothing is written)"),
            ("skip", "Is skipped: the stored case stays as it is"),
            ("update", "Updates the stored case with the file's values"),
        ],
        initial="error",
        required=False,
    )

    saved_mapping = forms.ModelChoiceField(
        label="Columns",
        queryset=ImportMapping.objects.all(),
        empty_label="Named as the case fields",
        required=False,
        help_text="A file with its own column names: a saved mapping, or Map columns.",
    )

    def clean_on_conflict(self) -> str:
        return self.cleaned_data.get("on_conflict") or "error"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.MLEVAL_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(upload_too_large_message(upload.size, limit))
        return upload

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None and not cleaned.get("file_format"):
            file_format = format_from_name(upload.name)
            if file_format is None:
                self.add_error(
                    "file_format",
                    f"Cannot tell the format of {upload.name!r} from its name: choose one.",
                )
            cleaned["file_format"] = file_format
        return cleaned


def upload_too_large_message(size: int, limit: int) -> str:
    return (
        f"The file is {filesizeformat(size)}; the upload limit is {filesizeformat(limit)} "
        "(MLEVAL_MAX_UPLOAD_BYTES). Split it, or use manage.py import_cases."
    )
