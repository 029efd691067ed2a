from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from cases.demo_data import demo_cases
from cases.models import TestCase
from evaluations.pipeline import evaluate_run
from runs.callers import ExecutionOptions
from runs.execution import execute_run
from runs.models import ModelRun
from runs.selection import register_run

# (seed key, model name, version, category, demo function, config): two versions where a
# comparison is interesting, so the leaderboard and run comparison have something to show.
DEMO_RUNS = [
    ("vision-v1", "resnet-lite", "1.0", "image_classification", "image_classifier", {"blur": 0.3}),
    ("vision-v2", "resnet-lite", "1.1", "image_classification", "image_classifier", {}),
    ("detector-v1", "two-stage-det", "0.9", "object_detection", "object_detector", {}),
    ("sentiment-v1", "lexicon-sent", "1.0", "sentiment", "sentiment_classifier", {}),
    (
        "sentiment-v2",
        "lexicon-sent",
        "2.0",
        "sentiment",
        "sentiment_classifier",
        {"positive_weight": 0.6},
    ),
    (
        "qa-v1",
        "span-picker",
        "1.0",
        "extractive_qa",
        "extractive_qa",
        {"evaluators": ["text_normalized_match", "token_f1"]},  # SQuAD's exact match and F1
    ),
    (
        "forecast-v1",
        "naive-forecaster",
        "1.0",
        "demand_forecast",
        "forecaster",
        {"seasonal": False},
    ),
    ("forecast-v2", "naive-forecaster", "2.0", "demand_forecast", "forecaster", {}),
    ("recommender-v1", "genre-ranker", "1.0", "music_recommendation", "recommender", {}),
    ("churn-v1", "churn-rules", "1.0", "churn", "churn_classifier", {}),
    # Probabilities with its labels: ROC, PR, calibration and the threshold explorer.
    ("churn-v2", "churn-logit", "1.0", "churn", "churn_scorer", {"positive_label": "churn"}),
    (
        "churn-v3",
        "churn-logit",
        "1.1",
        "churn",
        "churn_scorer",
        {"positive_label": "churn", "calls_weight": 0.25},
    ),
    ("price-v1", "price-linear", "1.0", "house_price", "price_regressor", {}),
    ("topics-v1", "keyword-tagger", "1.0", "news_topics", "topic_tagger", {"eager": True}),
    (
        "summary-v1",
        "lead-summariser",
        "1.0",
        "summarisation",
        "summariser",
        {"evaluators": ["rouge_l", "bleu"]},
    ),
    (
        "invoice-v1",
        "invoice-regex",
        "1.0",
        "invoice_extraction",
        "invoice_extractor",
        {"terse": True},
    ),
    ("invoice-v2", "invoice-regex", "1.1", "invoice_extraction", "invoice_extractor", {}),
]


class Command(BaseCommand):
    help = (
        "Seed realistic multi-domain golden sets, ai-generated cases awaiting review, and model "
        "runs executed against the shipped demo models, scored by the evaluation pipeline. "
        "Idempotent: a second call adds nothing. --reset replaces the seeded rows (and only those)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="delete the seeded rows first, then seed again"
        )

    @transaction.atomic
    def handle(self, *args, reset: bool = False, **options) -> None:
        if reset:
            ModelRun.objects.filter(config__has_key="seed_key").delete()
            TestCase.objects.filter(metadata__has_key="seed_key").delete()
        cases_added = self.seed_cases()
        seeded_before = set(self.seeded_runs().values_list("pk", flat=True))
        runs_added = self.seed_runs()
        evaluations = self.score_runs(self.seeded_runs().exclude(pk__in=seeded_before))
        self.stdout.write(
            f"seeded: {cases_added} cases, {runs_added} runs, {evaluations} evaluations"
        )

    def seeded_runs(self):
        return ModelRun.objects.filter(config__has_key="seed_key").order_by("pk")

    def score_runs(self, runs) -> int:
        """Score the runs seeded by this call through the real pipeline (their config's
        evaluators, else the defaults per output type); returns the verdicts written."""
        return sum(evaluate_run(run).evaluations for run in runs)

    def seed_cases(self) -> int:
        existing = set(
            TestCase.objects.filter(metadata__has_key="seed_key").values_list(
                "metadata__seed_key", flat=True
            )
        )
        missing = [case for case in demo_cases() if case["metadata"]["seed_key"] not in existing]
        TestCase.objects.bulk_create([TestCase(**case) for case in missing], batch_size=1000)
        return len(missing)

    def seed_runs(self) -> int:
        existing = set(
            ModelRun.objects.filter(config__has_key="seed_key").values_list(
                "config__seed_key", flat=True
            )
        )
        todo = [spec for spec in DEMO_RUNS if spec[0] not in existing]
        for key, name, version, category, function, params in tqdm(
            todo, desc="seeding runs", unit="run", disable=not todo or None
        ):
            # Registered and executed like any run: the demo models really answer every case.
            model_type = TestCase.objects.golden().filter(category=category).first().model_type
            run = register_run(
                model_name=name,
                model_version=version,
                model_type=model_type,
                model_endpoint=f"python:runs.demo_models:{function}",
                config={"seed_key": key, **params},
                selection={"model_type": model_type, "category": category, "scope": "golden"},
            )
            execute_run(run, ExecutionOptions(concurrency=4))
        return len(todo)
