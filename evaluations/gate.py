"""The CI gate: does a candidate run regress significantly against its baseline?

One decision, here, for ``manage.py compare_runs A B --fail-on regression``, the API's
``GET /api/v1/gate/`` and so the client's ``mleval gate`` (which prints what the server says,
never recomputes it). It reads the cached comparison (:func:`evaluations.summaries.comparison`):

- overall, per evaluator: a regression when McNemar's exact p < ``alpha`` and the pass-rate
  delta (B - A) < ``-min_delta``;
- per slice (category, difficulty, model type, tag), per evaluator: a regression when the
  Holm-adjusted p (within the evaluator's slices) < ``alpha``, regressions outnumber
  improvements and the slice's pass-rate delta < ``-min_delta``.

Exit codes (INTERFACES.md "Client and gate"): 0 no significant regression, 1 one at least, 2
nothing to compare (no paired case) or a bad argument.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from xml.etree import ElementTree as ET

from evaluations.summaries import comparison
from runs import baselines
from runs.models import ModelRun, RunStatus

PASSED, FAILED, NOTHING = 0, 1, 2


class GateError(ValueError):
    """A bad argument (exit 2): an unknown run, evaluator or baseline selector."""


class GateNotFound(GateError):
    """A run, a selector's run or an evaluator that is not there (the API's 404)."""


@dataclass
class Check:
    """One evaluator overall (``dimension`` None) or one of its slices."""

    evaluator: str
    dimension: str | None
    value: str | None
    paired: int
    regressions: int
    improvements: int
    pass_rate_a: float | None
    pass_rate_b: float | None
    pass_rate_delta: float | None
    p_value: float | None  # McNemar's exact p; Holm-adjusted for a slice
    regressed: bool

    @property
    def name(self) -> str:
        where = "overall" if self.dimension is None else f"{self.dimension}={self.value}"
        return f"{self.evaluator} / {where}"

    def describe(self) -> str:
        """One line a person reads in a CI log."""
        if not self.paired or self.pass_rate_delta is None:
            return f"{self.name}: nothing paired"
        kind = "p" if self.dimension is None else "Holm p"
        return (
            f"{self.name}: {_pct(self.pass_rate_a)} -> {_pct(self.pass_rate_b)} "
            f"({self.pass_rate_delta * 100:+.1f} pts), {self.regressions} regressions / "
            f"{self.improvements} improvements of {self.paired}, {kind} = {self.p_value:.3g}"
        )


@dataclass
class Verdict:
    exit_code: int
    message: str
    baseline: dict | None = None
    candidate: dict | None = None
    alpha: float = 0.05
    min_delta: float = 0.0
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        return {PASSED: "passed", FAILED: "regression", NOTHING: "nothing_to_compare"}[
            self.exit_code
        ]

    def regressions(self) -> list[Check]:
        return [check for check in self.checks if check.regressed]

    def as_json(self) -> dict:
        """The API's body: the verdict, its checks, and the three renderings."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "alpha": self.alpha,
            "min_delta": self.min_delta,
            "checks": [{**asdict(check), "name": check.name} for check in self.checks],
            "summary": self.summary(),
            "junit": self.junit(),
            "markdown": self.markdown(),
        }

    def summary(self) -> str:
        """The plain-text summary for a CI log."""
        lines = [f"mleval gate: {self.message}"]
        if self.baseline and self.candidate:
            lines.insert(0, f"baseline  {_run_label(self.baseline)}")
            lines.insert(1, f"candidate {_run_label(self.candidate)}")
            lines.append(f"alpha = {self.alpha}, min delta = {self.min_delta * 100:.1f} pts")
        for check in self.checks:
            if check.dimension is None or check.regressed:
                mark = "REGRESSION" if check.regressed else "ok"
                lines.append(f"  [{mark}] {check.describe()}")
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        """A pull-request comment: the verdict, then one table row per evaluator and per
        regressed slice."""
        icon = {PASSED: "✅", FAILED: "❌", NOTHING: "⚠️"}[self.exit_code]
        out = [f"### {icon} mleval gate: {_md(self.message)}", ""]
        if self.baseline and self.candidate:
            out += [
                f"Baseline {_md(_run_label(self.baseline))}, candidate "
                f"{_md(_run_label(self.candidate))}; alpha {self.alpha}, min delta "
                f"{self.min_delta * 100:.1f} pts.",
                "",
            ]
        shown = [c for c in self.checks if c.dimension is None or c.regressed]
        if shown:
            out += [
                "| check | pass rate A | pass rate B | delta | regr. / impr. | p | verdict |",
                "|---|---|---|---|---|---|---|",
            ]
            for c in shown:
                delta = "" if c.pass_rate_delta is None else f"{c.pass_rate_delta * 100:+.1f} pts"
                p = "" if c.p_value is None else f"{c.p_value:.3g}"
                out.append(
                    f"| {_md(c.name)} | {_pct(c.pass_rate_a)} | {_pct(c.pass_rate_b)} | {delta} "
                    f"| {c.regressions} / {c.improvements} | {p} "
                    f"| {'**regression**' if c.regressed else 'ok'} |"
                )
        return "\n".join(out) + "\n"

    def junit(self) -> str:
        """JUnit XML: one testcase per evaluator and slice, a failure naming each regression;
        nothing to compare is one errored testcase."""
        suite = ET.Element(
            "testsuite",
            name="mleval gate",
            tests=str(max(len(self.checks), 1)),
            failures=str(len(self.regressions())),
            errors="1" if self.exit_code == NOTHING else "0",
        )
        if self.exit_code == NOTHING:
            case = ET.SubElement(suite, "testcase", classname="mleval.gate", name="comparison")
            ET.SubElement(case, "error", message=self.message)
        for check in self.checks:
            case = ET.SubElement(
                suite, "testcase", classname=f"mleval.{check.evaluator}", name=check.name
            )
            if check.regressed:
                failure = ET.SubElement(
                    case, "failure", message=f"significant regression: {check.name}"
                )
                failure.text = check.describe()
            else:
                ET.SubElement(case, "system-out").text = check.describe()
        return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _md(text: str) -> str:
    """Text safe in a Markdown table cell (a model name may hold | or markup); an underscore
    inside a word (label_match) is no emphasis in GitHub Markdown."""
    return "".join("\\" + ch if ch in "\\`*[]<>|#" else ch for ch in text.replace("\n", " "))


