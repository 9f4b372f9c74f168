"""Everything the pipeline talks to, built once per Lambda container (tests build their own)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..connector import ConnectorConfig
from ..connectors.base import Source
from ..connectors.registry import open_source, open_target
from ..secrets import partner_credentials
from ..settings import Settings, settings
from ..storage.objects import DocumentBucket
from ..storage.runs import RunHistory
from ..storage.state import ConnectorStore, CrossReferences, CursorStore, DocumentStates, Leases
from ..storage.table import state_table


@dataclass
class Services:
    settings: Settings
    connectors: ConnectorStore
    cursors: CursorStore
    leases: Leases
    documents: DocumentStates
    xrefs: CrossReferences
    history: RunHistory
    bucket: DocumentBucket
    table: object
    source_for: Callable[[ConnectorConfig], Source]
    target_for: Callable[[ConnectorConfig], Any]

    @classmethod
    def from_settings(cls, env: Settings) -> Services:
        table = state_table(env.table_name)

        def source_for(config: ConnectorConfig) -> Source:
            credentials = partner_credentials(config.source.credentials_secret, env.secret_cache_seconds)
            return open_source(config.source, credentials)

        leases = Leases(table)

        return cls(
            settings=env,
            connectors=ConnectorStore(table),
            cursors=CursorStore(table),
            leases=leases,
            documents=DocumentStates(table),
            xrefs=CrossReferences(table),
            history=RunHistory(table),
            bucket=DocumentBucket(env.bucket_name),
            table=table,
            source_for=source_for,
            target_for=lambda config: open_target(config, leases),
        )


@lru_cache(maxsize=1)
def services() -> Services:
    """The container-wide services (lazy: importing a handler has no side effects)."""
    return Services.from_settings(settings())
