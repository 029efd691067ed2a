import json

from django import forms

from evaluations.evaluators import REGISTRY, EvaluatorConfigError
from evaluations.pipeline import PlannedEvaluator, resolve_evaluators
from mleval_site import jsonsafe
from runs.models import ModelRun


class EvaluateRunForm(forms.Form):
    """The run page's "Evaluate" form: evaluators to tick, optional parameters as JSON.

    Ticking none means the run's configured evaluators, else the default of each output type.
    Everything is validated here (through the pipeline), so a typo is shown on the form and
    nothing is queued.
    """

    evaluators = forms.MultipleChoiceField(
        choices=lambda: [(name, name) for name in sorted(REGISTRY)],  # custom ones included
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "None ticked: the run config's evaluators, else the default of each case's output type."
        ),
    )
    params = forms.CharField(
        label="Parameters (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"iou": {"iou_threshold": 0.75}}'}),
        help_text="Optional: an object of parameters per ticked evaluator.",
    )

    def __init__(self, *args, run: ModelRun, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.run = run
        self.planned: list[PlannedEvaluator] = []

    def clean_params(self) -> dict:
        text = self.cleaned_data["params"].strip()
        if not text:
            return {}
        try:
            params = jsonsafe.checked_loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None
        except ValueError as exc:  # jsonsafe: NaN, 1e400, a NUL, nesting past its limit
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
        if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
            raise forms.ValidationError(
                'Write an object of objects: {"evaluator name": {"parameter": value}}.'
            )
        return params

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        names, params = cleaned.get("evaluators", []), cleaned.get("params", {})
        unticked = sorted(set(params) - set(names))
        if unticked:
            self.add_error("params", f"Parameters given for {unticked[0]}, which is not ticked.")
            return cleaned
        specs = [{"name": name, "params": params.get(name, {})} for name in names] or None
        try:
            self.planned = resolve_evaluators(self.run, specs)
        except EvaluatorConfigError as exc:
            self.add_error("params" if params else "evaluators", str(exc))
        else:
            if not self.planned:
                self.add_error(None, "This run has no responses to evaluate yet.")
        return cleaned
