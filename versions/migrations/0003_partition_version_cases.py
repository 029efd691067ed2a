"""version_cases becomes a table partitioned by version: a freeze fills its own partition and
builds its primary key in one pass (versions.freezing), instead of a million index insertions.
Rows frozen before stay in the default partition. The view is re-created on the new table."""

from django.db import migrations

SNAPSHOT = (
    "input_data", "input_type", "input_format", "ground_truth", "output_type", "model_type",
    "category", "tags", "difficulty", "origin", "is_verified", "metadata", "external_id",
)  # fmt: skip

VIEW_SQL = f"""
CREATE VIEW version_case_contents AS
SELECT vc.version_id, vc.case_id, vc.revision,
       c.id IS NULL AS deleted,
       coalesce(c.revision <> vc.revision, false) AS edited,
       {", ".join(f"CASE WHEN r.id IS NULL THEN c.{f} ELSE r.{f} END AS {f}" for f in SNAPSHOT)}
FROM version_cases vc
LEFT JOIN case_revisions r ON r.case_id = vc.case_id AND r.revision = vc.revision
LEFT JOIN test_cases c ON c.id = vc.case_id;
"""

FORWARD_SQL = f"""
DROP VIEW version_case_contents;
CREATE TABLE version_cases_partitioned (
    version_id bigint NOT NULL,
    case_id bigint NOT NULL,
    revision integer NOT NULL
) PARTITION BY LIST (version_id);
CREATE TABLE version_cases_default PARTITION OF version_cases_partitioned DEFAULT;
INSERT INTO version_cases_partitioned SELECT version_id, case_id, revision FROM version_cases;
DROP TABLE version_cases;
ALTER TABLE version_cases_partitioned RENAME TO version_cases;
ALTER TABLE version_cases ADD CONSTRAINT version_cases_pkey PRIMARY KEY (version_id, case_id);
-- Row triggers: cloned onto every partition, so a statement on a partition is refused too.
CREATE TRIGGER versions_cases_immutable BEFORE UPDATE OR DELETE ON version_cases
    FOR EACH ROW EXECUTE FUNCTION versions_refuse_change();
{VIEW_SQL}
"""

REVERSE_SQL = f"""
DROP VIEW version_case_contents;
CREATE TABLE version_cases_plain (
    version_id bigint NOT NULL,
    case_id bigint NOT NULL,
    revision integer NOT NULL
);
INSERT INTO version_cases_plain SELECT version_id, case_id, revision FROM version_cases;
DROP TABLE version_cases CASCADE;
ALTER TABLE version_cases_plain RENAME TO version_cases;
ALTER TABLE version_cases ADD CONSTRAINT version_cases_pkey PRIMARY KEY (version_id, case_id);
CREATE TRIGGER versions_cases_immutable BEFORE UPDATE OR DELETE ON version_cases
    FOR EACH STATEMENT EXECUTE FUNCTION versions_refuse_change();
{VIEW_SQL}
"""


class Migration(migrations.Migration):
    dependencies = [("versions", "0002_version_cases_no_fk_check")]

    operations = [migrations.RunSQL(FORWARD_SQL, REVERSE_SQL)]
