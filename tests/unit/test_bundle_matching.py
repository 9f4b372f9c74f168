"""Booking entries → their PDFs in the drop zone, by each configurable rule."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from invoice_relay.bundles.matching import (
    DropZoneObject,
    MatchRule,
    index_drop_zone,
    match_entries,
    normalised_file_name,
)

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Entry:
    id: str
    invoice_number: str | None = None
    entry_reference: str | None = None
    customer_number: str | None = None
    document_date: dt.date | None = None


def obj(key: str, *, minutes: int = 0, size: int = 1000) -> DropZoneObject:
    return DropZoneObject(
        key=key, size=size, etag=f'"{key}"', last_modified=T0 + dt.timedelta(minutes=minutes)
    )


def index_of(*objects: DropZoneObject) -> dict[str, DropZoneObject]:
    return {normalised_file_name(o.file_name): o for o in objects}


class PagedS3:
    """Just enough of an S3 client for index_drop_zone: list_objects_v2 through its paginator."""

    def __init__(self, objects: list[DropZoneObject], page_size: int):
        self.objects = objects
        self.page_size = page_size
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> PagedS3:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, **kwargs: Any):
        self.calls.append(kwargs)
        selected = [o for o in self.objects if o.key.startswith(kwargs["Prefix"])]
        for start in range(0, len(selected), self.page_size):
            yield {
                "Contents": [
                    {"Key": o.key, "Size": o.size, "ETag": o.etag, "LastModified": o.last_modified}
                    for o in selected[start : start + self.page_size]
                ]
            }
        if not selected:
            yield {"KeyCount": 0}


# ---------------------------------------------------------------------------------------- index


def test_index_reads_every_page_and_keys_by_normalised_file_name() -> None:
    objects = [obj(f"documents/acme/{n}.pdf") for n in range(2500)]
    objects += [obj("documents/acme/2026/11/INV-9.PDF"), obj("documents/acme/folder/")]
    objects += [obj("documents/other/1.pdf")]
    s3 = PagedS3(objects, page_size=1000)

    index = index_drop_zone(s3, "bucket", "documents/acme/")

    assert s3.calls == [{"Bucket": "bucket", "Prefix": "documents/acme/"}]
    assert len(index) == 2501  # the folder marker and the other connector's file are not in it
    assert index["2499.pdf"].key == "documents/acme/2499.pdf"
    assert index["inv-9.pdf"].key == "documents/acme/2026/11/INV-9.PDF"


def test_index_of_an_empty_drop_zone_is_empty() -> None:
    assert index_drop_zone(PagedS3([], page_size=10), "bucket", "documents/acme/") == {}


def test_the_same_name_twice_keeps_the_newest_file() -> None:
    s3 = PagedS3(
        [
            obj("documents/acme/new/1042.pdf", minutes=5),
            obj("documents/acme/old/1042.PDF", minutes=1),
            obj("documents/acme/x/7.pdf", minutes=1),
            obj("documents/acme/y/7.pdf", minutes=9),
        ],
        page_size=1,
    )
    index = index_drop_zone(s3, "bucket", "documents/acme/")
    assert index["1042.pdf"].key == "documents/acme/new/1042.pdf"
    assert index["7.pdf"].key == "documents/acme/y/7.pdf"


def test_unicode_forms_and_case_compare_equal() -> None:
    composed, decomposed = "Fa\u00e7ture-1.pdf", "Fac\u0327ture-1.PDF"
    assert normalised_file_name(composed) == normalised_file_name(decomposed)


# ---------------------------------------------------------------------------------------- rules


def test_by_invoice_number_matches_the_file_stem_ignoring_case() -> None:
    index = index_of(
        obj("documents/acme/1042.pdf"), obj("documents/acme/ab-7.PDF"), obj("documents/acme/9.txt")
    )
    entries = [Entry("be_1", invoice_number="1042"), Entry("be_2", invoice_number="AB-7"), Entry("be_3", "9")]

    matched, missing = match_entries(entries, index, MatchRule())

    assert [(e.id, o.key) for e, o in matched] == [
        ("be_1", "documents/acme/1042.pdf"),
        ("be_2", "documents/acme/ab-7.PDF"),
    ]
    assert missing == [entries[2]]  # 9.txt is not a PDF name


def test_by_invoice_number_with_a_prefix() -> None:
    index = index_of(obj("d/INV-1042.pdf"), obj("d/1043.pdf"))
    rule = MatchRule(rule="by_invoice_number", prefix="INV-")
    matched, missing = match_entries([Entry("a", "1042"), Entry("b", "1043")], index, rule)
    assert [o.key for _, o in matched] == ["d/INV-1042.pdf"]
    assert [e.id for e in missing] == ["b"]


def test_by_entry_reference() -> None:
    index = index_of(obj("d/BE-2026-0001.pdf"), obj("d/1042.pdf"))
    rule = MatchRule(rule="by_entry_reference")
    entries = [Entry("a", invoice_number="1042", entry_reference="be-2026-0001"), Entry("b", "1042")]
    matched, missing = match_entries(entries, index, rule)
    assert [(e.id, o.key) for e, o in matched] == [("a", "d/BE-2026-0001.pdf")]
    assert [e.id for e in missing] == ["b"]  # no entry reference: nothing to look for


def test_by_pattern_with_every_placeholder() -> None:
    index = index_of(obj("d/C-19_1042_BE7_20261120.pdf"), obj("d/C-19_1043_BE8_20261121.pdf"))
    rule = MatchRule(
        rule="by_pattern",
        pattern="{customer_number}_{invoice_number}_{entry_reference}_{document_date:%Y%m%d}.pdf",
    )
    entries = [
        Entry("a", "1042", "be7", "c-19", dt.date(2026, 11, 20)),
        Entry("b", "1043", "BE8", "C-19", dt.date(2026, 11, 22)),  # date differs from the file's
        Entry("c", "1044", "BE9", None, dt.date(2026, 11, 20)),  # no customer number
    ]
    matched, missing = match_entries(entries, index, rule)
    assert [(e.id, o.key) for e, o in matched] == [("a", "d/C-19_1042_BE7_20261120.pdf")]
    assert [e.id for e in missing] == ["b", "c"]


def test_by_pattern_wildcards_pick_the_newest_fitting_file() -> None:
    index = index_of(
        obj("d/1042_scan_a.pdf", minutes=1),
        obj("d/1042_scan_b.pdf", minutes=7),
        obj("d/10420_scan.pdf", minutes=9),  # a different invoice: must not match 1042_*
        obj("d/1043.pdf"),
    )
    rule = MatchRule(rule="by_pattern", pattern="{invoice_number}_*.pdf")
    matched, missing = match_entries([Entry("a", "1042"), Entry("b", "1043")], index, rule)
    assert [(e.id, o.key) for e, o in matched] == [("a", "d/1042_scan_b.pdf")]
    assert [e.id for e in missing] == ["b"]


def test_wildcard_characters_inside_values_are_literal() -> None:
    index = index_of(obj("d/1042.pdf"), obj("d/10*2.pdf"))
    rule = MatchRule(rule="by_pattern", pattern="{invoice_number}.pdf")
    matched, _ = match_entries([Entry("a", "10*2"), Entry("b", "10?2")], index, rule)
    assert [(e.id, o.key) for e, o in matched] == [("a", "d/10*2.pdf")]


def test_a_pattern_with_a_wildcard_and_a_star_in_the_value() -> None:
    index = index_of(obj("d/A*1_x.pdf"), obj("d/AB1_x.pdf"))
    rule = MatchRule(rule="by_pattern", pattern="{invoice_number}_?.pdf")
    matched, _ = match_entries([Entry("a", "A*1")], index, rule)
    assert [o.key for _, o in matched] == ["d/A*1_x.pdf"]


def test_several_entries_may_share_one_pdf() -> None:
    index = index_of(obj("d/1042.pdf"))
    matched, missing = match_entries([Entry("a", "1042"), Entry("b", " 1042 ")], index, MatchRule())
    assert [e.id for e, _ in matched] == ["a", "b"]
    assert missing == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rule": "by_pattern"}, "needs a pattern"),
        ({"rule": "by_pattern", "pattern": "invoice.pdf"}, "no placeholder"),
        ({"rule": "by_pattern", "pattern": "{amount}.pdf"}, "unknown placeholder"),
        ({"rule": "by_pattern", "pattern": "{invoice_number.__class__}.pdf"}, "unknown placeholder"),
        ({"rule": "by_pattern", "pattern": "{invoice_number!r}.pdf"}, "conversions"),
        ({"rule": "by_pattern", "pattern": "x/{invoice_number}.pdf"}, "cannot contain"),
        ({"rule": "by_pattern", "pattern": "{invoice_number:%Y}.pdf"}, "pattern"),
        ({"rule": "by_invoice_number", "prefix": "../"}, "cannot contain"),
        ({"rule": "by_name"}, "rule"),
    ],
)
def test_invalid_rules_are_refused_when_loaded(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MatchRule.model_validate(settings)


def test_rule_loads_from_the_connector_configuration_shape() -> None:
    rule = MatchRule.model_validate({"rule": "by_invoice_number", "prefix": "INV-", "pattern": None})
    assert rule.expected_name(Entry("a", "1042")) == "inv-1042.pdf"
