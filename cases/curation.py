"""Curating many cases at once: the bulk actions of the list page and the review queue.

Each action is one SQL statement over a selection (a queryset from the FilterSet), in one
transaction, with `updated_at` moved by the QuerySet's update(). Nothing is loaded into Python,
so "all 800,000 matching cases" costs what one UPDATE or DELETE costs. The confirmation page
shows `preview()`: how many cases match, how many will change, and what a delete takes along.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import CharField, F, Func, QuerySet, Value
from django.db.models.functions import Cast

from accounts.audit import record
from cases.models import CaseFlag, Difficulty, TestCase
from cases.validation import MAX_CATEGORY, tag_problem
from mleval_site.db import cascade_counts, delete_cascading


class BulkAction(models.TextChoices):
    VERIFY = "verify", "Verify"
    UNVERIFY = "unverify", "Unverify"
    ADD_TAG = "add_tag", "Add tag"
    REMOVE_TAG = "remove_tag", "Remove tag"
    SET_CATEGORY = "set_category", "Set category"
    SET_DIFFICULTY = "set_difficulty", "Set difficulty"
    DELETE = "delete", "Delete"


# What the flash says after an action ("Approved: 1 case."): the review queue's verify is
# an approval.
DONE = {
    BulkAction.VERIFY: "Verified",
    BulkAction.UNVERIFY: "Unverified",
    BulkAction.ADD_TAG: "Tag added",
    BulkAction.REMOVE_TAG: "Tag removed",
    BulkAction.SET_CATEGORY: "Category set",
    BulkAction.SET_DIFFICULTY: "Difficulty set",
    BulkAction.DELETE: "Deleted",
}


def done_message(action: str, changed: int, *, reviewing: bool = False) -> str:
    """The flash after a bulk action, in the past tense, naming what happened."""
    done = "Approved" if reviewing and action == BulkAction.VERIFY else DONE[BulkAction(action)]
    return f"{done}: {changed:,} case{'s' if changed != 1 else ''}."


NEEDS_VALUE = {
    BulkAction.ADD_TAG: "tag",
    BulkAction.REMOVE_TAG: "tag",
    BulkAction.SET_CATEGORY: "category",
    BulkAction.SET_DIFFICULTY: "difficulty",
}


@dataclass
class BulkPreview:
    """What a bulk action will do, for its confirmation page."""

    matching: int
    changing: int
    cascade: list[tuple[str, int]]


def _tag_array(tag: str):
    return Cast(Value([tag]), output_field=TestCase._meta.get_field("tags"))


def _changing(queryset: QuerySet, action: str, value: str) -> QuerySet:
    """The cases of `queryset` that the action would actually change."""
    if action == BulkAction.VERIFY:
        return queryset.filter(is_verified=False)
    if action == BulkAction.UNVERIFY:
        return queryset.filter(is_verified=True)
    if action == BulkAction.ADD_TAG:
        return queryset.exclude(tags__contains=[value])
    if action == BulkAction.REMOVE_TAG:
        return queryset.filter(tags__contains=[value])
    if action == BulkAction.SET_CATEGORY:
        return queryset.exclude(category=value)
    if action == BulkAction.SET_DIFFICULTY:
        return queryset.exclude(difficulty=value)
    return queryset


def check_value(action: str, value: str) -> str | None:
    """Why `value` cannot go with `action` (a message for the form), or None."""
    if action not in BulkAction.values:
        return f"Unknown action {action!r}."
    what = NEEDS_VALUE.get(action)
    if what is None:
        return None
    if action == BulkAction.SET_DIFFICULTY:
        return None if value in ("", *Difficulty.values) else "Choose easy, medium or hard."
    if action == BulkAction.SET_CATEGORY:
        too_long = len(value) > MAX_CATEGORY
        return f"A category has at most {MAX_CATEGORY} characters." if too_long else None
    if not value.strip():
        return "Give the tag to add or remove."
    return f"A tag {problem}." if (problem := tag_problem(value)) else None


def delete_cases(queryset: QuerySet) -> dict[str, int]:
    """Delete the cases with their responses and evaluations (deepest first), in SQL only.

    Rows deleted per kind ("evaluations", "responses", ..., "cases" last), zeros included.
    """
    deleted = delete_cascading(queryset)
    cases = deleted.pop(TestCase)
    return {str(model._meta.verbose_name_plural): n for model, n in deleted.items()} | {
        "cases": cases
    }


def preview(queryset: QuerySet, action: str, value: str = "") -> BulkPreview:
    """Counts for the confirmation page: matching, changing, and what a delete takes along."""
    queryset = queryset.order_by()
    matching = queryset.count()
    if action == BulkAction.DELETE:
        return BulkPreview(matching, matching, cascade_counts(queryset))
    return BulkPreview(matching, _changing(queryset, action, value.strip()).count(), [])


# The audit trail's name of each bulk action (accounts.audit); review-queue decisions have theirs.
AUDIT_ACTIONS = {
    BulkAction.VERIFY: "cases.verify",
    BulkAction.UNVERIFY: "cases.unverify",
    BulkAction.ADD_TAG: "cases.tag",
    BulkAction.REMOVE_TAG: "cases.untag",
    BulkAction.SET_CATEGORY: "cases.set_category",
    BulkAction.SET_DIFFICULTY: "cases.set_difficulty",
    BulkAction.DELETE: "cases.delete",
}
REVIEW_AUDIT_ACTIONS = {BulkAction.VERIFY: "cases.approve", BulkAction.DELETE: "cases.reject"}


def apply(
    queryset: QuerySet,
    action: str,
    value: str = "",
    *,
    actor=None,
    reviewing: bool = False,
    selection: dict | None = None,
    via: str = "",
    target_id: object = "",
) -> int:
    """Run a bulk action over the selection in one transaction; the number of cases changed.

    The action is recorded in the audit trail with `actor` (as an approval or rejection when
    `reviewing`), the `selection` that chose the cases (or the one case's `target_id`), the
    count and where it came from (`via`, e.g. "admin"; the pages leave it out), in the same
    transaction.
    """
    if message := check_value(action, value):
        raise ValueError(message)
    value = value.strip()
    queryset = queryset.order_by()
    with transaction.atomic():
        changed = _apply(queryset, action, value)
        name = (REVIEW_AUDIT_ACTIONS if reviewing else AUDIT_ACTIONS).get(
            action, AUDIT_ACTIONS[action]
        )
        details = {"value": value} if action in NEEDS_VALUE else {}
        if via:
            details["via"] = via
        record(
            actor,
            name,
            "testcase",
            target_id=target_id,
            count=changed,
            selection=selection or {},
            **details,
        )
    return changed


def _apply(queryset: QuerySet, action: str, value: str) -> int:
    if action == BulkAction.DELETE:
        return delete_cases(queryset)["cases"]
    changing = _changing(queryset, action, value)
    if action == BulkAction.VERIFY:
        return changing.update(is_verified=True)
    if action == BulkAction.UNVERIFY:
        return changing.update(is_verified=False)
    if action == BulkAction.ADD_TAG:
        return changing.update(tags=Func(F("tags"), _tag_array(value), function="array_cat"))
    if action == BulkAction.REMOVE_TAG:
        tag = Cast(Value(value), output_field=CharField())
        return changing.update(tags=Func(F("tags"), tag, function="array_remove"))
    if action == BulkAction.SET_CATEGORY:
        return changing.update(category=value)
    return changing.update(difficulty=value)


def approve(queryset: QuerySet, *, actor=None, target_id: object = "") -> int:
    """Approve reviewed cases: verified from now on; their origin stays what it was."""
    return apply(queryset, BulkAction.VERIFY, actor=actor, reviewing=True, target_id=target_id)


FLAG_COMMENT_LIMIT = 5000


def flag_case(case: TestCase, comment: str, user, *, source: str = "") -> CaseFlag:
    """Send the case to the review queue with the person's comment (why it needs a curator),
    audited. The one way a flag is raised: the disagreements page and the API call it.
    A blank or overlong comment is a ValidationError naming ``comment``."""
    comment = comment.strip() if isinstance(comment, str) else ""
    if not comment:
        raise ValidationError({"comment": "Say what is wrong with the case."})
    if len(comment) > FLAG_COMMENT_LIMIT:
        raise ValidationError({"comment": f"At most {FLAG_COMMENT_LIMIT} characters."})
    flag = CaseFlag.objects.create(case=case, comment=comment, source=source, flagged_by=user)
    record(user, "case.flag", case, source=source)
    return flag
