"""/accounts/tokens/: every logged-in user manages their own API tokens."""

import json

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import ListView
from django_filters.views import FilterView

from accounts.audit import AuditEventFilterSet, record
from accounts.forms import TokenForm
from accounts.models import ApiToken, AuditEvent
from mleval_site.generic import FilterQueryMixin
from mleval_site.pagination import EstimatedCountPaginator


class TokenListView(ListView):
    template_name = "accounts/tokens.html"
    context_object_name = "tokens"

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def get_context_data(self, **kwargs):
        return super().get_context_data(form=kwargs.pop("form", None) or TokenForm(), **kwargs)


class TokenCreateView(TokenListView):
    """Creates a token and shows it on this response only: it is never stored in plain text."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        form = TokenForm(request.POST)
        if not form.is_valid():
            self.object_list = self.get_queryset()
            return self.render_to_response(self.get_context_data(form=form), status=400)
        with transaction.atomic():
            token, raw = ApiToken.objects.issue(
                request.user, form.cleaned_data["name"], form.expires_at()
            )
            record(request.user, "token.create", token, name=token.name, prefix=token.prefix)
        response = render(request, "accounts/token_created.html", {"token": token, "raw": raw})
        response["Cache-Control"] = "no-store"  # the one page holding the plain token
        return response


class TokenRevokeView(View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        token = get_object_or_404(ApiToken, pk=pk, user=request.user)
        with transaction.atomic():
            token.revoke()
            record(request.user, "token.revoke", token, name=token.name, prefix=token.prefix)
        messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
        return redirect("api-tokens")


class AuditLogView(PermissionRequiredMixin, FilterQueryMixin, FilterView):
    """/audit/: the audit trail, for admins."""

    permission_required = "accounts.view_auditevent"
    filterset_class = AuditEventFilterSet
    template_name = "accounts/audit.html"
    paginate_by = 100
    paginator_class = EstimatedCountPaginator

    def get_queryset(self):
        return AuditEvent.objects.all()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for event in context["object_list"]:  # a page of them: JSON, not a Python dict
            event.detail_json = json.dumps(event.detail, indent=2, ensure_ascii=False)
            event.detail_line = json.dumps(event.detail, ensure_ascii=False)
        return context
