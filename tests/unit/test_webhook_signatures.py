"""Signature schemes of the webhook intake: Standard Webhooks (the shop) and FreshBooks callbacks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest

from invoice_relay.errors import ConfigurationError
from invoice_relay.partners.freshbooks import callbacks as freshbooks
from invoice_relay.webhooks import InvalidSignature, standard

SECRET = "whsec_" + base64.b64encode(b"unit-test webhook secret, 32 b!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret, rotated in......").decode()
NOW = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.UTC)
BODY = b'{"type":"order.created","timestamp":"2026-11-20T12:00:00Z","data":{"id":"ord_1"}}'


def signed(body: bytes = BODY, secrets: str | list[str] = SECRET, *, at: dt.datetime = NOW) -> dict[str, str]:
    return standard.sign(body, secrets, message_id="msg_unit_1", timestamp=at)


def verify(headers: dict[str, str], body: bytes = BODY, secrets: list[str] | None = None) -> str:
    return standard.verify(headers, body, secrets or [SECRET], now=NOW)


# ---------------------------------------------------------------------- Standard Webhooks


def test_a_valid_delivery_returns_its_message_id() -> None:
    assert verify(signed()) == "msg_unit_1"


def test_signature_follows_the_specification() -> None:
    # Independent computation: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the base64-decoded key.
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    timestamp = str(int(NOW.timestamp()))
    expected = hmac.new(key, f"msg_unit_1.{timestamp}.".encode() + BODY, hashlib.sha256).digest()

    headers = signed()

    assert headers["webhook-timestamp"] == timestamp
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_headers_are_matched_in_any_letter_case() -> None:
    headers = {name.upper(): value for name, value in signed().items()}

    assert verify(headers) == "msg_unit_1"


def test_a_tampered_body_is_rejected() -> None:
    headers = signed()

    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(headers, BODY.replace(b"ord_1", b"ord_2"))


def test_a_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(signed(secrets=OTHER_SECRET))


def test_rotation_two_signatures_one_known_secret() -> None:
    # The sender signs with the old and the new secret; we know only one of them (either).
    headers = signed(secrets=[OTHER_SECRET, SECRET])

    assert len(headers["webhook-signature"].split()) == 2
    assert verify(headers, secrets=[SECRET]) == "msg_unit_1"
    assert verify(headers, secrets=[OTHER_SECRET]) == "msg_unit_1"


def test_rotation_one_signature_two_known_secrets() -> None:
    # We hold the old and the new secret while the sender switches over.
    assert verify(signed(secrets=OTHER_SECRET), secrets=[SECRET, OTHER_SECRET]) == "msg_unit_1"


def test_unknown_signature_versions_are_skipped() -> None:
    headers = signed()
    headers["webhook-signature"] = "v1a,c2lnbmVkIGJ5IGFuIGFzeW1tZXRyaWMga2V5 " + headers["webhook-signature"]

    assert verify(headers) == "msg_unit_1"


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (dt.timedelta(minutes=6), "too old"),
        (dt.timedelta(minutes=-6), "in the future"),
    ],
)
def test_a_timestamp_outside_the_5_minute_window_is_rejected(age: dt.timedelta, words: str) -> None:
    # Signed correctly, but at a time too far from ours: a replay (or a clock far off).
    with pytest.raises(InvalidSignature, match=words):
        verify(signed(at=NOW - age))


def test_a_timestamp_inside_the_window_is_accepted_both_ways() -> None:
    assert verify(signed(at=NOW - dt.timedelta(minutes=4, seconds=59))) == "msg_unit_1"
    assert verify(signed(at=NOW + dt.timedelta(minutes=4, seconds=59))) == "msg_unit_1"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_rejected(missing: str) -> None:
    headers = signed()
    del headers[missing]

    with pytest.raises(InvalidSignature, match=f"missing header {missing}"):
        verify(headers)


@pytest.mark.parametrize(
    ("header", "value", "words"),
    [
        ("webhook-timestamp", "2026-11-20T12:00:00Z", "malformed header webhook-timestamp"),
        ("webhook-timestamp", "-1", "malformed header webhook-timestamp"),
        ("webhook-id", "msg/../../etc", "malformed header webhook-id"),
        ("webhook-id", "x" * 129, "malformed header webhook-id"),
        ("webhook-signature", "v1", "no v1 signature"),
        ("webhook-signature", "v1,not base64!", "no v1 signature"),
        ("webhook-signature", "v2,aGVsbG8=", "no v1 signature"),
        ("webhook-signature", "v1,aGVsbG8=", "no signature matches"),
    ],
)
def test_malformed_headers_are_rejected(header: str, value: str, words: str) -> None:
    headers = signed()
    headers[header] = value

    with pytest.raises(InvalidSignature, match=words):
        verify(headers)


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(standard.hmac, "compare_digest", spy)

    verify(signed(secrets=[OTHER_SECRET, SECRET]), secrets=[SECRET, OTHER_SECRET])

    # Every (secret, signature) pair went through compare_digest: 2 secrets x 2 signatures.
    assert len(calls) == 4


@pytest.mark.parametrize("bad", ["", "whsec_", "whsec_not*base64!secret", "c2VjcmV0LXdpdGhvdXQtcHJlZml4"])
def test_a_malformed_secret_of_ours_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        verify(signed(), secrets=[bad])

    if len(bad) > len("whsec_"):
        assert bad not in raised.value.reason  # the reason never repeats the secret


def test_no_secret_at_all_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        standard.verify(signed(), BODY, [], now=NOW)


@pytest.mark.parametrize(
    "key",
    [
        b"a 31-byte key, base64 ends '=='",  # 31 bytes: two padding characters
        b"a 32-byte key, its base64 ends =",  # 32 bytes: one
    ],
)
def test_a_secret_without_its_base64_padding_is_accepted(key: bytes) -> None:
    # The reference library pads an unpadded secret before decoding it (standard-webhooks 1.0.1): a
    # sender that hands out "whsec_" + base64 without "=" signs with the same key as the padded form.
    padded = "whsec_" + base64.b64encode(key).decode()
    unpadded = padded.rstrip("=")
    assert padded.endswith("=") and not unpadded.endswith("=")

    assert standard.secret_key(unpadded) == standard.secret_key(padded) == key
    assert verify(signed(secrets=padded), secrets=[unpadded]) == "msg_unit_1"
    assert verify(signed(secrets=unpadded), secrets=[padded]) == "msg_unit_1"
    assert signed(secrets=unpadded) == signed(secrets=padded)


@pytest.mark.parametrize("bad", ["whsec_YWJjZGVmZ2hp" + "x", "whsec_YWJj=ZGVm", "whsec_===="])
def test_padding_does_not_make_a_malformed_secret_valid(bad: str) -> None:
    # One character too many (not base64 of any length), padding in the middle, padding alone.
    with pytest.raises(ConfigurationError):
        standard.secret_key(bad)


def test_new_secret_is_usable() -> None:
    fresh = standard.new_secret()

    assert fresh.startswith("whsec_") and len(standard.secret_key(fresh)) == 32
    assert verify(signed(secrets=fresh), secrets=[fresh]) == "msg_unit_1"


# ---------------------------------------------------------------------- FreshBooks callbacks

VERIFIER = "fb-verifier-7a3c"
FIELDS = {
    "name": "invoice.paid",
    "object_id": "987654",
    "account_id": "xZNQ1X",
    "business_id": "6543",
    "identity_id": "712052",
    "user_id": "1",
}


def test_freshbooks_signature_is_the_hmac_of_the_json_of_the_form_fields() -> None:
    # FreshBooks' documented example: base64(HMAC-SHA256(verifier, json.dumps(request.form))).
    body, headers = freshbooks.sign(FIELDS, VERIFIER)
    expected = base64.b64encode(
        hmac.new(VERIFIER.encode(), json.dumps(FIELDS).encode(), hashlib.sha256).digest()
    ).decode()

    assert body == (
        b"name=invoice.paid&object_id=987654&account_id=xZNQ1X&business_id=6543&identity_id=712052&user_id=1"
    )
    assert headers["X-FreshBooks-Hmac-SHA256"] == expected
    assert freshbooks.verify(headers, body, [VERIFIER]) == FIELDS


def test_freshbooks_serialisation_matches_flask_request_form() -> None:
    # The reference implementation signs json.dumps(request.form): first value per key, order kept,
    # non-ASCII escaped, blank values kept.
    from werkzeug.datastructures import ImmutableMultiDict

    pairs = [("name", "client.update"), ("note", "Zoë & Co"), ("blank", ""), ("name", "ignored repeat")]
    body = b"name=client.update&note=Zo%C3%AB+%26+Co&blank=&name=ignored+repeat"

    assert (
        freshbooks.signed_content(freshbooks.form_fields(body))
        == json.dumps(ImmutableMultiDict(pairs)).encode()
    )


def test_freshbooks_header_is_matched_in_any_letter_case() -> None:
    body, headers = freshbooks.sign(FIELDS, VERIFIER)
    lowered = {name.lower(): value for name, value in headers.items()}

    assert freshbooks.verify(lowered, body, [VERIFIER])["object_id"] == "987654"


def test_freshbooks_any_confirmed_verifier_authenticates() -> None:
    body, headers = freshbooks.sign(FIELDS, VERIFIER)

    assert freshbooks.verify(headers, body, ["verifier-of-another-callback", VERIFIER]) == FIELDS


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("tamper", "does not match"),
        ("wrong_verifier", "does not match"),
        ("no_header", "missing header X-FreshBooks-Hmac-SHA256"),
        ("not_base64", "not base64"),
        ("no_verifiers", "no confirmed FreshBooks callback verifier"),
    ],
)
def test_freshbooks_invalid_callbacks_are_rejected(change: str, words: str) -> None:
    body, headers = freshbooks.sign(FIELDS, VERIFIER)
    verifiers = [VERIFIER]
    if change == "tamper":
        body = body.replace(b"987654", b"987655")
    elif change == "wrong_verifier":
        verifiers = ["not-the-verifier"]
    elif change == "no_header":
        del headers[freshbooks.SIGNATURE_HEADER]
    elif change == "not_base64":
        headers[freshbooks.SIGNATURE_HEADER] = "%%%"
    elif change == "no_verifiers":
        verifiers = []

    with pytest.raises(InvalidSignature, match=words):
        freshbooks.verify(headers, body, verifiers)


def test_freshbooks_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_compare = hmac.compare_digest
    monkeypatch.setattr(freshbooks.hmac, "compare_digest", lambda a, b: calls.append(1) or real_compare(a, b))
    body, headers = freshbooks.sign(FIELDS, VERIFIER)

    freshbooks.verify(headers, body, [VERIFIER, "other"])

    assert len(calls) == 2


def test_freshbooks_delivery_id_is_stable_per_notification() -> None:
    again = dict(FIELDS)
    other = {**FIELDS, "object_id": "987655"}

    assert freshbooks.delivery_id(FIELDS) == freshbooks.delivery_id(again)
    assert freshbooks.delivery_id(FIELDS) != freshbooks.delivery_id(other)
    assert freshbooks.delivery_id(FIELDS).startswith("fb_")


def test_freshbooks_handshake_is_recognised() -> None:
    body = b"name=callback.verify&object_id=2001&verifier=abc123&account_id=xZNQ1X"

    verification = freshbooks.CallbackVerification.from_body(body)

    assert verification == freshbooks.CallbackVerification("2001", "abc123", "xZNQ1X")
    assert "abc123" not in repr(verification)  # the verifier is a secret
    assert freshbooks.CallbackVerification.from_body(b"name=invoice.paid&object_id=1") is None
    assert freshbooks.CallbackVerification.from_body(BODY) is None
    with pytest.raises(ValueError, match="object_id"):
        freshbooks.CallbackVerification.from_body(b"name=callback.verify&verifier=abc123")


def test_a_handshake_with_an_oversized_callback_id_or_verifier_is_refused_before_it_is_stored():
    from invoice_relay.partners.freshbooks.callbacks import CallbackVerification

    long_id = b"name=callback.verify&object_id=" + b"9" * 25 + b"&verifier=v"
    long_verifier = b"name=callback.verify&object_id=2001&verifier=" + b"v" * 201
    for body in (long_id, long_verifier):
        with pytest.raises(ValueError, match=r"at most 20 digits .* at most 200 characters"):
            CallbackVerification.from_body(body)
