"""llm_judge through the API: queued with its judge checked, refused naming the problem."""

import json

import pytest

from jobs.models import Job
from runs.connections import Connection
from tests.judging.conftest import make_run

pytestmark = pytest.mark.django_db


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_the_api_queues_a_judged_evaluation_and_refuses_an_unknown_connection(api_client, engineer):
    client = api_client(engineer)
    run = make_run(["an answer"])
    url = f"/api/v1/runs/{run.pk}/evaluate/"
    response = post(
        client, url, {"evaluators": [{"name": "llm_judge", "params": {"connection": "nope"}}]}
    )
    assert response.status_code == 409, response.content  # valid, but the data says no
    assert "no saved connection named nope" in json.dumps(response.json())
    assert not Job.objects.exists()
    Connection.objects.create(
        name="grader", kind="openai", base_url="http://127.0.0.1:9/v1", model="m"
    )
    params = {"connection": "grader", "scale": "1-5", "repeats": 3}
    response = post(client, url, {"evaluators": [{"name": "llm_judge", "params": params}]})
    assert response.status_code == 202, response.content
    (job,) = Job.objects.filter(kind="evaluation")
    (planned,) = job.params["evaluators"]
    assert planned["name"] == "llm_judge" and planned["params"]["repeats"] == 3
