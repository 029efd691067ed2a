import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.audit import record
from evaluations.evaluators import EvaluatorConfigError
from evaluations.judging.judges import JudgeUnavailable
from evaluations.pipeline import DEFAULT_CHUNK_SIZE, evaluate_run
from runs.models import ModelRun
from runs.trials import trial_runs

PLAIN_EVERY_CHUNKS = 20
PLAIN_EVERY_SECONDS = 5.0


class Command(BaseCommand):
    help = (
        "Score every response of a run with its evaluators: the ones given with --evaluator, "
        "else the run config's \"evaluators\", else the default of each case's output type. "
        "Scoring again replaces the verdicts. Runs in this process (the run page's button uses "
        "the background workers instead)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("run_id", type=int, help="the run to score")
        parser.add_argument(
            "--evaluator",
            action="append",
            default=[],
            metavar="NAME[:JSON_PARAMS]",
            help=(
                'an evaluator and optional parameters, e.g. rouge_l or \'iou:{"iou_threshold": '
                "0.75}'; repeat for several (see /evaluators/ for the list)"
            ),
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=DEFAULT_CHUNK_SIZE,
            help=f"responses scored and written per statement (default {DEFAULT_CHUNK_SIZE})",
        )

    def handle(self, *args, run_id: int, evaluator: list[str], chunk_size: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        run = ModelRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"run {run_id} does not exist")
        stream = getattr(self.stderr, "_out", sys.stderr)  # tqdm needs the raw stream
        progress, judging = _Progress(stream), _JudgeProgress(stream)
        try:
            for trial in [member for member in trial_runs(run) if member.pk != run.pk]:
                # Repeated trials (runs.trials): the group's other runs are scored first.
                self.stdout.write(f"scoring trial {trial.config['trial']} (run {trial.pk})")
                evaluate_run(trial, evaluator or None, chunk_size=chunk_size)
            result = evaluate_run(
                run,
                evaluator or None,
                chunk_size=chunk_size,
                progress=progress,
                judge_progress=judging,
            )
        except (EvaluatorConfigError, JudgeUnavailable) as exc:
            raise CommandError(str(exc)) from None
        finally:
            judging.close()
            progress.close()
        names = [planned.name for planned in result.evaluators]
        record(None, "run.evaluate", run, via="command", evaluators=names, count=result.responses)
        if options["verbosity"] >= 1:
            for name, count in sorted(result.by_evaluator.items()):
                self.stdout.write(f"{name}: {count} verdicts")
            if result.failed_calls:
                self.stdout.write(f"{result.failed_calls} failed model calls scored 0")
            if result.malformed_outputs:
                self.stdout.write(f"{result.malformed_outputs} malformed outputs scored 0")
            if result.not_applicable:
                self.stdout.write(
                    f"{result.not_applicable} verdicts of evaluators that do not apply to the "
                    "case's output type scored 0"
                )
            if result.judge_calls or result.judge_cached:
                self.stdout.write(
                    f"judge: {result.judge_calls} calls made, {result.judge_cached} replies "
                    f"from the judge cache, {result.judge_errors} judge errors"
                )
            if result.curation_errors:
                self.stdout.write(
                    f"{result.curation_errors} malformed ground truths (curation errors) scored 0"
                )
        self.stdout.write(f"evaluated {result.responses} responses")


class _Progress:
    """A tqdm bar on a terminal; a plain line every few chunks otherwise."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.bar = None
        self.calls = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and self.stream.isatty():
            self.bar = tqdm(total=total, unit="response", desc="evaluating", file=self.stream)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        self.calls += 1
        if done and (self.calls % PLAIN_EVERY_CHUNKS == 0 or done == total):
            print(f"evaluating: {done}/{total} responses", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _JudgeProgress:
    """The judge calls as they are made (a tqdm counter on a terminal; a line every few
    seconds otherwise)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.bar = None
        self.asked = self.cached = 0
        self.printed = time.monotonic()

    def __call__(self, asked: int, cached: int) -> None:
        self.asked += asked
        self.cached += cached
        if self.bar is None and self.stream.isatty():
            self.bar = tqdm(unit="judge call", desc="judging", file=self.stream)
        if self.bar is not None:
            self.bar.update(asked + cached)
            self.bar.set_postfix(cached=self.cached, refresh=False)
        elif time.monotonic() - self.printed >= PLAIN_EVERY_SECONDS:
            self.printed = time.monotonic()
            print(
                f"judging: {self.asked} calls made, {self.cached} from the cache",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
