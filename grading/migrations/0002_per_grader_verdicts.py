"""Each grade given before this migration gets its grader's own human verdict (evaluations
0009 let a response have one per grader beside the panel's), as grading.verdicts now writes
it; the panel verdicts (grader NULL) were already there. The score mapping is spelled out here,
as of this migration, so later changes to grading.verdicts cannot change what it did."""

from django.db import migrations

BACKFILL = """
INSERT INTO evaluations (response_id, evaluator_type, grader_id, score, passed, metrics, feedback)
SELECT gi.response_id, 'human', a.grader_id,
       least(1.0, greatest(0.0, CASE
           WHEN a.score IS NULL OR gt.scale = 'pass_fail' THEN a.passed::int::float8
           WHEN gt.scale = '1-5' THEN (a.score - 1) / 4
           ELSE a.score / 10 END)),
       a.passed,
       jsonb_build_object('grader', u.username, 'score', a.score, 'scale', gt.scale,
                          'task', gt.id),
       left(a.comment, 5000)
FROM grading_assignments a
JOIN grading_items gi ON gi.id = a.item_id
JOIN grading_tasks gt ON gt.id = gi.task_id
JOIN auth_user u ON u.id = a.grader_id
WHERE a.graded_at IS NOT NULL
ON CONFLICT (response_id, evaluator_type, grader_id) DO NOTHING
"""


class Migration(migrations.Migration):
    dependencies = [
        ("grading", "0001_initial"),
        ("evaluations", "0009_verdict_grader"),
    ]

    operations = [migrations.RunSQL(BACKFILL, migrations.RunSQL.noop)]