def _run_label(run: dict) -> str:
    return f"run #{run['id']} ({run['model_name']} {run['model_version']})"


def resolve_run(value: str | int, candidate: ModelRun | None = None, flag: str = "run") -> ModelRun:
    """A run id, or a selector of the candidate's baseline (``latest`` and ``baseline`` alone
    name the candidate's own model):

    - ``latest:<model name>``: the newest completed run of that model on the candidate's cases
      (same version, else same case set, else same selection), never the candidate itself;
    - ``baseline:<model name>``: the run a lead marked that model's baseline on the
      candidate's cases (runs.baselines: same golden-set version, else same case set).
    """
    text = str(value).strip()
    kind, _, name = text.partition(":")
    if kind in SELECTORS:
        if candidate is None:
            raise GateError(f"{flag}: {kind}:<model name> needs a candidate run")
        return SELECTORS[kind](name or candidate.model_name, candidate, flag)
    if not (text.isascii() and text.isdigit()):  # "²".isdigit() too, which int() refuses
        raise GateError(
            f"{flag}: give a run id, latest:<model name> or baseline:<model name>, got {text!r}"
        )
    run = ModelRun.objects.filter(pk=int(text)).first()
    if run is None:
        raise GateNotFound(f"{flag}: there is no run #{text}")
    return run


