"""Who may read what a model server replied when a call failed.

A failed call's `error_message` keeps an excerpt of the reply (`HTTP 500: <body>`, `the
endpoint replied with a non-JSON body: <body>`, ...; runs/http_callers.py `_snippet`). A reply
body can hold what the model server should not show everyone (a stack trace, an internal host
name, a prompt), so only engineers and admins (REPLY_PERMISSION) read it; everyone else reads
the same message with the excerpt replaced by "call failed". Stored verdicts of failed calls
(evaluations) keep only the redacted form, since reports are read by every role.
"""

import re

REPLY_PERMISSION = "runs.add_response"  # the engineer role (admins have every permission)
HIDDEN = "call failed (the reply is shown to engineers and admins)"

# The messages the callers write with a reply excerpt after the first ": ".
_WITH_EXCERPT = re.compile(
    r"^(HTTP \d{3}|the (?:endpoint|server) replied with a non-JSON body|the reply has no "
    r"[^:]*|the reply is not JSON[^:]*): .*?(?P<tries> \(after \d+ attempts\))?$",
    re.DOTALL,
)


def redacted(message: str) -> str:
    """The message without the reply's excerpt (unchanged when it carries none)."""
    match = _WITH_EXCERPT.match(message or "")
    if match is None:
        return message
    return f"{match.group(1)}: {HIDDEN}{match.group('tries') or ''}"


def error_for(user, message: str) -> str:
    """The failed call's message as `user` may read it."""
    if not message or (user is not None and user.has_perm(REPLY_PERMISSION)):
        return message
    return redacted(message)
