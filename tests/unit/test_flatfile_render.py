"""Rendering import files: exact output per format and the output-safety rules, on small inline templates."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET

import pytest

from invoice_relay.errors import ConfigurationError, RenderError
from invoice_relay.flatfile import (
    ImportTemplate,
    RenderFailure,
    parse_template,
    render_document,
    render_import_file,
)
from invoice_relay.models import Address, Document, ExternalRef, Line, Party

RUN_DATE = dt.date(2024, 5, 3)


def _line(position: int = 1, **fields: object) -> Line:
    values: dict[str, object] = {"description": "Service", "item_code": "FE", "unit_price": "100"}
    return Line(position=position, **{**values, **fields})


def _document(number: str = "INV-1", *, lines: list[Line] | None = None, **fields: object) -> Document:
    values: dict[str, object] = {
        "issue_date": dt.date(2024, 5, 1),
        "currency": "USD",
        "buyer": Party(name="Acme Corp", account_number="C100"),
    }
    return Document(number=number, lines=lines or [_line()], **{**values, **fields})


def _template(yaml_text: str) -> ImportTemplate:
    return parse_template(yaml_text, origin="test.yaml")


def _render(template: ImportTemplate, documents: list[Document], **kwargs: object):
    options: dict[str, object] = {"connector_id": "conn-1", "run_id": "run-1", "run_date": RUN_DATE}
    return render_import_file(template, documents, **{**options, **kwargs})


CSV = """
name: t
format: csv
header_row: true
records:
  detail:
    - {name: number, source: document.number}
    - {name: date, source: document.issue_date}
    - {name: description, source: line.description}
    - {name: net, source: line.net_amount}
"""


# --- csv -------------------------------------------------------------------------------------------------


def test_csv_exact_bytes_header_row_crlf_and_quoting():
    doc = _document(lines=[_line(1, description='Pump, "big"', unit_price="12.5"), _line(2, unit_price="-3")])

    result = _render(_template(CSV), [doc])

    assert result.content == (
        b"number,date,description,net\r\n"
        b'INV-1,2024-05-01,"Pump, ""big""",12.50\r\n'
        b"INV-1,2024-05-01,Service,-3.00\r\n"
    )
    assert result.content_type == "text/csv; charset=UTF-8"
    assert result.rendered == ["INV-1"]
    assert result.failures == []


@pytest.mark.parametrize(
    "description",
    ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A9)", "-2+3+cmd|' /C calc'!A0"],
)
def test_csv_cells_that_start_a_formula_are_neutralised_but_negative_amounts_stay_numbers(description):
    doc = _document(lines=[_line(description=description, unit_price="-2")])

    result = _render(_template(CSV), [doc])

    rows = list(csv.reader(io.StringIO(result.content.decode(), newline="")))
    assert rows[1][2] == "'" + description
    assert rows[1][3] == "-2.00"


@pytest.mark.parametrize("mapped", ["\t=1+1", "\r=1+1"])
def test_csv_cells_starting_with_tab_or_cr_are_neutralised(mapped):
    # The models strip whitespace, so these can only come from a template constant or a map.
    template = _template(CSV.replace("source: line.description}", "source: line.item_code, map: {FE: x}}"))

    result = _render(template, [_document()], field_maps={"description": {"FE": mapped}})

    rows = list(csv.reader(io.StringIO(result.content.decode(), newline="")))
    assert rows[1][2] == "'" + mapped


def test_csv_delimiter_quote_and_newline_inside_text_round_trip():
    text = 'a,b;"c"\r\nnext line'
    result = _render(_template(CSV), [_document(lines=[_line(description=text)])])

    rows = list(csv.reader(io.StringIO(result.content.decode(), newline="")))
    assert rows[1][2] == text
    assert len(rows) == 2


def test_csv_empty_batch_is_just_the_header_row():
    result = _render(_template(CSV), [])

    assert result.content == b"number,date,description,net\r\n"
    assert result.rendered == [] and result.failures == []


