"""Secrets where they must never be: the logs, the stored state and objects, and the answers we gave.

    found = find_secrets(stack, [api_key, webhook_secret, *tokens], responses=answers, since=started)

Each secret is searched for as it is and in the forms a careless line would carry it (base64, JSON-escaped,
URL-encoded; a `whsec_` secret also without its prefix) in:
- every log file under `local.runtime.runner.LOG_DIR` modified since `since` (a Unix time): the functions'
  structured logs and EMF metrics, one file per invocation;
- every item of the state table and of the idempotency table (scanned);
- every object in the document bucket (read in chunks, never whole);
- the answers collected by the caller (`responses`: `requests.Response`s, dicts, strings or bytes).

A hit is reported as "where: which secret (its first 4 characters)… (the form)", never with the secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import requests

from local.runtime import runner

S3_CHUNK_BYTES = 1024 * 1024
WEBHOOK_SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class _Form:
    secret: str
    name: str  # "as is", "base64", ...
    text: str

    @property
    def shown(self) -> str:
        return f"{self.secret[:4]}… ({self.name})"


def secret_forms(secret: str) -> list[tuple[str, str]]:
    """(form name, text) for every form of `secret` searched for, without repeats."""
    forms = [
        ("as is", secret),
        ("base64", base64.b64encode(secret.encode()).decode()),
        ("JSON-escaped", json.dumps(secret)[1:-1]),
        ("URL-encoded", quote(secret, safe="")),
    ]
    if secret.startswith(WEBHOOK_SECRET_PREFIX) and len(secret) > len(WEBHOOK_SECRET_PREFIX):
        forms.append(("without its prefix", secret.removeprefix(WEBHOOK_SECRET_PREFIX)))
    unique: dict[str, str] = {}
    for name, text in forms:
        unique.setdefault(text, name)
    return [(name, text) for text, name in unique.items()]


def find_secrets(stack: Any, secrets: list[str], *, responses: list[Any], since: float) -> list[str]:
    """Where any of `secrets` appears (see the module docstring); [] when nowhere."""
    unique = dict.fromkeys(s for s in secrets if s)
    forms = [_Form(secret, name, text) for secret in unique for name, text in secret_forms(secret)]
    found: list[str] = []
    for where, text in _texts(stack, responses, since):
        for form in forms:
            if form.text in text:
                found += [f"{place}: {form.shown}" for place in _lines_with(where, text, form.text)]
    for where, chunks in _objects(stack.bucket_name):
        found += [f"{where}: {form.shown}" for form in _search_chunks(chunks, forms)]
    return found


def _lines_with(where: str, text: str, needle: str) -> list[str]:
    """`where` for a one-line text, else `where:<line number>` of each line holding `needle`."""
    lines = text.splitlines()
    if len(lines) <= 1:
        return [where]
    return [f"{where}:{n}" for n, line in enumerate(lines, start=1) if needle in line] or [where]


# -- where to look ----------------------------------------------------------------------------------------


def _texts(stack: Any, responses: list[Any], since: float) -> Iterator[tuple[str, str]]:
    yield from _log_files(since)
    for table in (stack.table_name, stack.physical.get("IdempotencyTable")):
        if table:
            yield from _table_items(table)
    for index, response in enumerate(responses):
        yield f"response {index + 1}", _response_text(response)


def _log_files(since: float) -> Iterator[tuple[str, str]]:
    """Each log file written since `since`, whole (a hit is then told by its line)."""
    if not runner.LOG_DIR.exists():
        return
    for path in sorted(runner.LOG_DIR.iterdir()):
        try:
            if not path.is_file() or path.stat().st_mtime < since:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:  # removed meanwhile (`make clean`)
            continue
        yield f"log {path.name}", text


def _table_items(table_name: str) -> Iterator[tuple[str, str]]:
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table_name)
    for page in pages:
        for item in page.get("Items", []):
            key = "/".join(str(next(iter(item[k].values()))) for k in ("PK", "SK", "id") if k in item)
            yield f"table {table_name} item {key}", json.dumps(item, ensure_ascii=False, default=str)


def _objects(bucket: str) -> Iterator[tuple[str, Iterable[bytes]]]:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"]
            yield f"s3://{bucket}/{entry['Key']}", body.iter_chunks(S3_CHUNK_BYTES)


def _search_chunks(chunks: Iterable[bytes], forms: list[_Form]) -> list[_Form]:
    """The forms found in a byte stream, also across chunk boundaries."""
    wanted = [(form, form.text.encode()) for form in forms]
    overlap = max((len(data) for _, data in wanted), default=1) - 1
    found: dict[str, _Form] = {}
    tail = b""
    for chunk in chunks:
        window = tail + chunk
        for form, data in wanted:
            if form.shown not in found and data in window:
                found[form.shown] = form
        tail = window[-overlap:] if overlap else b""
    return list(found.values())


def _response_text(response: Any) -> str:
    if isinstance(response, requests.Response):
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        return f"{response.status_code} {response.url}\n{headers}\n\n{response.text}"
    if isinstance(response, bytes):
        return response.decode("utf-8", errors="replace")
    if isinstance(response, str):
        return response
    return json.dumps(response, ensure_ascii=False, default=str)
