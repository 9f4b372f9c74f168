"""Everything the flows talk to, built once per Lambda container (tests build their own or swap parts).

Every data-access object of the state table is here with its real type, and the partner registry: flows
reach partners only through `open(config, CAPABILITY)` — or `reused(config, CAPABILITY)`, which keeps the
opened object (a target with its HTTP session, its tokens in memory, its SKU map) for the next work item of
the same container, at most `secret_cache_seconds` (see `PartnerPool`). The intake reads connector
configurations through `recent_connector` (cached `CONNECTOR_CACHE_SECONDS`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from ..connector import ConnectorConfig
from ..errors import PermanentError, TransientError
from ..partners.capabilities import Capability
from ..partners.context import PartnerContext
from ..partners.registry import REGISTRY, PartnerRegistry
from ..settings import Settings, settings
from ..storage.dead_letters import DeadLetters
from ..storage.held import HeldWork
from ..storage.objects import DocumentBucket
from ..storage.runs import RunHistory, RunLog
from ..storage.state import (
    BundleLedger,
    ConnectorStore,
    CrossReferences,
    CursorStore,
    DocumentStates,
    Leases,
    OAuthStates,
)
from ..storage.table import state_table
from .queue import DeliveryQueue

T = TypeVar("T")

# How long the webhook intake trusts a connector configuration it read (a deleted or re-configured connector
# is noticed this much later; deliveries always read it fresh, so a paused connector holds its work at once).
CONNECTOR_CACHE_SECONDS = 60.0
MAX_POOLED = 64  # partner objects kept per container (one or two per connector in practice)


@dataclass
class _Pooled:
    value: Any
    fingerprint: str
    opened_at: float
    generation: str | None


class PartnerPool:
    """Partner objects kept per container between work items, each at most `max_age` seconds.

    An object is reused only for the same key and the same configuration (`fingerprint`); it is closed and
    opened again when it is older than `max_age` (so rotated secrets are read again: the pool never keeps a
    secret longer than the secret cache would), when its configuration changed, when the caller's
    `generation` (e.g. the catalog's, see pipeline/catalog.py) differs from the one it was used with, and
    after anything but a document's or a passing problem (`PermanentError`, `TransientError`) was raised
    while it was in use — a `ConnectorError` (refused credentials, a missing connection: the next item
    starts from freshly read secrets), a bug, a crash. `max_age` 0 turns pooling off.

    Thread-safe; one object is lent to one caller at a time (a second concurrent caller gets its own).
    """

    def __init__(self, max_age: float, *, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self._clock = clock
        self._idle: dict[str, _Pooled] = {}
        self._lock = threading.Lock()

    @contextmanager
    def use(
        self, key: str, fingerprint: str, opener: Callable[[], T], *, generation: str | None = None
    ) -> Iterator[T]:
        """Lend the pooled object of `key` (or a newly opened one) for the block.

        `generation` None: no generation check; otherwise an object used with another generation is
        replaced (one used without one so far takes this one)."""
        entry = self._take(key, fingerprint, generation)
        if entry is None:
            entry = _Pooled(opener(), fingerprint, self._clock(), generation)
        elif generation is not None:
            entry.generation = generation
        try:
            yield entry.value
        except (PermanentError, TransientError):
            self._give_back(key, entry)  # a document's or a passing problem: the object is as good as before
            raise
        except BaseException:
            # A connector problem (start again from freshly read secrets), a bug or a crash: keep nothing.
            _close(entry.value)
            raise
        self._give_back(key, entry)

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle.values()), {}
        for entry in idle:
            _close(entry.value)

    def _take(self, key: str, fingerprint: str, generation: str | None) -> _Pooled | None:
        with self._lock:
            entry = self._idle.pop(key, None)
        if entry is None:
            return None
        fresh = self._clock() - entry.opened_at < self.max_age
        same_generation = generation is None or entry.generation in (None, generation)
        if fresh and entry.fingerprint == fingerprint and same_generation:
            return entry
        _close(entry.value)
        return None

    def _give_back(self, key: str, entry: _Pooled) -> None:
        if self.max_age <= 0:
            _close(entry.value)
            return
        with self._lock:
            replaced = self._idle.pop(key, None)
            if len(self._idle) >= MAX_POOLED:
                replaced_oldest = self._idle.pop(next(iter(self._idle)))
            else:
                replaced_oldest = None
            self._idle[key] = entry
        for old in (replaced, replaced_oldest):
            if old is not None:
                _close(old.value)


def _close(value: Any) -> None:
    close = getattr(value, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # closing is best effort: a logout that fails changes nothing for the work
        from ..logs import logger

        logger.warning("could not close a pooled partner object", exc_info=True)


class RecentConnectors:
    """Connector configurations read within the last `max_age` seconds (only found ones are kept)."""

    def __init__(self, store: ConnectorStore, max_age: float, *, clock: Callable[[], float] = time.monotonic):
        self._store = store
        self.max_age = max_age
        self._clock = clock
        self._seen: dict[str, tuple[float, ConnectorConfig]] = {}
        self._lock = threading.Lock()

    def get(self, connector_id: str) -> ConnectorConfig:
        """The connector's configuration (UnknownConnector when there is none)."""
        now = self._clock()
        with self._lock:
            seen = self._seen.get(connector_id)
        if seen is not None and now - seen[0] < self.max_age:
            return seen[1]
        config = self._store.get(connector_id)
        with self._lock:
            if len(self._seen) >= MAX_POOLED:
                self._seen.clear()
            self._seen[connector_id] = (now, config)
        return config

    def forget(self, connector_id: str) -> None:
        with self._lock:
            self._seen.pop(connector_id, None)


@dataclass
class Services:
    settings: Settings
    table: Any  # the boto3 DynamoDB Table resource of the state table
    connectors: ConnectorStore
    cursors: CursorStore
    leases: Leases
    documents: DocumentStates
    xrefs: CrossReferences
    history: RunHistory
    bucket: DocumentBucket
    bundles: BundleLedger
    oauth_states: OAuthStates
    held: HeldWork
    queue: DeliveryQueue
    dead_letters: DeadLetters
    partners: PartnerRegistry = field(default=REGISTRY)
    secrets_client: Any = None  # Secrets Manager client for written secrets (OAuth tokens); None: default
    pool: PartnerPool | None = None  # None: made from the settings on first use
    recent_connectors: RecentConnectors | None = None  # None: made on first use (intake)

    @classmethod
    def from_settings(cls, env: Settings) -> Services:
        table = state_table(env.table_name)
        return cls(
            settings=env,
            table=table,
            connectors=ConnectorStore(table),
            cursors=CursorStore(table),
            leases=Leases(table),
            documents=DocumentStates(table),
            xrefs=CrossReferences(table),
            history=RunHistory(table),
            bucket=DocumentBucket(env.bucket_name),
            bundles=BundleLedger(table),
            oauth_states=OAuthStates(table),
            held=HeldWork(table),
            queue=DeliveryQueue(env.delivery_queue_url),
            dead_letters=DeadLetters(table),
        )

    def run_log(self, connector_id: str, kind: str) -> RunLog:
        """A new run of `kind` for the connector (not started yet). Scheduled runs are recorded `running`
        when they start; a delivery only with its final status (see storage/runs.py)."""
        return RunLog(
            self.table, connector_id, kind, self.settings.run_log_ttl_days, record_start=kind != "deliver"
        )

    def context(self, connector_id: str) -> PartnerContext:
        """What a partner adapter of this connector may use."""
        return PartnerContext(
            connector_id=connector_id,
            leases=self.leases,
            bucket=self.bucket,
            secret_cache_seconds=self.settings.secret_cache_seconds,
            secrets_client=self.secrets_client,
        )

    def open(self, config: ConnectorConfig, capability: Capability[T]) -> T:
        """The connector's object with `capability` (ConfigurationError when it has none)."""
        return self.partners.open(config, capability, self.context(config.connector_id))

    @contextmanager
    def reused(
        self, config: ConnectorConfig, capability: Capability[T], *, generation: str | None = None
    ) -> Iterator[T]:
        """The connector's object with `capability` for the block, kept for the container's next work item
        (see `PartnerPool`; `generation` replaces one used with another generation)."""
        if self.pool is None:
            self.pool = PartnerPool(self.settings.secret_cache_seconds)
        key = f"{config.connector_id}#{capability.name}"
        with self.pool.use(
            key, config.model_dump_json(), lambda: self.open(config, capability), generation=generation
        ) as opened:
            yield opened

    def recent_connector(self, connector_id: str) -> ConnectorConfig:
        """The connector's configuration, read at most `CONNECTOR_CACHE_SECONDS` ago (for the webhook
        intake, which must answer fast; UnknownConnector when there is none)."""
        if self.recent_connectors is None:
            self.recent_connectors = RecentConnectors(self.connectors, CONNECTOR_CACHE_SECONDS)
        return self.recent_connectors.get(connector_id)

    def forget_connector(self, connector_id: str) -> None:
        """Read the connector's configuration again next time (it may have changed)."""
        if self.recent_connectors is not None:
            self.recent_connectors.forget(connector_id)


@lru_cache(maxsize=1)
def services() -> Services:
    """The container-wide services (lazy: importing a handler has no side effects)."""
    return Services.from_settings(settings())
