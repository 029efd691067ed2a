"""What every list and report page repeats, as four mixins on Django's class-based views.

In the spirit of NetBox's generic views, at a tenth of their size:

- `PartialMixin`: an htmx request gets only the part it swaps (`partial_template_name`), a plain
  request the whole page, from the same view and context.
- `FilterQueryMixin`: `filter_query` in the context, the query string without the paging and
  format parameters, for page, sort and export links that keep the user's filters.
- `KeysetPageMixin`: `page_of(queryset)`, a keyset page (mleval_site.pagination) of the request's
  `after` / `before` / `last` links; a bad link falls back to page one with a warning.
- `ExportMixin`: `?format=<name>` turns the page into a download of what it shows; an unknown
  format is a 400 naming the known ones. `export_content()` gives the file, as one string or,
  with `export_stream = True`, an iterator of pieces streamed in constant memory.

    class RunListView(PermissionRequiredMixin, PartialMixin, FilterQueryMixin, FilterView):
        template_name = "runs/run_list.html"
        partial_template_name = "runs/_run_table.html"
"""

from collections.abc import Iterable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils.http import url_has_allowed_host_and_scheme

from mleval_site.pagination import BadCursor, KeysetPage, keyset_page

CSV = "text/csv; charset=utf-8"
JSON = "application/json"


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go back to: the request's `next` when it is a URL of this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return fallback


class PartialMixin:
    """htmx → `partial_template_name` (when `htmx_target` is set, only for that element id)."""

    partial_template_name: str | None = None
    htmx_target: str | None = None

    def is_partial(self) -> bool:
        htmx = getattr(self.request, "htmx", None)
        if not htmx or self.partial_template_name is None:
            return False
        return self.htmx_target is None or htmx.target == self.htmx_target

    def get_template_names(self) -> list[str]:
        if self.is_partial():
            return [self.partial_template_name]
        return super().get_template_names()


class FilterQueryMixin:
    """`filter_query`: the request's query string minus `paging_params` and `format`."""

    paging_params: tuple[str, ...] = ("page",)

    def filter_query(self) -> str:
        query = self.request.GET.copy()
        for name in (*self.paging_params, "format"):
            query.pop(name, None)
        return query.urlencode()

    def get_context_data(self, **kwargs):
        return super().get_context_data(filter_query=self.filter_query(), **kwargs)


class KeysetPageMixin:
    """Keyset pages for a big list; put `paging_params` in FilterQueryMixin's to match."""

    paginate_by = 50
    paging_params: tuple[str, ...] = ("after", "before", "last")

    def page_of(self, queryset) -> KeysetPage:
        get = self.request.GET
        try:
            return keyset_page(
                queryset,
                per_page=self.paginate_by,
                after=get.get("after"),
                before=get.get("before"),
                last=get.get("last") == "1",
            )
        except BadCursor as error:
            messages.warning(self.request, str(error))
            return keyset_page(queryset, per_page=self.paginate_by)


class ExportMixin:
    """`?format=<name>` (a key of `export_formats`) downloads `export_content(name)` instead."""

    export_formats: dict[str, str] = {"csv": CSV, "json": JSON}  # ?format= → content type
    export_stream = False
    export_name = "export"  # the file is called "<export_name>.<format>"
    # The audit action of a download ("report.export"): the export history on /audit/. None:
    # the view records its own (cases.export counts the rows it streamed) or nothing.
    export_audit_action: str | None = None

    def export_format(self) -> str | None:
        """The requested format, or None for the page itself (no format, or "html")."""
        fmt = self.request.GET.get("format", "")
        return None if fmt in ("", "html") else fmt

    def can_export(self) -> bool:
        """Whether this request can be exported; when not, the page shows why (bad filters)."""
        return True

    def export_content(self, fmt: str) -> str | bytes | Iterable[str | bytes]:
        raise NotImplementedError(f"{type(self).__name__} names export_formats but no content")

    def get_export_filename(self, fmt: str) -> str:
        return f"{self.export_name}.{fmt}"

    def export(self, fmt: str) -> HttpResponse | StreamingHttpResponse:
        response_class = StreamingHttpResponse if self.export_stream else HttpResponse
        response = response_class(self.export_content(fmt), content_type=self.export_formats[fmt])
        filename = self.get_export_filename(fmt)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        if self.export_audit_action:
            self.audit_export(fmt, filename)
        return response

    def audit_export(self, fmt: str, filename: str) -> None:
        """Who downloaded what: one audit row per download (a streamed one when it starts)."""
        from accounts.audit import record  # the project's audit trail; generic stays importable

        target = getattr(self, "object", None)
        record(
            self.request.user,
            self.export_audit_action,
            target if target is not None else self.export_name,
            format=fmt,
            filename=filename,
            path=self.request.get_full_path(),
        )

    def dispatch(self, request, *args, **kwargs):
        fmt = self.export_format()
        if fmt is not None and fmt not in self.export_formats:
            known = " or ".join(f"format={name}" for name in self.export_formats)
            return HttpResponseBadRequest(
                f"Unknown format {fmt!r}: use {known} (or none for the page).",
                content_type="text/plain; charset=utf-8",
            )
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        fmt = self.export_format()
        if fmt is not None and self.can_export():
            return self.export(fmt)
        return super().get(request, *args, **kwargs)
