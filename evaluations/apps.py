from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"

    def ready(self) -> None:
        from evaluations.summary_store import on_runs_changed
        from jobs.signals import runs_changed

        # The write paths' jobs (execution, response import, scoring, case import) queue the
        # refresh of the summaries they made stale.
        runs_changed.connect(on_runs_changed, dispatch_uid="evaluations.summary_store")
        self.load_custom_evaluators()

    def load_custom_evaluators(self) -> list[str]:
        """Register MLEVAL_EVALUATORS and the mleval.evaluators entry points; a bad setting
        stops start-up with its reason."""
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        from evaluations.evaluators import EvaluatorConfigError
        from evaluations.evaluators.custom import load_custom_evaluators

        try:
            return load_custom_evaluators(settings.MLEVAL_EVALUATORS)
        except EvaluatorConfigError as exc:
            raise ImproperlyConfigured(f"MLEVAL_EVALUATORS: {exc}") from None
