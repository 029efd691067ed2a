"""`manage.py mark_baseline RUN [--unmark]`: make a run its model's baseline on its cases."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from runs import baselines
from runs.models import ModelRun


class Command(BaseCommand):
    help = (
        "Mark a completed run the baseline of its model on its golden-set version (or case "
        "set), replacing the one marked before; newer runs of the model on those cases are "
        "compared with it and `mleval gate --baseline baseline:<model>` picks it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", type=int, help="the run's id")
        parser.add_argument("--unmark", action="store_true", help="stop it being the baseline")

    def handle(self, *args, run_id: int, unmark: bool, **options) -> None:
        run = ModelRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"There is no run #{run_id}.")
        if unmark:
            done = baselines.unmark(run, via="command")
            self.stdout.write(f"run #{run.pk} " + ("unmarked" if done else "was no baseline"))
            return
        try:
            previous = baselines.mark(run, via="command")
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        replaced = f" (replacing run #{previous.pk})" if previous else ""
        self.stdout.write(
            f"run #{run.pk} is the baseline of {run.model_name} on its cases{replaced}"
        )
