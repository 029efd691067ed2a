"""Choosing what people grade and who grades it.

A task's items are a sample of a run's answered responses (failed calls have nothing to grade;
responses already in a task are left out, so no one meets a response twice): all of them, or
`n` drawn at random with a fixed seed and stratified by an evaluator's verdict and a slice of
the cases, allocated in proportion to each stratum's size with at least one per stratum when
`n` allows. Each item gets `overlap` distinct graders, dealt round-robin so loads differ by at
most one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Q

from evaluations.models import ONE_PER_EVALUATOR
from grading.models import Assignment, GradingItem, GradingTask, Scale
from runs.models import ModelRun

SLICES = ("category", "difficulty", "model_type")  # case columns a sample may stratify by


class SampleError(ValueError):
    """A task that cannot be made; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def graders_queryset():
    """Who may be assigned: active users allowed to grade (their role, or superusers)."""
    from django.contrib.auth import get_user_model

    perm = Permission.objects.filter(content_type__app_label="grading", codename="grade")
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__in=perm) | Q(user_permissions__in=perm) | Q(is_superuser=True)
        )
        .distinct()
        .order_by("username")
    )


def _pool_sql(evaluator: str, slice_by: str) -> tuple[str, dict]:
    """FROM/WHERE of the responses a sample draws from, and the stratum of each."""
    verdict = (
        "CASE WHEN e.passed THEN 'pass' WHEN NOT e.passed THEN 'fail' ELSE 'unscored' END"
        if evaluator
        else "''"
    )
    part = f"coalesce(tc.{slice_by}, '')" if slice_by else "''"
    join = (
        "LEFT JOIN evaluations e ON e.response_id = r.id AND e.evaluator_type = %(evaluator)s"
        f" AND {ONE_PER_EVALUATOR}"
        if evaluator
        else ""
    )
    sql = f"""
        SELECT r.id, concat_ws(' · ',
                   CASE WHEN %(evaluator)s <> '' THEN %(evaluator)s || ' ' || {verdict} END,
                   CASE WHEN %(slice)s <> '' THEN %(slice)s || ' ' || {part} END) AS stratum
        FROM responses r
        JOIN test_cases tc ON tc.id = r.test_case_id
        {join}
        WHERE r.run_id = %(run)s AND r.error_message = ''
          AND NOT EXISTS (SELECT 1 FROM grading_items gi WHERE gi.response_id = r.id)
    """
    return sql, {"evaluator": evaluator, "slice": slice_by}


def allocate(counts: dict[str, int], n: int) -> dict[str, int]:
    """How many of `n` to draw from each stratum: proportional (largest remainder), at least one
    per stratum when `n` covers them all, never more than a stratum holds."""
    total = sum(counts.values())
    if n >= total:
        return dict(counts)
    minimum = 1 if n >= len(counts) else 0
    quota = {key: count * n / total for key, count in counts.items()}
    take = {key: min(counts[key], max(math.floor(quota[key]), minimum)) for key in counts}
    while sum(take.values()) > n:  # the minimums pushed it over: trim the most over quota
        key = min((k for k in take if take[k] > minimum), key=lambda k: (quota[k] - take[k], k))
        take[key] -= 1
    while sum(take.values()) < n:
        key = min((k for k in take if take[k] < counts[k]), key=lambda k: (take[k] - quota[k], k))
        take[key] += 1
    return take


def sample_responses(
    run: ModelRun, *, n: int | None = None, evaluator: str = "", slice_by: str = "", seed: int = 0
) -> tuple[list[tuple[int, str]], dict[str, dict[str, int]]]:
    """([(response_id, stratum)] in grading order, {stratum: {"available", "taken"}}).

    Two queries whatever the run's size: the strata's sizes, then the draw (a window over
    md5(seed, id), so the same arguments draw the same sample)."""
    if slice_by and slice_by not in SLICES:
        raise SampleError({"slice": [f"Slice by one of {', '.join(SLICES)}, not {slice_by!r}."]})
    pool, params = _pool_sql(evaluator, slice_by)
    params = {**params, "run": run.pk, "seed": str(seed)}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT stratum, count(*) FROM ({pool}) p GROUP BY stratum", params)
        counts = dict(cursor.fetchall())
        take = allocate(counts, sum(counts.values()) if not n else n)
        cursor.execute(
            f"""
            SELECT id, stratum FROM (
                SELECT p.id, p.stratum, row_number() OVER (
                    PARTITION BY p.stratum ORDER BY md5(%(seed)s || ':' || p.id)) AS k
                FROM ({pool}) p
            ) ranked
            JOIN unnest(%(strata)s::text[], %(takes)s::int[]) AS a(stratum, take) USING (stratum)
            WHERE ranked.k <= a.take
            ORDER BY md5(%(seed)s || '/' || ranked.id)
            """,
            {**params, "strata": list(take), "takes": list(take.values())},
        )
        rows = cursor.fetchall()
    strata = {key: {"available": counts[key], "taken": take[key]} for key in sorted(counts)}
    return rows, strata


