"""Import templates: the shipped ones load and render a sample batch; bad templates fail with clear errors."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from invoice_relay.flatfile import (
    TemplateError,
    available_templates,
    load_template,
    parse_template,
    render_import_file,
)
from invoice_relay.flatfile.catalog import TEMPLATE_DIR
from invoice_relay.models import Address, Document, ExternalRef, Line, Party

SHIPPED = ["example_legacy_fixed_width", "example_legacy_header_detail", "generic_csv", "generic_xml"]
EXAMPLE_WARNING = (
    "Example layout — check it against your accounting system's import specification before use."
)


def sample_batch() -> list[Document]:
    """An invoice (USD, sub-cent unit price), a credit note in a 0-decimal currency, and the demo's
    invoice whose service line code "ZZ" no GL map knows."""
    invoice = Document(
        number="INV-1001",
        issue_date=dt.date(2024, 5, 1),
        due_date=dt.date(2024, 5, 31),
        currency="USD",
        buyer=Party(
            name="Müller & Söhne, Inc.",
            account_number="C100",
            address=Address(city="Springfield", country="US"),
        ),
        purchase_order="PO-77",
        lines=[
            Line(
                position=1,
                item_code="FE",
                description="Fire extinguisher inspection",
                quantity="2",
                unit_price="45.50",
                tax_rate="8.25",
            ),
            Line(
                position=2,
                item_code="SP",
                description="Sprinkler head",
                quantity="1.5",
                unit_price="12.345",
                tax_rate="8.25",
            ),
        ],
        external_refs=[ExternalRef(system="servicetrade", id="9001", number="1001")],
    )
    credit_note = Document(
        kind="credit_note",
        number="CN-1002",
        issue_date=dt.date(2024, 5, 2),
        currency="JPY",
        buyer=Party(name="Tokyo KK", account_number="J200"),
        lines=[
            Line(position=1, item_code="AL", description="Alarm refund", unit_price="1500", tax_rate="10")
        ],
        external_refs=[ExternalRef(system="servicetrade", id="9002")],
    )
    unmapped = Document(
        number="INV-1003",
        issue_date=dt.date(2024, 5, 3),
        currency="USD",
        buyer=Party(name="Demo Co", account_number="D300"),
        lines=[Line(position=1, item_code="ZZ", description="Unknown service line", unit_price="10")],
    )
    return [invoice, credit_note, unmapped]


def _render(name: str, **kwargs: object):
    options: dict[str, object] = {"connector_id": "acme", "run_id": "r1", "run_date": dt.date(2024, 5, 3)}
    return render_import_file(load_template(name), sample_batch(), **{**options, **kwargs})


# --- the shipped templates -------------------------------------------------------------------------------


def test_available_templates_lists_the_shipped_ones():
    assert available_templates() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_loads_under_its_own_name_and_renders_the_sample_batch(name):
    template = load_template(name)

    result = _render(name)

    assert template.name == name
    assert result.content
    assert result.rendered[:2] == ["INV-1001", "CN-1002"]
    assert result.warnings == []


@pytest.mark.parametrize("name", ["example_legacy_fixed_width", "example_legacy_header_detail"])
def test_example_templates_say_they_are_examples(name):
    text = (TEMPLATE_DIR / f"{name}.yaml").read_text(encoding="utf-8")

    assert text.startswith(f"# {EXAMPLE_WARNING}\n")
    assert load_template(name).description.startswith(EXAMPLE_WARNING)


def test_generic_csv_passes_item_codes_through_without_a_map():
    result = _render("generic_csv")

    assert result.file_name == "generic_csv_acme_20240503_r1.csv"
    assert result.failures == []
    assert result.content.decode() == (
        "document_type,invoice_number,issue_date,due_date,customer_name,customer_account,purchase_order,"
        "currency,line_number,item_code,sku,description,quantity,unit,unit_price,discount,net_amount,tax_rate,"
        "subtotal,tax_total,total,source_system,source_id\r\n"
        'invoice,INV-1001,2024-05-01,2024-05-31,"Müller & Söhne, Inc.",C100,PO-77,USD,1,FE,,'
        "Fire extinguisher inspection,2,,45.50,0.00,91.00,8.25,109.52,9.04,118.56,servicetrade,9001\r\n"
        'invoice,INV-1001,2024-05-01,2024-05-31,"Müller & Söhne, Inc.",C100,PO-77,USD,2,SP,,'
        "Sprinkler head,1.5,,12.345,0.00,18.52,8.25,109.52,9.04,118.56,servicetrade,9001\r\n"
        "credit_note,CN-1002,2024-05-02,,Tokyo KK,J200,,JPY,1,AL,,Alarm refund,1,,1500,0,1500,10,"
        "1500,150,1650,servicetrade,9002\r\n"
        "invoice,INV-1003,2024-05-03,,Demo Co,D300,,USD,1,ZZ,,Unknown service line,1,,10.00,0.00,10.00,,"
        "10.00,0.00,10.00,,\r\n"
    )


def test_legacy_header_detail_example_writes_h_then_d_records_in_cp1252():
    result = _render("example_legacy_header_detail")

    assert result.file_name == "INVOICES_20240503_r1.txt"
    assert result.content_type == "text/plain; charset=windows-1252"
    assert result.content == (
        "H;RE;INV-1001;01.05.2024;31.05.2024;C100;Müller & Söhne, Inc.;PO-77;USD;109,52;9,04;118,56\r\n"
        "D;INV-1001;1;FE;4010;Fire extinguisher inspection;2,000;45,5000;91,00;8,25\r\n"
        "D;INV-1001;2;SP;4020;Sprinkler head;1,500;12,3450;18,52;8,25\r\n"
        "H;GS;CN-1002;02.05.2024;;J200;Tokyo KK;;JPY;-1500,00;-150,00;-1650,00\r\n"
        "D;CN-1002;1;AL;4030;Alarm refund;1,000;1500,0000;-1500,00;10,00\r\n"
    ).encode("cp1252")
    assert [(f.document_number, f.reason) for f in result.failures] == [
        ("INV-1003", "line 1: column GL_ACCOUNT: no mapping for 'ZZ' (from line.item_code)")
    ]


def test_fixed_width_example_maps_service_codes_and_fails_the_unknown_one():
    result = _render("example_legacy_fixed_width")

    assert result.rendered == ["INV-1001", "CN-1002"]
    assert [(f.document_number, f.reason) for f in result.failures] == [
        ("INV-1003", "line 1: column GL_ACCOUNT: no mapping for 'ZZ' (from line.item_code)")
    ]
    lines = result.content.decode("cp1252").split("\r\n")
    assert lines.pop() == ""
    assert [len(line) for line in lines] == [120] * 5
    assert lines == [
        "HREINV-1001       2024050120240531C100      Müller & Söhne, Inc.          USD"
        "000000001095200000000009040000000011856    ",
        "DINV-1001       00014010  FE    Fire extinguisher inspection  "
        "00000020000000000455000000000000910000825" + " " * 17,
        "DINV-1001       00024020  SP    Sprinkler head                "
        "00000015000000000123450000000000185200825" + " " * 17,
        "HGSCN-1002        20240502        J200      Tokyo KK                      JPY"
        "-000000150000-000000015000-000000165000    ",
        "DCN-1002        00014030  AL    Alarm refund                  "
        "00000010000000015000000-00000015000001000" + " " * 17,
    ]


@pytest.mark.parametrize("name", ["example_legacy_fixed_width", "example_legacy_header_detail"])
def test_example_gl_maps_know_the_service_lines_servicetrade_uses(name):
    codes = ["FE", "SPR", "FA", "KH", "BF", "EL"]
    invoice = sample_batch()[0].model_dump(exclude={"lines", "taxes", "totals"})
    lines = [{"position": n, "item_code": code, "unit_price": "10"} for n, code in enumerate(codes, start=1)]
    batch = [Document.model_validate({**invoice, "lines": lines})]

    result = render_import_file(
        load_template(name), batch, connector_id="c", run_id="r", run_date=dt.date(2024, 5, 3)
    )

    assert result.failures == []


def test_fixed_width_example_gl_map_can_come_from_the_connector():
    gl_accounts = {"FE": "7010", "SP": "7020", "AL": "7030", "ZZ": "7999"}

    result = _render("example_legacy_fixed_width", field_maps={"GL_ACCOUNT": gl_accounts})

    assert result.failures == []
    assert result.content.decode("cp1252").split("\r\n")[-2][:32] == "DINV-1003       00017999  ZZ    "


def test_generic_xml_nests_lines_under_each_invoice():
    result = _render("generic_xml")

    root = ET.fromstring(result.content)  # noqa: S314 - our own output
    assert result.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoices>\n')
    assert [(el.get("type"), el.get("number")) for el in root] == [
        ("invoice", "INV-1001"), ("credit_note", "CN-1002"), ("invoice", "INV-1003"),
    ]  # fmt: skip
    first, credit_note, _ = root
    assert first.findtext("Buyer/Name") == "Müller & Söhne, Inc."
    assert first.find("SourceRef").attrib == {"system": "servicetrade", "id": "9001"}
    assert [line.findtext("UnitPrice") for line in first.find("Lines")] == ["45.50", "12.345"]
    assert credit_note.findtext("Totals/Total") == "1650"
    assert credit_note.find("DueDate") is None


# --- loading ---------------------------------------------------------------------------------------------


def test_load_template_by_path(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nformat: csv\nrecords:\n  document:\n    - {name: n, source: document.number}\n"
    )

    assert load_template(path).name == "mine"
    assert load_template(str(path)).format == "csv"


def test_unknown_template_name_lists_the_available_ones():
    with pytest.raises(
        TemplateError, match=r"unknown import template 'nope' \(available: example_legacy_fixed"
    ):
        load_template("nope")


def test_unreadable_template_path_is_a_template_error(tmp_path: Path):
    with pytest.raises(TemplateError, match="cannot be read"):
        load_template(tmp_path / "missing.yaml")


def test_invalid_yaml_names_the_file_and_position():
    with pytest.raises(TemplateError) as caught:
        parse_template("name: x\nformat: [csv\n", origin="bad.yaml")

    assert caught.value.reason.startswith("import template bad.yaml is not valid YAML:")
    assert "bad.yaml, line 2" in caught.value.reason


def test_yaml_scalars_that_look_like_booleans_or_octals_stay_text():
    template = parse_template(
        "name: t\nformat: csv\nrecords:\n  detail:\n"
        "    - {name: gl, source: line.item_code, map: {NO: 04010, on: 0x1F, FE: 12:30}}\n"
    )

    assert template.records.detail is not None
    assert template.records.detail.columns[0].map == {"NO": "04010", "on": "0x1F", "FE": "12:30"}


BASE = "name: t\n"


@pytest.mark.parametrize(
    ("yaml_text", "problem"),
    [
        (
            "format: fixed_width\nrecords:\n  detail:\n    - {name: TEXT, source: line.description}\n",
            "detail record, column TEXT: fixed_width columns need a width",
        ),
        (
            "format: fixed_width\nheader_row: true\nrecords:\n  document:\n"
            "    - {name: N, source: document.number, width: 5}\n",
            "header_row (column names as the first line) only applies to csv/delimited, not fixed_width",
        ),
        (
            "format: csv\nrecords:\n  detail:\n    - {name: X, source: invoice.number}\n",
            "records.detail.columns[0] (X).source: unknown source 'invoice.number': a source is "
            "<root>.<field>... with root one of document, line, run",
        ),
        (
            "format: csv\nrecords:\n  detail:\n    - {name: X, source: document.buyer.nmae}\n",
            "records.detail.columns[0] (X).source: unknown field 'nmae' in source 'document.buyer.nmae' "
            "(Party has:",
        ),
        (
            "format: csv\nrecords:\n  detail:\n    - {name: X, source: document.number, widht: 3}\n",
            "records.detail.columns[0] (X).widht: Extra inputs are not permitted",
        ),
        (
            "format: csv\nrecords:\n  header:\n    - {name: P, source: line.position}\n  detail:\n"
            "    - {name: D, source: line.description}\n",
            "header record, column P: source line.position is not available in a header record (no line)",
        ),
        (
            "format: csv\nheader_row: true\nrecords:\n  header:\n    - {name: N, source: document.number}\n"
            "  detail:\n    - {name: D, source: line.description}\n",
            "header_row needs a single record type",
        ),
        (
            "format: csv\nrecords:\n  header:\n    - {name: N, source: document.number}\n",
            "records ['header'] is not a layout",
        ),
        (
            "format: fixed_width\nrecords:\n  document:\n"
            "    - {name: T, source: document.totals.total, width: 5, overflow: truncate}\n",
            "document record, column T: overflow: truncate would corrupt a decimal value; "
            "only text can be truncated",
        ),
        (
            "format: fixed_width\ndecimal: {implied: true, places: currency}\nrecords:\n  document:\n"
            "    - {name: T, source: document.totals.total, width: 9}\n",
            "decimal: implied decimals need a fixed number of places",
        ),
        (
            "format: delimited\ndelimiter: ','\ndecimal: {separator: ','}\nrecords:\n  document:\n"
            "    - {name: T, source: document.totals.total}\n",
            "document record, column T: its number separator is the delimiter ','",
        ),
        (
            "format: csv\nquote_char: null\nrecords:\n  document:\n"
            "    - {name: N, source: document.number}\n",
            "csv always quotes where needed; use format: delimited",
        ),
        (
            "format: csv\nfile_name: '{template}_{day}.csv'\nrecords:\n  document:\n"
            "    - {name: N, source: document.number}\n",
            "unknown placeholder(s) ['day']",
        ),
        (
            "format: csv\nfile_name: 'exports/{template}.csv'\nrecords:\n  document:\n"
            "    - {name: N, source: document.number}\n",
            "(no folders)",
        ),
        (
            "format: xml\nrecords:\n  document:\n    - {name: N, source: document.number}\n",
            "format xml needs an `xml:` section",
        ),
        (
            "format: fixed_width\nrecord_length: 10\nrecords:\n  document:\n"
            "    - {name: N, source: document.number, width: 8}\n",
            "document record: column widths add up to 8, record_length is 10",
        ),
        (
            "format: csv\nencoding: klingon\nrecords:\n  document:\n"
            "    - {name: N, source: document.number}\n",
            "encoding: unknown encoding 'klingon'",
        ),
        (
            "format: csv\nrecords:\n  detail:\n    - {name: N, source: document.lines}\n",
            "'lines' is a list and cannot fill one column",
        ),
        (
            "format: csv\nrecords:\n  detail:\n"
            "    - {name: N, source: line.description, sign: negate_for_credit_note}\n",
            "sign only applies to decimal/integer columns",
        ),
        (
            "format: csv\nrecords:\n  detail:\n    - {name: N, source: line.item_code, unmapped: ignore}\n",
            "unmapped must be error, keep or default:<value>, not 'ignore'",
        ),
    ],
)
def test_bad_templates_fail_at_load_time_with_a_clear_reason(yaml_text, problem):
    with pytest.raises(TemplateError) as caught:
        parse_template(BASE + yaml_text, origin="bad.yaml")

    assert caught.value.reason.startswith("import template bad.yaml is invalid:\n  - ")
    assert problem in caught.value.reason


def test_every_problem_of_a_template_is_reported_at_once():
    yaml_text = (
        "format: fixed_width\nrecords:\n  header:\n    - {name: A, source: document.number}\n"
        "  detail:\n    - {name: B, source: line.description}\n"
        "    - {name: C, source: line.net_amount, width: 3, transform: upper}\n"
    )
    with pytest.raises(TemplateError) as caught:
        parse_template(BASE + yaml_text, origin="bad.yaml")

    assert caught.value.reason.splitlines()[1:] == [
        "  - header record, column A: fixed_width columns need a width",
        "  - detail record, column B: fixed_width columns need a width",
        "  - detail record, column C: transform only applies to text columns",
    ]