def test_csv_max_length_fails_the_document_unless_truncation_is_explicit():
    template = _template(CSV.replace("source: line.description}", "source: line.description, max_length: 5}"))
    truncating = _template(
        CSV.replace(
            "source: line.description}", "source: line.description, max_length: 5, overflow: truncate}"
        )
    )
    doc = _document(lines=[_line(description="Service call")])

    failed = _render(template, [doc])
    truncated = _render(truncating, [doc])

    assert failed.failures == [
        RenderFailure(
            "INV-1", "line 1: column description: value 'Service call' is 12 characters, longer than its 5"
        )
    ]
    assert b",Servi," in truncated.content
    assert truncated.warnings == ["INV-1: column description: 'Service call' truncated to 5 characters"]


# --- delimited -------------------------------------------------------------------------------------------

LEGACY = """
name: legacy
format: delimited
encoding: cp1252
delimiter: ";"
date_format: "%d.%m.%Y"
decimal: {separator: ",", places: 2}
records:
  header:
    - {name: RT, value: H}
    - {name: NUMBER, source: document.number}
    - {name: DATE, source: document.issue_date}
    - {name: CUSTOMER, source: document.buyer.name}
    - {name: TOTAL, source: document.totals.total, sign: negate_for_credit_note}
  detail:
    - {name: RT, value: D}
    - {name: POS, source: line.position}
    - {name: TEXT, source: line.description}
    - {name: NET, source: line.net_amount, sign: negate_for_credit_note}
"""


def test_delimited_exact_bytes_header_then_its_details_per_document():
    invoice = _document("INV-1", lines=[_line(1, unit_price="1234.5"), _line(2, description="Müller-Öl")])
    credit = _document("CN-1", kind="credit_note", currency="JPY", lines=[_line(1, unit_price="1500")])

    result = _render(_template(LEGACY), [invoice, credit])

    assert result.content == (
        "H;INV-1;01.05.2024;Acme Corp;1334,50\r\n"
        "D;1;Service;1234,50\r\n"
        "D;2;Müller-Öl;100,00\r\n"
        "H;CN-1;01.05.2024;Acme Corp;-1500,00\r\n"
        "D;1;Service;-1500,00\r\n"
    ).encode("cp1252")
    assert result.content_type == "text/plain; charset=windows-1252"
    assert result.rendered == ["INV-1", "CN-1"]


@pytest.mark.parametrize(
    ("description", "reason"),
    [
        ("Pipes; fittings", "contains the delimiter ';', which this format cannot quote"),
        ("two\nlines", "contains a line break"),
    ],
)
def test_delimited_without_quoting_fails_a_value_it_cannot_hold_and_keeps_the_others(description, reason):
    bad = _document("INV-BAD", lines=[_line(1), _line(2, description=description)])

    result = _render(_template(LEGACY), [_document("INV-1"), bad, _document("INV-2")])

    assert result.rendered == ["INV-1", "INV-2"]
    assert [f.document_number for f in result.failures] == ["INV-BAD"]
    assert result.failures[0].reason.startswith("line 2: column TEXT: value ")
    assert reason in result.failures[0].reason
    assert b"INV-BAD" not in result.content  # no partial rows: not even its header record


def test_delimited_with_quote_char_encloses_text_columns_only():
    template = _template(LEGACY.replace('delimiter: ";"', 'delimiter: ";"\nquote_char: \'"\''))

    result = _render(template, [_document(lines=[_line(description="Pipes; fittings")])])

    assert result.content.decode("cp1252").splitlines() == [
        '"H";"INV-1";01.05.2024;"Acme Corp";100,00',
        '"D";1;"Pipes; fittings";100,00',
    ]


def test_character_the_encoding_cannot_hold_fails_that_document():
    bad = _document("INV-BAD", buyer=Party(name="Ωmega GmbH"))

    result = _render(_template(LEGACY), [bad, _document("INV-1")])

    assert result.rendered == ["INV-1"]
    assert result.failures == [
        RenderFailure(
            "INV-BAD", "column CUSTOMER: character 'Ω' (U+03A9) in 'Ωmega GmbH' cannot be written in cp1252"
        )
    ]


def test_unencodable_characters_are_replaced_only_when_the_template_says_so():
    template = _template(LEGACY.replace("encoding: cp1252", "encoding: cp1252\non_unencodable: replace"))

    result = _render(template, [_document(buyer=Party(name="Ωmega GmbH"))])

    assert result.content.startswith(b"H;INV-1;01.05.2024;?mega GmbH;")
    assert result.warnings == [
        "INV-1: column CUSTOMER: characters cp1252 cannot hold were replaced in 'Ωmega GmbH'"
    ]


