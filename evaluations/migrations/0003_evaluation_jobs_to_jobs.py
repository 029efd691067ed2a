"""Scoring jobs become jobs.Job rows (kind evaluation, target the run); evaluation_jobs goes."""

from django.db import migrations

COPY = """
INSERT INTO jobs (kind, target_type_id, target_id, state, done, total, parts_total, parts_done,
                  counters, params, result, message, error, file, file_name, file_size,
                  task_id, created_by_id, created_at, started_at, finished_at)
SELECT 'evaluation', %s, run_id, CASE status WHEN 'completed' THEN 'succeeded' ELSE status END,
       responses_done, responses_total, chunks_total, chunks_done,
       jsonb_build_object('evaluations_written', evaluations_written),
       jsonb_build_object('evaluators', evaluators, 'chunk_size', chunk_size), NULL, '', error,
       '', '', 0, task_id, created_by_id, created_at, started_at, finished_at
FROM evaluation_jobs ORDER BY id
"""


def copy_jobs(apps, schema_editor) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    run_type, _ = ContentType.objects.get_or_create(app_label="runs", model="modelrun")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(COPY, [run_type.pk])


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0002_evaluation_jobs"),
        ("jobs", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(copy_jobs, migrations.RunPython.noop),
        migrations.DeleteModel(name="EvaluationJob"),
    ]
