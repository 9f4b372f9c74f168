"""Partner objects and connector configurations kept per container (`pipeline.services`): reused within their
age, replaced when the configuration or the catalog generation changed, dropped after a connector problem."""

from __future__ import annotations

import itertools

import pytest

from invoice_relay.errors import AuthenticationError, PermanentError, TransientError
from invoice_relay.pipeline.services import PartnerPool, RecentConnectors
from invoice_relay.storage.state import UnknownConnector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Opened:
    numbers = itertools.count(1)

    def __init__(self) -> None:
        self.number = next(self.numbers)
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pool(clock: Clock) -> PartnerPool:
    return PartnerPool(300, clock=clock)


def use(pool: PartnerPool, *, fingerprint: str = "config-1", generation: str | None = None) -> Opened:
    with pool.use("c1#document_target", fingerprint, Opened, generation=generation) as opened:
        return opened


def test_an_object_is_reused_within_its_age_and_replaced_after(pool, clock):
    first = use(pool)
    clock.now += 299
    assert use(pool) is first and not first.closed
    clock.now += 2
    second = use(pool)
    assert second is not first and first.closed


def test_a_changed_configuration_opens_a_new_object(pool):
    first = use(pool)
    second = use(pool, fingerprint="config-2")
    assert second is not first and first.closed


def test_a_new_catalog_generation_opens_a_new_object(pool):
    first = use(pool, generation="g1")
    assert use(pool) is first  # work that does not need the catalog does not check it
    assert use(pool, generation="g1") is first
    second = use(pool, generation="g2")
    assert second is not first and first.closed


def test_an_object_first_used_without_a_generation_takes_the_first_one_it_is_used_with(pool):
    first = use(pool)
    assert use(pool, generation="g1") is first
    assert use(pool, generation="g2") is not first


def test_a_connector_problem_drops_the_object(pool):
    first = use(pool)
    with pytest.raises(AuthenticationError), pool.use("c1#document_target", "config-1", Opened) as lent:
        assert lent is first
        raise AuthenticationError("refused", partner="freshbooks", status=401)
    assert first.closed and use(pool) is not first


@pytest.mark.parametrize("error", [PermanentError("unknown SKU"), TransientError("503")])
def test_a_document_or_passing_problem_keeps_the_object(pool, error):
    first = use(pool)
    with pytest.raises(type(error)), pool.use("c1#document_target", "config-1", Opened):
        raise error
    assert use(pool) is first and not first.closed


def test_a_bug_drops_the_object(pool):
    first = use(pool)
    with pytest.raises(KeyError), pool.use("c1#document_target", "config-1", Opened):
        raise KeyError("bug")
    assert first.closed


def test_concurrent_users_get_their_own_objects(pool):
    with pool.use("k", "f", Opened) as one, pool.use("k", "f", Opened) as two:
        assert one is not two
    # the last one given back is kept, the other closed
    assert two.closed and not one.closed
    with pool.use("k", "f", Opened) as again:
        assert again is one


def test_max_age_zero_pools_nothing(clock):
    pool = PartnerPool(0, clock=clock)
    first = use(pool)
    assert first.closed and use(pool) is not first


def test_clear_closes_everything(pool):
    first = use(pool)
    pool.clear()
    assert first.closed


class Store:
    def __init__(self) -> None:
        self.reads = 0

    def get(self, connector_id: str):
        self.reads += 1
        if connector_id == "unknown":
            raise UnknownConnector("unknown connector 'unknown'")
        return {"connector_id": connector_id, "read": self.reads}


def test_recent_connectors_read_once_per_period_and_never_keep_an_unknown_one(clock):
    store = Store()
    recent = RecentConnectors(store, 60, clock=clock)  # type: ignore[arg-type]
    assert recent.get("c1") == recent.get("c1") == {"connector_id": "c1", "read": 1}
    clock.now += 61
    assert recent.get("c1")["read"] == 2
    recent.forget("c1")
    assert recent.get("c1")["read"] == 3
    for _ in range(2):
        with pytest.raises(UnknownConnector):
            recent.get("unknown")
    assert store.reads == 5
