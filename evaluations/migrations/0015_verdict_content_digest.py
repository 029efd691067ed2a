"""evaluations.content_digest: the scoring pipeline's digest of a verdict's content as it wrote
it, so a re-score sends only the verdicts whose digest changed. Any other update of the
content (the admin, SQL by hand, a writer that does not know the digest) clears it, so a
digest is only trusted while the row is as the pipeline left it. Existing rows start with
none: the next scoring of each compares it in full, as before, and writes its digest."""

from django.db import migrations, models

TRIGGER_SQL = """
CREATE FUNCTION evaluations_digest_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.score, NEW.passed, NEW.metrics, NEW.feedback)
        IS DISTINCT FROM (OLD.score, OLD.passed, OLD.metrics, OLD.feedback) THEN
        NEW.content_digest := NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER evaluations_digest_stale BEFORE UPDATE ON evaluations FOR EACH ROW
WHEN (OLD.content_digest IS NOT NULL
      AND NEW.content_digest IS NOT DISTINCT FROM OLD.content_digest)
EXECUTE FUNCTION evaluations_digest_stale();
"""

UNDO_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS evaluations_digest_stale ON evaluations;
DROP FUNCTION IF EXISTS evaluations_digest_stale();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("evaluations", "0014_label_scores_truncate"),
    ]

    operations = [
        migrations.AddField(
            model_name="evaluation",
            name="content_digest",
            field=models.BinaryField(null=True, editable=False),
        ),
        migrations.RunSQL(TRIGGER_SQL, UNDO_TRIGGER_SQL),
    ]
