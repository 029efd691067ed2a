from django.contrib import admin

from grading.models import Assignment, GradingItem, GradingTask
from mleval_site.admin_utils import (
    AuditedAdmin,
    LargeTableAdmin,
    admin_link,
    changelist_link,
    pretty_json,
)


@admin.register(GradingTask)
class GradingTaskAdmin(AuditedAdmin):
    audit_name = "grading_task"
    list_display = ("id", "name", "run_link", "scale", "overlap", "created_by", "created_at")
    list_filter = ("scale",)
    list_select_related = ("run", "created_by")
    raw_id_fields = ("run", "created_by")
    search_fields = ("name", "=run__id")
    search_help_text = "A task name or a run id."
    readonly_fields = ("sample_pretty", "created_at", "items_link")

    @admin.display(description="run")
    def run_link(self, task: GradingTask) -> str:
        return admin_link(task.run)

    @admin.display(description="sample (formatted)")
    def sample_pretty(self, task: GradingTask) -> str:
        return pretty_json(task.sample)

    @admin.display(description="items")
    def items_link(self, task: GradingTask) -> str:
        return changelist_link(GradingItem, "items", task__id__exact=task.pk)


@admin.register(GradingItem)
class GradingItemAdmin(LargeTableAdmin):
    list_display = ("id", "task", "position", "response_link", "stratum")
    list_select_related = ("task", "response")
    raw_id_fields = ("task", "response")
    search_fields = ("=task__id", "=response__id")
    search_help_text = "A task id or a response id."

    @admin.display(description="response")
    def response_link(self, item: GradingItem) -> str:
        return admin_link(item.response)


@admin.register(Assignment)
class AssignmentAdmin(LargeTableAdmin):
    list_display = ("id", "item", "grader", "passed", "score", "graded_at")
    list_filter = ("passed",)
    list_select_related = ("item", "grader")
    raw_id_fields = ("item", "grader")
    search_fields = ("=item__task__id", "grader__username")
    search_help_text = "A task id or a grader's username."
