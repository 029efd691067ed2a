"""The progress partial of any background job, polled by htmx on the pages that start jobs
(case import, the run page's executions and response imports, the evaluation panel)."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import DetailView

from jobs.models import Job
from jobs.running import reap_if_lost


class JobProgressView(PermissionRequiredMixin, DetailView):
    """/jobs/<id>/progress/: the partial; once the job is over, htmx reloads the page around
    it, which then shows the outcome its own way (import preview, verdicts, task table)."""

    permission_required = "jobs.view_job"
    model = Job
    template_name = "jobs/_progress.html"
    context_object_name = "job"

    def render_to_response(self, context, **kwargs):
        reap_if_lost(self.object)
        response = super().render_to_response(context, **kwargs)
        if self.request.htmx and self.object.is_finished:
            response["HX-Refresh"] = "true"
        return response
