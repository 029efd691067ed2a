"""TRUNCATE evaluations empties label_scores with a TRUNCATE too, not a DELETE of every row
(which the benchmarks paid on each fresh start: seconds per million rows, and dead rows their
next scan of label_scores read through). Only when the table has rows: a flush truncates
both tables in one statement, and PostgreSQL refuses to truncate again a table that
statement holds (by then it is empty)."""

from django.db import migrations

SQL = """
CREATE FUNCTION label_scores_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM label_scores) THEN
        TRUNCATE label_scores;
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER label_scores_truncated ON evaluations;
CREATE TRIGGER label_scores_truncated AFTER TRUNCATE ON evaluations
FOR EACH STATEMENT EXECUTE FUNCTION label_scores_emptied();
"""

UNDO_SQL = """
DROP TRIGGER label_scores_truncated ON evaluations;
CREATE TRIGGER label_scores_truncated AFTER TRUNCATE ON evaluations
FOR EACH STATEMENT EXECUTE FUNCTION label_scores_changed();
DROP FUNCTION label_scores_emptied();
"""


class Migration(migrations.Migration):
    dependencies = [("evaluations", "0013_recompute_summaries_for_ovr_curves")]

    operations = [migrations.RunSQL(SQL, UNDO_SQL)]
