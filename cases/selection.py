"""A case selection: the case list's filters (cases.filters.TestCaseFilterSet parameters) as a
stored or posted JSON object, or as command-line flags.

Runs, versions, bulk actions and exports all select cases through `select_cases`, and store a
selection in its one canonical form (`canonical_selection`), so a selection means the same thing
on the page, in the API and in the CLI.
"""

from argparse import ArgumentParser

from cases.filters import TestCaseFilterSet
from cases.models import Difficulty, Origin, Scope, TestCase
from mleval_site import jsonsafe


class SelectionError(ValueError):
    """A selection with bad filters; `errors` maps each filter name to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        super().__init__(f"Bad case selection: {detail}")


def selection_errors(selection: dict) -> dict[str, list[str]]:
    """What is wrong with a stored or posted selection before its filters read it: keys that
    are no filter (they used to be ignored), values of the wrong JSON type."""
    errors: dict[str, list[str]] = {}
    for key, value in selection.items():
        if key not in TestCaseFilterSet.base_filters:
            known = ", ".join(TestCaseFilterSet.base_filters)
            errors[key] = [f"not a case filter (known: {known})"]
        elif isinstance(value, list) and key in ("tags", "tags_all"):
            if not all(isinstance(item, str) for item in value):
                errors[key] = ["must be a list of strings"]
        elif isinstance(value, list) and key == "ids":
            if not all(type(item) is int or _integral(item) for item in value):
                errors[key] = ["must be a list of case ids"]
        elif isinstance(value, str) and (reason := jsonsafe.text_problem(value)):
            errors[key] = [reason]
        elif value is not None and not isinstance(value, str | int | bool):
            errors[key] = [f"must be a string, number or boolean, not {type(value).__name__}"]
        elif isinstance(value, bool) and key != "is_verified":
            errors[key] = ["must be a string, not a boolean"]
        elif isinstance(value, int) and not isinstance(value, bool):
            errors[key] = ["must be a string, not a number"]
    return errors


def _integral(item) -> bool:
    """3.0 is the integer 3 in JSON (and to JSON Schema's "integer"); 3.5 is no case id."""
    return type(item) is float and item.is_integer()


def _with_int_ids(selection: dict) -> dict:
    ids = selection.get("ids")
    if isinstance(ids, list) and any(_integral(item) for item in ids):
        return {**selection, "ids": [int(item) if _integral(item) else item for item in ids]}
    return selection


def select_cases(selection: dict | None, queryset=None):
    """The cases a selection (TestCaseFilterSet parameters) means; raises SelectionError."""
    return _valid_filterset(selection, TestCase.objects.all() if queryset is None else queryset).qs


def _valid_filterset(selection: dict | None, queryset) -> TestCaseFilterSet:
    """The bound FilterSet of a selection over `queryset`; raises SelectionError when the
    selection is no JSON object, has keys or values no filter takes, or a filter refuses it."""
    if not isinstance(selection or {}, dict):
        raise SelectionError({"selection": ["must be a JSON object of case filters"]})
    if errors := selection_errors(selection or {}):
        raise SelectionError(errors)
    filterset = TestCaseFilterSet(data=_with_int_ids(selection or {}), queryset=queryset)
    if not filterset.is_valid():
        raise SelectionError({f: [str(m) for m in msgs] for f, msgs in filterset.errors.items()})
    return filterset


# Filters that shape a list but not a set of cases: never part of a stored selection.
NOT_A_SELECTION = ("sort",)


def canonical_selection(selection: dict | None) -> dict:
    """A selection in its one stored form, so equal selections are equal dicts: what the
    filters parsed (no empty or "unknown"/"Any" values, no sort), tags and ids sorted, dates
    as ISO strings, the effective scope explicit (an ai-generated origin widens golden to all),
    keys sorted. Raises SelectionError for bad filters, as `select_cases` does.

    The run form, the API, `create_run` and the seed all register runs through
    runs.selection.register_run, which stores this; a data migration rewrote older ones.
    """
    filterset = _valid_filterset(selection, TestCase.objects.none())
    cleaned = filterset.form.cleaned_data
    canonical: dict = {}
    for name, value in cleaned.items():
        if name in NOT_A_SELECTION or value is None or value == "" or value == []:
            continue
        if name == "json_in" and not cleaned.get("json"):
            continue  # which field a JSON filter applies to means nothing without one
        if name in ("tags", "tags_all"):
            value = sorted(set(value))
        elif name == "ids":
            value = sorted({int(item) for item in value})
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif not isinstance(value, bool):
            value = str(value)
        canonical[name] = value
    canonical["scope"] = str(filterset.effective_scope()[0])
    return dict(sorted(canonical.items()))


def add_selection_arguments(parser: ArgumentParser, *, model_type: bool = True) -> None:
    """The case list's filters as command-line flags, so a CLI selection means what the page does.

    `model_type=False` leaves out `--model-type` for commands that declare it themselves
    (create_run: the run's model type is also its selection's).
    """
    group = parser.add_argument_group("case selection (default: the golden set)")
    if model_type:
        group.add_argument("--model-type", help="cases of this domain (model_type)")
    group.add_argument("--category", help="cases of this category")
    group.add_argument(
        "--tag",
        action="append",
        dest="tags",
        metavar="TAG",
        help="cases carrying any of these tags (repeat the flag for several)",
    )
    group.add_argument("--difficulty", choices=Difficulty.values)
    group.add_argument("--origin", choices=Origin.values, help="widens the scope when ai-generated")
    verified = group.add_mutually_exclusive_group()
    verified.add_argument(
        "--verified", dest="is_verified", action="store_true", default=None, help="verified only"
    )
    verified.add_argument(
        "--unverified",
        dest="is_verified",
        action="store_false",
        default=None,
        help="unverified only (widens the scope)",
    )
    group.add_argument(
        "--all",
        dest="scope",
        action="store_const",
        const=Scope.ALL,
        default=Scope.GOLDEN,
        help="widen beyond the golden set to every case, ai-generated and unverified included",
    )


def selection_from_options(options: dict) -> dict:
    """The selection (TestCaseFilterSet parameters, JSON-ready) that the flags above mean."""
    selection: dict = {"scope": str(options.get("scope") or Scope.GOLDEN)}
    for name in ("model_type", "category", "difficulty", "origin"):
        if options.get(name):
            selection[name] = options[name]
    if options.get("tags"):
        selection["tags"] = list(options["tags"])
    if options.get("is_verified") is not None:
        selection["is_verified"] = options["is_verified"]
    return selection
