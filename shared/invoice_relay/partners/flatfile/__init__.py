"""Flat import files: accounting systems without an API import CSV/TXT/XML files (flow 2's target).

The layout is an import template (YAML data, `import_templates/`, or the customer's own file; rendered
by `invoice_relay.flatfile`); the export flow stores each file in S3 with a download link and the
bookkeeper imports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field

from ...models import Document
from ..capabilities import FILE_TARGET, RenderedFile
from ..spec import PartnerConfig, PartnerSpec, SideSpec


class FlatFileTargetConfig(PartnerConfig):
    """Import files for an accounting system without an API (flow 2)."""

    system: Literal["flatfile"] = "flatfile"
    template: str = Field(default="generic_csv", description="packaged template name or a file path")
    field_maps: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="per-column value maps overriding the template's, e.g. GL accounts"
    )
    max_documents_per_file: int = Field(default=5000, ge=1)


class FlatFileTarget:
    """The `FILE_TARGET` of a connector: its template, and rendering one file of documents."""

    system = "flatfile"

    def __init__(self, config: FlatFileTargetConfig):
        from ...flatfile import load_template

        self.config = config
        self.max_documents_per_file = config.max_documents_per_file
        self._template = load_template(config.template)  # a broken template is the connector's problem

    def template_name(self) -> str:
        return self._template.name

    def render(
        self, documents: Iterable[Document], *, connector_id: str, run_id: str, run_date: dt.date
    ) -> RenderedFile:
        from ...flatfile import render_import_file

        rendered = render_import_file(
            self._template,
            documents,
            connector_id=connector_id,
            run_id=run_id,
            run_date=run_date,
            field_maps=self.config.field_maps or None,
        )
        return RenderedFile(
            file_name=rendered.file_name,
            content=rendered.content,
            content_type=rendered.content_type,
            template=self._template.name,
            rendered=tuple(rendered.rendered),
            failures={f.document_number: f.reason for f in rendered.failures},
        )


def _open(config: FlatFileTargetConfig, context: Any) -> FlatFileTarget:
    return FlatFileTarget(config)


SPEC = PartnerSpec(
    system="flatfile",
    title="Import file (CSV, TXT, XML)",
    category="accounting without an API",
    connection="file download (S3 presigned link)",
    documents=("invoice", "credit_note"),
    target=SideSpec(config=FlatFileTargetConfig, provides={FILE_TARGET: _open}),
)
