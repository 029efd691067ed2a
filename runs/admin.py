from django.contrib import admin

from mleval_site.admin_utils import (
    AuditedAdmin,
    CascadeDeleteAdmin,
    LargeTableAdmin,
    admin_link,
    changelist_link,
    pretty_json,
)
from runs.models import Connection, ModelRun, ModelVersion, Response


@admin.register(ModelRun)
class ModelRunAdmin(AuditedAdmin, CascadeDeleteAdmin):
    audit_name = "run"
    list_display = (
        "id",
        "model_name",
        "model_version",
        "model_type",
        "status",
        "total_cases",
        "completed_cases",
        "failed_cases",
        "created_at",
        "responses_link",
    )
    list_filter = ("status", "model_type")
    search_fields = ("model_name", "model_version")
    raw_id_fields = ("created_by",)
    readonly_fields = ("config_pretty", "selection_fingerprint", "created_at", "responses_link")

    @admin.display(description="config (formatted)")
    def config_pretty(self, run: ModelRun) -> str:
        return pretty_json(run.config)

    @admin.display(description="responses")
    def responses_link(self, run: ModelRun) -> str:
        return changelist_link(Response, "responses", run__id__exact=run.pk)


@admin.register(Response)
class ResponseAdmin(CascadeDeleteAdmin, LargeTableAdmin):
    list_display = (
        "id",
        "run_link",
        "case_link",
        "latency_ms",
        "tokens_used",
        "error_message",
        "created_at",
    )
    list_filter = ("run__status",)
    list_select_related = ("run", "test_case")
    raw_id_fields = ("run", "test_case")
    readonly_fields = ("output_pretty", "created_at")
    search_fields = ("=run__id", "=test_case__id")
    search_help_text = "A run id or a test case id."

    @admin.display(description="run")
    def run_link(self, response: Response) -> str:
        return admin_link(response.run)

    @admin.display(description="test case")
    def case_link(self, response: Response) -> str:
        return admin_link(response.test_case, f"case {response.test_case_id}")

    @admin.display(description="output (formatted)")
    def output_pretty(self, response: Response) -> str:
        return pretty_json(response.output_data)


@admin.register(Connection)
class ConnectionAdmin(AuditedAdmin):
    audit_name = "connection"
    list_display = ("name", "kind", "base_url", "model", "rate_limit", "batch_size", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name", "base_url", "model")
    raw_id_fields = ("created_by",)


@admin.register(ModelVersion)
class ModelVersionAdmin(AuditedAdmin):
    """Lineage rows; the form's clean() refuses a cycle (runs.lineage), the database too."""

    audit_name = "modelversion"
    list_display = ("model_name", "model_version", "parent_kind", "parent", "created_at")
    list_filter = ("parent_kind",)
    list_select_related = ("parent",)
    search_fields = ("model_name", "model_version")
    raw_id_fields = ("parent", "created_by")
