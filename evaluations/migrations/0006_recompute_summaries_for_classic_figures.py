"""Stored run summaries and comparisons predate the classic ML blocks (classification.scores,
regression, multilabel; the comparison's auc): empty them so each is computed again, with the
new blocks, on its next read (summaries are a cache of figures the data decides)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0005_judge_calls")]

    operations = [
        migrations.RunSQL(
            "UPDATE run_summaries SET figures = '' WHERE figures <> '';"
            "DELETE FROM comparison_summaries;",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
