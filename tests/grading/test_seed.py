"""manage.py seed_grading: a demo task on the seeded summarisation run, idempotent."""

import io

from django.core.management import call_command

from evaluations.models import Evaluation
from grading.models import Assignment, GradingTask


def test_seed_grading_is_idempotent(db):
    call_command("seed_user_data", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_grading", stdout=out)
    assert out.getvalue().strip() == "seeded grading: 80 grades"
    task = GradingTask.objects.get()
    assert task.items.count() == 40 and not Assignment.objects.filter(graded_at=None).exists()
    human = Evaluation.objects.filter(evaluator_type="human")
    assert human.one_per_evaluator().count() == 40 and human.count() == 40 * 3
    again = io.StringIO()
    call_command("seed_grading", stdout=again)
    assert again.getvalue().strip() == "seeded grading: 0 grades (already there)"
    call_command("seed_grading", "--reset", stdout=io.StringIO())
    assert GradingTask.objects.count() == 1
    assert human.one_per_evaluator().count() == 40 and human.count() == 40 * 3
