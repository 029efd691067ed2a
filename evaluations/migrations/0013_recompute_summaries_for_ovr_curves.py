"""Stored run summaries predate the one-vs-rest ROC curves of a multiclass run
(classification.scores.per_label.<label>.roc_curve): empty them so each is computed again on
its next read (summaries are a cache of figures the data decides)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0012_drop_redundant_response_index")]

    operations = [
        migrations.RunSQL(
            "UPDATE run_summaries SET figures = '' WHERE figures <> '';",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
