"""Flow 3 on a warm container: the FreshBooks target, its session and tokens and its SKU map are reused from
one order to the next, and still nothing stale is used — a catalog sync elsewhere, tokens rotated
elsewhere, a paused connector are all seen (see pipeline/services.PartnerPool, pipeline/catalog.py)."""

from __future__ import annotations

import pytest

from invoice_relay.connector import ConnectorStatus
from invoice_relay.errors import TransientError
from invoice_relay.http.oauth import TokenSecret
from invoice_relay.pipeline.catalog import run_catalog_sync
from invoice_relay.pipeline.services import Services
from invoice_relay.settings import settings
from invoice_relay.storage.state import ConnectorStore
from invoice_relay.storage.table import state_table
from local.runtime import event_source
from local.runtime.api_gateway import LocalApi
from local.scenarios.stack import LocalStack

CID = "reuse-shop"
ACCOUNTING = r"/accounting/account/\w+"


@pytest.fixture
def stack():
    with LocalStack(seed_demo=False) as local:
        local.config = local.add_shop_connector(CID)
        api = LocalApi(local).start(port=0)
        local.shop.subscribe(f"{api.url}/webhooks/{CID}")
        try:
            yield local
        finally:
            api.stop()


@pytest.fixture
def token_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    real = TokenSecret.read

    def counted(self):
        reads.append(self.name)
        return real(self)

    monkeypatch.setattr(TokenSecret, "read", counted)
    return reads


def send_orders(stack: LocalStack, *order_ids: str) -> None:
    for order_id in order_ids:
        assert [r.status_code for r in stack.shop.emit("order.created", stack.shop.order(order_id))] == [202]


def invoice_lines(stack: LocalStack, order_id: str) -> list[str]:
    number = stack.shop.order(order_id)["number"]
    [invoice] = [i for i in stack.freshbooks.invoices() if i.get("po_number") == f"shop order {number}"]
    return [line["name"] for line in invoice["lines"]]


def searches(stack: LocalStack, path: str, parameter: str) -> list[str]:
    return [r["query"][parameter] for r in stack.freshbooks.find_requests("GET", f"{ACCOUNTING}/{path}")]


def test_a_warm_container_searches_each_sku_and_client_once_and_reads_the_tokens_once(stack, token_reads):
    send_orders(stack, "ord_2001", "ord_2002", "ord_2003", "ord_2004", "ord_2007", "ord_2008")
    stack.freshbooks.clear_requests()
    stack.drain_delivery_queue()

    assert len(stack.freshbooks.invoices()) == 6
    skus = searches(stack, "items/items", "search[sku]")
    assert sorted(skus) == sorted(set(skus))  # each SKU searched once, not once per line
    ordered = {line["sku"] for o in ("2001", "2002", "2003", "2004", "2007", "2008") for line in
               stack.shop.order(f"ord_{o}")["lineItems"]}  # fmt: skip
    assert set(skus) == ordered
    assert len(searches(stack, "users/clients", "search[email]")) == 6  # one per order
    assert token_reads == [stack.config.target.token_secret]  # once for the container, not per order


def deliver_next(stack: LocalStack) -> None:
    """Feed the next queue record alone to DeliverFunction. (The local runner starts a function on fresh
    caches whenever another function ran in between, as a cold start: so the webhooks of a test are all
    sent first, and the records delivered one by one, on one warm DeliverFunction container.)"""
    counts = event_source.drain(
        stack.delivery_queue_url,
        lambda event: stack.invoke("DeliverFunction", event),
        batch_size=1,
        max_batches=1,
    )
    assert counts["records"] == 1 and counts["failed"] == 0


def test_a_catalog_sync_in_another_container_is_seen_by_a_warm_container(stack):
    send_orders(stack, "ord_2001", "ord_2007")  # both have TEE-BLK-M
    deliver_next(stack)
    [tee] = [i for i in stack.freshbooks.items() if i["sku"] == "TEE-BLK-M"]
    assert invoice_lines(stack, "ord_2001")[0] == tee["name"]

    stack.shop.update_product("TEE-BLK-M", name="Organic tee, jet black, M")
    # The sync runs in a container of its own (CatalogSyncFunction); the deliveries' container stays warm.
    summary = run_catalog_sync(CID, Services.from_settings(settings()))
    assert summary.status == "succeeded", summary

    stack.freshbooks.clear_requests()
    deliver_next(stack)
    assert "Organic tee, jet black, M" in invoice_lines(stack, "ord_2007")
    assert "TEE-BLK-M" in searches(stack, "items/items", "search[sku]")  # searched again


