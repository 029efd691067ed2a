"""What grading plugs into evaluations (which never imports grading):
evaluations/reports/extensions.py's report block "agreement", the trust provider and the
verdict source "human" (listed on /evaluators/)."""


def register() -> None:
    """Called once from GradingConfig.ready()."""
    from evaluations.reports.extensions import (
        register_report_block,
        register_trust,
        register_verdict_source,
    )
    from grading.figures import all_trust, graders_block, report_block
    from grading.models import HUMAN

    register_report_block("agreement", report_block)
    register_report_block("graders", graders_block)
    register_trust(all_trust)
    register_verdict_source(
        HUMAN,
        description="The graders' verdict: people grade a sample of a run's answers on the "
        "grading pages, each grade is a verdict of its own (the grader recorded), and the "
        "graders' majority is the response's human verdict that reports and comparisons "
        "count. Not computed, so it cannot be chosen for scoring a run: create a grading task.",
        passed_when="most of the response's graders passed it (a tie is a fail).",
        url_name="grading:queue",
    )
