"""Canonical business documents: one vocabulary between all adapters.

Every adapter maps partner JSON to and from these models in one place (its own module) and nowhere else.
Money is `Decimal`; see `money.py` for the rounding rule and the bounds every amount, quantity and rate
keeps (finite, below 10^15, at most 6 decimal places). A `Document` validates its totals against its
lines when it is built, so a document that reaches a target is arithmetically consistent.

Signs, said once for every adapter: amounts are written as the issuer wrote them on the document, so a
credit note's lines, taxes and totals are **positive** and its `kind` (`credit_note`) says which way the
money goes. A source that writes credits as negative invoices turns them into credit notes
with positive amounts; a target that wants negative amounts (a refund bill) negates them itself. A credit
note names the invoice it corrects in `credited_invoice` (that invoice's number, as the issuer shows it)
when the source knows it.

Parties on a trade network carry their TradeNet ID as an external ref of system `TNID`
(`ExternalRef(system=TNID, id="100101")`): the network's id of a company, whichever system the document
comes from.
"""

# No `from __future__ import annotations` here: pydantic would compile and evaluate every field's annotation
# string when it builds the models (about a tenth of their build time, paid at cold starts).

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .money import minor_units, round_money, to_decimal

Money = Annotated[Decimal, BeforeValidator(to_decimal)]
Quantity = Annotated[Decimal, BeforeValidator(to_decimal)]
Percent = Annotated[Decimal, BeforeValidator(to_decimal)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True)


TNID = "tnid"  # ExternalRef.system of a party's TradeNet ID (trade-network identity, see above)


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class ExternalRef(_Model):
    """The identity of this record in one system: its id there and, when it has one, its number."""

    system: str = Field(min_length=1, description="e.g. 'servicetrade', 'freshbooks', 'flatfile'")
    id: str = Field(min_length=1)
    number: str | None = None
    url: str | None = None


class Address(_Model):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 when known")


class Party(_Model):
    """A seller, buyer or customer: who the document is from or to."""

    name: str = Field(min_length=1)
    account_number: str | None = Field(default=None, description="customer/vendor number in accounting")
    tax_id: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Address | None = None
    external_refs: list[ExternalRef] = Field(default_factory=list)


class PaymentTerms(_Model):
    code: str | None = Field(default=None, description="e.g. 'NET30'")
    description: str | None = None
    due_offset_days: int | None = Field(default=None, ge=0)


class Attachment(_Model):
    filename: str = Field(min_length=1)
    content_type: str = "application/pdf"
    uri: str | None = Field(default=None, description="s3://bucket/key or the partner's URL")
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = None


class Line(_Model):
    """One invoice line. `net_amount` = quantity × unit_price − discount, rounded (see money.py)."""

    position: int = Field(ge=1)
    description: str = ""
    sku: str | None = None
    item_code: str | None = Field(default=None, description="item/service code in the source")
    quantity: Quantity = Decimal(1)
    unit: str | None = None
    unit_price: Money
    discount: Money = Decimal(0)
    net_amount: Money | None = Field(default=None, description="computed when omitted")
    tax_rate: Percent | None = Field(default=None, description="percent, e.g. 8.25")
    tax_code: str | None = None
    service_date: dt.date | None = None
    account_code: str | None = Field(default=None, description="revenue/GL account when known")


class Tax(_Model):
    """Tax charged at one rate over the nets of the lines at that rate."""

    name: str = "Tax"
    code: str | None = None
    rate: Percent
    taxable_amount: Money
    amount: Money


class Totals(_Model):
    subtotal: Money = Field(description="sum of line nets")
    tax_total: Money = Field(description="sum of taxes")
    total: Money = Field(description="subtotal + tax_total")


class DocumentStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class Document(_Model):
    """An invoice or credit note, as the source issued it."""

    kind: DocumentKind = DocumentKind.INVOICE
    number: str = Field(min_length=1)
    issue_date: dt.date
    due_date: dt.date | None = None
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    seller: Party | None = None
    buyer: Party
    lines: list[Line] = Field(min_length=1)
    taxes: list[Tax] = Field(default_factory=list)
    totals: Totals | None = Field(default=None, description="computed when omitted, validated when given")
    payment_terms: PaymentTerms | None = None
    status: DocumentStatus = DocumentStatus.ISSUED
    purchase_order: str | None = None
    credited_invoice: str | None = Field(
        default=None, description="credit notes: the number of the invoice it corrects, when known"
    )
    memo: str | None = None
    external_refs: list[ExternalRef] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)

    @field_validator("currency", mode="before")
    @classmethod
    def _upper_currency(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_arithmetic(self) -> "Document":
        self._settle_lines()
        self._settle_taxes()
        subtotal = sum((line.net_amount for line in self.lines), Decimal(0))
        tax_total = sum((tax.amount for tax in self.taxes), Decimal(0))
        computed = Totals(subtotal=subtotal, tax_total=tax_total, total=subtotal + tax_total)
        if self.totals is None:
            self.totals = computed
        else:
            for field in ("subtotal", "tax_total", "total"):
                given = round_money(getattr(self.totals, field), self.currency)
                if given != getattr(computed, field):
                    raise ValueError(
                        f"totals do not match lines: {field} {given} != computed {getattr(computed, field)}"
                    )
            self.totals = computed  # same values, quantized to the currency
        if self.due_date is None and self.payment_terms and self.payment_terms.due_offset_days is not None:
            self.due_date = self.issue_date + dt.timedelta(days=self.payment_terms.due_offset_days)
        if self.credited_invoice is not None and self.kind is not DocumentKind.CREDIT_NOTE:
            raise ValueError("only a credit note names an invoice it credits")
        if self.due_date is not None and self.due_date < self.issue_date:
            raise ValueError(f"due date {self.due_date} is before issue date {self.issue_date}")
        return self

    def _settle_lines(self) -> None:
        for line in self.lines:
            computed = round_money(line.quantity * line.unit_price - line.discount, self.currency)
            if line.net_amount is None:
                line.net_amount = computed
            elif round_money(line.net_amount, self.currency) != computed:
                raise ValueError(
                    f"line {line.position}: net amount {line.net_amount} != quantity {line.quantity}"
                    f" × unit price {line.unit_price} − discount {line.discount} = {computed}"
                )
            else:
                line.net_amount = computed

    def _settle_taxes(self) -> None:
        by_rate: dict[Decimal, list[Line]] = {}
        for line in self.lines:
            if line.tax_rate:
                by_rate.setdefault(line.tax_rate, []).append(line)
        if not self.taxes:
            self.taxes = [
                Tax(
                    rate=rate,
                    taxable_amount=(base := sum((ln.net_amount for ln in lines), Decimal(0))),
                    amount=round_money(base * rate / 100, self.currency),
                )
                for rate, lines in sorted(by_rate.items())
            ]
            return
        # Sources may round tax per line instead of per rate: accept a difference of at most half a minor
        # unit per line at that rate, and nothing more.
        half_unit = Decimal(1).scaleb(-minor_units(self.currency)) / 2
        for tax in self.taxes:
            tax.amount = round_money(tax.amount, self.currency)
            exact = tax.taxable_amount * tax.rate / 100
            lines_at_rate = max(1, len(by_rate.get(tax.rate, [])))
            if abs(tax.amount - exact) > half_unit * lines_at_rate:
                raise ValueError(
                    f"tax {tax.name} at {tax.rate}%: amount {tax.amount} != {exact:.4f} expected"
                )

    def ref(self, system: str) -> ExternalRef | None:
        """This document's identity in `system`, if known."""
        return next((r for r in self.external_refs if r.system == system), None)

    def with_ref(self, ref: ExternalRef) -> "Document":
        """A copy with `ref` recorded (replacing an earlier ref for the same system)."""
        refs = [r for r in self.external_refs if r.system != ref.system] + [ref]
        return self.model_copy(update={"external_refs": refs})


class Customer(Party):
    """A customer as a record of its own (clients in FreshBooks, customers in a shop)."""

    first_name: str | None = None
    last_name: str | None = None
    organization: str | None = None


class Payment(_Model):
    amount: Money
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    date: dt.date
    method: str | None = None
    transaction_id: str | None = None
    document_number: str | None = None
    external_refs: list[ExternalRef] = Field(default_factory=list)


class Product(_Model):
    sku: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str | None = None
    unit_price: Money
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    tax_rate: Percent | None = None
    external_refs: list[ExternalRef] = Field(default_factory=list)