# --- fixed width -----------------------------------------------------------------------------------------

FIXED = """
name: fixed
format: fixed_width
date_format: "%y%m%d"
decimal: {places: 2, implied: true}
records:
  header:
    - {name: RT, value: H, width: 1}
    - {name: NUMBER, source: document.number, width: 8}
    - {name: DATE, source: document.issue_date, width: 6}
    - {name: CUSTOMER, source: document.buyer.name, width: 10}
    - {name: TOTAL, source: document.totals.total, width: 9, pad: "0", sign: negate_for_credit_note}
  detail:
    - {name: RT, value: D, width: 1}
    - {name: POS, source: line.position, width: 3, pad: "0"}
    - {name: TEXT, source: line.description, width: 12}
    - {name: QTY, source: line.quantity, width: 6, format: {places: 3, implied: false, separator: ","}}
    - {name: NET, source: line.net_amount, width: 9, pad: "0", sign: negate_for_credit_note}
    - {name: NOTE, source: line.unit, width: 4}
"""


def test_fixed_width_exact_bytes_padding_alignment_and_implied_decimals():
    invoice = _document("INV-1", lines=[_line(1, quantity="2", unit_price="12.34"), _line(2, quantity="0.5")])
    credit = _document("CN-7", kind="credit_note", lines=[_line(1, description="Refund", unit="h")])

    result = _render(_template(FIXED), [invoice, credit])

    assert result.content == (
        b"HINV-1   240501Acme Corp 000007468\r\n"
        b"D001Service      2,000000002468    \r\n"
        b"D002Service      0,500000005000    \r\n"
        b"HCN-7    240501Acme Corp -00010000\r\n"
        b"D001Refund       1,000-00010000h   \r\n"
    )
    widths = {"H": 1 + 8 + 6 + 10 + 9, "D": 1 + 3 + 12 + 6 + 9 + 4}
    for line in result.content.split(b"\r\n")[:-1]:
        assert len(line) == widths[chr(line[0])]


def test_fixed_width_overflow_fails_naming_column_value_and_width():
    doc = _document("INV-1", buyer=Party(name="Very Long Customer Name"))

    result = _render(_template(FIXED), [doc, _document("INV-2")])

    assert result.rendered == ["INV-2"]
    assert result.failures == [
        RenderFailure(
            "INV-1",
            "column CUSTOMER: value 'Very Long Customer Name' is 23 characters, wider than its width 10",
        )
    ]


def test_fixed_width_truncates_only_when_the_column_says_so():
    template = _template(FIXED.replace("width: 10}", "width: 10, overflow: truncate}"))

    result = _render(template, [_document(buyer=Party(name="Very Long Customer Name"))])

    assert result.content.startswith(b"HINV-1   240501Very Long 000010000\r\n")
    assert result.warnings == ["INV-1: column CUSTOMER: 'Very Long Customer Name' truncated to 10 characters"]


def test_fixed_width_amount_too_wide_is_never_truncated():
    result = _render(_template(FIXED), [_document(lines=[_line(unit_price="12345678.90")])])

    assert result.failures[0].reason == (
        "column TOTAL: value '1234567890' is 10 characters, wider than its width 9"
    )


def test_fixed_width_line_break_in_a_value_fails_the_document():
    result = _render(_template(FIXED), [_document(lines=[_line(description="a\nb")])])

    assert result.failures[0].reason.startswith("line 1: column TEXT: value 'a\\nb' contains a line break")


def test_fixed_width_empty_batch_is_an_empty_file():
    result = _render(_template(FIXED), [])

    assert result.content == b""
    assert result.file_name == "fixed_20240503_run-1.txt"


# --- maps, required values, field_maps -------------------------------------------------------------------

MAPPED = """
name: mapped
format: csv
records:
  detail:
    - {name: NUMBER, source: document.number}
    - {name: GL_ACCOUNT, source: line.item_code, map: {FE: "4010", SP: "4020"}}
"""


