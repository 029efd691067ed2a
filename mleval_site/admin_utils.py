"""Pieces the apps' admin classes share: pretty JSON and links to related rows."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from accounts.audit import record
from mleval_site import jsontext
from mleval_site.db import cascade
from mleval_site.pagination import EstimatedCountPaginator


def pretty_json(value) -> str:
    return format_html('<pre class="json">{}</pre>', jsontext.pretty_json(value))


def admin_link(obj, label: str | None = None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def changelist_link(model, label: str, **filters) -> str:
    meta = model._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist that never counts a huge table exactly on every page."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


class AuditedAdmin(admin.ModelAdmin):
    """Adds, changes and deletes made in the admin land in the audit trail (accounts.audit)
    next to Django's own LogEntry, named `<audit_name>.create|update|delete` like the pages'.

    The admin calls these inside the transaction of the change (deletions just before it).
    """

    audit_name = ""

    def _audit_name(self) -> str:
        return self.audit_name or self.opts.model_name

    def log_addition(self, request, obj, message):
        record(request.user, f"{self._audit_name()}.create", obj, via="admin")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        changed = sorted({f for m in message or [] for f in m.get("changed", {}).get("fields", [])})
        record(request.user, f"{self._audit_name()}.update", obj, via="admin", fields=changed)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        if len(objects) == 1:
            record(request.user, f"{self._audit_name()}.delete", objects[0], via="admin",
                   name=str(objects[0]))  # fmt: skip
        elif objects:  # "Delete selected": one row, like the pages' bulk delete
            record(request.user, f"{self._audit_name()}s.delete", self.opts.model_name,
                   count=len(objects), ids=[o.pk for o in objects[:1000]], via="admin")  # fmt: skip
        return super().log_deletions(request, queryset)


class CascadeDeleteAdmin(admin.ModelAdmin):
    """The delete confirmation counts what goes along (mleval_site.db.cascade, the pages' walker)
    instead of loading and listing every dependent row, as Django's collector would for a run
    with a million responses. The delete itself is the model's set-based `delete()`.
    """

    def get_deleted_objects(self, objs, request):
        objs = list(objs)
        opts = self.opts
        selected = self.model._base_manager.filter(pk__in=[obj.pk for obj in objs])
        listed: list = [f"{capfirst(opts.verbose_name)}: {obj}" for obj in objs]
        counts = {str(opts.verbose_name_plural): len(objs)}
        perms_needed = set()
        for model, related in cascade(selected):
            n = related.count()
            if not n:
                continue
            label = str(model._meta.verbose_name_plural)
            counts[label] = counts.get(label, 0) + n
            listed.append(f"{n} {label}")
            model_admin = self.admin_site._registry.get(model)
            if model_admin is not None and not model_admin.has_delete_permission(request):
                perms_needed.add(str(model._meta.verbose_name))
        return listed, counts, perms_needed, []
