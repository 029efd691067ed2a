"""Runs gain cases_hash (the md5 of their fixed case ids), filled in for existing runs, and
their stored selections are rewritten in the one canonical form (cases.selection)."""

from django.db import migrations, models


def canonical_selections(apps, schema_editor) -> None:
    """Rewrite each run's config["selection"] as canonical_selection gives it (a page-made run
    stored `is_verified: "unknown"`; an API one did not). A selection that no longer parses is
    left as it is: the run page reports it."""
    from cases.selection import SelectionError, canonical_selection

    ModelRun = apps.get_model("runs", "ModelRun")
    for run in ModelRun.objects.exclude(config__selection=None).only("id", "config").iterator():
        stored = (run.config or {}).get("selection")
        if not isinstance(stored, dict):
            continue
        try:
            canonical = canonical_selection(stored)
        except SelectionError:
            continue
        if canonical != stored:
            run.config = {**run.config, "selection": canonical}
            run.save(update_fields=["config"])


def fill_cases_hash(apps, schema_editor) -> None:
    from runs.selection import cases_hash_sql

    schema_editor.execute(
        f"UPDATE model_runs AS m SET cases_hash = {cases_hash_sql('m.id')} "
        "WHERE EXISTS (SELECT 1 FROM run_cases AS r WHERE r.run_id = m.id)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0007_run_version"),
        ("cases", "0005_external_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelrun",
            name="cases_hash",
            field=models.CharField(blank=True, db_default="", default="", max_length=32),
        ),
        migrations.RunPython(fill_cases_hash, migrations.RunPython.noop),
        migrations.RunPython(canonical_selections, migrations.RunPython.noop),
    ]
