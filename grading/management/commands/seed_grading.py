"""Demo grading on the seeded summarisation run: two demo graders, a stratified sample graded
by both (they mostly agree with rouge_l, and each other), so /grading/ and the report's
agreement block are alive on a fresh `make run`. Idempotent; --reset replaces it."""

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import GRADER
from evaluations.models import Evaluation
from grading.assigning import create_task
from grading.models import Assignment, GradingTask, Scale
from grading.verdicts import record_grade
from runs.models import ModelRun

SEED_KEY = "summary-v1"  # seed_user_data's summarisation run
GRADERS = ("demo-grader-ana", "demo-grader-ben")
TASK_NAME = "Demo: are the summaries faithful?"


class Command(BaseCommand):
    help = (
        "Seed a demo grading task on the seeded summarisation run (run seed_user_data first), "
        "graded by two demo graders who cannot log in. Idempotent; --reset replaces it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reset", action="store_true", help="replace the demo task")
        parser.add_argument("--n", type=int, default=40, help="responses sampled (default 40)")

    @transaction.atomic
    def handle(self, *args, reset: bool = False, n: int = 40, **options) -> None:
        run = ModelRun.objects.filter(config__seed_key=SEED_KEY).first()
        if run is None:
            self.stdout.write("seeded grading: 0 grades (no seeded summarisation run)")
            return
        existing = GradingTask.objects.filter(run=run, name=TASK_NAME)
        if reset:
            existing.delete()
        elif existing.exists():
            self.stdout.write("seeded grading: 0 grades (already there)")
            return
        graders = []
        for username in GRADERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=GRADER))
            graders.append(user)
        task = create_task(
            run,
            name=TASK_NAME,
            instructions="Pass when the summary states only what the text says and keeps its "
            "main point. Score 1 (wrong) to 5 (faithful and complete).",
            scale=Scale.ONE_TO_FIVE,
            graders=graders,
            overlap=2,
            n=n,
            evaluator="rouge_l",
            seed=1,
        )
        automatic = dict(
            Evaluation.objects.filter(
                response__grading_item__task=task, evaluator_type="rouge_l"
            ).values_list("response_id", "passed")
        )
        assignments = Assignment.objects.filter(item__task=task).select_related("item", "grader")
        for a in assignments.order_by("item__position", "grader__username"):
            # Mostly the automatic verdict; each grader departs from it on a few responses.
            departs = (a.item.position * 3 + len(a.grader.username)) % 7 == 0
            passed = automatic.get(a.item.response_id, True) != departs
            record_grade(a, passed=passed, score=4 if passed else 2)
        self.stdout.write(f"seeded grading: {assignments.count()} grades")
