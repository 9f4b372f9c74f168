"""Register (create or update) a connector in a deployed Invoice Relay stack.

    python tools/register_connector.py --table <StateTableName output> connector.json \
        [--credentials credentials.json]

The connector file is validated against the same model the functions use (each side by its partner's
configuration model, and the pairing by the partner registry). With --credentials, the JSON credentials
are stored in Secrets Manager under the source's `credentials_secret` name (the functions'
policy allows `invoice-relay/<stage>/*`); they are never written to DynamoDB or printed.
Uses the normal AWS credential chain (AWS_PROFILE, ...); AWS_ENDPOINT_URL points it at a local stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "shared"))

from invoice_relay.connector import ConnectorConfig
from invoice_relay.storage.state import ConnectorStore
from invoice_relay.storage.table import state_table


def store_credentials(secret_name: str, credentials: dict) -> None:
    client = boto3.client("secretsmanager")
    body = json.dumps(credentials)
    try:
        client.put_secret_value(SecretId=secret_name, SecretString=body)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=secret_name, SecretString=body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("connector", type=Path, help="connector configuration (JSON)")
    parser.add_argument("--table", required=True, help="the stack's StateTableName output")
    parser.add_argument(
        "--credentials", type=Path, help="partner credentials (JSON) to store in Secrets Manager"
    )
    args = parser.parse_args(argv)

    config = ConnectorConfig.model_validate_json(args.connector.read_text())
    if args.credentials:
        secret_name = getattr(config.source, "credentials_secret", None)
        if not secret_name:
            print(f"the source {config.source.system} takes no credentials secret", file=sys.stderr)
            return 2
        store_credentials(secret_name, json.loads(args.credentials.read_text()))
        print(f"credentials stored in secret {secret_name}")
    ConnectorStore(state_table(args.table)).put(config)
    print(f"connector {config.connector_id} registered in {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
