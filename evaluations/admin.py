from django.contrib import admin

from evaluations.models import Evaluation
from mleval_site.admin_utils import LargeTableAdmin, admin_link, pretty_json


@admin.register(Evaluation)
class EvaluationAdmin(LargeTableAdmin):
    list_display = (
        "id",
        "response_link",
        "evaluator_type",
        "grader",
        "score",
        "passed",
        "feedback",
    )
    list_filter = ("evaluator_type", "passed")
    list_select_related = ("response", "grader")
    raw_id_fields = ("response", "grader")
    readonly_fields = ("metrics_pretty", "created_at")
    search_fields = ("=response__id", "=response__run__id")
    search_help_text = "A response id or a run id."

    @admin.display(description="response")
    def response_link(self, evaluation: Evaluation) -> str:
        return admin_link(evaluation.response)

    @admin.display(description="metrics (formatted)")
    def metrics_pretty(self, evaluation: Evaluation) -> str:
        return pretty_json(evaluation.metrics)
