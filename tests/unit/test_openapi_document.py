"""The committed OpenAPI document is what the management API's code generates (`python tools/openapi.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_openapi_json_is_not_stale() -> None:
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "openapi.py"), "--check"], capture_output=True, text=True
    )
    assert checked.returncode == 0, (
        checked.stderr + " — run `python tools/openapi.py` and commit openapi.json"
    )


def test_every_data_route_is_documented_behind_the_cognito_token() -> None:
    document = json.loads((REPO / "openapi.json").read_text())
    assert document["security"] == [{"cognito": []}]
    assert document["components"]["securitySchemes"]["cognito"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Cognito ID token",
    }
    paths = document["paths"]
    assert {
        "/connectors",
        "/connectors/{connector_id}",
        "/connectors/{connector_id}/runs",
        "/documents",
    } <= set(paths)
    assert not any(path.startswith("/admin") for path in paths)  # the page is not part of the API
    create = paths["/connectors"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create == {"$ref": "#/components/schemas/ConnectorCreate"}
