"""Write (or check) openapi.json, the management API's OpenAPI document, generated from its code.

    python tools/openapi.py          # write openapi.json
    python tools/openapi.py --check  # exit 1 when openapi.json is not what the code generates

The document comes from the Powertools resolver of functions/management/app.py (routes, pydantic request
and response models, query parameters), with the Cognito ID token as its security scheme.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCUMENT = REPO / "openapi.json"


def generate() -> str:
    sys.path[:0] = [str(REPO / "shared"), str(REPO / "functions" / "management")]
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    app = importlib.import_module("app")  # functions/management/app.py, as Lambda imports it

    schema = app.app.get_openapi_json_schema(
        title="Invoice Relay management API",
        version="1.0",
        description=(
            "Connectors, schedules, runs, logs, dead letters and import files. Every route needs a Cognito "
            "ID token in the Authorization header (API Gateway's Cognito authorizer); members of the "
            "`admins` group may change things, members of `viewers` may only read."
        ),
        security_schemes={
            "cognito": APIKey(name="Authorization", **{"in": APIKeyIn.header}, description="Cognito ID token")
        },
        security=[{"cognito": []}],
    )
    return json.dumps(json.loads(schema), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when openapi.json is stale")
    args = parser.parse_args(argv)
    document = generate()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != document:
            print("openapi.json is stale: run `python tools/openapi.py` and commit it", file=sys.stderr)
            return 1
        print("openapi.json is up to date")
        return 0
    DOCUMENT.write_text(document)
    print(f"wrote {DOCUMENT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
