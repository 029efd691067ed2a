"""/connections/: engineers manage saved connections; anyone signed in may read them (they hold
no secrets, only `${NAME}` references). Thin views: the rules are runs/connections.py."""

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.shortcuts import get_object_or_404, render
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import CreateView, DeleteView, ListView, UpdateView

from accounts.audit import record
from runs.connections import Connection, probe_connection

JSON_WIDGET = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})


class ConnectionForm(forms.ModelForm):
    headers = forms.JSONField(required=False, initial=dict, widget=JSON_WIDGET)
    params = forms.JSONField(required=False, initial=dict, widget=JSON_WIDGET)

    class Meta:
        model = Connection
        fields = [
            "name",
            "kind",
            "base_url",
            "headers",
            "model",
            "params",
            "batch_size",
            "rate_limit",
            "input_price_per_million",
            "output_price_per_million",
        ]
        widgets = {"base_url": forms.URLInput(attrs={"spellcheck": "false"})}

    def clean_headers(self) -> dict:
        return self.cleaned_data.get("headers") or {}

    def clean_params(self) -> dict:
        return self.cleaned_data.get("params") or {}


class ConnectionListView(PermissionRequiredMixin, ListView):
    permission_required = "runs.view_connection"
    model = Connection
    template_name = "runs/connection_list.html"


class ConnectionSaveMixin(PermissionRequiredMixin):
    model = Connection
    form_class = ConnectionForm
    template_name = "runs/connection_form.html"
    success_url = reverse_lazy("connections:list")

    def form_valid(self, form):
        creating = form.instance.pk is None
        if creating:
            form.instance.created_by = self.request.user
        response = super().form_valid(form)
        action = "create" if creating else "update"
        record(
            self.request.user, f"connection.{action}", self.object, fields=sorted(form.changed_data)
        )
        messages.success(self.request, f"Connection {self.object.name} saved.")
        return response


class ConnectionCreateView(ConnectionSaveMixin, CreateView):
    permission_required = "runs.add_connection"


class ConnectionUpdateView(ConnectionSaveMixin, UpdateView):
    permission_required = "runs.change_connection"


class ConnectionDeleteView(PermissionRequiredMixin, DeleteView):
    permission_required = "runs.delete_connection"
    model = Connection
    template_name = "runs/connection_confirm_delete.html"
    success_url = reverse_lazy("connections:list")

    def form_valid(self, form):
        record(self.request.user, "connection.delete", self.object)
        messages.success(self.request, f"Connection {self.object.name} deleted.")
        return super().form_valid(form)


class ConnectionTestView(PermissionRequiredMixin, View):
    """POST: send one real request through the connection; show the reply and its latency."""

    permission_required = "runs.change_connection"

    def post(self, request, pk: int):
        connection = get_object_or_404(Connection, pk=pk)
        result = probe_connection(connection)
        template = "runs/_connection_test.html"
        if not request.htmx:
            template = "runs/connection_test.html"
        return render(request, template, {"connection": connection, "result": result})
