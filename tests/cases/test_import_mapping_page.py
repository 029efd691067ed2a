"""The import page's column mapping: a file with its own columns is stored, its columns and first
values shown, the htmx preview shows the first rows as they will be stored (or the mapping's and
the rows' problems), and the check or import runs with the mapping, which can be saved for the
next file."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from accounts.models import AuditEvent
from cases.models import ImportMapping, TestCase
from cases.tasks import import_cases_task
from jobs.models import Job

CSV = (
    "idx,sentence,label,meta\n"
    'a1,I love it,positive,"{""src"": ""hub""}"\n'
    "a2,Awful,negative,\n"
    "a3,Meh,neutral,{oops\n"
)
HX = {"HX-Request": "true"}


def upload(name: str = "hub.csv", data: bytes = CSV.encode()) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, "text/csv")


def form_data(**overrides) -> dict:
    """The mapping form for CSV's columns: idx → external_id, sentence → input_data under
    "text", label → ground_truth, meta → metadata (JSON)."""
    data = {
        "use_0": "external_id",
        "use_1": "input_data",
        "key_1": "text",
        "use_2": "ground_truth",
        "use_3": "metadata",
        "json_3": "on",
        "input_type": "text",
        "output_type": "classification",
        "model_type": "nlp",
        "tag_separator": ";",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def mapping_job(login, curator):
    client = login(curator)
    response = client.post(reverse("cases:import"), {"file": upload(), "map": "1"})
    job = Job.objects.get()
    assert response["Location"] == reverse("cases:import_map", args=[job.pk])
    return client, job


@pytest.mark.django_db
class TestMappingPage:
    def test_the_file_waits_for_its_mapping(self, mapping_job):
        client, job = mapping_job
        assert job.params["to_map"] and job.file and not job.task_id
        assert not DBTaskResult.objects.exists()  # nothing runs before the mapping
        page = client.get(reverse("cases:import_map", args=[job.pk])).content.decode()
        for column in ("idx", "sentence", "label", "meta"):
            assert f'data-column="{column}"' in page
        assert "I love it" in page and "hx-post" in page
        detail = client.get(reverse("cases:import_detail", args=[job.pk]))
        assert detail["Location"] == reverse("cases:import_map", args=[job.pk])
        listing = client.get(reverse("cases:import")).content.decode()
        assert "Columns to map" in listing

    def test_preview_shows_rows_as_stored_and_the_rows_problems(self, mapping_job):
        client, job = mapping_job
        url = reverse("cases:import_map_preview", args=[job.pk])
        body = client.post(url, form_data(), headers=HX).content.decode()
        assert "<html" not in body
        assert "I love it" in body and "&quot;label&quot;: &quot;positive&quot;" in body
        assert "&quot;src&quot;: &quot;hub&quot;" in body and "a2" in body
        assert "line 4" in body and "metadata (column meta)" in body and "not valid JSON" in body
        incomplete = client.post(url, form_data(use_2="", output_type=""), headers=HX)
        text = incomplete.content.decode()
        assert "ground_truth: map at least one column to it (required)" in text
        assert "output_type: map a column to it or give a value (required)" in text
        twice = client.post(url, form_data(use_0="ground_truth"), headers=HX).content.decode()
        assert "ground_truth already comes from column idx" in twice
        assert not TestCase.objects.exists()

    def test_check_with_the_mapping_saves_it_then_import(self, mapping_job, curator):
        client, job = mapping_job
        url = reverse("cases:import_map", args=[job.pk])
        response = client.post(url, form_data(save_as="hub sentiment", check="1"))
        assert response["Location"] == reverse("cases:import_detail", args=[job.pk])
        job.refresh_from_db()
        assert "to_map" not in job.params and job.params["dry_run"] and job.task_id
        assert job.params["mapping"]["input_data"] == {"text": "sentence"}
        saved = ImportMapping.objects.get(name="hub sentiment")
        assert saved.mapping == job.params["mapping"] and saved.saved_by == curator
        assert AuditEvent.objects.filter(action="cases.mapping.save").exists()
        import_cases_task.call(job.pk)
        body = client.get(reverse("cases:import_detail", args=[job.pk])).content.decode()
        assert "1 error in 3 rows" in body and "metadata (column meta)" in body
        assert "Change the column mapping" in body
        # the same file, the meta column left out: a new job takes the file over
        again = client.post(url, form_data(use_3="", json_3=None, check="1"))
        second = Job.objects.exclude(pk=job.pk).get()
        assert again["Location"] == reverse("cases:import_detail", args=[second.pk])
        import_cases_task.call(second.pk)
        client.post(reverse("cases:import_run", args=[second.pk]))
        real = Job.objects.exclude(pk__in=[job.pk, second.pk]).get()
        assert real.params["mapping"] == second.params["mapping"]
        import_cases_task.call(real.pk)
        assert TestCase.objects.get(external_id="a1").input_data == {"text": "I love it"}
        assert TestCase.objects.count() == 3

    def test_a_saved_mapping_for_the_next_file(self, login, curator):
        ImportMapping.remember("hub", {
            "input_data": {"text": "sentence"}, "ground_truth": "label", "external_id": "idx",
            "values": {"input_type": "text", "output_type": "classification"},
        })  # fmt: skip
        client = login(curator)
        good = b"idx,sentence,label,meta\nb1,Fine,positive,\n"
        saved = ImportMapping.objects.get()
        client.post(
            reverse("cases:import"),
            {"file": upload("next.csv", good), "saved_mapping": saved.pk, "import": "1"},
        )
        job = Job.objects.get()
        assert job.params["mapping_name"] == "hub" and job.task_id
        import_cases_task.call(job.pk)
        assert TestCase.objects.get().input_data == {"text": "Fine"}
        # the mapping page starts from it when asked
        client.post(reverse("cases:import"), {"file": upload("more.csv", good), "map": "1"})
        pending = Job.objects.get(params__to_map=True)
        page = client.get(reverse("cases:import_map", args=[pending.pk]), {"saved": saved.pk})
        assert page.context["form"].initial["use_1"] == "input_data"
        assert page.context["form"].initial["key_1"] == "text"

    def test_parquet_struct_column(self, login, curator):
        sink = io.BytesIO()
        table = pa.table({"x": [{"age": 3}], "y": pa.array([2.5]), "blob": [b"\x00"]})
        pq.write_table(table, sink)
        client = login(curator)
        client.post(
            reverse("cases:import"), {"file": upload("t.parquet", sink.getvalue()), "map": "1"}
        )
        job = Job.objects.get()
        assert job.params["file_format"] == "parquet"
        page = client.get(reverse("cases:import_map", args=[job.pk])).content.decode()
        assert 'data-column="blob"' in page
        data = {"use_0": "input_data", "use_1": "ground_truth", "input_type": "tabular",
                "output_type": "regression"}  # fmt: skip
        url = reverse("cases:import_map_preview", args=[job.pk])
        body = client.post(url, data, headers=HX).content.decode()
        assert "&quot;age&quot;: 3" in body and "&quot;value&quot;: 2.5" in body
        assert ">Row<" in body

    def test_only_curators_and_only_mappable_jobs(self, login, viewer, mapping_job):
        _, job = mapping_job
        url = reverse("cases:import_map", args=[job.pk])
        assert login(viewer).get(url).status_code == 403
        client, _ = mapping_job
        Job.objects.filter(pk=job.pk).update(params={"dry_run": False, "file_format": "csv"})
        assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_admin_lists_saved_mappings_and_refuses_a_bad_one(login, admin_user):
    saved = ImportMapping.remember("hub", {
        "input_data": "x", "ground_truth": "y",
        "values": {"input_type": "text", "output_type": "text"},
    })  # fmt: skip
    client = login(admin_user)
    assert "hub" in client.get(reverse("admin:cases_importmapping_changelist")).content.decode()
    url = reverse("admin:cases_importmapping_change", args=[saved.pk])
    response = client.post(url, {"name": "hub", "mapping": '{"input_data": "x"}'})
    assert response.status_code == 200  # the form again, with the mapping's problems
    assert "ground_truth: map at least one column to it (required)" in response.content.decode()
    saved.refresh_from_db()
    assert saved.mapping["ground_truth"] == "y"
