"""Grading pages: the queue, a new task, a task's page, and grading one response at a time."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView

from accounts.audit import record
from cases.curation import flag_case
from cases.models import TestCase
from cases.previews import input_preview
from evaluations.models import Evaluation
from grading import figures, queue
from grading.assigning import SampleError, create_task, raise_overlap
from grading.forms import GradeForm, OverlapForm, TaskForm
from grading.models import Assignment, GradingItem, GradingTask
from grading.verdicts import COMMENT_LIMIT, record_grade
from mleval_site.generic import safe_next
from runs.models import ModelRun


class QueueView(PermissionRequiredMixin, TemplateView):
    """/grading/: the user's assignments, then every task with its progress."""

    permission_required = "grading.view_gradingtask"
    template_name = "grading/queue.html"
    shown_tasks = 100

    def get_context_data(self, **kwargs):
        tasks = GradingTask.objects.select_related("run", "created_by").with_progress()
        return super().get_context_data(
            mine=queue.my_tasks(self.request.user),
            tasks=tasks[: self.shown_tasks],
            **kwargs,
        )


def run_evaluators(run_id: int | None) -> list[str]:
    """The evaluators with verdicts on the run (to stratify by), without the human one."""
    if not run_id:
        return []
    return sorted(
        Evaluation.objects.filter(response__run_id=run_id)
        .exclude(evaluator_type="human")
        .values_list("evaluator_type", flat=True)
        .distinct()
    )


class TaskCreateView(PermissionRequiredMixin, FormView):
    """/grading/new/?run=<id>: sample a run and deal it to graders."""

    permission_required = "grading.add_gradingtask"
    template_name = "grading/task_form.html"
    form_class = TaskForm

    def run_id(self) -> int | None:
        value = self.request.POST.get("run") or self.request.GET.get("run") or ""
        return int(value) if value.isdigit() and len(value) < 12 else None

    def get_initial(self):
        run = ModelRun.objects.filter(pk=self.run_id()).first() if self.run_id() else None
        name = f"{run.model_name} {run.model_version}" if run else ""
        return {"run": self.run_id(), "name": name}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "evaluators": run_evaluators(self.run_id())}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            task = create_task(
                data["run"],
                name=data["name"],
                instructions=data["instructions"],
                scale=data["scale"],
                graders=list(data["graders"]),
                overlap=data["overlap"],
                n=data["n"],
                evaluator=data["evaluator"],
                slice_by=data["slice"],
                seed=data["seed"],
                created_by=self.request.user,
            )
        except SampleError as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
            return self.form_invalid(form)
        record(self.request.user, "grading_task.create", task, items=task.items.count())
        messages.success(self.request, f"Task “{task.name}” created.")
        return redirect("grading:task", pk=task.pk)


class TaskDetailView(PermissionRequiredMixin, DetailView):
    """A task: its sample, each grader's progress, the agreement so far."""

    permission_required = "grading.view_gradingtask"
    template_name = "grading/task_detail.html"
    queryset = GradingTask.objects.select_related("run", "created_by").with_progress()
    context_object_name = "task"

    def get_context_data(self, **kwargs):
        task = self.object
        return super().get_context_data(
            figures=figures.task_figures(task),
            progress=queue.Progress(task.graded_count, task.assignment_count),
            graders=queue.grader_progress(task),
            mine=Assignment.objects.filter(item__task=task, grader=self.request.user).exists(),
            overlap_form=OverlapForm(initial={"overlap": task.overlap + 1})
            if self.request.user.has_perm("grading.change_gradingtask")
            else None,
            **kwargs,
        )


class NextItemView(PermissionRequiredMixin, View):
    """/grading/tasks/<pk>/grade/: the grader's first item not yet graded (else the task)."""

    permission_required = "grading.grade"

    def get(self, request, pk: int):
        task = get_object_or_404(GradingTask, pk=pk)
        positions = queue.my_positions(task, request.user)
        if not positions:
            raise Http404("Nothing in this task is assigned to you.")
        pending = [p for p, graded in positions if not graded]
        if not pending:
            messages.success(request, "You have graded every response assigned to you here.")
            return redirect("grading:task", pk=pk)
        return redirect("grading:grade", pk=pk, position=pending[0])


