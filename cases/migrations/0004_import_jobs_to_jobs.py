"""Case imports become jobs.Job rows (kind case_import); the case_imports table goes."""

from django.db import migrations

COPY = """
INSERT INTO jobs (kind, state, done, total, parts_total, parts_done, counters, params, result,
                  message, error, file, file_name, file_size, task_id, created_by_id,
                  created_at, started_at, finished_at)
SELECT 'case_import', CASE status WHEN 'done' THEN 'succeeded' ELSE status END,
       bytes_read, size_bytes, 0, 0, jsonb_build_object('rows', rows_read),
       jsonb_build_object('file_format', file_format, 'origin', origin, 'dry_run', dry_run),
       CASE WHEN status = 'done' THEN jsonb_build_object(
           'rows', rows_read, 'imported', imported, 'error_count', error_count,
           'errors', errors, 'preview', preview, 'counts', counts) END,
       CASE WHEN status = 'failed' THEN '' ELSE message END,
       CASE WHEN status = 'failed' THEN message ELSE '' END,
       file, original_name, size_bytes, task_id, created_by_id, created_at, NULL, finished_at
FROM case_imports ORDER BY id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_sort_indexes"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(COPY, migrations.RunSQL.noop),
        migrations.DeleteModel(name="ImportJob"),
    ]
