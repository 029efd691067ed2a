from django.contrib import admin

from jobs.models import Job
from mleval_site.admin_utils import admin_link


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Background jobs: read-only (the tasks write them)."""

    list_display = ("id", "kind", "state", "target_link", "done", "total", "created_at")
    list_filter = ("kind", "state")
    search_fields = ("=target_id", "=task_id")
    search_help_text = "A target id (e.g. a run's) or a task id."
    readonly_fields = [field.name for field in Job._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("target")

    @admin.display(description="target")
    def target_link(self, job: Job) -> str:
        return admin_link(job.target)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
