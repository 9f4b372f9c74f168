"""The layer's observability objects: the one structured logger, and the X-Ray tracer's instrumentation.

Every module logs through this Powertools `Logger` (JSON, one line per record). It shares the handlers'
service logger (`POWERTOOLS_SERVICE_NAME`, `invoice-relay` in template.yaml), so the correlation keys a
handler or a run appends (connector_id, run_id, source_id, ...) are on every line, partner modules'
included. Imported before the environment is set (tools, tests), it still joins the service's logger.

`tracer` decides what X-Ray instruments. A plain `Tracer()` patches every library the X-Ray SDK supports
that can be imported, importing each one at every cold start (requests with charset_normalizer and idna,
sqlite3, and a search for a dozen database drivers we do not have). The layer calls AWS through boto3 and
partners through requests, and both are traced: botocore is patched at once, requests when it is first
imported (a post-import hook; the HTTP kit imports it when a function first talks to a partner), before
any session exists. Powertools shares the first `Tracer`'s configuration with every later `Tracer()`, so
the handlers' own tracers (created after their imports) do not patch everything again.
"""

from __future__ import annotations

import os
from typing import Any

import wrapt
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

SERVICE = "invoice-relay"  # as POWERTOOLS_SERVICE_NAME in template.yaml
TRACED_AT_START = ("botocore",)  # boto3's clients, created at every cold start
TRACED_ON_IMPORT = ("requests",)  # the partners' HTTP kit, imported on first use

# Keys of Powertools' Lambda context that the log group and stream already say, left out of every line
# (CloudWatch Logs bills ingestion by the byte: about a quarter of a line; `function_request_id`, the
# correlation with the platform's REPORT line, stays).
REDUNDANT_KEYS = ("function_name", "function_arn", "function_memory_size")


class CompactFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines without `REDUNDANT_KEYS`."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        for key in REDUNDANT_KEYS:
            log.pop(key, None)
        return super().serialize(log)


logger = Logger(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE, logger_formatter=CompactFormatter()
)
tracer = Tracer(auto_patch=False)
tracer.patch(TRACED_AT_START)
if not tracer.disabled:
    for _module in TRACED_ON_IMPORT:
        wrapt.register_post_import_hook(lambda module: tracer.patch((module.__name__,)), _module)
