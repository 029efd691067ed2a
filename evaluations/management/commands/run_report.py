from django.core.management.base import BaseCommand, CommandError

from evaluations import exports, reports
from runs.models import ModelRun


def get_run(value: str, flag: str = "RUN_ID") -> ModelRun:
    """The run named on the command line, or one clear error naming the argument."""
    if not value.isdigit():
        raise CommandError(f"{flag} must be a run id (a number), got {value!r}")
    try:
        return ModelRun.objects.get(pk=int(value))
    except ModelRun.DoesNotExist:
        raise CommandError(f"{flag}: there is no run #{value}") from None


class Command(BaseCommand):
    help = (
        "Print a run's report on stdout: per-evaluator pass rates with Wilson intervals, "
        "score histograms, latency percentiles, breakdowns by slice, and the classification, "
        "detection, ranking and forecast blocks. JSON (the API's shape) or long CSV "
        "(section, evaluator, dimension, item, metric, value)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", metavar="RUN_ID", help="the run to report on")
        parser.add_argument(
            "--format",
            choices=["json", "csv"],
            default="json",
            help="json (default) or csv",
        )

    def handle(self, *args, run_id: str, format: str, **options) -> None:
        report = reports.build_run_report(get_run(run_id))
        if format == "json":
            self.stdout.write(exports.to_json(report))
        else:
            self.stdout.write(exports.to_csv(exports.report_rows(report)), ending="")
