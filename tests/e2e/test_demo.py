"""The demo scenario, end to end: what `make demo` shows a new user is what actually happened."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from local.commands import demo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> str:
    """Run `make demo`'s scenario once; every test reads what it printed."""
    demo.OUT = tmp_path_factory.mktemp("demo") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert demo.main() == 0
    return printed.getvalue()


def test_demo_moves_invoices_into_an_import_file_and_writes_every_outcome_back(out):

    counts = re.search(r"processed: (\d+)\s+failed: (\d+)\s+still pending: (\d+)", out)
    assert counts, out
    processed, failed, pending = map(int, counts.groups())
    assert (failed, pending) == (3, 0)
    assert processed >= 40
    assert "has no customer" in out
    assert "is not a date" in out
    assert "no mapping for 'ZZ'" in out

    local_copy = re.search(r"local copy\s+(\S+)", out).group(1)
    content = Path(local_copy).read_text(encoding="cp1252").splitlines()
    headers = [row for row in content if row.startswith("H;")]
    assert len(headers) == processed  # one header record per exported invoice
    assert all(row.startswith(("H;", "D;")) for row in content)
    assert "second cycle" in out and "0 staged" in out and "0 exported" in out


def test_demo_flow_3_turns_signed_shop_webhooks_into_freshbooks_invoices_and_payments(out):

    sent = re.search(r"webhooks sent\s+(\d+): (\d+)× 202, 1× 401", out)
    assert sent, out  # every signed webhook accepted, the tampered one refused
    freshbooks = re.search(r"FreshBooks now\s+(\d+) invoices for (\d+) orders, (\d+) payments", out)
    invoices, orders, payments = map(int, freshbooks.groups())
    assert (invoices, orders) == (7, 8)  # one order has an unknown SKU: failed with its reason, not invoiced
    assert payments == 5  # including the one that arrived before its order
    assert "unknown SKU 'NOT-IN-CATALOG-1'" in out
    assert "arrived before document ord_2001" in out


def test_demo_flow_4_bundles_the_missing_pdfs_once(out):

    sent = re.search(
        r"BundleFunction\s+succeeded: (\d+) documents sent in (\d+) bundle\(s\), (\d+) entries without", out
    )
    assert sent, out
    assert tuple(map(int, sent.groups())) == (35, 1, 4)
    assert "not a PDF" in out  # the drop zone's HTML error page is skipped with its reason
    assert re.search(r"second run\s+0 documents sent", out)
