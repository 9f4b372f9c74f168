"""The one structured logger of the layer.

Every module logs through this Powertools `Logger` (JSON, one line per record). It shares the handlers'
service logger (`POWERTOOLS_SERVICE_NAME`, `invoice-relay` in template.yaml), so the correlation keys a
handler or a run appends (connector_id, run_id, source_id, ...) are on every line, partner modules'
included. Imported before the environment is set (tools, tests), it still joins the service's logger.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

SERVICE = "invoice-relay"  # as POWERTOOLS_SERVICE_NAME in template.yaml

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
