"""The one definition of how cases are filtered.

The list page, bulk actions ("all matching"), export, run selection, the API and the CLI flags
all go through TestCaseFilterSet, so a selection means the same thing everywhere; a stored or
posted selection of these filters is read by cases.selection.
"""

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse_lazy
from drf_spectacular.utils import extend_schema_field

from cases.models import Difficulty, Origin, Scope, TestCase
from mleval_site import jsonsafe

JSON_FIELDS = ("input_data", "ground_truth", "metadata")


def parse_json_condition(text: str) -> dict:
    """`lang=en` → {"lang": "en"}; `a.b=3` → {"a": {"b": 3}}; values are JSON when they parse.

    What jsonb cannot hold (NaN, Infinity, 1e400, a NUL, a lone surrogate) and nesting past
    jsonsafe.MAX_DEPTH (keys or value) are the parameter's error, never a database error.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValidationError("Write the JSON filter as key=value, e.g. lang=en.")
    parts = key.strip().split(".")
    if len(parts) > jsonsafe.MAX_DEPTH:
        raise ValidationError(f"The JSON filter's key {jsonsafe.DEPTH_MESSAGE}.")
    if reason := jsonsafe.text_problem(key):
        raise ValidationError(f"The JSON filter's key {reason}.")
    try:
        value = jsonsafe.decode(raw)
    except jsonsafe.TooDeep:
        raise ValidationError(f"The JSON filter's value {jsonsafe.DEPTH_MESSAGE}.") from None
    except ValueError as error:
        if raw.strip() in ("NaN", "Infinity", "-Infinity"):
            raise ValidationError(f"The JSON filter's value: {error}.") from None
        value = raw  # not JSON: the plain string
    if reason := jsonsafe.unstorable(value):
        raise ValidationError(f"The JSON filter's value {reason}.")
    for part in reversed(parts):
        value = {part: value}
    if len(parts) > 1 and jsonsafe.unstorable(value) == jsonsafe.DEPTH_MESSAGE:
        raise ValidationError(f"The JSON filter {jsonsafe.DEPTH_MESSAGE}.")
    return value


class AnyYesNo(forms.NullBooleanSelect):
    """Yes / No / Any (not "Unknown": an empty choice means no filter)."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.choices = (("unknown", "Any"), ("true", "Yes"), ("false", "No"))

    def value_from_datadict(self, data, files, name):
        """The value as sent (YesNoField judges it): Django's select maps anything it does not
        know, "maybe" too, to "no filter"."""
        return data.get(name)


class TagsField(forms.CharField):
    """Tags as a comma-separated list (the page) or repeated parameters (the API)."""

    def to_python(self, value) -> list[str]:
        if isinstance(value, list | tuple):
            if not all(isinstance(tag, str) for tag in value):
                raise ValidationError("Tags must be strings.", code="invalid")
            value = ",".join(value)
        elif value is not None and not isinstance(value, str):
            raise ValidationError("Tags must be a comma-separated string or a list of strings.")
        if reason := jsonsafe.text_problem(value or ""):
            raise ValidationError(f"A tag {reason}.", code="invalid")
        return [tag.strip() for tag in (value or "").split(",") if tag.strip()]


class YesNoField(forms.NullBooleanField):
    """true / false, or nothing ("" or "unknown": no filter); anything else is an error, not
    "no filter" (`is_verified: "maybe"` used to select every case silently)."""

    def to_python(self, value) -> bool | None:
        if value in (None, "", "unknown"):
            return None
        if value in (True, "true", "True", "1", "yes", "on"):
            return True
        if value in (False, "false", "False", "0", "no", "off"):
            return False
        raise ValidationError("Write true or false.", code="invalid")

    def validate(self, value) -> None:
        pass


class YesNoFilter(django_filters.BooleanFilter):
    field_class = YesNoField


@extend_schema_field(str)  # the API's OpenAPI schema: one comma-separated string
class TagsFilter(django_filters.Filter):
    field_class = TagsField

    def __init__(self, *args, match_all: bool = False, **kwargs) -> None:
        self.match_all = match_all
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(tags__contains=value) if self.match_all else qs.filter(tags__overlap=value)


# Sortable columns. Every order ends with id in the same direction, so that a page boundary is
# one row value (column, id) and keyset pagination can continue from it; each has an index on
# (column, id) (cases.models), so a sorted page costs the same at any table size.
SORTABLE = ("id", "updated_at", "model_type", "category")
SORT_CHOICES = [
    ("-id", "Newest first"),
    ("id", "Oldest first"),
    ("-updated_at", "Recently edited"),
    ("updated_at", "Least recently edited"),
    *(
        (f"{prefix}{column}", f"{column.replace('_', ' ').capitalize()} {arrow}")
        for column in SORTABLE[2:]
        for prefix, arrow in (("", "A→Z"), ("-", "Z→A"))
    ),
]


def sort_ordering(sort: str) -> tuple[str, ...]:
    """order_by() arguments for a sort choice: the column, then id in the same direction."""
    column = sort.lstrip("-")
    if column not in SORTABLE:
        return ("-id",)
    if column == "id":
        return (sort,)
    direction = "-" if sort.startswith("-") else ""
    return (sort, f"{direction}id")


def known_values_input(field: str) -> forms.TextInput:
    """A text input suggesting the field's known values (datalist `known-<field>`)."""
    return forms.TextInput(attrs={"list": f"known-{field}", "autocomplete": "off"})


