"""Grading with the keyboard in Chromium: a grader opens their queue, grades three answers
with p, f and a digit, goes back with b, and sees the automatic verdicts only once graded."""

import pytest
from playwright.sync_api import expect

from accounts.roles import GRADER
from evaluations.models import Evaluation
from grading.assigning import create_task
from grading.models import Assignment
from tests.grading.conftest import GradedRun

pytestmark = [pytest.mark.browser]


def keys_ready(page) -> None:
    """The page's deferred grading.js has run: a key pressed before it would be lost."""
    expect(page.locator("html[data-grading-keys=ready]")).to_have_count(1)


def test_grading_with_the_keyboard(transactional_db, login_page, make_user):
    graded = GradedRun(size=3)
    alice = make_user(GRADER, "alice")
    task = create_task(graded.run, name="Keyboard", graders=[alice], overlap=1, scale="1-5")
    page = login_page(alice)
    page.goto(f"{page.base}/grading/")
    page.get_by_role("link", name="Grade").click()
    expect(page.locator("#grading-progress")).to_contain_text("0 of 3 graded")
    expect(page.locator("#verdicts-hidden")).to_be_visible()
    expect(page.locator("#answer")).to_contain_text("reply")
    keys_ready(page)

    page.keyboard.press("4")
    expect(page.locator("input[name=score][value='4']")).to_be_checked()
    page.keyboard.press("p")  # pass with score 4, on to the next
    expect(page.locator("#grading-progress")).to_contain_text("1 of 3 graded")
    expect(page.locator(".flash.info")).to_contain_text("graded pass")
    keys_ready(page)

    page.locator("#id_comment").fill("wrong: pf")  # keys typed in the comment stay text
    expect(page.locator("#grading-progress")).to_contain_text("1 of 3 graded")
    page.keyboard.press("Escape")
    page.keyboard.press("f")
    expect(page.locator("#grading-progress")).to_contain_text("2 of 3 graded")
    keys_ready(page)

    page.keyboard.press("b")  # back to the one just graded: its verdicts are shown now
    expect(page.locator("#my-grade")).to_contain_text("fail")
    expect(page.locator("#verdicts")).to_contain_text("llm_judge")
    keys_ready(page)
    page.keyboard.press("n")
    expect(page.locator("#verdicts-hidden")).to_be_visible()
    keys_ready(page)
    page.keyboard.press("2")
    page.keyboard.press("f")
    expect(page.locator(".flash.success")).to_contain_text("All done")

    grades = list(
        Assignment.objects.filter(item__task=task)
        .order_by("item__position")
        .values_list("passed", "score", "comment")
    )
    assert grades == [(True, 4.0, ""), (False, None, "wrong: pf"), (False, 2.0, "")]
    human = Evaluation.objects.filter(evaluator_type="human", response__run=graded.run)
    # One grader on each of three responses: their own verdict and the panel's, per response.
    assert human.one_per_evaluator().count() == 3 and human.exclude(grader=None).count() == 3
