"""Webhook intake (`intake.accept_webhook`: verify, archive, de-duplicate, enqueue) and the signature
schemes that are standards rather than one partner's (`standard`: Standard Webhooks). A partner's own
scheme lives in its package (FreshBooks callbacks: `partners/freshbooks/callbacks.py`).
"""

from __future__ import annotations


class InvalidSignature(Exception):
    """The delivery's signature is missing, malformed, wrong or expired: answer 401 with `reason`.

    `reason` says which check failed; it never contains a secret or the expected signature.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MalformedDelivery(Exception):
    """An authentic delivery whose body is not an event of its scheme: answer 400 with `reason`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
