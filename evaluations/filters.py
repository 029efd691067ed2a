"""The report pages' query parameters, parsed once for the pages and the API.

- :class:`RunPairForm`: the comparison's ``a`` and ``b`` (``/runs/compare/`` and
  ``/api/v1/compare/``), resolved to runs.
- :class:`FailingCasesForm`: the run report's failing-verdicts filters (evaluator and the
  report's slice dimensions).
- :class:`ComparisonCasesForm`: the comparison's per-case table filters.

Errors name the parameter (``form.errors`` is keyed by it); :func:`error_text` gives the one
line a 400 answers with.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from evaluations.reports import CHANGE_KINDS, SLICE_DIMENSIONS
from runs.models import ModelRun

MAX_ID = 2**63 - 1  # bigint primary keys
FILTER_MAX_LENGTH = 100
#: The code of a run id that parses but names no run (the API answers 404 for it).
MISSING_RUN = "missing"


class RunIdField(forms.IntegerField):
    """A positive run id; the error repeats what was given."""

    default_error_messages = {
        "required": "give a run id (a number).",
        "invalid": "give a run id (a number), got %(value)r.",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_python(self, value: Any) -> int | None:
        try:
            return super().to_python(value)
        except ValidationError:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None


class RunPairForm(forms.Form):
    """``?a=&b=``: run A (the baseline) and run B (the candidate), looked up in one query."""

    a = RunIdField(label="Run A")
    b = RunIdField(label="Run B")

    def clean(self) -> dict:
        data = super().clean()
        ids = {side: data[side] for side in ("a", "b") if data.get(side) is not None}
        found = ModelRun.objects.in_bulk(ids.values()) if ids else {}
        for side, pk in ids.items():
            if pk in found:
                data[f"run_{side}"] = found[pk]
            else:
                self.add_error(side, ValidationError(f"there is no run #{pk}.", code=MISSING_RUN))
        return data

    def runs(self) -> tuple[ModelRun, ModelRun]:
        """The two runs of a valid form."""
        return self.cleaned_data["run_a"], self.cleaned_data["run_b"]

    def only_missing_runs(self) -> bool:
        """Every error is a well-formed id naming no run (a 404 rather than a 400)."""
        codes = {error.code for errors in self.errors.as_data().values() for error in errors}
        return codes == {MISSING_RUN}

    def messages(self) -> list[str]:
        """One sentence per error, naming the run: "Run B: there is no run #7."."""
        return [
            f"{self.fields[name].label}: {message}"
            for name, errors in self.errors.items()
            for message in errors
        ]


def _filter_field() -> forms.CharField:
    return forms.CharField(required=False, max_length=FILTER_MAX_LENGTH)


class FailingCasesForm(forms.Form):
    """The failing-verdicts table's filters: ``evaluator`` and one field per slice dimension
    (:data:`evaluations.reports.SLICE_DIMENSIONS`); empty means no filter."""

    evaluator = _filter_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for dimension in SLICE_DIMENSIONS:
            self.fields[dimension] = _filter_field()

    def slices(self) -> dict[str, str]:
        return {dimension: self.cleaned_data[dimension] for dimension in SLICE_DIMENSIONS}


class ComparisonCasesForm(forms.Form):
    """The comparison's per-case table filters: ``evaluator`` and ``change``."""

    evaluator = _filter_field()
    change = forms.ChoiceField(
        required=False, choices=[("", "any"), *((kind, kind) for kind in CHANGE_KINDS)]
    )


def error_text(form: forms.Form) -> str:
    """The form's errors as one plain line naming each parameter, for a 400."""
    return " ".join(
        f"{name}: {message}" for name, errors in form.errors.items() for message in errors
    )