def test_unmapped_value_fails_only_that_document_with_a_clear_reason():
    bad = _document("INV-BAD", lines=[_line(1, item_code="SP"), _line(2, item_code="ZZ")])

    result = _render(
        _template(MAPPED), [_document("INV-1"), bad, _document("INV-2", lines=[_line(item_code="SP")])]
    )

    assert result.content == b"INV-1,4010\r\nINV-2,4020\r\n"
    assert result.rendered == ["INV-1", "INV-2"]
    assert result.failures == [
        RenderFailure("INV-BAD", "line 2: column GL_ACCOUNT: no mapping for 'ZZ' (from line.item_code)")
    ]


@pytest.mark.parametrize(
    ("policy", "expected"), [("keep", b"INV-1,ZZ\r\n"), ("'default:9999'", b"INV-1,9999\r\n")]
)
def test_unmapped_keep_or_default(policy, expected):
    template = _template(MAPPED.replace('SP: "4020"}', f'SP: "4020"}}, unmapped: {policy}'))

    assert _render(template, [_document(lines=[_line(item_code="ZZ")])]).content == expected


def test_field_maps_from_the_connector_replace_the_template_map():
    doc = _document(lines=[_line(1, item_code="ZZ"), _line(2, item_code="FE")])

    result = _render(_template(MAPPED), [doc], field_maps={"GL_ACCOUNT": {"ZZ": 7000, "FE": "7010"}})

    assert result.content == b"INV-1,7000\r\nINV-1,7010\r\n"


def test_field_maps_for_a_column_the_template_lacks_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match=r"field_maps name column\(s\) \['GL'\]"):
        _render(_template(MAPPED), [_document()], field_maps={"GL": {"FE": "1"}})


def test_map_keys_match_numbers_in_their_plain_form():
    template = _template(MAPPED.replace("source: line.item_code, map: {FE: \"4010\", SP: \"4020\"}",
                                       "source: line.tax_rate, map: {8.25: V1, 19: V2}"))  # fmt: skip
    docs = [_document("A", lines=[_line(tax_rate="8.250")]), _document("B", lines=[_line(tax_rate="19.00")])]

    assert _render(template, docs).content == b"A,V1\r\nB,V2\r\n"


def test_missing_required_value_fails_the_document_naming_column_and_source():
    template = _template(
        CSV.replace("source: document.number}", "source: document.buyer.account_number, required: true}")
    )
    anonymous = _document("INV-2", buyer=Party(name="Walk-in"))

    result = _render(template, [anonymous, _document("INV-3")])

    assert result.rendered == ["INV-3"]
    assert result.failures == [
        RenderFailure(
            "INV-2", "line 1: column number: required value missing (document.buyer.account_number)"
        )
    ]


def test_default_fills_an_empty_value():
    template = _template(
        CSV.replace("source: document.number}", "source: document.purchase_order, default: NONE}")
    )

    assert b"\r\nNONE,2024-05-01," in _render(template, [_document()]).content


# --- numbers and dates -----------------------------------------------------------------------------------

AMOUNTS = """
name: amounts
format: csv
delimiter: ";"
decimal: {places: currency}
records:
  document:
    - {name: total, source: document.totals.total, sign: negate_for_credit_note}
"""


@pytest.mark.parametrize(
    ("decimal", "currency", "kind", "price", "expected"),
    [
        ("{places: currency}", "USD", "invoice", "1234.5", "1234.50"),
        ("{places: currency}", "JPY", "invoice", "1500", "1500"),
        ("{places: currency}", "BHD", "invoice", "1.5", "1.500"),
        ("{places: currency}", "JPY", "credit_note", "1500", "-1500"),
        ("{places: 2}", "JPY", "invoice", "1500", "1500.00"),
        ("{places: 2, separator: ',', thousands: '.'}", "EUR", "invoice", "1234567.8", "1.234.567,80"),
        ("{places: 2, negative: trailing}", "EUR", "credit_note", "12", "12.00-"),
        ("{places: 2, negative: parentheses}", "EUR", "credit_note", "12", "(12.00)"),
        ("{places: 2, implied: true}", "EUR", "invoice", "0.05", "5"),
        ("{places: auto}", "EUR", "invoice", "100", "100"),
    ],
)
def test_number_formats(decimal, currency, kind, price, expected):
    template = _template(AMOUNTS.replace("{places: currency}", decimal))
    doc = _document(currency=currency, kind=kind, lines=[_line(unit_price=price)])

    assert _render(template, [doc]).content == f"{expected}\r\n".encode()


