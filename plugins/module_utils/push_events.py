# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the event stream of an engine push: its error, whether a retry may help, and the
manifest digest the engine reports once the registry has stored the tag. Pure: the events
are the decoded JSON objects the Docker API streams.
"""

from __future__ import annotations

# Words in an engine's push error that mean retrying cannot help.
PERMANENT = (
    "unauthorized",
    "denied",
    "authentication required",
    "forbidden",
    "manifest invalid",
    "name unknown",
    "does not exist",
    "no basic auth credentials",
    "x509",
    "certificate",
)


class PushFailed(Exception):
    """A push that failed; transient tells whether a retry may help."""

    def __init__(self, message, transient):
        super().__init__(message)
        self.transient = transient


def is_transient(message):
    """Whether an engine's push error may go away on a retry."""
    text = message.lower()
    return not any(word in text for word in PERMANENT)


def pushed_digest(events, tag):
    """The digest the engine reports for `tag`, or None; PushFailed on an error event.

    Only the engine's push result (an ``aux`` object naming the tag and its digest) counts;
    other ``aux`` objects, such as a manifest pushed in place of an index, are passed over.
    """
    digest = None
    for event in events:
        if not isinstance(event, dict):
            continue
        detail = event.get("errorDetail")
        error = (detail.get("message") if isinstance(detail, dict) else None) or event.get("error")
        if error:
            error = str(error).strip()
            raise PushFailed(error.rstrip("."), is_transient(error))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Tag") == tag and str(aux.get("Digest", "")).startswith(
            "sha256:"
        ):
            digest = aux["Digest"]
    return digest