class GradeView(PermissionRequiredMixin, FormView):
    """One response: the case, the expected answer, the model's output, and the grade form.
    The automatic verdicts stay hidden until this grader has graded it (no anchoring)."""

    permission_required = "grading.grade"
    template_name = "grading/grade.html"
    form_class = GradeForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.has_perm(self.permission_required):
            self.assignment = self.get_assignment()
        return super().dispatch(request, *args, **kwargs)

    def get_assignment(self) -> Assignment:
        item = get_object_or_404(
            GradingItem.objects.select_related("task__run", "response__test_case").prefetch_related(
                Prefetch(
                    "assignments",
                    Assignment.objects.filter(grader=self.request.user),
                    to_attr="mine",
                )
            ),
            task_id=self.kwargs["pk"],
            position=self.kwargs["position"],
        )
        if not item.mine:
            raise PermissionDenied("This response is not assigned to you.")
        assignment = item.mine[0]
        assignment.item = item
        return assignment

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "task": self.assignment.item.task}

    def get_initial(self):
        a = self.assignment
        return {"score": a.score, "comment": a.comment} if a.graded_at else {}

    def get_context_data(self, **kwargs):
        assignment = self.assignment
        item = assignment.item
        positions = queue.my_positions(item.task, self.request.user)
        graded = sum(done for _, done in positions)
        bounds = item.task.score_range
        return super().get_context_data(
            assignment=assignment,
            item=item,
            task=item.task,
            response=item.response,
            case=item.response.test_case,
            preview=input_preview(item.response.test_case),
            nav=queue.neighbours(positions, item.position),
            progress=queue.Progress(graded, len(positions)),
            score_values=list(range(bounds[0], bounds[1] + 1)) if bounds else [],
            current_score=self.current_score(),
            verdicts=queue.automatic_verdicts(item.response_id) if assignment.graded_at else None,
            **kwargs,
        )

    def current_score(self) -> str:
        """The score radio to tick: the one just submitted, else the stored grade's."""
        value = self.request.POST.get("score") if self.request.method == "POST" else None
        if value is None and self.assignment.score is not None:
            value = f"{self.assignment.score:g}"
        return value or ""

    def form_valid(self, form):
        assignment = self.assignment
        record_grade(assignment, amend=assignment.graded_at is not None, **form.cleaned_data)
        task_id = assignment.item.task_id
        # Now that the grade is in, the automatic verdicts may be seen (no anchoring left).
        verdicts = queue.automatic_verdicts(assignment.item.response_id)
        said = ", ".join(f"{v.evaluator_type} {'pass' if v.passed else 'fail'}" for v in verdicts)
        grade = "pass" if form.cleaned_data["passed"] else "fail"
        messages.info(
            self.request,
            f"Response {assignment.item.position} graded {grade}."
            + (f" The automatic verdicts: {said}." if said else ""),
        )
        positions = queue.my_positions(assignment.item.task, self.request.user)
        following = queue.neighbours(positions, assignment.item.position)["next_pending"]
        if following is None:
            messages.success(self.request, "All done: you have graded every response of yours.")
            return redirect("grading:task", pk=task_id)
        return redirect(reverse("grading:grade", args=[task_id, following]))


class EvaluatorView(PermissionRequiredMixin, TemplateView):
    """/grading/evaluators/<name>/: one evaluator against people, pooled and run by run."""

    permission_required = "grading.view_gradingtask"
    template_name = "grading/evaluator.html"

    def get_context_data(self, **kwargs):
        name = self.kwargs["name"]
        if "\x00" in name or len(name) > 100:
            raise Http404("No evaluator has this name.")
        found = figures.evaluator_page_figures(name)
        runs = ModelRun.objects.in_bulk(list(found["runs"]))
        return super().get_context_data(
            evaluator=name,
            figures=found,
            trust=figures.judge_trust(found["pooled"]),
            runs=[
                {"run": runs[run_id], "figures": run_figures}
                for run_id, run_figures in sorted(found["runs"].items())
                if run_id in runs
            ],
            min_kappa=settings.MLEVAL_TRUST_MIN_KAPPA,
            min_graded=settings.MLEVAL_TRUST_MIN_GRADED,
            **kwargs,
        )


class DisagreementsView(PermissionRequiredMixin, TemplateView):
    """/grading/disagreements/?evaluator=&task=: where an evaluator and people disagree."""

    permission_required = "grading.view_gradingtask"
    template_name = "grading/disagreements.html"
    limit = 200

    def get_context_data(self, **kwargs):
        get = self.request.GET
        evaluator = get.get("evaluator", "")[:100] or None
        task_id = get.get("task", "")
        task = (
            GradingTask.objects.filter(pk=task_id).first()
            if task_id.isdigit() and len(task_id) < 12
            else None
        )
        rows = figures.disagreements(
            evaluator=evaluator, task_id=task.pk if task else None, limit=self.limit
        )
        return super().get_context_data(
            evaluator=evaluator, task=task, rows=rows, limit=self.limit, **kwargs
        )


class FlagCaseView(PermissionRequiredMixin, View):
    """POST from the disagreements list: the case goes to the review queue with the comment."""

    permission_required = "grading.grade"

    def post(self, request):
        case_id = request.POST.get("case", "")
        comment = request.POST.get("comment", "")[:COMMENT_LIMIT]
        back = safe_next(request, reverse("grading:disagreements"))
        case = TestCase.objects.filter(pk=case_id).first() if case_id.isdigit() else None
        try:
            if case is None:
                raise ValidationError({"case": "No such case."})
            flag_case(case, comment, request.user, source="grading")
        except ValidationError:
            messages.error(request, "Say what is wrong with the case: the comment is required.")
            return redirect(back)
        messages.success(request, f"Case {case.pk} flagged: it waits in the review queue.")
        return redirect(back)


class RaiseOverlapView(PermissionRequiredMixin, View):
    """The task page's "More graders" form: graders added until each item has `overlap`."""

    permission_required = "grading.change_gradingtask"

    def post(self, request, pk: int):
        task = get_object_or_404(GradingTask, pk=pk)
        form = OverlapForm(request.POST)
        if form.is_valid():
            try:
                added = raise_overlap(
                    task, list(form.cleaned_data["graders"]), form.cleaned_data["overlap"]
                )
            except SampleError as error:
                messages.error(request, " ".join(m for ms in error.errors.values() for m in ms))
            else:
                record(request.user, "grading_task.update", task, overlap=task.overlap, added=added)
                messages.success(request, f"{added} assignment(s) added.")
        else:
            messages.error(request, "Choose graders and an overlap from 1 to 20.")
        return redirect("grading:task", pk=pk)
