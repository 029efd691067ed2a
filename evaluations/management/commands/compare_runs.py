from django.core.management.base import BaseCommand

from evaluations import exports, reports
from evaluations.management.commands.run_report import get_run


class Command(BaseCommand):
    help = (
        "Compare two runs case by case on stdout: per evaluator the paired counts "
        "(regressions: passed in A, failed in B), pass rate and mean score deltas, McNemar's "
        "exact p, the paired bootstrap 95% interval of the mean score delta and the minimum "
        "detectable effect; per-slice deltas with Holm-corrected p-values; every case pair, "
        "regressions first. When the selections differ, the intersection is compared."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_a", metavar="RUN_A", help="the baseline run (before)")
        parser.add_argument("run_b", metavar="RUN_B", help="the candidate run (after)")
        parser.add_argument(
            "--format",
            choices=["json", "csv"],
            default="json",
            help="json (default) or csv",
        )

    def handle(self, *args, run_a: str, run_b: str, format: str, **options) -> None:
        comparison = reports.compare_runs(get_run(run_a, "RUN_A"), get_run(run_b, "RUN_B"))
        if format == "json":
            self.stdout.write(exports.to_json(comparison))
        else:
            self.stdout.write(exports.to_csv(exports.comparison_rows(comparison)), ending="")
