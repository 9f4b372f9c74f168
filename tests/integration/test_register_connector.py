"""tools/register_connector.py against the embedded AWS: config in DynamoDB, credentials only in Secrets
Manager, and the example connector file is valid."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from invoice_relay.storage.state import ConnectorStore
from invoice_relay.storage.table import state_table
from local.scenarios.stack import LocalStack
from tools import register_connector

REPO = Path(__file__).resolve().parents[2]


def test_example_connector_is_registered_with_its_credentials_in_secrets_manager(tmp_path, capsys):
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"username": "ops@acme.example", "password": "s3cret-value"}))
    with LocalStack(seed_demo=False) as stack:
        code = register_connector.main(
            [
                str(REPO / "tools" / "connector.example.json"),
                "--table",
                stack.table_name,
                "--credentials",
                str(credentials),
            ]
        )
        assert code == 0
        config = ConnectorStore(state_table(stack.table_name)).get("acme-servicetrade")
        assert config.target.template == "example_legacy_header_detail"
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=config.source.credentials_secret)
        assert json.loads(secret["SecretString"])["password"] == "s3cret-value"
        items = boto3.client("dynamodb").scan(TableName=stack.table_name)["Items"]
        assert "s3cret-value" not in json.dumps(items)
    assert "s3cret-value" not in capsys.readouterr().out
