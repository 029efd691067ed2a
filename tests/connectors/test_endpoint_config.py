"""Run config keys of the connector kinds: refused at registration naming the key (function,
page, command, API); python: modules outside the allow-list refused at registration."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import override_settings

from runs.endpoint_config import (
    ConfigErrors,
    MissingVariable,
    parse_config,
    parse_rate_limit,
    render,
    resolve_headers,
)
from runs.models import ModelRun
from runs.selection import register_run

BAD = [
    ({"prompt": "{{ input_data.text "}, "prompt: the template does not parse"),
    ({"system": 3}, "system: must be a non-empty string"),
    ({"params": [1]}, "params: must be a JSON object"),
    ({"params": {"messages": []}}, "params: messages cannot be a param"),
    ({"output": "xml"}, "output: must be one of text, json, label"),
    ({"prediction": "proba"}, "prediction: must be one of label, value, scores, raw"),
    ({"batch_size": 0}, "batch_size: must be a whole number from 1 to 10,000"),
    ({"batch_size": True}, "batch_size: must be a whole number"),
    ({"rate_limit": "fast"}, "rate_limit: write N/second, N/minute or N/hour"),
    ({"rate_limit": "0/second"}, "rate_limit: write N/second"),
    ({"headers": ["x"]}, "headers: must be a JSON object"),
    ({"headers": {"Authorization": "Bearer sk-literal"}}, "headers: Authorization carries a"),
    ({"headers": {"X-Api-Key": "abc"}}, "headers: X-Api-Key carries a credential"),
    ({"headers": {"X-Team": "${lower-case}"}}, "headers: X-Team has a malformed reference"),
    ({"headers": {"Host": "x"}}, 'headers: "Host" is not a header a config may set'),
    ({"headers": {"X-Team": "équipe"}}, "headers: the value of X-Team must be one line of"),
    ({"headers": {"X-Team": "a\tb\nc"}}, "headers: the value of X-Team must be one line of"),
    ({"features": ""}, "features: must be a non-empty string"),
    ({"model": ["gpt"]}, "model: must be a non-empty string"),
]


@pytest.mark.parametrize(("config", "message"), BAD)
def test_parse_config_names_the_bad_key(config, message):
    with pytest.raises(ConfigErrors) as error:
        parse_config(config)
    assert any(problem.startswith(message) for problem in error.value.problems), error.value


def test_a_dollar_before_a_reference_is_not_a_malformed_reference():
    """Found by the schemathesis CLI: "$${A}{b" is "$", the reference ${A} and "{b" (the schema
    said so), but removing the reference left "${b" and the check refused it."""
    headers = {"X-Team": "$${A}{b$", "X-Other": "$$${B_1}x"}
    assert parse_config({"headers": headers}).headers == headers


def test_parse_config_reads_every_key():
    config = parse_config(
        {
            "prompt": "Classify: {{ input_data.text }}",
            "system": "You are terse.",
            "model": "llama3",
            "params": {"temperature": 0},
            "output": "label",
            "features": "row",
            "prediction": "value",
            "batch_size": 256,
            "rate_limit": "600/minute",
            "headers": {"Authorization": "Bearer ${API_KEY}", "X-Team": "evals"},
            "selection": {"model_type": "nlp"},  # the run's own key: left alone
        },
        model_name="ignored",
    )
    assert (config.model, config.output, config.prediction, config.batch_size) == (
        "llama3",
        "label",
        "value",
        256,
    )
    assert config.rate_limit.interval == 0.1 and str(config.rate_limit) == "600/minute"
    assert parse_config({}, model_name="run-model").model == "run-model"
    assert parse_config({}).batch_size == 64 and parse_config({}).output == "text"


def test_rate_limit_periods():
    assert parse_rate_limit("5/second").interval == 0.2
    assert parse_rate_limit(" 120 / hour ").interval == 30.0


def test_templates_are_sandboxed_and_strict():
    assert (
        render(
            "prompt", "{{ input_data.text|upper }} #{{ test_case_id }}", 7, {"text": "hi"}, "text"
        )
        == "HI #7"
    )
    with pytest.raises(ValueError, match=r"the prompt template failed on case 9: .*nope"):
        render("prompt", "{{ input_data.nope }}", 9, {"text": "hi"}, "text")
    with pytest.raises(ValueError, match="the system template failed on case 3: SecurityError"):
        render("system", "{{ input_data.__class__.__mro__ }}", 3, {}, "text")


def test_headers_resolve_from_the_environment_and_name_missing_variables():
    headers = {"Authorization": "Bearer ${API_KEY}", "X-Org": "${ORG}-${API_KEY}"}
    resolved = resolve_headers(headers, {"API_KEY": "s3cr3t", "ORG": "acme"})
    assert resolved == {"Authorization": "Bearer s3cr3t", "X-Org": "acme-s3cr3t"}
    with pytest.raises(MissingVariable) as error:
        resolve_headers(headers, {"API_KEY": "s3cr3t"})
    assert "${ORG}" in str(error.value) and "s3cr3t" not in str(error.value)


def test_register_run_refuses_a_bad_config_naming_the_key(cases):
    with pytest.raises(ValidationError) as error:
        register_run(
            model_name="m",
            model_version="1",
            model_type="nlp",
            model_endpoint="openai:http://127.0.0.1:9/v1",
            config={"rate_limit": "lots", "output": "yaml"},
        )
    problems = error.value.message_dict["config"]
    assert [p.split(":")[0] for p in problems] == ["output", "rate_limit"]
    assert not ModelRun.objects.exists()


def test_http_endpoints_keep_their_free_form_config(cases):
    run = register_run(
        model_name="m",
        model_version="1",
        model_type="nlp",
        model_endpoint="http://127.0.0.1:9/predict",
        config={"output": "whatever", "rate_limit": 3},
    )
    assert run.config["output"] == "whatever"


@override_settings(MLEVAL_PYTHON_ENDPOINT_MODULES=["runs.demo_models"])
def test_python_module_outside_the_allow_list_is_refused_at_registration(cases, engineer, login):
    endpoint = "python:os.path:join"
    with pytest.raises(ValidationError) as error:
        register_run(model_name="m", model_version="1", model_type="nlp", model_endpoint=endpoint)
    reason = "may only use the modules runs.demo_models (MLEVAL_PYTHON_ENDPOINT_MODULES); os.path"
    assert reason in error.value.message_dict["model_endpoint"][0]

    with pytest.raises(CommandError, match=r"--endpoint: .*MLEVAL_PYTHON_ENDPOINT_MODULES"):
        call_command(
            "create_run",
            "--model-name=m",
            "--model-version=1",
            "--model-type=nlp",
            f"--endpoint={endpoint}",
        )

    client = login(engineer)
    answer = client.post(
        "/api/v1/runs/",
        json.dumps(
            {
                "model_name": "m",
                "model_version": "1",
                "model_type": "nlp",
                "model_endpoint": endpoint,
            }
        ),
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert reason in answer.json()["errors"]["model_endpoint"][0]

    page = client.post(
        "/runs/new/",
        {
            "model_name": "m",
            "model_version": "1",
            "model_type": "nlp",
            "model_endpoint": endpoint,
            "config": "{}",
        },
    )
    assert page.status_code == 200 and reason.encode() in page.content
    assert not ModelRun.objects.exists()


def test_api_refuses_a_bad_config_naming_the_key(cases, engineer, login):
    answer = login(engineer).post(
        "/api/v1/runs/",
        json.dumps(
            {
                "model_name": "m",
                "model_version": "1",
                "model_type": "nlp",
                "model_endpoint": "openai:http://127.0.0.1:9/v1",
                "config": {"batch_size": -1},
            }
        ),
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"]["config"][0].startswith("batch_size: must be a whole number")
