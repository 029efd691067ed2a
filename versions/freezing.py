"""Freezing a selection into a named version, and comparing two versions.

Both are set-based: a freeze is one INSERT ... SELECT of the selection's (case id, live
revision) pairs into the version's own partition; a diff is one FULL JOIN of two versions'
pairs on the case id, then the changed fields of the changed cases from their contents.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL

from accounts.audit import record
from cases.selection import SelectionError, select_cases
from jobs.signals import wrote
from versions.models import CONTENT_FIELDS, Version

# Each version has its own partition of version_cases (migration 0003): filled by one
# INSERT ... SELECT, its primary key built in one pass afterwards, then attached. Building the
# index at once costs a fraction of a million index insertions.
PARTITION_SQL = (
    "CREATE TABLE {table} (LIKE version_cases INCLUDING DEFAULTS, CHECK (version_id = {pk}))"
)
FREEZE_SQL = (
    "INSERT INTO {table} (version_id, case_id, revision) "
    "SELECT %s, s.id, s.live_revision FROM ({selection}) AS s"
)
ATTACH_SQL = (
    "ALTER TABLE {table} ADD PRIMARY KEY (version_id, case_id);"
    "ALTER TABLE version_cases ATTACH PARTITION {table} FOR VALUES IN ({pk})"
)


def selection_pairs_sql(selection: dict) -> tuple[str, list]:
    """SELECT id, live_revision of the selection's cases (the case list's filters)."""
    cases = select_cases(selection).order_by()
    pairs = cases.annotate(live_revision=RawSQL('"test_cases"."revision"', [])).values(
        "id", "live_revision"
    )
    sql, params = pairs.query.sql_with_params()
    return sql, list(params)


class NothingToFreeze(SelectionError):
    """A well-formed selection that matches no case today (the API's 409, not a 400)."""


class NameTaken(ValidationError):
    """Another version has this name (the API's 409)."""


def freeze(name: str, *, selection: dict, description: str = "", created_by=None) -> Version:
    """Freeze the selection's cases at their current revisions as version `name`.

    Raises SelectionError (bad filters, nothing selected) or ValidationError (name taken or
    blank); writes nothing then. After commit the new partition is ANALYZEd like every bulk
    write's tables (:func:`jobs.signals.wrote`): the version's pages and the comparisons that
    join it get real row counts from the first query on.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["A version needs a name."]})
    sql, params = selection_pairs_sql(selection)
    try:
        with transaction.atomic():
            version = Version.objects.create(
                name=name, description=description, selection=selection, created_by=created_by
            )
            names = {"table": f"version_cases_{int(version.pk)}", "pk": int(version.pk)}
            with connection.cursor() as cursor:
                cursor.execute(PARTITION_SQL.format(**names))
                cursor.execute(FREEZE_SQL.format(selection=sql, **names), [version.pk, *params])
                count = cursor.rowcount
                if not count:
                    raise NothingToFreeze({"selection": ["No test case matches this selection."]})
                cursor.execute(ATTACH_SQL.format(**names))
            Version.objects.filter(pk=version.pk).update(case_count=count)
            version.case_count = count
            record(created_by, "version.freeze", version, cases=count, selection=selection)
    except IntegrityError as error:
        if Version.objects.filter(name=name).exists():
            raise NameTaken({"name": [f"A version named {name!r} exists already."]}) from None
        raise error
    # No run's data changed: a run on a version keeps the revisions it was frozen with.
    wrote({names["table"]: count}, [], sender=freeze)
    return version


@dataclass
class VersionDiff:
    """What changed from version `a` to version `b`."""

    a: Version
    b: Version
    added: list[int] = field(default_factory=list)  # case ids in b only
    removed: list[int] = field(default_factory=list)  # in a only
    changed: list[dict] = field(default_factory=list)  # {"case_id", "from", "to", "fields"}
    unchanged: int = 0

    def as_json(self) -> dict:
        return {
            "a": self.a.as_ref(),
            "b": self.b.as_ref(),
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "changed": len(self.changed),
                "unchanged": self.unchanged,
            },
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
        }


PAIRS_DIFF_SQL = """
SELECT coalesce(a.case_id, b.case_id), a.revision, b.revision
FROM (SELECT case_id, revision FROM version_cases WHERE version_id = %(a)s) AS a
FULL JOIN (SELECT case_id, revision FROM version_cases WHERE version_id = %(b)s) AS b
    ON a.case_id = b.case_id
WHERE a.revision IS DISTINCT FROM b.revision
ORDER BY 1
"""

# The content of each side: its kept revision when there is one, else the live case.
CHANGED_FIELDS_SQL = f"""
SELECT ch.case_id, array_remove(ARRAY[{
    ", ".join(
        f"CASE WHEN (CASE WHEN ka.id IS NULL THEN c.{f} ELSE ka.{f} END) IS DISTINCT FROM "
        f"(CASE WHEN kb.id IS NULL THEN c.{f} ELSE kb.{f} END) THEN '{f}' END"
        for f in CONTENT_FIELDS
    )
}], NULL)
FROM unnest(%(ids)s::bigint[], %(from)s::int[], %(to)s::int[]) AS ch(case_id, ra, rb)
LEFT JOIN case_revisions ka ON ka.case_id = ch.case_id AND ka.revision = ch.ra
LEFT JOIN case_revisions kb ON kb.case_id = ch.case_id AND kb.revision = ch.rb
LEFT JOIN test_cases c ON c.id = ch.case_id
"""


def diff(a: Version, b: Version) -> VersionDiff:
    """Added, removed and changed cases (with the content fields that differ) from a to b.

    A case whose revision moved but whose content came back (an edit, then a restore) is
    "changed" with no fields: its revisions differ, its content does not.
    """
    result = VersionDiff(a, b)
    changed_revisions = {}
    with connection.cursor() as cursor:
        cursor.execute(PAIRS_DIFF_SQL, {"a": a.pk, "b": b.pk})
        for case_id, rev_a, rev_b in cursor.fetchall():
            if rev_a is None:
                result.added.append(case_id)
            elif rev_b is None:
                result.removed.append(case_id)
            else:
                changed_revisions[case_id] = (rev_a, rev_b)
        fields = {}
        if changed_revisions:
            ids = list(changed_revisions)
            cursor.execute(
                CHANGED_FIELDS_SQL,
                {
                    "ids": ids,
                    "from": [changed_revisions[i][0] for i in ids],
                    "to": [changed_revisions[i][1] for i in ids],
                },
            )
            fields = dict(cursor.fetchall())
    result.changed = [
        {"case_id": case_id, "from": revs[0], "to": revs[1], "fields": fields.get(case_id, [])}
        for case_id, revs in changed_revisions.items()
    ]
    result.unchanged = a.case_count - len(result.removed) - len(result.changed)
    return result
