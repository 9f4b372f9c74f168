"""Standard Webhooks (https://www.standardwebhooks.com): verify a delivery, and sign one (sandboxes, tests).

A delivery carries three headers:
- `webhook-id`: the message id, the same on every retry of one message (our de-duplication key);
- `webhook-timestamp`: integer Unix seconds when this attempt was sent;
- `webhook-signature`: space-delimited `<version>,<base64>` entries. `v1` is HMAC-SHA256 over
  `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the secret's bytes. Several entries are
  allowed: during a rotation the sender signs with the old and the new secret. Entries of other versions
  (e.g. `v1a`, asymmetric) are skipped, as the specification asks.
Secrets are `whsec_` + base64 of the key bytes.

A delivery is authentic when one `v1` entry matches one of our secrets (compared in constant time) and
its timestamp is within `TOLERANCE` of our clock in either direction: an old message replayed, or one
stamped in the future, is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets as random_secrets
import uuid
from collections.abc import Mapping, Sequence

from ..errors import ConfigurationError
from . import InvalidSignature

TOLERANCE = dt.timedelta(minutes=5)
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every secret, not one)
SIGNATURE_VERSION = "v1"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)

# The message id becomes part of an S3 key and a DynamoDB key, so only a conservative alphabet is taken
# (real senders use ids like `msg_2KWPBgLlAfxdpx2AI54pPJ85f4W` or UUIDs).
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (padded or not). ConfigurationError (never showing it)
    if malformed."""
    key = b""
    if isinstance(secret, str) and secret.startswith(SECRET_PREFIX):
        encoded = secret.removeprefix(SECRET_PREFIX)
        # Unpadded base64 is accepted, as the reference library does since 1.0.1 ("add padding in case
        # whsecret is unpadded base64", standard-webhooks libraries/python/standardwebhooks/webhooks.py).
        encoded += "=" * (-len(encoded) % 4)
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            key = b""
    if not key:
        raise ConfigurationError("a webhook secret is not a Standard Webhooks secret (whsec_<base64>)")
    return key


def new_secret() -> str:
    """A fresh random secret (32 bytes), for registering an endpoint with a sender."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()


def signature(message_id: str, timestamp: str | int, body: bytes, secret: str) -> str:
    """The `v1,<base64>` signature of one delivery with one secret."""
    return (
        f"{SIGNATURE_VERSION},{base64.b64encode(_digest(message_id, str(timestamp), body, secret)).decode()}"
    )


def sign(
    body: bytes,
    secrets: str | Sequence[str],
    *,
    message_id: str | None = None,
    timestamp: int | dt.datetime | None = None,
) -> dict[str, str]:
    """The three headers a sender adds to `body` (one signature per secret, as during a rotation).

    `message_id` defaults to a new `msg_<uuid>`; `timestamp` to now.
    """
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    if timestamp is None:
        timestamp = dt.datetime.now(dt.UTC)
    seconds = str(int(timestamp.timestamp()) if isinstance(timestamp, dt.datetime) else int(timestamp))
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: seconds,
        SIGNATURE_HEADER: " ".join(signature(message_id, seconds, body, key) for key in keys),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    now: dt.datetime | None = None,
) -> str:
    """Check one delivery against our secrets; returns its message id (`webhook-id`).

    `headers` may use any letter case. Raises InvalidSignature with the reason (missing or malformed
    header, timestamp outside the tolerance, no matching signature); ConfigurationError when one of our
    own secrets is malformed or there is none.
    """
    if not secrets:
        raise ConfigurationError("no webhook secret is configured")
    keys = [secret_key(s) for s in secrets]  # all validated up front: a bad secret is our fault, not theirs
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in HEADERS:
        if not lowered.get(name):
            raise InvalidSignature(f"missing header {name}")
    message_id, timestamp, signatures = (lowered[name].strip() for name in HEADERS)
    if not _MESSAGE_ID.match(message_id):
        raise InvalidSignature(f"malformed header {ID_HEADER}")
    if not _TIMESTAMP.match(timestamp):
        raise InvalidSignature(f"malformed header {TIMESTAMP_HEADER}: expected Unix seconds")
    moment = now or dt.datetime.now(dt.UTC)
    skew = int(timestamp) - moment.timestamp()
    if abs(skew) > TOLERANCE.total_seconds():
        direction = "in the future" if skew > 0 else "too old"
        raise InvalidSignature(
            f"{TIMESTAMP_HEADER} is {direction}: outside the {int(TOLERANCE.total_seconds() // 60)}-minute"
            " tolerance (replayed or clock skew)"
        )
    candidates = _v1_signatures(signatures)
    if not candidates:
        raise InvalidSignature(f"malformed header {SIGNATURE_HEADER}: no {SIGNATURE_VERSION} signature")
    content = _signed_content(message_id, timestamp, body)
    matched = False
    # Every pair is compared (no early exit), each in constant time.
    for key in keys:
        expected = hmac.new(key, content, hashlib.sha256).digest()
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature("no signature matches (wrong secret or altered body)")
    return message_id


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1` entries of a `webhook-signature` header; malformed entries are skipped."""
    decoded = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != SIGNATURE_VERSION or not value:
            continue
        try:
            decoded.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return decoded


def _signed_content(message_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def _digest(message_id: str, timestamp: str, body: bytes, secret: str) -> bytes:
    return hmac.new(secret_key(secret), _signed_content(message_id, timestamp, body), hashlib.sha256).digest()