def deal(item_count: int, graders: Sequence, overlap: int, offset: int = 0) -> list[list]:
    """For each item, `overlap` distinct graders, round-robin from `offset`: loads differ by at
    most one and no grader appears twice on an item."""
    if not 1 <= overlap <= len(graders):
        raise SampleError(
            {"overlap": [f"Each response needs {overlap} graders but {len(graders)} are chosen."]}
        )
    size = len(graders)
    return [
        [graders[(offset + i * overlap + j) % size] for j in range(overlap)]
        for i in range(item_count)
    ]


def create_task(
    run: ModelRun,
    *,
    name: str,
    graders: Sequence,
    overlap: int = 2,
    scale: str = Scale.PASS_FAIL,
    instructions: str = "",
    n: int | None = None,
    evaluator: str = "",
    slice_by: str = "",
    seed: int = 0,
    created_by=None,
) -> GradingTask:
    """Sample the run, make the task, its items and their assignments, in one transaction."""
    graders = sorted(set(graders), key=lambda user: user.pk)
    errors: dict[str, list[str]] = {}
    allowed = set(
        graders_queryset().filter(pk__in=[g.pk for g in graders]).values_list("pk", flat=True)
    )
    if refused := [g.get_username() for g in graders if g.pk not in allowed]:
        errors["graders"] = [f"Not allowed to grade: {', '.join(refused)}."]
    if not graders:
        errors["graders"] = ["Choose at least one grader."]
    elif not 1 <= overlap <= len(graders):
        errors["overlap"] = [
            f"Each response needs {overlap} graders but {len(graders)} are chosen."
        ]
    if n is not None and n < 1:
        errors["n"] = ["Sample at least one response (or leave empty for all)."]
    if errors:
        raise SampleError(errors)
    with transaction.atomic():
        ModelRun.objects.select_for_update().filter(pk=run.pk).first()  # one task at a time
        rows, strata = sample_responses(run, n=n, evaluator=evaluator, slice_by=slice_by, seed=seed)
        if not rows:
            raise SampleError(
                {
                    "run": [
                        "No answered response of this run is left to grade (failed calls and "
                        "responses already in a grading task are left out)."
                    ]
                }
            )
        task = GradingTask.objects.create(
            run=run,
            name=name,
            instructions=instructions,
            scale=scale,
            overlap=overlap,
            created_by=created_by,
            sample={
                "requested": n,
                "evaluator": evaluator,
                "slice": slice_by,
                "seed": seed,
                "strata": strata,
            },
        )
        items = GradingItem.objects.bulk_create(
            GradingItem(task=task, response_id=rid, position=i, stratum=stratum)
            for i, (rid, stratum) in enumerate(rows, start=1)
        )
        Assignment.objects.bulk_create(
            Assignment(item=item, grader=grader)
            for item, chosen in zip(items, deal(len(items), graders, overlap), strict=True)
            for grader in chosen
        )
    return task


def raise_overlap(task: GradingTask, graders: Sequence, overlap: int) -> int:
    """Give every item of `task` graders up to `overlap`, from `graders` (never one already on
    the item; the least loaded first). Returns the assignments added; refuses (SampleError)
    when an item cannot reach the overlap with the graders given."""
    graders = sorted(set(graders), key=lambda user: user.pk)
    allowed = set(
        graders_queryset().filter(pk__in=[g.pk for g in graders]).values_list("pk", flat=True)
    )
    if refused := [g.get_username() for g in graders if g.pk not in allowed]:
        raise SampleError({"graders": [f"Not allowed to grade: {', '.join(refused)}."]})
    if overlap < task.overlap:
        raise SampleError({"overlap": [f"The task already has {task.overlap} graders per item."]})
    with transaction.atomic():
        GradingTask.objects.select_for_update().filter(pk=task.pk).first()
        on_item: dict[int, set[int]] = {}
        load: dict[int, int] = {g.pk: 0 for g in graders}
        for item_id, grader_id in Assignment.objects.filter(item__task=task).values_list(
            "item_id", "grader_id"
        ):
            on_item.setdefault(item_id, set()).add(grader_id)
            if grader_id in load:
                load[grader_id] += 1
        added = []
        for item_id in task.items.order_by("position").values_list("id", flat=True):
            have = on_item.get(item_id, set())
            need = overlap - len(have)
            free = sorted(
                (g for g in graders if g.pk not in have), key=lambda g: (load[g.pk], g.pk)
            )
            if need > len(free):
                raise SampleError(
                    {"overlap": [f"{overlap} graders per item needs more graders than chosen."]}
                )
            for grader in free[: max(need, 0)]:
                load[grader.pk] += 1
                added.append(Assignment(item_id=item_id, grader=grader))
        Assignment.objects.bulk_create(added)
        GradingTask.objects.filter(pk=task.pk).update(overlap=overlap)
    task.overlap = overlap
    return len(added)
