import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluations import exports, reports
from evaluations.gate import NOTHING, GateError, gate, resolve_run
from evaluations.management.commands.run_report import get_run


class Command(BaseCommand):
    help = (
        "Compare two runs case by case on stdout: per evaluator the paired counts "
        "(regressions: passed in A, failed in B), pass rate and mean score deltas, McNemar's "
        "exact p, the paired bootstrap 95% interval of the mean score delta and the minimum "
        "detectable effect; per-slice deltas with Holm-corrected p-values; every case pair, "
        "regressions first. When the selections differ, the intersection is compared. "
        "With --fail-on regression it is a CI gate (evaluations/gate.py): a summary on stdout, "
        "exit 0 no significant regression, 1 a significant regression (overall or in a "
        "Holm-corrected slice), 2 nothing to compare or a bad argument."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "run_a",
            metavar="RUN_A",
            help="the baseline run (before); with --fail-on also latest:<model name>",
        )
        parser.add_argument("run_b", metavar="RUN_B", help="the candidate run (after)")
        parser.add_argument(
            "--format",
            choices=["json", "csv"],
            default="json",
            help="json (default) or csv",
        )
        parser.add_argument(
            "--fail-on",
            choices=["regression"],
            help="gate: exit 1 on a significant regression (2: nothing to compare)",
        )
        parser.add_argument("--alpha", type=float, default=0.05, help="significance (0.05)")
        parser.add_argument(
            "--min-delta",
            type=float,
            default=0.0,
            help="ignore significant pass-rate drops no larger than this (0.02 = 2 points)",
        )
        parser.add_argument("--evaluator", help="gate on this evaluator only")
        parser.add_argument("--junit", type=Path, help="write JUnit XML here")
        parser.add_argument("--markdown", type=Path, help="write a Markdown summary here")

    def handle(self, *args, run_a: str, run_b: str, format: str, **options) -> None:
        if options["fail_on"]:
            self.gate(run_a, run_b, **options)
            return
        comparison = reports.compare_runs(get_run(run_a, "RUN_A"), get_run(run_b, "RUN_B"))
        if format == "json":
            self.stdout.write(exports.to_json(comparison))
        else:
            self.stdout.write(exports.to_csv(exports.comparison_rows(comparison)), ending="")

    def gate(self, run_a: str, run_b: str, **options) -> None:
        try:
            candidate = resolve_run(run_b, flag="RUN_B")
            baseline = resolve_run(run_a, candidate, flag="RUN_A")
            verdict = gate(
                baseline,
                candidate,
                alpha=options["alpha"],
                min_delta=options["min_delta"],
                evaluator=options["evaluator"],
            )
        except GateError as error:
            raise CommandError(str(error), returncode=2) from None
        for flag, text in (("junit", verdict.junit), ("markdown", verdict.markdown)):
            if options[flag]:
                options[flag].write_text(text(), encoding="utf-8")
        (self.stderr if verdict.exit_code == NOTHING else self.stdout).write(
            verdict.summary(), ending=""
        )
        if verdict.exit_code:
            sys.exit(verdict.exit_code)
