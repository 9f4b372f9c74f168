"""Zip entry names from customer file names: never a path, never hidden, never a duplicate."""

from __future__ import annotations

import re

import pytest

from invoice_relay.bundles.naming import MAX_NAME_LENGTH, safe_member_name

SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def assert_safe(name: str) -> None:
    assert SAFE.fullmatch(name), name
    assert ".." not in name
    assert 0 < len(name) <= MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/abs.pdf", "abs.pdf"),
        ("C:\\x\\y.pdf", "y.pdf"),
        ("C:y.pdf", "y.pdf"),
        ("a/b/c.pdf", "c.pdf"),
        ("documents/acme/INV-1042.pdf", "INV-1042.pdf"),
        ("..\\..\\boot.ini.pdf", "boot.ini.pdf"),
        ("Rechnung Nr. 1042 (Kopie).pdf", "Rechnung_Nr._1042_Kopie.pdf"),
        ("Façture_été_№5.pdf", "Facture_ete_No5.pdf"),
        ("請求書.pdf", "document.pdf"),
        ("", "document"),
        ("..", "document"),
        (".pdf", "document.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("-rf.pdf", "rf.pdf"),
        ("a..b...pdf", "a.b.pdf"),
        ("invoice.", "invoice"),
        ("CON.pdf", "CON_.pdf"),
        ("nul.tar.pdf", "nul_.tar.pdf"),
        ("tab\there\nnewline.pdf", "tab_here_newline.pdf"),
        ("1042.PDF", "1042.PDF"),
    ],
)
def test_hostile_names_become_safe_file_names(hostile: str, expected: str) -> None:
    name = safe_member_name(hostile, set())
    assert name == expected
    assert_safe(name)


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = safe_member_name("x" * 500 + ".pdf", set())
    assert len(name) == MAX_NAME_LENGTH
    assert name.endswith("x.pdf")
    assert_safe(name)


def test_duplicates_get_numbered_suffixes_ignoring_case() -> None:
    taken: set[str] = set()
    names = [
        safe_member_name(name, taken)
        for name in ["a/1042.pdf", "b/1042.pdf", "1042.PDF", "c\\1042.pdf", "1042-2.pdf"]
    ]
    assert names == ["1042.pdf", "1042-2.pdf", "1042-3.PDF", "1042-4.pdf", "1042-2-2.pdf"]
    assert len({n.casefold() for n in names}) == len(names)
    assert taken == {n.casefold() for n in names}


def test_duplicates_of_long_names_stay_within_the_limit() -> None:
    taken: set[str] = set()
    names = [safe_member_name("y" * 500 + ".pdf", taken) for _ in range(12)]
    assert len(set(names)) == 12
    assert all(len(n) <= MAX_NAME_LENGTH and n.endswith(".pdf") for n in names)
    assert names[11].endswith("-12.pdf")


def test_a_reserved_name_in_taken_is_not_reused() -> None:
    assert safe_member_name("Metadata.JSON", {"metadata.json"}) == "Metadata-2.JSON"


def test_empty_and_unicode_only_names_are_unique_too() -> None:
    taken: set[str] = set()
    assert [safe_member_name(n, taken) for n in ["", "請求書", "///", "..."]] == [
        "document",
        "document-2",
        "document-3",
        "document-4",
    ]


def test_a_long_extension_is_not_an_extension() -> None:
    name = safe_member_name("report." + "z" * 40, set())
    assert name == "report." + "z" * 40
    assert_safe(name)
