"""A run's tasks become jobs.Job rows (kind execution or import, target the run), their state
read once from the task table; run_tasks goes."""

from django.db import migrations

COPY = """
INSERT INTO jobs (kind, target_type_id, target_id, state, done, total, parts_total, parts_done,
                  counters, params, result, message, error, file, file_name, file_size,
                  task_id, created_by_id, created_at, started_at, finished_at)
SELECT CASE t.kind WHEN 'execute' THEN 'execution' ELSE 'import' END, %s, t.run_id,
       CASE r.status WHEN 'READY' THEN 'queued' WHEN 'RUNNING' THEN 'running'
                     WHEN 'SUCCESSFUL' THEN 'succeeded' ELSE 'failed' END,
       0, 0, 0, 0, '{}', '{}', r.return_value,
       CASE WHEN r.return_value ? 'called'
            THEN (r.return_value ->> 'called') || ' cases called, run '
                 || (r.return_value ->> 'status')
            WHEN r.return_value ? 'imported'
            THEN 'imported ' || (r.return_value ->> 'imported') || ' responses'
            ELSE '' END,
       CASE WHEN r.id IS NULL THEN 'The task record is gone.'
            WHEN r.status = 'FAILED' THEN substring(trim(r.traceback) FROM '[^\\n]*$')
            ELSE '' END,
       '', '', 0, t.task_id, t.created_by_id, t.created_at, r.started_at, r.finished_at
FROM run_tasks AS t LEFT JOIN django_tasks_database_dbtaskresult AS r ON r.id::text = t.task_id
ORDER BY t.id
"""


def copy_jobs(apps, schema_editor) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    run_type, _ = ContentType.objects.get_or_create(app_label="runs", model="modelrun")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(COPY, [run_type.pk])


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0002_execution"),
        ("jobs", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        migrations.RunPython(copy_jobs, migrations.RunPython.noop),
        migrations.DeleteModel(name="RunTask"),
    ]
