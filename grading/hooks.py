"""What grading plugs into evaluations (which never imports grading):
evaluations/reports/extensions.py's report block "agreement" and the trust provider."""


def register() -> None:
    """Called once from GradingConfig.ready()."""
    from evaluations.reports.extensions import register_report_block, register_trust
    from grading.figures import all_trust, report_block

    register_report_block("agreement", report_block)
    register_trust(all_trust)
