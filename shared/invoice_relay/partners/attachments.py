"""Documents' files (PDFs, supporting documents) handed from a source to a target through the bucket.

A source and a target are different partners with different credentials, so a target cannot fetch a file
from the source's API. The source keeps each file in the document bucket when it fetches the document
(`keep_attachment`) and names it in the canonical `Attachment.uri` (`s3://<bucket>/<key>`); the target
reads it back (`attachment_content`). The key is per connector, record, version and file, so a second
fetch of the same version rewrites the same object and a new version keeps its own files: the bucket's
lifecycle rules age them out with the other raw payloads under `raw/`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..logs import logger

if TYPE_CHECKING:
    from ..models import Attachment
    from .context import PartnerContext

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # more than any invoice PDF; a bigger file is not a document's


def keep_attachment(
    context: PartnerContext,
    *,
    system: str,
    source_id: str,
    version: str,
    filename: str,
    content: bytes,
    content_type: str = "application/pdf",
) -> Attachment:
    """Store one file of a source record in the document bucket; the `Attachment` that names it there."""
    from ..models import Attachment

    safe_name = _UNSAFE.sub("_", filename).strip("._") or "attachment"
    key = (
        f"raw/{context.connector_id}/{system}/{_UNSAFE.sub('_', source_id)}/"
        f"{_UNSAFE.sub('_', version)}/files/{safe_name}"
    )
    digest = context.bucket.put_with_digest(
        key, content, content_type, {"connector": context.connector_id, "source-id": source_id}
    )
    return Attachment(
        filename=filename,
        content_type=content_type,
        uri=f"s3://{context.bucket.bucket}/{key}",
        size=len(content),
        sha256=digest,
    )


def attachment_content(context: PartnerContext, attachment: Attachment) -> bytes | None:
    """The bytes of a file a source kept (`keep_attachment`); None for an attachment that names no file in
    this connector's bucket (a partner URL only)."""
    prefix = f"s3://{context.bucket.bucket}/"
    if not attachment.uri or not attachment.uri.startswith(prefix):
        return None
    key = attachment.uri.removeprefix(prefix)
    if not key.startswith(f"raw/{context.connector_id}/"):
        logger.warning(f"attachment {attachment.filename!r} is not one of this connector's files; not read")
        return None
    return context.bucket.get(key)
