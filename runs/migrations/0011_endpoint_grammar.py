"""A run's endpoint: the one grammar of runs.endpoint_grammar in the table's check constraint
(the old `[^\\s]+` URLs admitted hosts urlsplit cannot parse, NUL, non-ASCII).

Stored endpoints outside it are first rewritten to their ASCII form where one exists (an IDNA
host, a percent-encoded path); any other is moved to the run's config as `invalid_endpoint`
(kept, shown on the run page's config) and the endpoint emptied, so nothing is lost and the
constraint holds.
"""

import re
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import migrations, models

PATTERN = None  # set below from the constraint itself: one copy of the grammar in this file


def ascii_form(endpoint: str) -> str:
    """`openai:http://münchen.de/ä` → `openai:http://xn--mnchen-3ya.de/%C3%A4` (or "")."""
    kind, _, url = endpoint.rpartition(":http")
    url = "http" + url if _ else endpoint
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").encode("idna").decode("ascii")
        netloc = host if ":" not in host else f"[{host}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
        query = quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
        fragment = quote(parts.fragment, safe="/?%:@!$&'()*+,;=-._~")
        fixed = urlunsplit((parts.scheme, netloc, path, query, fragment))
    except (ValueError, UnicodeError):
        return ""
    return f"{kind}:{fixed}" if kind else fixed


def conform_endpoints(apps, schema_editor) -> None:
    ModelRun = apps.get_model("runs", "ModelRun")
    for run in ModelRun.objects.exclude(model_endpoint="").only("model_endpoint", "config"):
        if re.fullmatch(PATTERN, run.model_endpoint):
            continue
        fixed = ascii_form(run.model_endpoint)
        if not re.fullmatch(PATTERN, fixed):
            run.config = {**(run.config or {}), "invalid_endpoint": run.model_endpoint}
            fixed = ""
        run.model_endpoint = fixed
        run.save(update_fields=["model_endpoint", "config"])


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0010_run_baseline"),
        ("versions", "0003_partition_version_cases"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="modelrun",
            name="runs_modelrun_endpoint_valid",
        ),
        migrations.RunPython(conform_endpoints, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="modelrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("model_endpoint", ""),
                    (
                        "model_endpoint__regex",
                        "^(?:(?:(?:openai|mlflow|kserve-v1|kserve-v2):)?https?://(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\\.?|\\[(?:(?:[0-9A-Fa-f]{1,4}:){6}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|::(?:[0-9A-Fa-f]{1,4}:){5}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|(?:[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){4}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|(?:(?:[0-9A-Fa-f]{1,4}:){0,1}[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){3}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|(?:(?:[0-9A-Fa-f]{1,4}:){0,2}[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){2}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|(?:(?:[0-9A-Fa-f]{1,4}:){0,3}[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:){1}(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|(?:(?:[0-9A-Fa-f]{1,4}:){0,4}[0-9A-Fa-f]{1,4})?::(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3})|(?:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4})?::[0-9A-Fa-f]{1,4}|(?:(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?::)\\])(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(?:[/?#][!-~]*)?|python:[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*|connection:[A-Za-z0-9][A-Za-z0-9_.-]*)$",
                    ),
                    _connector="OR",
                ),
                name="runs_modelrun_endpoint_valid",
            ),
        ),
    ]


PATTERN = next(
    value
    for operation in Migration.operations
    if isinstance(operation, migrations.AddConstraint)
    for key, value in operation.constraint.condition.children
    if key == "model_endpoint__regex"
)
