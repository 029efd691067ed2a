"""Panels other apps add to the case detail page (the reports' "case history"), without the
cases app importing them: an app registers a template, and optionally a function giving its
context, in its AppConfig.ready():

    from cases.panels import register_detail_panel
    register_detail_panel("evaluations/_case_history.html", case_history_context)

The template is included in the detail page with `case` and the function's dict in its context.
"""

from collections.abc import Callable

from django.http import HttpRequest

from cases.models import TestCase

PanelContext = Callable[[HttpRequest, TestCase], dict]
_PANELS: list[tuple[str, PanelContext | None]] = []


def register_detail_panel(template_name: str, context: PanelContext | None = None) -> None:
    """Show `template_name` on every case detail page (registered once per template)."""
    if all(name != template_name for name, _ in _PANELS):
        _PANELS.append((template_name, context))


def detail_panels(request: HttpRequest, case: TestCase) -> list[tuple[str, dict]]:
    """(template, context) per registered panel, in registration order."""
    return [(name, context(request, case) if context else {}) for name, context in _PANELS]
