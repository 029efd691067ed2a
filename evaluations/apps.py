from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"

    def ready(self) -> None:
        from evaluations.summaries import on_runs_changed
        from jobs.signals import runs_changed

        # The write paths' jobs (execution, response import, scoring, case import) queue the
        # refresh of the summaries they made stale.
        runs_changed.connect(on_runs_changed, dispatch_uid="evaluations.summaries")
