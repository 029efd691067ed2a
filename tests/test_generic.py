"""The list/report pages' view base (mleval_site.generic), on a page of its own and on the pages
that use it. The test page is mounted at /rows/ (this module is its URLconf) and answers with
the template it would render and its filter_query, so each mixin is seen through the client."""

import pytest
from django.http import HttpResponse
from django.urls import path, reverse
from django.views.generic import TemplateView

from mleval_site.generic import ExportMixin, FilterQueryMixin, PartialMixin


class Page(PartialMixin, FilterQueryMixin, ExportMixin, TemplateView):
    template_name = "page.html"
    partial_template_name = "_rows.html"
    paging_params = ("after", "before")
    export_name = "rows"

    def export_content(self, fmt: str):
        return "a,b\n1,2\n" if fmt == "csv" else iter(['{"a": 1}', "\n"])

    def render_to_response(self, context, **kwargs):
        shown = f"{' '.join(self.get_template_names())} ?{context['filter_query']}"
        return HttpResponse(shown, content_type="text/plain")


class AimedPage(Page):
    htmx_target = "rows"


class StreamingPage(Page):
    export_stream = True


urlpatterns = [
    path("rows/", Page.as_view()),
    path("aimed/", AimedPage.as_view()),
    path("streamed/", StreamingPage.as_view()),
]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def client(login, viewer):
    return login(viewer)


@pytest.mark.django_db
class TestPartial:
    def test_a_plain_request_gets_the_page_and_htmx_the_partial(self, client):
        assert client.get("/rows/").content == b"page.html ?"
        assert client.get("/rows/", headers={"HX-Request": "true"}).content == b"_rows.html ?"

    def test_a_target_restricts_the_partial_to_that_element(self, client):
        aimed = {"HX-Request": "true", "HX-Target": "rows"}
        assert client.get("/aimed/", headers=aimed).content == b"_rows.html ?"
        elsewhere = {"HX-Request": "true", "HX-Target": "chart"}
        assert client.get("/aimed/", headers=elsewhere).content == b"page.html ?"


@pytest.mark.django_db
def test_filter_query_drops_paging_and_format_and_keeps_repeated_values(client):
    response = client.get("/rows/?tags=a&tags=b&after=xyz&format=html&q=x%26y")
    assert response.content == b"page.html ?tags=a&tags=b&q=x%26y"


@pytest.mark.django_db
class TestExport:
    def test_csv_download_with_its_file_name(self, client):
        response = client.get("/rows/", {"format": "csv"})
        assert response.status_code == 200 and not response.streaming
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="rows.csv"'
        assert response.content == b"a,b\n1,2\n"

    def test_streamed_when_the_page_streams(self, client):
        response = client.get("/streamed/", {"format": "json"})
        assert response.streaming and response["Content-Type"] == "application/json"
        assert b"".join(response.streaming_content) == b'{"a": 1}\n'

    def test_an_unknown_format_is_a_400_naming_the_known_ones(self, client):
        response = client.get("/rows/", {"format": "<b>xml</b>"})
        assert response.status_code == 400
        assert response.content.decode() == (
            "Unknown format '<b>xml</b>': use format=csv or format=json (or none for the page)."
        )
        assert response["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.django_db
@pytest.mark.urls("mleval_site.urls")
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
