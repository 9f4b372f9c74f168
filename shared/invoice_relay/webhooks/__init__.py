"""Webhook intake: signature schemes (one module each) and the intake logic that verifies, archives,
de-duplicates and enqueues a delivery (`intake.accept_webhook`).

- `standard`: Standard Webhooks (https://www.standardwebhooks.com), used by the shop, whose own signing
  is not public.
- `freshbooks`: FreshBooks callbacks (`X-FreshBooks-Hmac-SHA256`) and their verification handshake.
"""

from __future__ import annotations


class InvalidSignature(Exception):
    """The delivery's signature is missing, malformed, wrong or expired: answer 401 with `reason`.

    `reason` says which check failed; it never contains a secret or the expected signature.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
