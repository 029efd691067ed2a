"""A case's verdict in every run, newest first, with flips between consecutive versions."""

import datetime as dt

from evaluations.reports import case_history
from runs.models import ModelRun


def test_history_newest_first_with_flips(build, django_assert_max_num_queries):
    case = build.case({"label": "a"})
    other_case = build.case({"label": "a"})
    verdicts = [
        ("clf", "1.0", True),
        ("clf", "1.1", False),
        ("other", "9", True),
        ("clf", "2.0", False),
        ("clf", "2.1", True),
    ]
    runs = []
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for day, (name, version, passed) in enumerate(verdicts):
        run = build.run(name, version)
        ModelRun.objects.filter(pk=run.pk).update(created_at=base + dt.timedelta(days=day))
        runs.append(run)
        build.verdict(build.respond(run, case, {}), "label_match", float(passed), passed)
        build.verdict(build.respond(run, other_case, {}), "label_match", 0.0, False)
    with django_assert_max_num_queries(1):
        history = case_history(case.pk)
    assert [(h["run"]["model_name"], h["run"]["model_version"]) for h in history] == [
        ("clf", "2.1"),
        ("clf", "2.0"),
        ("other", "9"),
        ("clf", "1.1"),
        ("clf", "1.0"),
    ]
    flips = {h["run"]["model_version"]: (h["flipped"], h["previous_version"]) for h in history}
    assert flips == {
        "2.1": (True, "2.0"),  # fixed
        "2.0": (False, "1.1"),  # failed before too
        "9": (False, None),  # another model: nothing to compare with
        "1.1": (True, "1.0"),  # broke
        "1.0": (False, None),
    }


def test_flips_are_per_evaluator(build):
    case = build.case({"label": "a"})
    for version, label_passed in (("1", True), ("2", True)):
        response = build.respond(build.run("m", version), case, {})
        build.verdict(response, "label_match", 1.0, label_passed)
        build.verdict(response, "exact_match", float(version == "1"), version == "1")
    history = case_history(case.pk)
    flipped = {(h["run"]["model_version"], h["evaluator"]) for h in history if h["flipped"]}
    assert flipped == {("2", "exact_match")}


def test_a_case_no_run_scored(build):
    assert case_history(build.case({"label": "a"}).pk) == []
