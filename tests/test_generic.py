"""The list/report pages' view base (mleval_site.generic), alone and on the pages that use it."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.generic import TemplateView
from django_htmx.middleware import HtmxDetails

from mleval_site.generic import ExportMixin, FilterQueryMixin, PartialMixin


class Page(PartialMixin, FilterQueryMixin, ExportMixin, TemplateView):
    template_name = "page.html"
    partial_template_name = "_rows.html"
    paging_params = ("after", "before")
    export_name = "rows"

    def export_content(self, fmt: str):
        return "a,b\n1,2\n" if fmt == "csv" else iter(['{"a": 1}', "\n"])


def view(query: str = "", hx_target: str | None = None, **attrs) -> Page:
    """The view set up for GET /rows/?query; hx_target "" is an htmx request without a target."""
    headers = {"HX-Request": "true"} if hx_target is not None else {}
    if hx_target:
        headers["HX-Target"] = hx_target
    request = RequestFactory().get(f"/rows/?{query}", headers=headers)
    request.htmx = HtmxDetails(request)
    page = type("P", (Page,), attrs)()
    page.setup(request)
    return page


class TestPartial:
    def test_a_plain_request_gets_the_page_and_htmx_the_partial(self):
        assert view().get_template_names() == ["page.html"]
        assert view(hx_target="").get_template_names() == ["_rows.html"]

    def test_a_target_restricts_the_partial_to_that_element(self):
        aimed = {"htmx_target": "rows"}
        assert view(hx_target="rows", **aimed).get_template_names() == ["_rows.html"]
        assert view(hx_target="chart", **aimed).get_template_names() == ["page.html"]


def test_filter_query_drops_paging_and_format_and_keeps_repeated_values():
    page = view("tags=a&tags=b&after=xyz&format=csv&q=x%26y")
    assert page.filter_query() == "tags=a&tags=b&q=x%26y"


class TestExport:
    def test_csv_download_with_its_file_name(self):
        page = view("format=csv")
        response = page.dispatch(page.request)
        assert response.status_code == 200 and not response.streaming
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="rows.csv"'
        assert response.content == b"a,b\n1,2\n"

    def test_streamed_when_the_page_streams(self):
        page = view("format=json", export_stream=True)
        response = page.dispatch(page.request)
        assert response.streaming and response["Content-Type"] == "application/json"
        assert b"".join(response.streaming_content) == b'{"a": 1}\n'

    def test_an_unknown_format_is_a_400_naming_the_known_ones(self):
        page = view("format=<b>xml</b>")
        response = page.dispatch(page.request)
        assert response.status_code == 400
        assert response.content.decode() == (
            "Unknown format '<b>xml</b>': use format=csv or format=json (or none for the page)."
        )
        assert response["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.django_db
class TestOnThePages:
    def test_case_export_refuses_an_unknown_format(self, login, viewer):
        response = login(viewer).get(reverse("cases:export"), {"format": "xml"})
        assert response.status_code == 400
        assert b"format=jsonl or format=csv" in response.content

    def test_case_export_with_bad_filters_shows_the_page_and_its_errors(self, login, viewer):
        response = login(viewer).get(
            reverse("cases:export"), {"format": "csv", "difficulty": "impossible"}
        )
        assert response.status_code == 200 and not response.streaming
        assert b"difficulty:" in response.content

    def test_audit_pages_keep_the_filters(self, login, admin_user, make_user):
        from accounts.audit import record

        for i in range(101):
            record(admin_user, "case.update", "testcase", target_id=i)
        response = login(admin_user).get(reverse("audit"), {"action": "case.update", "page": 1})
        assert response.context["filter_query"] == "action=case.update"
        assert b'href="?action=case.update&amp;page=2"' in response.content
