"""The grading pages: queue, new task, a task, grading one response at a time; who may do what."""

import pytest
from django.urls import reverse

from evaluations.models import Evaluation
from grading.models import Assignment, GradingTask


def first_assignment(task, user):
    return Assignment.objects.filter(item__task=task, grader=user).order_by("item__position")[0]


def grade_url(task, position):
    return reverse("grading:grade", args=[task.pk, position])


class TestQueue:
    def test_a_grader_sees_their_tasks_with_progress(
        self, task, graders, login, django_assert_max_num_queries
    ):
        client = login(graders[0])
        with django_assert_max_num_queries(10):
            page = client.get("/grading/")
        assert page.status_code == 200
        text = page.content.decode()
        assert "Helpfulness" in text and "0 of 8 graded" in text
        assert "New grading task" not in text

    def test_engineers_may_create_tasks_viewers_may_only_read(self, task, engineer, viewer, login):
        assert "New grading task" in login(engineer).get("/grading/").content.decode()
        page = login(viewer).get("/grading/")
        assert page.status_code == 200 and "New grading task" not in page.content.decode()
        assert "Your assignments" not in page.content.decode()

    def test_outsiders_are_refused(self, task, outsider, login):
        assert login(outsider).get("/grading/").status_code == 403
        assert login(outsider).get(f"/grading/tasks/{task.pk}/").status_code == 403


class TestNewTask:
    def test_an_engineer_creates_a_stratified_task(self, graded_run, graders, engineer, login):
        client = login(engineer)
        run = graded_run.run
        form = client.get(f"/grading/new/?run={run.pk}")
        assert form.status_code == 200
        assert 'value="llm_judge"' in form.content.decode()
        answer = client.post(
            f"/grading/new/?run={run.pk}",
            {
                "run": run.pk,
                "name": "Sample",
                "scale": "1-5",
                "graders": [g.pk for g in graders[:2]],
                "overlap": 2,
                "n": 4,
                "evaluator": "llm_judge",
                "slice": "category",
                "seed": 3,
            },
        )
        task = GradingTask.objects.get(name="Sample")
        assert answer.status_code == 302 and answer["Location"] == f"/grading/tasks/{task.pk}/"
        assert task.items.count() == 4 and Assignment.objects.filter(item__task=task).count() == 8

    def test_errors_are_shown_and_nothing_is_made(self, graded_run, graders, engineer, login):
        answer = login(engineer).post(
            "/grading/new/",
            {
                "run": graded_run.run.pk,
                "name": "x",
                "scale": "pass_fail",
                "graders": [graders[0].pk],
                "overlap": 3,
                "seed": 0,
            },
        )
        assert answer.status_code == 200
        assert "needs 3 graders but 1 are chosen" in answer.content.decode()
        assert not GradingTask.objects.exists()

    @pytest.mark.parametrize("persona", ["viewer", "curator"])
    def test_other_roles_cannot_create(self, persona, request, login, graded_run):
        client = login(request.getfixturevalue(persona))
        assert client.get("/grading/new/").status_code == 403

    def test_a_grader_cannot_create(self, graders, login):
        assert login(graders[0]).get("/grading/new/").status_code == 403


