from django.apps import AppConfig


class GradingConfig(AppConfig):
    name = "grading"
    verbose_name = "Human grading"

    def ready(self) -> None:
        from grading import hooks

        hooks.register()