def tag_input() -> forms.TextInput:
    """A comma-separated tag input whose suggestions follow what is typed (htmx fills the
    datalist `tag-options` from cases:tag_options)."""
    return forms.TextInput(
        attrs={
            "list": "tag-options",
            "autocomplete": "off",
            "hx-get": reverse_lazy("cases:tag_options"),
            "hx-trigger": "input changed delay:250ms, focus once",
            "hx-target": "#tag-options",
            "hx-swap": "innerHTML",
            "hx-sync": "this:replace",
            "hx-push-url": "false",  # the case list's form pushes its URL; this must not
        }
    )


IDS_PATTERN = r"(\d{1,18}(,\d{1,18})*)?"  # bigint ids; the API schema states the same


class IdsField(forms.CharField):
    """Case ids: "3,5,8" (the pages, the API) or a list of integers (a run's selection)."""

    def to_python(self, value) -> list[int]:
        if isinstance(value, list | tuple):
            if not all(type(item) is int and 0 <= item < 10**18 for item in value):
                raise ValidationError("Give case ids (whole numbers).", code="invalid")
            return list(value)
        text = "" if value in self.empty_values else str(value)  # not stripped: as the schema
        if not re.fullmatch(IDS_PATTERN, text):
            raise ValidationError("Give case ids as whole numbers separated by commas.")
        return [int(item) for item in text.split(",") if item]


@extend_schema_field({"type": "string", "pattern": f"^{IDS_PATTERN}$"})
class NumberInFilter(django_filters.Filter):
    """`ids=3,5,8`: the rows a user ticked, as a filter, so bulk actions take one path."""

    field_class = IdsField

    def filter(self, qs, value):
        return qs.filter(id__in=value) if value else qs


class TestCaseFilterSet(django_filters.FilterSet):
    """Every case filter; `scope` starts at the golden set and only widens when asked."""

    scope = django_filters.ChoiceFilter(
        choices=Scope.choices, method="filter_scope", empty_label=None, label="Scope"
    )
    # Exact matches; each offers the values the database has (cases.choices, a <datalist>).
    model_type = django_filters.CharFilter(label="Domain", widget=known_values_input("model_type"))
    category = django_filters.CharFilter(widget=known_values_input("category"))
    input_type = django_filters.CharFilter(widget=known_values_input("input_type"))
    output_type = django_filters.CharFilter(widget=known_values_input("output_type"))
    difficulty = django_filters.ChoiceFilter(choices=Difficulty.choices)
    origin = django_filters.ChoiceFilter(choices=Origin.choices)
    is_verified = YesNoFilter(label="Verified", widget=AnyYesNo)
    tags = TagsFilter(label="Any of tags", widget=tag_input())
    tags_all = TagsFilter(match_all=True, label="All of tags", widget=tag_input())
    created_by = django_filters.CharFilter(field_name="created_by__username", label="Created by")
    created_after = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Created from"
    )
    created_before = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Created until"
    )
    json = django_filters.CharFilter(
        method="filter_json", label="JSON key=value", validators=[parse_json_condition]
    )
    json_in = django_filters.ChoiceFilter(
        choices=[(name, name) for name in JSON_FIELDS],
        method="filter_noop",
        label="JSON filter applies to",
    )
    q = django_filters.CharFilter(method="filter_text", label="Text search")
    ids = NumberInFilter(field_name="id", label="Case ids (comma-separated)")
    sort = django_filters.ChoiceFilter(
        choices=SORT_CHOICES, method="filter_sort", empty_label=None, label="Sort"
    )

    class Meta:
        model = TestCase
        fields: list[str] = []

    def __init__(self, data=None, *args, **kwargs) -> None:
        data = data.copy() if data is not None else {}
        if not data.get("scope"):
            data["scope"] = Scope.GOLDEN
        super().__init__(data, *args, **kwargs)

    def effective_scope(self) -> tuple[str, bool]:
        """(the scope the selection has, whether its filters widened the requested one).

        An explicit origin / verified filter asking for ai-generated or unverified cases is
        itself a widening the user asked for: the golden set becomes every case. With a bad
        filter the scope is still the one asked for (the page then lists nothing and says why).
        """
        data = {}
        if self.is_bound:
            self.is_valid()  # a bad filter elsewhere leaves the scope asked for (as cleaned)
            data = self.form.cleaned_data
        scope = data.get("scope") or Scope.GOLDEN
        if scope == Scope.GOLDEN and (
            data.get("origin") == Origin.AI_GENERATED or data.get("is_verified") is False
        ):
            return Scope.ALL, True
        return scope, False

    def filter_scope(self, qs, name, value):
        return qs.in_scope(self.effective_scope()[0])

    def filter_json(self, qs, name, value):
        condition = parse_json_condition(value)  # valid: the field's validator checked it
        field = self.form.cleaned_data.get("json_in")
        fields = [field] if field else JSON_FIELDS
        match = Q()
        for json_field in fields:  # each one served by its GIN index (jsonb @>)
            match |= Q(**{f"{json_field}__contains": condition})
        return qs.filter(match)

    def filter_noop(self, qs, name, value):
        return qs

    def filter_sort(self, qs, name, value):
        return qs.order_by(*sort_ordering(value))

    def filter_text(self, qs, name, value):
        return qs.search(value)
