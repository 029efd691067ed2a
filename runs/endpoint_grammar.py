"""What a run's `model_endpoint` may be, as one regular expression read alike by Python (the
validators), PostgreSQL (the table's check constraint) and JSON Schema (the API's schema).

So only constructs the three read the same way: ASCII classes spelled out, no `\\w`, `\\s` or
`\\d` (Python's are Unicode, ECMA-262's and PostgreSQL's differ again). A URL is what
`urllib.parse.urlsplit` parses with a host (an unclosed or invalid `[` IPv6 literal, a host
that is not there, a port past 65535 were accepted by the old `[^\\s]+` and then refused or
crashed): http(s), an optional `user:password@`, a host name (letters, digits, `-`, `_`), an
IPv4 address or a bracketed IPv6 address, an optional port up to 65535, then a path, query or
fragment in printable ASCII (percent-encode the rest).
"""

from __future__ import annotations

import re

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"

_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{IPV4})"


def _ipv6() -> str:
    """RFC 3986's IPv6address: what `ipaddress.IPv6Address` parses (without a zone)."""
    forms = [rf"(?:{_H16}:){{6}}{_LS32}", rf"::(?:{_H16}:){{5}}{_LS32}"]
    for before, after in ((0, 4), (1, 3), (2, 2), (3, 1), (4, 0)):
        head = rf"(?:(?:{_H16}:){{0,{before}}}{_H16})?" if before else f"(?:{_H16})?"
        tail = rf"(?:{_H16}:){{{after}}}" if after else ""
        forms.append(rf"{head}::{tail}{_LS32}")
    forms.append(rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}")
    forms.append(rf"(?:(?:{_H16}:){{0,6}}{_H16})?::")
    return "(?:" + "|".join(forms) + ")"


IPV6 = _ipv6()
# Docker-style names (model_server) too: urlsplit and the resolver take them.
_NAME_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST = rf"(?:{_NAME_LABEL}(?:\.{_NAME_LABEL})*\.?|\[{IPV6}\])"
_USERINFO = r"(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?"
URL = rf"https?://{_USERINFO}{HOST}(?::{PORT})?(?:[/?#][!-~]*)?"

# N/second, N/minute or N/hour, N >= 1 (runs.endpoint_config.parse_rate_limit; spaces around).
RATE = r"^[ \t-\r]*0*[1-9][0-9]*[ \t-\r]*/[ \t-\r]*(?:second|minute|hour)[ \t-\r]*$"

_MODULE = r"[A-Za-z_][A-Za-z0-9_.]*"
_FUNCTION = r"[A-Za-z_][A-Za-z0-9_]*"
CONNECTOR_KINDS = r"(?:openai|mlflow|kserve-v1|kserve-v2)"
CONNECTION = r"connection:[A-Za-z0-9][A-Za-z0-9_.-]*"


def endpoint_pattern(*, modules: list[str] | None = None, connection: bool = True) -> str:
    """The endpoint pattern: any `python:` module (the table's constraint, which cannot read a
    setting) or only `modules` and the modules under them (MLEVAL_PYTHON_ENDPOINT_MODULES: the
    API's schema, stating what the validator accepts); `connection:NAME` unless not."""
    if modules is None:
        module = _MODULE
    elif modules:
        names = "|".join(re.escape(m) for m in modules)
        module = rf"(?:{names})(?:\.[A-Za-z0-9_.]*)?"
    else:
        module = None
    kinds = [rf"(?:{CONNECTOR_KINDS}:)?{URL}"]
    if module:
        kinds.append(rf"python:{module}:{_FUNCTION}")
    if connection:
        kinds.append(CONNECTION)
    return "^(?:" + "|".join(kinds) + ")$"


ENDPOINT_PATTERN = endpoint_pattern()