UNIT_PRICES = """
name: prices
format: csv
decimal: {places: currency, rounding: ROUNDING}
records:
  detail:
    - {name: price, source: line.unit_price}
"""


def test_more_digits_than_places_fail_unless_rounding_or_extending_is_explicit():
    template = _template(UNIT_PRICES.replace("ROUNDING", "error"))
    rounding = _template(UNIT_PRICES.replace("ROUNDING", "half_up"))
    extending = _template(UNIT_PRICES.replace("ROUNDING", "extend"))
    doc = _document(lines=[_line(unit_price="12.345")])

    assert _render(template, [doc]).failures[0].reason == (
        "line 1: column price: 12.345 has more than 2 decimal places "
        "(format.rounding: half_up rounds, extend keeps them)"
    )
    assert _render(rounding, [doc]).content == b"12.35\r\n"
    assert _render(extending, [doc]).content == b"12.345\r\n"
    assert _render(extending, [_document(lines=[_line(unit_price="12.3")])]).content == b"12.30\r\n"


def test_integer_column_refuses_a_fraction():
    template = _template(AMOUNTS.replace("sign: negate_for_credit_note}", "type: integer}"))

    assert _render(template, [_document(lines=[_line(unit_price="1.5")])]).failures[0].reason == (
        "column total: 1.50 is not a whole number"
    )


def test_column_date_format_overrides_the_template():
    template = _template(
        CSV.replace(
            "source: document.issue_date}", "source: document.issue_date, format: {date_format: '%d/%m/%y'}}"
        )
    )

    assert b"INV-1,01/05/24,Service" in _render(template, [_document()]).content


# --- xml -------------------------------------------------------------------------------------------------

XML = """
name: x
format: xml
xml: {root: Invoices, document_element: Invoice, lines_container: Lines, line_element: Line}
records:
  header:
    - {name: number, source: document.number, attribute: true}
    - {name: Buyer/Name, source: document.buyer.name}
    - {name: Buyer/Address/City, source: document.buyer.address.city}
    - {name: Total, source: document.totals.total}
    - {name: Source, source: document.ref.servicetrade.id}
  detail:
    - {name: no, source: line.position, attribute: true}
    - {name: Text, source: line.description}
"""


def test_xml_exact_bytes_nesting_and_omitted_empty_values():
    doc = _document(
        buyer=Party(name="Acme", address=Address(city="Köln")),
        lines=[_line(1), _line(2, description="Parts")],
        external_refs=[ExternalRef(system="servicetrade", id="42")],
    )

    result = _render(_template(XML), [doc, _document("INV-2")])

    expected = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Invoices>\n"
        '  <Invoice number="INV-1">\n'
        "    <Buyer>\n"
        "      <Name>Acme</Name>\n"
        "      <Address>\n"
        "        <City>Köln</City>\n"
        "      </Address>\n"
        "    </Buyer>\n"
        "    <Total>200.00</Total>\n"
        "    <Source>42</Source>\n"
        "    <Lines>\n"
        '      <Line no="1">\n'
        "        <Text>Service</Text>\n"
        "      </Line>\n"
        '      <Line no="2">\n'
        "        <Text>Parts</Text>\n"
        "      </Line>\n"
        "    </Lines>\n"
        "  </Invoice>\n"
        '  <Invoice number="INV-2">\n'
        "    <Buyer>\n"
        "      <Name>Acme Corp</Name>\n"
        "    </Buyer>\n"
        "    <Total>100.00</Total>\n"
        "    <Lines>\n"
        '      <Line no="1">\n'
        "        <Text>Service</Text>\n"
        "      </Line>\n"
        "    </Lines>\n"
        "  </Invoice>\n"
        "</Invoices>\n"
    )
    assert result.content == expected.encode()
    assert result.content_type == "application/xml; charset=UTF-8"


