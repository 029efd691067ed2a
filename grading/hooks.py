"""What grading plugs into the apps it may import (evaluations never imports grading)."""


def register() -> None:
    """Called once from GradingConfig.ready()."""
