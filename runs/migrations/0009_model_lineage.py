"""Model lineage (runs.lineage.ModelVersion) and its no-cycle rule in PostgreSQL.

``model_version_ancestors(id)``: the id and every ancestor's, walking parent_id (UNION stops on
any loop). The trigger refuses a row whose parent's ancestors include the row itself; it takes
an advisory lock first, so two concurrent writes (A from B, B from A) are checked one after
the other and the second sees the first.
"""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models

ANCESTORS_SQL = """
CREATE FUNCTION model_version_ancestors(start bigint) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, parent_id) AS (
        SELECT id, parent_id FROM model_versions WHERE id = start
        UNION
        SELECT mv.id, mv.parent_id FROM model_versions mv JOIN up ON mv.id = up.parent_id
    )
    SELECT coalesce(array_agg(id), '{}') FROM up
$$;

CREATE FUNCTION model_versions_no_cycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('model_versions_no_cycle'));
    IF NEW.id = ANY(model_version_ancestors(NEW.parent_id)) THEN
        RAISE EXCEPTION 'model_versions_no_cycle: model version % cannot descend from itself',
            NEW.id USING ERRCODE = 'check_violation', CONSTRAINT = 'model_versions_no_cycle';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER model_versions_no_cycle
BEFORE INSERT OR UPDATE OF parent_id ON model_versions
FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL) EXECUTE FUNCTION model_versions_no_cycle();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS model_versions_no_cycle ON model_versions;
DROP FUNCTION IF EXISTS model_versions_no_cycle();
DROP FUNCTION IF EXISTS model_version_ancestors(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0008_run_cases_hash"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ModelVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("model_name", models.CharField(max_length=255)),
                ("model_version", models.CharField(max_length=100)),
                (
                    "parent_kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("fine_tuned", "fine-tuned from"),
                            ("distilled", "distilled from"),
                            ("quantized", "quantized from"),
                            ("merged", "merged from"),
                            ("derived", "derived from"),
                        ],
                        db_default="",
                        default="",
                        max_length=20,
                    ),
                ),
                ("note", models.CharField(blank=True, db_default="", default="", max_length=500)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(), editable=False
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="children",
                        to="runs.modelversion",
                    ),
                ),
            ],
            options={
                "db_table": "model_versions",
                "ordering": ["model_name", "model_version"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("model_name", "model_version"), name="runs_modelversion_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("model_name", ""), _negated=True),
                            models.Q(("model_version", ""), _negated=True),
                        ),
                        name="runs_modelversion_identity_required",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("parent__isnull", True), ("parent_kind", "")),
                            models.Q(
                                ("parent__isnull", False),
                                (
                                    "parent_kind__in",
                                    ["fine_tuned", "distilled", "quantized", "merged", "derived"],
                                ),
                            ),
                            _connector="OR",
                        ),
                        name="runs_modelversion_kind_with_parent",
                    ),
                ],
            },
        ),
        migrations.RunSQL(ANCESTORS_SQL, DROP_SQL),
    ]