def test_xml_escapes_markup_in_text_and_attributes():
    nasty = '<b>Tom & "Jerry\'s"</b>'
    doc = _document(number="A&B<1>\"'", buyer=Party(name=nasty), lines=[_line(description=nasty)])

    result = _render(_template(XML), [doc])

    assert b'<Name>&lt;b&gt;Tom &amp; "Jerry\'s"&lt;/b&gt;</Name>' in result.content
    assert b'number="A&amp;B&lt;1&gt;&quot;\'"' in result.content
    invoice = ET.fromstring(result.content).find("Invoice")  # noqa: S314 - our own output
    assert invoice is not None
    assert invoice.get("number") == "A&B<1>\"'"
    assert invoice.findtext("Buyer/Name") == nasty
    assert invoice.findtext("Lines/Line/Text") == nasty


def test_xml_strips_characters_xml_1_0_forbids_and_says_so():
    doc = _document(lines=[_line(description="bell\x07 and null\x00 tab\tok")])

    result = _render(_template(XML), [doc])

    assert b"<Text>bell and null tab\tok</Text>" in result.content
    assert result.warnings == [
        "INV-1: column Text: removed 2 character(s) XML 1.0 does not allow (U+0000, U+0007)"
    ]
    ET.fromstring(result.content)  # noqa: S314 - well-formed


def test_xml_can_refuse_illegal_characters_instead():
    template = _template(XML.replace("line_element: Line}", "line_element: Line, illegal_characters: error}"))

    result = _render(template, [_document(lines=[_line(description="x\x1by")])])

    assert result.failures[0].reason == (
        "line 1: column Text: value 'x\\x1by' contains characters XML 1.0 does not allow (U+001B)"
    )


def test_xml_in_a_legacy_encoding_writes_missing_characters_as_references():
    template = _template(XML.replace("format: xml", "format: xml\nencoding: cp1252"))

    result = _render(template, [_document(buyer=Party(name="Ωmega Müller"))])

    assert result.content.startswith(b'<?xml version="1.0" encoding="windows-1252"?>\n')
    assert b"<Name>&#937;mega M\xfcller</Name>" in result.content
    assert ET.fromstring(result.content).findtext("Invoice/Buyer/Name") == "Ωmega Müller"  # noqa: S314


def test_xml_empty_batch_is_an_empty_root_element():
    assert _render(_template(XML), []).content == b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoices />\n'


def test_xml_detail_only_layout_puts_lines_under_the_root():
    template = _template(
        XML.replace("lines_container: Lines, ", "").replace("  header:", "  _x:").split("  _x:")[0]
        + "  detail:\n    - {name: invoice, source: document.number, attribute: true}\n"
        "    - {name: Text, source: line.description}\n"
    )
    result = _render(template, [_document(lines=[_line(1), _line(2)])])

    root = ET.fromstring(result.content)  # noqa: S314
    assert [(el.tag, el.get("invoice")) for el in root] == [("Line", "INV-1"), ("Line", "INV-1")]


# --- file name, preview, whole-file errors ---------------------------------------------------------------


def test_file_name_pattern_fills_placeholders_and_sanitises_ids():
    template = _template(
        CSV.replace(
            "format: csv", "format: csv\nfile_name: '{template}-{connector}-{run_id}-{run_date:%Y%m%d}.csv'"
        )
    )

    result = _render(template, [], connector_id="acme/../prod", run_id="2024-05-03T10:00:00Z")

    assert result.file_name == "t-acme_.._prod-2024-05-03T10_00_00Z-20240503.csv"


def test_render_document_previews_one_document_or_raises():
    template = _template(MAPPED)

    assert render_document(template, _document()) == "INV-1,4010\r\n"
    with pytest.raises(RenderError, match="no mapping for 'ZZ'"):
        render_document(template, _document(lines=[_line(item_code="ZZ")]))


def test_run_fields_and_line_count_are_sources_too():
    template = _template(
        "name: t\nformat: csv\nrecords:\n  document:\n"
        "    - {name: connector, source: run.connector_id}\n"
        "    - {name: run, source: run.id}\n"
        "    - {name: date, source: run.date, format: {date_format: '%Y%m%d'}}\n"
        "    - {name: lines, source: document.line_count}\n"
    )

    result = _render(template, [_document(lines=[_line(1), _line(2)])])

    assert result.content == b"conn-1,run-1,20240503,2\r\n"
