"""A case's history: its kept revisions (written by the triggers of migration 0001), the
field-level differences between consecutive ones, and restoring one.

Restoring is an ordinary content update, so it is itself a new revision: nothing is lost.
"""

from dataclasses import dataclass, field

from django.db import connection, transaction

from accounts.audit import record
from cases.models import TestCase
from versions.models import CONTENT_FIELDS, CaseRevision


def live_revision(case_id: int) -> int | None:
    """The live case's revision number (the column the triggers keep), None when deleted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT revision FROM test_cases WHERE id = %s", [case_id])
        row = cursor.fetchone()
    return row[0] if row else None


def field_changes(before: dict, after: dict | None) -> list[tuple[str, object, object]]:
    """(field, before, after) for each content field that differs; all of them for a delete."""
    if after is None:
        return []
    return [
        (name, before[name], after[name]) for name in CONTENT_FIELDS if before[name] != after[name]
    ]


@dataclass
class HistoryEntry:
    """Revision `revision` of the case and what the change that ended it did."""

    revision: CaseRevision
    changes: list = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.revision.kind == "delete"


def history(case_id: int) -> tuple[int | None, list[HistoryEntry]]:
    """(live revision or None, the kept revisions newest first, each with its field diffs)."""
    revisions = list(
        CaseRevision.objects.filter(case_id=case_id)
        .select_related("changed_by")
        .order_by("revision")
    )
    live = TestCase.objects.filter(pk=case_id).values(*CONTENT_FIELDS).first()
    entries = []
    for index, revision in enumerate(revisions):
        if revision.kind == "delete":
            after = None
        elif index + 1 < len(revisions):
            after = revisions[index + 1].content()
        else:
            after = live
        entries.append(HistoryEntry(revision, field_changes(revision.content(), after)))
    return live_revision(case_id), entries[::-1]


def restore(case: TestCase, revision: int, actor) -> bool:
    """Put revision `revision`'s content back on the live case (a new revision); False when it
    already has that content. Raises CaseRevision.DoesNotExist for an unknown revision."""
    kept = CaseRevision.objects.get(case_id=case.pk, revision=revision)
    content = {name: getattr(kept, name) for name in CONTENT_FIELDS}
    with transaction.atomic():
        changed = TestCase.objects.filter(pk=case.pk).exclude(**content).update(**content)
        if changed:
            record(actor, "case.restore", case, revision=revision)
    return bool(changed)
