"""The curation pages over cases.curation: bulk actions, the review queue and the delete page.

Thin views: the selection is TestCaseFilterSet's (select_cases), the work and its audit row
are curation.apply / curation.delete_cases, the counts mleval_site.db.cascade_counts.
"""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views import View
from django.views.generic import DetailView, TemplateView

from accounts.audit import record
from cases import curation
from cases.forms import BulkActionForm
from cases.models import CaseFlag, Origin, TestCase
from cases.selection import SelectionError, select_cases
from mleval_site.db import cascade_counts
from mleval_site.generic import KeysetPageMixin, safe_next

# The review queue as the case list's filters: its bulk actions are approvals and rejections.
REVIEW_SELECTION = {"origin": Origin.AI_GENERATED, "is_verified": "false"}


def _is_review(selection: QueryDict) -> bool:
    """Whether a bulk action comes from the review queue (its selection: awaiting review)."""
    return selection.dict() == REVIEW_SELECTION


class CaseDeleteView(PermissionRequiredMixin, DetailView):
    """GET: what goes with the case; POST: delete it (and that) in one transaction."""

    permission_required = "cases.delete_testcase"
    model = TestCase
    template_name = "cases/case_confirm_delete.html"
    context_object_name = "case"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cascade"] = cascade_counts(TestCase.objects.filter(pk=self.object.pk))
        return context

    def post(self, request, pk: int):
        case = get_object_or_404(TestCase, pk=pk)
        with transaction.atomic():
            deleted = curation.delete_cases(TestCase.objects.filter(pk=case.pk))
            record(request.user, "case.delete", case, **deleted)
        extra = ", ".join(f"{n} {kind}" for kind, n in deleted.items() if kind != "cases")
        messages.success(request, f"Case {pk} deleted ({extra}).")
        return redirect(safe_next(request, reverse("cases:list")))


class BulkActionView(PermissionRequiredMixin, View):
    """A bulk action: first a confirmation with counts, then the action in one transaction."""

    permission_required = "cases.change_testcase"
    template_name = "cases/bulk_confirm.html"

    def post(self, request):
        form = BulkActionForm(request.POST)
        back = safe_next(request, reverse("cases:list"))
        if not form.is_valid():
            for field, errors in form.errors.items():
                prefix = "" if field in ("__all__", "value") else f"{field}: "
                for error in errors:
                    messages.error(request, f"{prefix}{error}")
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        action = data["action"]
        if action == curation.BulkAction.DELETE and not request.user.has_perm(
            "cases.delete_testcase"
        ):
            raise PermissionDenied
        selection = QueryDict(data["filters"] or "", mutable=True)
        for name in ("sort", *KeysetPageMixin.paging_params):
            selection.pop(name, None)
        try:
            queryset = select_cases(selection)
        except SelectionError as error:
            messages.error(request, str(error))
            return HttpResponseRedirect(back)
        if data["target"] == "selected":
            queryset = queryset.filter(pk__in=data["ids"])
        label = curation.BulkAction(action).label
        if not (data["confirmed"] or request.GET.get("confirmed") == "1"):
            context = {
                "form": form,
                "action_label": label,
                "preview": curation.preview(queryset, action, data["value"]),
                "data": data,
                "ids": ",".join(map(str, data["ids"])),
                "back": back,
            }
            return TemplateResponse(request, self.template_name, context)
        changed = curation.apply(
            queryset,
            action,
            data["value"],
            actor=request.user,
            reviewing=_is_review(selection),
            selection={
                **selection.dict(),
                **({"ids": data["ids"]} if data["target"] == "selected" else {}),
            },
        )
        messages.success(
            request, curation.done_message(action, changed, reviewing=_is_review(selection))
        )
        return HttpResponseRedirect(back)


class ReviewQueueView(PermissionRequiredMixin, KeysetPageMixin, TemplateView):
    """Cases people flagged for curation, then ai-generated cases nobody approved, oldest first."""

    permission_required = "cases.view_testcase"
    template_name = "cases/review_queue.html"
    shown_flags = 100

    def get_context_data(self, **kwargs):
        queryset = TestCase.objects.awaiting_review().select_related("created_by")
        flags = CaseFlag.objects.open().select_related("case", "flagged_by")
        return super().get_context_data(
            flags=flags[: self.shown_flags],
            page=self.page_of(queryset.defer("search_vector")),
            review_filters=urlencode(REVIEW_SELECTION),
            can_change=self.request.user.has_perm("cases.change_testcase"),
            **kwargs,
        )


class ResolveFlagView(PermissionRequiredMixin, View):
    """A curator marks a flag dealt with (the case was fixed, or needs nothing)."""

    permission_required = "cases.change_testcase"

    def post(self, request, pk: int):
        flag = get_object_or_404(CaseFlag, pk=pk)
        if flag.resolved_at is None:
            CaseFlag.objects.filter(pk=pk, resolved_at=None).update(
                resolved_at=timezone.now(), resolved_by=request.user
            )
            record(request.user, "case.flag_resolve", flag.case, flag=flag.pk)
            messages.success(request, f"Flag on case {flag.case_id} resolved.")
        return redirect(safe_next(request, reverse("cases:review")))
