"""The S3 bucket: raw payloads (`raw/`), import files (`exports/`), PDF drop zone and bundles (later)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import ClientError


@lru_cache(maxsize=1)
def s3_client() -> Any:
    return boto3.client("s3")


class DocumentBucket:
    def __init__(self, bucket: str, client: Any | None = None):
        self.bucket = bucket
        self._s3 = client or s3_client()

    @property
    def client(self) -> Any:
        """The S3 client, for streaming work (multipart uploads, ranged reads) done elsewhere."""
        return self._s3

    def put_raw(self, connector_id: str, system: str, record_id: str, version: str, payload: Any) -> str:
        """Keep a partner payload exactly as received; returns its key."""
        key = f"raw/{connector_id}/{system}/{record_id}/{version}.json"
        body = payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True).encode()
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def put_with_digest(self, key: str, content: bytes, content_type: str, metadata: dict[str, str]) -> str:
        """Store an object (an import file, a webhook body as received); returns its SHA-256, which is also
        stored as object metadata."""
        digest = hashlib.sha256(content).hexdigest()
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=content,
            ContentType=content_type,
            Metadata={**metadata, "sha256": digest},
        )
        return digest

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def get(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put_json(self, key: str, payload: Any) -> None:
        """Store a JSON document (an archived listing page, an export manifest)."""
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def put_json_lines(self, key: str, lines: list[dict[str, Any]]) -> None:
        """Store records as JSON Lines, one object for many (a batch of archived webhook bodies)."""
        body = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
        self._s3.put_object(
            Bucket=self.bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson"
        )

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))

    def download_link(self, key: str, expires_in: int) -> str:
        """A presigned GET URL for `key`, valid `expires_in` seconds."""
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    def keys(self, prefix: str) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        return [
            o["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for o in page.get("Contents", [])
        ]
