"""The pipeline's judging stage: ``llm_judge`` verdicts, asked of a model, cached.

- :mod:`.judges`: which judge a verdict asks (a saved connection, or an endpoint and model),
  checked when a run's evaluators are chosen; the cache key of one question.
- :mod:`.client`: the calls, concurrently (``concurrency``) on runs' HTTP pool: the
  connection's rate limit (shared by every evaluation asking that judge), retries, 429 and
  ``Retry-After``.
- :mod:`.stage`: one chunk of a run: render the prompts, read the judge cache, ask what it
  lacks, store each reply as it arrives (so a killed worker's successor asks nothing again),
  and make the verdicts (:func:`evaluations.evaluators.judge.judged_verdict`).

The verdicts are ordinary ``Evaluation`` rows (evaluator_type ``llm_judge``): the judge's
reasoning is their ``feedback`` (every repeat's in ``metrics.reasonings``), its raw verdicts
``metrics.verdicts``, who judged ``metrics.judge``; tokens, cost, latency and ``cached`` are
in ``metrics`` too, and the replies themselves in ``judge_calls`` (JudgeCall).
"""