def _latest(name: str, candidate: ModelRun, flag: str) -> ModelRun:
    runs = ModelRun.objects.filter(model_name=name, status=RunStatus.COMPLETED).exclude(
        pk=candidate.pk
    )
    if candidate.version_id:
        runs = runs.filter(version_id=candidate.version_id)
    elif candidate.cases_hash:
        runs = runs.filter(cases_hash=candidate.cases_hash)
    else:
        runs = runs.filter(config__selection=candidate.selection)
    run = runs.order_by("-completed_at", "-id").first()
    if run is None:
        raise GateNotFound(
            f"{flag}: no completed run of model {name!r} on the cases of run #{candidate.pk}"
        )
    return run


def _baseline(name: str, candidate: ModelRun, flag: str) -> ModelRun:
    run = baselines.baseline_for(candidate, name)
    if run is None:
        itself = (
            " (it is the baseline itself)"
            if candidate.baseline_since and name == candidate.model_name
            else ""
        )
        raise GateNotFound(
            f"{flag}: model {name!r} has no baseline on the cases of run #{candidate.pk}"
            f"{itself}; a lead marks one on the model page"
        )
    return run


SELECTORS = {"latest": _latest, "baseline": _baseline}


def gate(
    baseline: ModelRun,
    candidate: ModelRun,
    *,
    alpha: float = 0.05,
    min_delta: float = 0.0,
    evaluator: str | None = None,
) -> Verdict:
    """The verdict on ``candidate`` against ``baseline`` (see the module docstring)."""
    if not 0 < alpha < 1:
        raise GateError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 <= min_delta < 1:
        raise GateError(f"min delta is a pass-rate difference in [0, 1), got {min_delta}")
    figures = comparison(baseline, candidate, case_limit=0)
    evaluators = figures["evaluators"]
    if evaluator is not None and evaluator not in evaluators:
        known = ", ".join(evaluators) or "none: neither run is scored"
        raise GateNotFound(f"evaluator {evaluator!r} scored neither run (scored: {known})")
    head = {
        "baseline": figures["a"],
        "candidate": figures["b"],
        "alpha": alpha,
        "min_delta": min_delta,
    }
    checks = []
    for name, row in evaluators.items():
        if evaluator is None or name == evaluator:
            checks.append(_check(name, None, None, row, row["mcnemar_p"], alpha, min_delta))
    for row in figures["slices"]:
        if evaluator is None or row["evaluator"] == evaluator:
            checks.append(
                _check(
                    row["evaluator"],
                    row["dimension"],
                    str(row["value"]),
                    row,
                    row.get("mcnemar_p_holm"),
                    alpha,
                    min_delta,
                    slice_rule=True,
                )
            )
    if not any(check.paired for check in checks):
        return Verdict(
            NOTHING,
            f"nothing to compare: runs #{baseline.pk} and #{candidate.pk} have no scored case "
            "in common (score both runs on the same cases)",
            **head,
        )
    regressed = [check for check in checks if check.regressed]
    if regressed:
        names = "; ".join(check.name for check in regressed)
        message = f"significant regression in {len(regressed)} check(s): {names}"
        return Verdict(FAILED, message, checks=checks, **head)
    return Verdict(PASSED, "no significant regression", checks=checks, **head)


def _check(
    evaluator: str,
    dimension: str | None,
    value: str | None,
    row: dict,
    p_value: float | None,
    alpha: float,
    min_delta: float,
    *,
    slice_rule: bool = False,
) -> Check:
    delta = row.get("pass_rate_delta")
    regressed = (
        row["paired"] > 0
        and p_value is not None
        and delta is not None
        and p_value < alpha
        and delta < -min_delta
        and (not slice_rule or row["regressions"] > row["improvements"])
    )
    return Check(
        evaluator=evaluator,
        dimension=dimension,
        value=value,
        paired=row["paired"],
        regressions=row["regressions"],
        improvements=row["improvements"],
        pass_rate_a=row.get("pass_rate_a"),
        pass_rate_b=row.get("pass_rate_b"),
        pass_rate_delta=delta,
        p_value=p_value,
        regressed=bool(regressed),
    )