def test_a_catalog_sync_that_changed_nothing_keeps_the_warm_map(stack):
    assert run_catalog_sync(CID, Services.from_settings(settings())).status == "succeeded"
    send_orders(stack, "ord_2001", "ord_2007")
    deliver_next(stack)
    summary = run_catalog_sync(CID, Services.from_settings(settings()))  # nothing changed since
    assert summary.status == "succeeded" and "updated" not in summary.message, summary
    stack.freshbooks.clear_requests()
    deliver_next(stack)
    assert searches(stack, "items/items", "search[sku]") == ["HOOD-GRY-M", "TEE-WHT-L"]  # TEE-BLK-M known


def test_tokens_rotated_elsewhere_are_adopted_by_a_warm_container_without_spending_a_refresh(
    stack, token_reads
):
    send_orders(stack, "ord_2001", "ord_2002")
    deliver_next(stack)
    assert len(token_reads) == 1
    # FreshBooks expires the token the warm container holds; an operator reconnects meanwhile (the
    # OAuth callback runs in its own container and stores the next generation).
    stack.freshbooks.expire_access_tokens()
    stack.connect_freshbooks(stack.config)
    refreshes = stack.freshbooks.refresh_grants_used

    deliver_next(stack)
    assert invoice_lines(stack, "ord_2002")
    assert stack.freshbooks.refresh_grants_used == refreshes  # the stored generation was used, not refreshed
    assert len(token_reads) >= 2  # the 401 made it read the secret again


def test_an_expired_token_of_a_warm_container_is_refreshed_once(stack, token_reads):
    send_orders(stack, "ord_2001", "ord_2002", "ord_2003")
    deliver_next(stack)
    stack.freshbooks.expire_access_tokens()
    refreshes = stack.freshbooks.refresh_grants_used
    deliver_next(stack)
    deliver_next(stack)
    assert len(stack.freshbooks.invoices()) == 3
    assert stack.freshbooks.refresh_grants_used == refreshes + 1


def test_a_paused_connector_holds_the_next_order_of_a_warm_container_at_once(stack):
    send_orders(stack, "ord_2001", "ord_2002")
    deliver_next(stack)
    paused = stack.config.model_copy(update={"status": ConnectorStatus.PAUSED})
    ConnectorStore(state_table(stack.table_name)).put(paused)
    deliver_next(stack)
    assert len(stack.freshbooks.invoices()) == 1  # held, not delivered by the warm container


def test_the_intake_reads_the_connector_once_per_container(stack, monkeypatch):
    reads: list[str] = []
    real = ConnectorStore.get

    def counted(self, connector_id):
        reads.append(connector_id)
        return real(self, connector_id)

    monkeypatch.setattr(ConnectorStore, "get", counted)
    send_orders(stack, "ord_2001", "ord_2002", "ord_2003")
    assert reads == [CID]


def test_a_catalog_sync_that_stops_half_way_still_moves_the_generation(stack):
    sync_services = Services.from_settings(settings())
    assert run_catalog_sync(CID, sync_services).status == "succeeded"
    before = sync_services.cursors.get(CID, "catalog")
    stack.shop.update_product("TEE-BLK-M", name="Organic tee, jet black, M")
    stack.shop.update_product("MUG-12OZ", name="Stoneware mug")
    # the tee is updated, then FreshBooks fails for good on the mug: the run stops with a transient error
    stack.freshbooks.inject_fault(
        method="GET", path=f"{ACCOUNTING}/items/items", query={"search[sku]": "MUG-12OZ"}, status=503, times=5
    )
    with pytest.raises(TransientError):  # the schedule runs it again
        run_catalog_sync(CID, sync_services)

    after = sync_services.cursors.get(CID, "catalog")
    assert after["updated_since"] == before["updated_since"]  # repeated from where it was next time
    assert after["generation"] != before["generation"]  # but the tee's new name is not served stale
