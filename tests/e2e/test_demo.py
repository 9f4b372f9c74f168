"""The demo scenario, end to end: what `make demo` shows a new user is what actually happened."""

from __future__ import annotations

import re

import pytest

from local import demo

pytestmark = pytest.mark.e2e


def test_demo_moves_invoices_into_an_import_file_and_writes_every_outcome_back(capsys):
    assert demo.main() == 0
    out = capsys.readouterr().out

    counts = re.search(r"processed: (\d+)\s+failed: (\d+)\s+still pending: (\d+)", out)
    assert counts, out
    processed, failed, pending = map(int, counts.groups())
    assert (failed, pending) == (3, 0)
    assert processed >= 40
    assert "has no customer" in out
    assert "is not a date" in out
    assert "no mapping for 'ZZ'" in out

    local_copy = re.search(r"local copy\s+(\S+)", out).group(1)
    content = (demo.REPO / local_copy).read_bytes()
    assert content  # the import file was copied out of the embedded S3
    assert "second cycle" in out and "0 staged" in out and "0 exported" in out
