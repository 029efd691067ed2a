"""The lead's "new grading task" form and the grader's grade form."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from grading.assigning import SLICES, graders_queryset
from grading.models import GradingTask, Scale
from grading.verdicts import COMMENT_LIMIT, clean_grade
from runs.models import ModelRun


class TaskForm(forms.Form):
    """A run (or a stratified sample of it), its graders and the overlap."""

    run = forms.IntegerField(min_value=1, widget=forms.NumberInput, help_text="The run's id.")
    name = forms.CharField(max_length=200)
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The rubric the graders read above every answer.",
    )
    scale = forms.ChoiceField(choices=Scale.choices, initial=Scale.PASS_FAIL)
    graders = forms.ModelMultipleChoiceField(
        queryset=graders_queryset(), widget=forms.CheckboxSelectMultiple
    )
    overlap = forms.IntegerField(
        min_value=1, max_value=20, initial=2, help_text="How many graders grade each response."
    )
    n = forms.IntegerField(
        label="Sample size",
        required=False,
        min_value=1,
        help_text="Leave empty to grade every answered response not yet in a task.",
    )
    evaluator = forms.ChoiceField(
        label="Stratify by the verdict of", required=False, choices=[("", "no evaluator")]
    )
    slice = forms.ChoiceField(
        label="and by", required=False, choices=[("", "no slice"), *((s, s) for s in SLICES)]
    )
    seed = forms.IntegerField(initial=0, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args, evaluators: list[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["graders"].queryset = graders_queryset()
        self.fields["evaluator"].choices = [("", "no evaluator"), *((e, e) for e in evaluators)]

    def clean_run(self) -> ModelRun:
        run = ModelRun.objects.filter(pk=self.cleaned_data["run"]).first()
        if run is None:
            raise ValidationError("No run has this id.")
        return run


class GradeForm(forms.Form):
    """pass/fail (the button pressed), a score on the task's scale, a comment."""

    passed = forms.TypedChoiceField(
        choices=[("true", "pass"), ("false", "fail")], coerce=lambda v: v == "true"
    )
    score = forms.FloatField(required=False)
    comment = forms.CharField(
        required=False, max_length=COMMENT_LIMIT, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, task: GradingTask, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.task = task

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.errors:
            try:
                return clean_grade(
                    self.task, cleaned["passed"], cleaned.get("score"), cleaned["comment"]
                )
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    self.add_error(field, messages)
        return cleaned


class OverlapForm(forms.Form):
    """More graders on a task: each item gets graders up to the new overlap."""

    graders = forms.ModelMultipleChoiceField(
        queryset=graders_queryset(), widget=forms.CheckboxSelectMultiple
    )
    overlap = forms.IntegerField(min_value=1, max_value=20)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["graders"].queryset = graders_queryset()
