"""The reading of an engine's push events: errors, retries, and the digest of the tag."""

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.push_events import (
    PushFailed,
    is_transient,
    pushed_digest,
)

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def progress(layer="0f1e2d3c"):
    return {"status": "Pushing", "id": layer, "progressDetail": {"current": 1, "total": 2}}


def test_the_digest_of_the_tag_pushed():
    events = [{"status": "The push refers to repository [r/x]"}, progress(),
              {"status": "1.0: digest: %s size: 528" % DIGEST},
              {"progressDetail": {}, "aux": {"Tag": "1.0", "Digest": DIGEST, "Size": 528}}]
    assert pushed_digest(iter(events), "1.0") == DIGEST


def test_no_digest_when_the_engine_reports_none():
    assert pushed_digest([progress(), {"status": "Pushed"}], "1.0") is None


@pytest.mark.parametrize("aux", [
    {"Tag": "latest", "Digest": OTHER, "Size": 1},
    {"manifestPushedInsteadOfIndex": True, "indexDescriptor": {"digest": OTHER}},
    {"Tag": "1.0", "Digest": "", "Size": 1},
    "not an object",
])
def test_other_aux_objects_are_not_the_tag_s_digest(aux):
    assert pushed_digest([{"aux": aux}], "1.0") is None


def test_the_tag_s_own_result_wins_over_other_aux_objects():
    events = [{"aux": {"Tag": "latest", "Digest": OTHER}},
              {"aux": {"Tag": "1.0", "Digest": DIGEST}}]
    assert pushed_digest(events, "1.0") == DIGEST


@pytest.mark.parametrize("event, message, transient", [
    ({"errorDetail": {"message": "unauthorized: authentication required."},
      "error": "unauthorized: authentication required."},
     "unauthorized: authentication required", False),
    ({"error": "received unexpected HTTP status: 502 Bad Gateway"},
     "received unexpected HTTP status: 502 Bad Gateway", True),
    ({"errorDetail": "not a mapping", "error": "net/http: TLS handshake timeout"},
     "net/http: TLS handshake timeout", True),
    ({"errorDetail": {"message": "x509: certificate signed by unknown authority"}},
     "x509: certificate signed by unknown authority", False),
])
def test_an_error_event_stops_the_reading(event, message, transient):
    after = {"aux": {"Tag": "1.0", "Digest": DIGEST}}
    with pytest.raises(PushFailed) as caught:
        pushed_digest([progress(), event, after], "1.0")
    assert str(caught.value) == message
    assert caught.value.transient is transient


@pytest.mark.parametrize("message, transient", [
    ("denied: requested access to the resource is denied", False),
    ("name unknown: repository name not known to registry", False),
    ("connection reset by peer", True),
    ("EOF", True),
])
def test_is_transient(message, transient):
    assert is_transient(message) is transient
