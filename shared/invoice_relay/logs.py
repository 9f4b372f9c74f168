"""The one structured logger of the layer.

Every module logs through this Powertools `Logger` (JSON, one line per record). It shares the handlers'
service logger (`POWERTOOLS_SERVICE_NAME`), so the correlation keys a handler or a run appends
(connector_id, run_id, source_id, ...) are on every line, partner modules' included.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger()
