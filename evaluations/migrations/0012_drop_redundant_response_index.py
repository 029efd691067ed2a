"""evaluations(response_id) had an index of its own beside the unique (response_id,
evaluator_type, grader_id), which leads with the same column and answers every lookup by
response: one index fewer for each verdict insert to maintain. Only the index goes (Django's
AlterField would drop and re-validate the foreign key too, a scan of the whole table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0011_label_scores"),
        ("runs", "0010_run_baseline"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="evaluation",
                    name="response",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="evaluations",
                        to="runs.response",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "evaluations_response_id_cc2d11ce"',
                    'CREATE INDEX IF NOT EXISTS "evaluations_response_id_cc2d11ce" '
                    'ON "evaluations" ("response_id")',
                ),
            ],
        ),
    ]
