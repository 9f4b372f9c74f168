"""Every secret a local stack's connectors use: what the chaos runs search for afterwards (must be 0 hits).

Passwords, client secrets, API keys, webhook secrets and verifiers, and every access and refresh token the
sandboxes issued (read from their stores: the tokens are the partners' own records of what they handed out).
"""

from __future__ import annotations

from typing import Any

from local.scenarios import fixtures


def stack_secrets(stack: Any) -> list[str]:
    found: list[str] = [fixtures.WEBHOOK_SECRET, fixtures.FRESHBOOKS_VERIFIER]
    st = stack.servicetrade
    if st is not None:
        found += [st.password, st.client_secret, *getattr(st._store, "_tokens", {})]
    if stack.shop is not None:
        found += [stack.shop.api_key, stack.shop.webhook_secret]
    if stack.freshbooks is not None:
        found += [stack.freshbooks.client_secret, *stack.freshbooks.issued_tokens()]
    if stack.clearnox is not None:
        found += [stack.clearnox.client_secret, *stack.clearnox._store.tokens]
    if getattr(stack, "shipserv", None) is not None:
        found += stack.shipserv.known_secrets()
    for books in (getattr(stack, "clearbooks_supplier", None), getattr(stack, "clearbooks_buyer", None)):
        if books is not None:
            found += [books.client_secret, *books.issued_tokens()]
    # Short values would match by chance; every real one here is long.
    return sorted({secret for secret in found if isinstance(secret, str) and len(secret) >= 8})
