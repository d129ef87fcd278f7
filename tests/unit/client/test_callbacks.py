"""`verify_callback` accepts exactly what the service's callback worker sends, and nothing else."""

from __future__ import annotations

import pytest

from jirabridge.client import Event, InvalidCallback, verify_callback
from jirabridge.service.workspaces.callback_delivery import body_of
from jirabridge.workers.callbacks import EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "a-long-random-callback-secret"
NOW = 1_800_000_000
EVENT = {
    "id": "ev_1",
    "type": "item.status_changed",
    "at": "2026-11-23T10:30:00Z",
    "source": "jira",
    "item": {"type": "anomaly", "id": "an-42"},
    "issue_key": "DQ-12",
    "data": {"from": "Active", "to": "Résolu"},
}


def delivery(event: dict[str, object] = EVENT, sent_at: int = NOW) -> tuple[bytes, dict[str, str]]:
    """A delivery as the service's worker builds it (workers/callbacks.py)."""
    body = body_of(event)
    headers = {
        SIGNATURE_HEADER: sign(SECRET, body),
        EVENT_ID_HEADER: str(event["id"]),
        TIMESTAMP_HEADER: str(sent_at),
        "Content-Type": "application/json",
    }
    return body, headers


def test_a_delivery_signed_by_the_service_verifies_and_is_the_event() -> None:
    body, headers = delivery()
    event = verify_callback(body, headers, SECRET, now=NOW + 3)
    assert isinstance(event, Event)
    assert (event.id, event.type, event.issue_key, event.data["to"]) == (
        "ev_1",
        "item.status_changed",
        "DQ-12",
        "Résolu",
    )
    assert event.item is not None and event.item.id == "an-42"


def test_header_names_are_matched_whatever_their_case() -> None:
    body, headers = delivery()
    lowered = {name.lower(): value for name, value in headers.items()}
    assert verify_callback(body, lowered, SECRET, now=NOW).id == "ev_1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"DQ-12", b"DQ-13"), headers),  # the body changed
        lambda body, headers: (body, headers | {SIGNATURE_HEADER: sign("another-secret-entirely", body)}),
        lambda body, headers: (body, {k: v for k, v in headers.items() if k != SIGNATURE_HEADER}),
        lambda body, headers: (body, headers | {SIGNATURE_HEADER: headers[SIGNATURE_HEADER].upper()}),
        lambda body, headers: (body, headers | {SIGNATURE_HEADER: "sha256=é"}),  # not even ASCII
        lambda body, headers: (body + b" ", headers),  # re-serialised: not the raw body
    ],
)
def test_a_forged_or_altered_delivery_is_refused(tamper: object) -> None:
    body, headers = tamper(*delivery())  # type: ignore[operator]
    with pytest.raises(InvalidCallback, match="signature"):
        verify_callback(body, headers, SECRET, now=NOW)


def test_a_stale_or_future_timestamp_is_refused_and_the_tolerance_is_the_callers() -> None:
    body, headers = delivery(sent_at=NOW - 301)
    with pytest.raises(InvalidCallback, match="timestamp"):
        verify_callback(body, headers, SECRET, now=NOW)
    with pytest.raises(InvalidCallback, match="timestamp"):
        verify_callback(*delivery(sent_at=NOW + 301), SECRET, now=NOW)
    assert verify_callback(body, headers, SECRET, now=NOW, tolerance_s=600).id == "ev_1"
    assert verify_callback(body, headers, SECRET, tolerance_s=None).id == "ev_1"


def test_a_missing_timestamp_is_refused() -> None:
    body, headers = delivery()
    del headers[TIMESTAMP_HEADER]
    with pytest.raises(InvalidCallback, match="Unix time"):
        verify_callback(body, headers, SECRET, now=NOW)


def test_an_event_id_header_naming_another_event_is_refused() -> None:
    body, headers = delivery()
    with pytest.raises(InvalidCallback, match="event"):
        verify_callback(body, headers | {EVENT_ID_HEADER: "ev_2"}, SECRET, now=NOW)
