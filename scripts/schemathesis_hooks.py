"""schemathesis hooks for scripts/schemathesis.sh.

The document states that an API key's `expires_at` must be in the future;
JSON Schema cannot compare with the clock, so generated bodies whose
`expires_at` is a past (or present) RFC 3339 time are dropped for
`POST /api/v1/api-keys` instead of being sent as if they were valid.
"""

from datetime import datetime, timezone

import schemathesis


def _in_the_past(value):
    if not isinstance(value, str):
        return False
    try:
        when = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError:
        return False
    if when.tzinfo is None:
        return False
    return when <= datetime.now(timezone.utc)


@schemathesis.hook
def filter_body(context, body):
    operation = getattr(context, "operation", None)
    if operation is None or (operation.method.upper(), operation.path) != ("POST", "/api/v1/api-keys"):
        return True
    return not (isinstance(body, dict) and _in_the_past(body.get("expires_at")))
