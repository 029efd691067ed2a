from django import forms
from django.contrib import admin
from django.db import connection
from django.utils.html import format_html, format_html_join

from cases import curation
from cases.mapping import ColumnMapping, MappingError
from cases.models import CaseFlag, ImportMapping, TestCase
from cases.previews import summary
from mleval_site.admin_utils import (
    AuditedAdmin,
    CascadeDeleteAdmin,
    LargeTableAdmin,
    pretty_json,
)

# The distinct values of an indexed column by a loose index scan: one index probe per value, so
# the admin's filter sidebar costs the same at a million cases as at a hundred.
DISTINCT_VALUES_SQL = """
    WITH RECURSIVE v AS (
        (SELECT {column} AS value FROM {table} ORDER BY {column} LIMIT 1)
        UNION ALL
        SELECT (SELECT {column} FROM {table} WHERE {column} > v.value ORDER BY {column} LIMIT 1)
        FROM v WHERE v.value IS NOT NULL
    )
    SELECT value FROM v WHERE value IS NOT NULL
"""


class ModelTypeFilter(admin.SimpleListFilter):
    """Domain filter whose choices come from the model_type index, not a full-table DISTINCT."""

    title = "model type"
    parameter_name = "model_type"

    def lookups(self, request, model_admin):
        sql = DISTINCT_VALUES_SQL.format(column="model_type", table=TestCase._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [(value, value or "(none)") for (value,) in cursor.fetchall()]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(model_type=value)


@admin.register(TestCase)
class TestCaseAdmin(AuditedAdmin, CascadeDeleteAdmin, LargeTableAdmin):
    audit_name = "case"
    # Fits a 1,280 px window beside the admin's menu and filters: the input and expected output
    # as short readable lines (the full JSON is on the change page), the kind of case in one cell.
    list_display = ("id", "input_summary", "truth_summary", "kind", "verified")
    # Every filter here is cheap at a million rows: choices (origin, verified, difficulty) or an
    # index walk (model type). A plain "output_type" filter would scan the table per page view.
    list_filter = ("origin", "is_verified", "difficulty", ModelTypeFilter)
    list_select_related = ("created_by",)
    search_fields = ("category",)
    search_help_text = "Full-text search over input and ground truth values, or a category."
    raw_id_fields = ("created_by",)
    readonly_fields = ("input_pretty", "ground_truth_pretty", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("model_type", "category", "input_type", "input_format", "output_type")}),
        ("Data", {"fields": ("input_data", "input_pretty", "ground_truth", "ground_truth_pretty")}),
        ("Curation", {"fields": ("tags", "difficulty", "origin", "is_verified", "metadata")}),
        ("Provenance", {"fields": ("created_by", "created_at", "updated_at")}),
    )
    actions = ("mark_verified", "mark_unverified")

    def get_queryset(self, request):
        # The search vector is for PostgreSQL's eyes only: never fetched with the rows.
        return super().get_queryset(request).defer("search_vector")

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        by_text = queryset.search(search_term)
        return by_text | queryset.filter(category__iexact=search_term), False

    class Media:
        css = {"all": ("cases/admin.css",)}

    @admin.display(description="verified", boolean=True, ordering="is_verified")
    def verified(self, case: TestCase) -> bool:
        return case.is_verified

    @admin.display(description="input")
    def input_summary(self, case: TestCase) -> str:
        return summary(case.input_data)

    @admin.display(description="ground truth")
    def truth_summary(self, case: TestCase) -> str:
        return summary(case.ground_truth, 60)

    @admin.display(description="case", ordering="model_type")
    def kind(self, case: TestCase) -> str:
        """Domain and category, then output type, difficulty and origin, then the tags."""
        head = " · ".join(part for part in (case.model_type, case.category) if part) or "–"
        facts = (case.output_type, case.get_difficulty_display(), case.get_origin_display())
        lines = [" · ".join(fact for fact in facts if fact), ", ".join(case.tags)]
        quiet = format_html_join(
            "", '<br><span class="quiet">{}</span>', ((x,) for x in lines if x)
        )
        return format_html("{}{}", head, quiet)

    @admin.display(description="input (formatted)")
    def input_pretty(self, case: TestCase) -> str:
        return pretty_json(case.input_data)

    @admin.display(description="ground truth (formatted)")
    def ground_truth_pretty(self, case: TestCase) -> str:
        return pretty_json(case.ground_truth)

    @admin.action(description="Mark selected cases verified", permissions=["change"])
    def mark_verified(self, request, queryset) -> None:
        self._curate(request, queryset, curation.BulkAction.VERIFY, "verified")

    @admin.action(description="Mark selected cases unverified", permissions=["change"])
    def mark_unverified(self, request, queryset) -> None:
        self._curate(request, queryset, curation.BulkAction.UNVERIFY, "unverified")

    def _curate(self, request, queryset, action: str, done: str) -> None:
        """Through curation.apply like the pages' bulk actions: the cases that change, their
        updated_at and one audit row (via="admin"), in one transaction."""
        count = curation.apply(queryset, action, actor=request.user, via="admin")
        self.message_user(request, f"{count} cases {done}.")


class ImportMappingForm(forms.ModelForm):
    def clean_mapping(self) -> dict:
        """The rules of cases.mapping: every problem of an edited mapping, before it is saved."""
        try:
            ColumnMapping.from_json(self.cleaned_data["mapping"])
        except MappingError as error:
            raise forms.ValidationError(error.errors) from None
        return self.cleaned_data["mapping"]


@admin.register(ImportMapping)
class ImportMappingAdmin(AuditedAdmin):
    """Saved column mappings (cases.mapping's JSON): listed, renamed or deleted here."""

    form = ImportMappingForm
    audit_name = "cases.mapping"
    list_display = ("name", "saved_by", "updated_at")
    search_fields = ("name",)
    readonly_fields = ("saved_by", "updated_at")


@admin.register(CaseFlag)
class CaseFlagAdmin(admin.ModelAdmin):
    list_display = ("id", "case", "comment", "source", "flagged_by", "created_at", "resolved_at")
    list_filter = ("source",)
    list_select_related = ("case", "flagged_by")
    raw_id_fields = ("case", "flagged_by", "resolved_by")
    search_fields = ("=case__id", "comment")