class TestGrading:
    def test_verdicts_are_hidden_until_graded(
        self, task, graders, login, django_assert_max_num_queries
    ):
        alice = graders[0]
        client = login(alice)
        assignment = first_assignment(task, alice)
        position = assignment.item.position
        with django_assert_max_num_queries(12):
            page = client.get(grade_url(task, position))
        text = page.content.decode()
        assert page.status_code == 200
        assert "verdicts-hidden" in text and "The judge&#x27;s rationale" not in text
        assert (
            "question" in text and "answer" in text and "reply" in text
        )  # input, expected, output
        case_link = f'href="/cases/{assignment.item.response.test_case_id}/"'
        assert case_link not in text  # the case page lists its verdicts: linked once graded
        answer = client.post(grade_url(task, position), {"passed": "true", "comment": "fine"})
        assert answer.status_code == 302
        revealed = client.get(grade_url(task, position)).content.decode()
        assert "verdicts-hidden" not in revealed and "The judge&#x27;s rationale" in revealed
        assert case_link in revealed
        assignment.refresh_from_db()
        assert assignment.passed is True and assignment.comment == "fine"

    def test_grading_moves_to_the_next_ungraded_and_finishes(self, task, graders, login):
        alice = graders[0]
        client = login(alice)
        mine = list(
            Assignment.objects.filter(item__task=task, grader=alice).order_by("item__position")
        )
        location = client.get(f"/grading/tasks/{task.pk}/grade/")["Location"]
        for assignment in mine:
            assert location == grade_url(task, assignment.item.position)
            location = client.post(location, {"passed": "false"})["Location"]
        assert location == f"/grading/tasks/{task.pk}/"
        human = Evaluation.objects.filter(evaluator_type="human")
        assert human.filter(grader=alice).count() == human.one_per_evaluator().count() == len(mine)

    def test_someone_elses_item_is_refused(self, task, graders, login):
        alice, bob, carol = graders
        item = task.items.exclude(assignments__grader=alice).order_by("position").first()
        assert login(alice).get(grade_url(task, item.position)).status_code == 403
        assert (
            login(alice).post(grade_url(task, item.position), {"passed": "true"}).status_code == 403
        )

    @pytest.mark.parametrize("persona", ["viewer"])
    def test_roles_without_grading_cannot_grade(self, persona, request, task, login):
        client = login(request.getfixturevalue(persona))
        assert client.get(grade_url(task, 1)).status_code == 403

    def test_a_bad_score_is_an_error_on_the_page(self, graded_run, graders, login):
        from grading.assigning import create_task

        task = create_task(graded_run.run, name="s", graders=graders, overlap=1, scale="1-5")
        alice = graders[0]
        position = first_assignment(task, alice).item.position
        page = login(alice).post(grade_url(task, position), {"passed": "true", "score": "9"})
        assert page.status_code == 200
        assert "A score on this task&#x27;s scale is 1 to 5." in page.content.decode()

    def test_a_grader_cannot_edit_cases_or_runs(self, task, graded_run, graders, login):
        client = login(graders[0])
        case = graded_run.responses[0].test_case
        assert client.get(f"/cases/{case.pk}/edit/").status_code == 403
        assert client.get(f"/runs/{graded_run.run.pk}/delete/").status_code == 403
        assert client.get(f"/cases/{case.pk}/").status_code == 200


def test_task_page(task, graders, engineer, login, django_assert_max_num_queries):
    client = login(engineer)
    with django_assert_max_num_queries(12):
        page = client.get(f"/grading/tasks/{task.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert all(g.username in text for g in graders) and "0 of 24 grades given" in text


def test_a_detection_answer_is_drawn_over_the_expected_boxes(graders, login):
    from model_bakery import baker

    from grading.assigning import create_task
    from runs.models import ModelRun, Response
    from tests.baker_recipes import make_case

    run = baker.make(ModelRun, model_name="det", model_version="1", model_type="computer_vision")
    case = make_case(
        input_data={"image_url": "https://example.com/cat.png", "width": 100, "height": 80},
        input_type="image_path",
        ground_truth={"boxes": [{"label": "cat", "bbox": [10, 10, 50, 60]}]},
        output_type="bounding_boxes",
        model_type="computer_vision",
    )
    baker.make(
        Response,
        run=run,
        test_case=case,
        output_data={"boxes": [{"label": "cat", "bbox": [12, 8, 52, 58]}]},
    )
    task = create_task(run, name="boxes", graders=graders[:1], overlap=1)
    page = login(graders[0]).get(f"/grading/tasks/{task.pk}/grade/1/").content.decode()
    assert "Boxes: expected" in page and page.count("<svg") >= 2  # the case's and the answer's
