"""Flat-file import files (CSV, delimited TXT, fixed width, XML) for accounting systems without an API.

A template (YAML data in `import_templates/`, or a customer's own file) describes the layout; see
`template.py` for the schema and `render.py` for the output-safety rules.

    template = load_template("generic_csv")
    export = render_import_file(template, documents, connector_id=..., run_id=..., run_date=...)
    export.content, export.file_name, export.rendered, export.failures
"""

from .catalog import available_templates, load_template, parse_template, template_from_data
from .render import ImportFile, RenderFailure, import_file_name, render_document, render_import_file
from .template import Column, ImportTemplate, NumberFormat, Record, Records, RunInfo, TemplateError, XmlLayout

__all__ = [
    "Column", "ImportFile", "ImportTemplate", "NumberFormat", "Record", "Records", "RenderFailure",
    "RunInfo", "TemplateError", "XmlLayout", "available_templates", "import_file_name", "load_template",
    "parse_template", "render_document", "render_import_file", "template_from_data",
]  # fmt: skip
