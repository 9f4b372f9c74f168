"""Zip bundles of drop-zone PDFs, streamed from S3 into S3 in constant memory.

`stream_bundle` reads each PDF as a stream of 1 MiB chunks (`get_object` → `iter_chunks`), feeds it to
stream-zip as a STORED member and sends the archive bytes into an S3 multipart upload part by part
(`S3MultipartWriter`). At no time is a whole PDF or the archive in memory or in /tmp: the resident set
is one upload part (8 MiB), one read chunk and the bookkeeping of the members (names and checksums).

Why stored members need their CRC-32 first: a STORED member's local header carries its size and CRC-32,
and stream-zip writes that header before the data (it offers no data descriptor for stored members; its
`NO_COMPRESSION_64` without arguments buffers the whole file to compute them). So `stream_bundle` uses
`NO_COMPRESSION_32/64(size, crc_32)` and obtains the CRC-32 without buffering:

- from S3 itself, when the object carries a *full-object* CRC-32 (`ChecksumCRC32`; uploads by the AWS
  SDKs and CLI since 2025 send one by default, and S3 verified it on upload). Single pass: one GET.
- otherwise by a first streaming pass over the object that computes it, then a second GET (pinned to
  the same ETag) that writes it. Cost: the object is read from S3 twice (twice the GET bytes and time
  for that member), memory is unchanged.

Either way stream-zip recomputes the CRC-32 and the size while writing and fails the bundle on a
mismatch, and every GET after the first is conditional on the ETag, so a file the customer replaces
mid-run is skipped (never half-written). A read that breaks mid-object resumes with a ranged GET.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import itertools
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Self

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from stream_zip import (
    NO_COMPRESSION_32,
    NO_COMPRESSION_64,
    CRC32IntegrityError,
    UncompressedSizeIntegrityError,
    stream_zip,
)

from ..errors import TransientError
from .matching import DropZoneObject
from .naming import MAX_NAME_LENGTH, safe_member_name

MiB = 1024 * 1024
PART_SIZE = 8 * MiB
READ_CHUNK_SIZE = 1 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000  # S3's maximum: 80 GB at 8 MiB parts
PDF_MAGIC = b"%PDF-"
METADATA_NAME = "metadata.json"
ZIP_CONTENT_TYPE = "application/zip"
READ_RETRIES = 3  # ranged re-reads of one object after its stream broke

# Sizes stream-zip writes per member (extended timestamps on): local header + central directory entry.
_LOCAL_HEADER = 30 + 9
_CENTRAL_ENTRY = 46 + 9
_ZIP64_LOCAL_EXTRA = 20
_ZIP64_CENTRAL_EXTRA = 28
_END_RECORD = 22
_ZIP64_END_RECORDS = 56 + 20
_ZIP32_LIMIT = 0xFFFFFFFF
_ZIP32_MAX_ENTRIES = 0xFFFF
# metadata.json is written last; bundles are planned with this much room for it per file (a Clearnox
# file record is about 600 bytes indented) plus a fixed part.
METADATA_BYTES_PER_MEMBER = 1024
METADATA_BYTES_BASE = 4096
_FILE_MODE = stat.S_IFREG | 0o644
_BROKEN_STREAM = (ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionClosedError)


def check_pdf(first_bytes: bytes, size: int) -> str | None:
    """Why an object is not a PDF (a sentence), or None when it starts like one.

    `first_bytes`: at least the first five bytes of the object (fewer only if it is that short).
    """
    if size == 0:
        return "the file is empty (0 bytes)"
    if not first_bytes.startswith(PDF_MAGIC):
        start = first_bytes[:8].decode("latin-1")
        return f"not a PDF: it starts with {start!r}, not with {PDF_MAGIC.decode()!r}"
    return None


# ----------------------------------------------------------------------------------------------- members


@dataclass(frozen=True, slots=True)
class BundleMember:
    """A drop-zone object to put in a bundle, for a booking entry. `name` defaults to the key's file
    name; it is sanitised and de-duplicated when written. `etag` pins the version that was matched."""

    key: str
    size: int
    etag: str | None = None
    last_modified: dt.datetime | None = None
    entry: Any = None
    name: str = ""

    @classmethod
    def for_entry(cls, entry: Any, found: DropZoneObject) -> BundleMember:
        return cls(
            key=found.key, size=found.size, etag=found.etag, last_modified=found.last_modified, entry=entry
        )

    @property
    def file_name(self) -> str:
        return self.name or self.key.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class WrittenMember:
    """A PDF as it is in the archive: its (safe, unique) name, size, SHA-256 (hex) and CRC-32."""

    name: str
    size: int
    sha256: str
    crc32: int
    member: BundleMember

    @property
    def key(self) -> str:
        return self.member.key

    @property
    def entry(self) -> Any:
        return self.member.entry

    @property
    def crc32_hex(self) -> str:
        return f"{self.crc32:08x}"


class SkippedMember(NamedTuple):
    member: BundleMember
    reason: str


@dataclass(frozen=True, slots=True)
class BundleResult:
    """What `stream_bundle` stored. `key` is None when no member could be written (nothing is stored:
    a bundle without files has no metadata to write). `deferred`: members left out because the archive
    would have grown beyond `max_bytes`; they belong in the next bundle."""

    key: str | None
    size: int
    sha256: str
    members: list[WrittenMember]
    skipped: list[SkippedMember]
    deferred: list[BundleMember] = field(default_factory=list)
    etag: str | None = None
    parts: int = 0
    zip64: bool = False


# ------------------------------------------------------------------------------------------- size budget


def member_overhead(name_length: int, *, zip64: bool) -> int:
    """Archive bytes a member costs on top of its data: local header and central directory entry."""
    extra = _ZIP64_LOCAL_EXTRA + _ZIP64_CENTRAL_EXTRA if zip64 else 0
    return _LOCAL_HEADER + _CENTRAL_ENTRY + 2 * name_length + extra


def end_records_size(*, zip64: bool) -> int:
    return _END_RECORD + (_ZIP64_END_RECORDS if zip64 else 0)


def estimated_member_bytes(size: int) -> int:
    """Upper bound of what one PDF adds to a bundle: data, headers (longest name, Zip64) and metadata."""
    return size + member_overhead(MAX_NAME_LENGTH, zip64=True) + METADATA_BYTES_PER_MEMBER


def estimated_fixed_bytes() -> int:
    """Upper bound of a bundle's size without its PDFs: end records, metadata.json's headers and base."""
    return (
        end_records_size(zip64=True) + member_overhead(len(METADATA_NAME), zip64=True) + METADATA_BYTES_BASE
    )


def plan_bundles(
    matched: Iterable[tuple[Any, DropZoneObject]], *, max_bytes: int | None, max_files: int | None
) -> list[list[BundleMember]]:
    """Split matched (entry, PDF) pairs into bundles of at most `max_files` PDFs and `max_bytes` bytes.

    Sizes are estimated from the objects' sizes plus the zip's and metadata.json's overhead (upper
    bounds), in the pairs' order. A PDF bigger than `max_bytes` on its own gets a bundle of its own.
    """
    if max_files is not None and max_files < 1:
        raise ValueError("max_files must be at least 1")
    plans: list[list[BundleMember]] = []
    current: list[BundleMember] = []
    current_bytes = estimated_fixed_bytes()
    for entry, found in matched:
        cost = estimated_member_bytes(found.size)
        full = max_files is not None and len(current) >= max_files
        too_big = max_bytes is not None and current_bytes + cost > max_bytes
        if current and (full or too_big):
            plans.append(current)
            current, current_bytes = [], estimated_fixed_bytes()
        current.append(BundleMember.for_entry(entry, found))
        current_bytes += cost
    if current:
        plans.append(current)
    return plans


def zip64_needed(
    offset: int, size: int, name_length: int, entries_before: int, *, last: bool = False
) -> bool:
    """Whether a member starting at `offset` must be Zip64 (or the archive cannot stay classic).

    Classic zip fields are 32-bit: the member's size and its offset, the central directory's offset
    (which follows the last member, so a member may not end beyond 4 GiB) and 16-bit entry counts (one
    entry is kept for metadata.json unless this is the `last` member).
    """
    end = offset + _LOCAL_HEADER + name_length + size
    reserved = 0 if last else 1
    return size > _ZIP32_LIMIT or end > _ZIP32_LIMIT or entries_before + 1 + reserved > _ZIP32_MAX_ENTRIES


# ---------------------------------------------------------------------------------------- S3 multipart


class _PartBody(io.RawIOBase):
    """A seekable read-only view of part of a buffer: botocore reads (and on a retry re-reads) the
    body through it, so the part is never copied (a bytearray body would be)."""

    def __init__(self, buffer: bytearray, length: int):
        super().__init__()
        self._view = memoryview(buffer)[:length]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        count = min(len(target), len(self._view) - self._position)
        target[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def __len__(self) -> int:
        return len(self._view)

    def close(self) -> None:
        if not self.closed:
            self._view.release()
        super().close()


class S3MultipartWriter:
    """A write-only binary sink that stores what is written as one S3 object, part by part.

    Parts of exactly `part_size` bytes are uploaded as soon as they fill, so memory holds at most one
    part. An object smaller than one part is stored with a single `put_object` on `close()`. `close()`
    (or leaving the `with` block normally) completes the upload; an exception in the block, or
    `abort()`, aborts it so no parts are left behind. `sha256` (hex) is computed while writing.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        part_size: int = PART_SIZE,
        content_type: str = ZIP_CONTENT_TYPE,
        metadata: dict[str, str] | None = None,
        tagging: str | None = None,
    ):
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum part size)")
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self._object_args: dict[str, Any] = {"ContentType": content_type, "Metadata": metadata or {}}
        if tagging:
            self._object_args["Tagging"] = tagging  # URL-encoded `key=value&...`, as S3 takes it
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0
        self.etag: str | None = None
        self.closed = False

    # -- file-like -------------------------------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError(f"s3://{self.bucket}/{self.key} is already closed")
        self._buffer += data
        self._hash.update(data)
        self.bytes_written += len(data)
        while len(self._buffer) >= self.part_size:
            self._upload_part(self.part_size)
        return len(data)

    def close(self) -> None:
        """Store what was written: the last part and the completion, or one put_object."""
        if self.closed:
            return
        try:
            if self._upload_id is None:
                with _PartBody(self._buffer, len(self._buffer)) as body:
                    answer = self._s3.put_object(
                        Bucket=self.bucket,
                        Key=self.key,
                        Body=body,
                        ChecksumAlgorithm="CRC32",
                        **self._object_args,
                    )
            else:
                if self._buffer or not self._parts:
                    self._upload_part(len(self._buffer))
                answer = self._s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self.abort()
            raise
        self.etag = answer.get("ETag")
        self._buffer = bytearray()
        self.closed = True

    def abort(self) -> None:
        """Drop the upload and its parts (best effort: S3's lifecycle rule removes what remains)."""
        self.closed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            # The original error matters more; the bucket's AbortIncompleteMultipartUpload rule cleans up.
            with contextlib.suppress(ClientError):
                self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- results ---------------------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""
        return self._hash.hexdigest()

    @property
    def parts(self) -> int:
        """Parts uploaded (0 when the object was stored with one put_object)."""
        return len(self._parts)

    def _upload_part(self, length: int) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="CRC32", **self._object_args
            )["UploadId"]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(
                f"s3://{self.bucket}/{self.key}: more than {MAX_PARTS} parts of {self.part_size} bytes"
            )
        with _PartBody(self._buffer, length) as body:
            answer = self._s3.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
                ChecksumAlgorithm="CRC32",
            )
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]  # required by complete for a CRC32 upload
        self._parts.append(part)
        del self._buffer[:length]


# -------------------------------------------------------------------------------------------- bundling


def stream_bundle(
    s3: Any,
    bucket: str,
    members: Iterable[BundleMember],
    *,
    dest_key: str,
    metadata_json: Callable[[list[WrittenMember]], bytes],
    max_bytes: int | None = None,
    part_size: int = PART_SIZE,
    chunk_size: int = READ_CHUNK_SIZE,
    use_s3_checksums: bool = True,
    force_zip64: bool = False,
    tagging: str | None = None,
) -> BundleResult:
    """Write a zip of `members` (drop-zone objects in `bucket`) to `s3://bucket/dest_key`, streaming.

    Each PDF becomes a STORED member under a safe, unique name (`safe_member_name`); `metadata.json`,
    built by `metadata_json` from the members actually written, comes last. A member that is empty,
    does not start with `%PDF-`, is gone from the drop zone or changed since it was matched is skipped
    with the reason. With `max_bytes`, a member that would make the archive (with room for its metadata)
    larger is deferred. Zip64 is used from the first member that needs it (`force_zip64`: for all).
    `use_s3_checksums=False` always computes CRC-32s by a first read (see the module docstring).
    `tagging` (e.g. `upload=pending`) is set on the stored object.
    Raises (and leaves nothing stored) when S3 fails, or TransientError when an object's bytes contradict
    the size or CRC-32 that S3 stated for it.
    """
    bundle = _Bundle(
        s3,
        bucket,
        metadata_json=metadata_json,
        max_bytes=max_bytes,
        chunk_size=chunk_size,
        use_s3_checksums=use_s3_checksums,
        zip64=force_zip64,
    )
    writer = S3MultipartWriter(s3, bucket, dest_key, part_size=part_size, tagging=tagging)
    try:
        with writer:
            for chunk in stream_zip(bundle.zip_members(members), chunk_size=chunk_size):
                writer.write(chunk)
    except (CRC32IntegrityError, UncompressedSizeIntegrityError) as exc:
        what = "CRC-32" if isinstance(exc, CRC32IntegrityError) else "size"
        raise TransientError(
            f"s3://{bucket}/{bundle.current_key} was read with another {what} than S3 stated for it"
            " (changed or corrupted while read); the bundle was not stored"
        ) from exc
    except _NothingToBundle:
        return BundleResult(
            key=None, size=0, sha256="", members=[], skipped=bundle.skipped, deferred=bundle.deferred
        )
    return BundleResult(
        key=dest_key,
        size=writer.bytes_written,
        sha256=writer.sha256,
        members=bundle.written,
        skipped=bundle.skipped,
        deferred=bundle.deferred,
        etag=writer.etag,
        parts=writer.parts,
        zip64=bundle.zip64,
    )


class _NothingToBundle(Exception):
    """No member could be written: the upload is abandoned (raised through stream-zip)."""


@dataclass(slots=True)
class _OpenMember:
    """A member about to be written: its stream, and what its local header needs."""

    member: BundleMember
    size: int
    crc32: int
    modified_at: dt.datetime
    chunks: Iterator[bytes]
    close: Callable[[], None]


class _Bundle:
    """The state of one archive while stream-zip pulls its members."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        metadata_json: Callable[[list[WrittenMember]], bytes],
        max_bytes: int | None,
        chunk_size: int,
        use_s3_checksums: bool,
        zip64: bool,
    ):
        self._s3 = s3
        self._bucket = bucket
        self._metadata_json = metadata_json
        self._max_bytes = max_bytes
        self._chunk_size = chunk_size
        self._use_s3_checksums = use_s3_checksums
        self.zip64 = zip64
        self._taken = {METADATA_NAME}
        self._offset = 0  # archive bytes before the next local header (exact: stream-zip's layout)
        self._central_bytes = 0
        self.written: list[WrittenMember] = []
        self.skipped: list[SkippedMember] = []
        self.deferred: list[BundleMember] = []
        self.current_key: str | None = None  # the object being written, for error messages

    def zip_members(self, members: Iterable[BundleMember]) -> Iterator[tuple[Any, ...]]:
        """stream-zip member tuples; each PDF is recorded as written once stream-zip has consumed it."""
        for member in members:
            opened = self._open(member)
            if opened is None:
                continue
            self.current_key = member.key
            try:
                name = safe_member_name(member.file_name, self._taken)
                method, zip64 = self._method(opened.size, opened.crc32, len(name.encode()), last=False)
                digest = hashlib.sha256()
                yield name, opened.modified_at, _FILE_MODE, method, _hashed(opened.chunks, digest)
            finally:
                opened.close()
            # stream-zip asks for the next member only after it wrote this one (and checked size and CRC).
            self._account(len(name.encode()), opened.size, zip64)
            self.written.append(WrittenMember(name, opened.size, digest.hexdigest(), opened.crc32, member))
        if not self.written:
            raise _NothingToBundle
        metadata = self._metadata_json(list(self.written))
        method, zip64 = self._method(len(metadata), zlib.crc32(metadata), len(METADATA_NAME), last=True)
        yield METADATA_NAME, _utc_now(), _FILE_MODE, method, (metadata,)
        self._account(len(METADATA_NAME), len(metadata), zip64)

    def _method(self, size: int, crc32: int, name_length: int, *, last: bool) -> tuple[Any, bool]:
        entries = len(self.written)
        self.zip64 = self.zip64 or zip64_needed(self._offset, size, name_length, entries, last=last)
        return (NO_COMPRESSION_64 if self.zip64 else NO_COMPRESSION_32)(size, crc32), self.zip64

    def _account(self, name_length: int, size: int, zip64: bool) -> None:
        self._offset += _LOCAL_HEADER + name_length + size + (_ZIP64_LOCAL_EXTRA if zip64 else 0)
        self._central_bytes += _CENTRAL_ENTRY + name_length + (_ZIP64_CENTRAL_EXTRA if zip64 else 0)

    def _fits(self, size: int) -> bool:
        if self._max_bytes is None:
            return True
        projected = (
            self._offset
            + self._central_bytes
            + estimated_member_bytes(size)
            + METADATA_BYTES_PER_MEMBER * len(self.written)
            + estimated_fixed_bytes()
        )
        return projected <= self._max_bytes

    def _open(self, member: BundleMember) -> _OpenMember | None:
        """Open the member's object and check it; None (and the member skipped or deferred) if unusable."""
        response = self._get(member, member.etag)
        if response is None:
            return None
        size, etag, body = response["ContentLength"], response["ETag"], response["Body"]
        chunks = body.iter_chunks(self._chunk_size)
        head = _read_at_least(chunks, len(PDF_MAGIC))
        reason = check_pdf(b"".join(head), size)
        if reason is not None or not self._fits(size):
            body.close()
            if reason is not None:
                self.skipped.append(SkippedMember(member, reason))
            else:
                self.deferred.append(member)
            return None
        crc32 = _full_object_crc32(response) if self._use_s3_checksums else None
        if crc32 is None:
            # First pass: the CRC-32 (stream-zip writes it in the header, before the data).
            first_pass = _ResumableRead(self._s3, self._bucket, member.key, etag, self._chunk_size, body)
            crc32 = 0
            try:
                for chunk in first_pass.chunks(itertools.chain(head, chunks)):
                    crc32 = zlib.crc32(chunk, crc32)
            finally:
                first_pass.close()
            response = self._get(member, etag)
            if response is None:
                return None
            body = response["Body"]
            head, chunks = [], body.iter_chunks(self._chunk_size)
        reader = _ResumableRead(self._s3, self._bucket, member.key, etag, self._chunk_size, body)
        return _OpenMember(
            member=member,
            size=size,
            crc32=crc32,
            modified_at=response["LastModified"].astimezone(dt.UTC),
            chunks=reader.chunks(itertools.chain(head, chunks)),
            close=reader.close,
        )

    def _get(self, member: BundleMember, etag: str | None) -> dict[str, Any] | None:
        """get_object pinned to `etag`; None (member skipped) if the object is gone or was replaced."""
        pinned = {"IfMatch": etag} if etag else {}
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=member.key, ChecksumMode="ENABLED", **pinned)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                reason = "the file is no longer in the drop zone"
            elif code in ("PreconditionFailed", "412"):
                reason = "the file was replaced in the drop zone after it was matched; the next run takes it"
            else:
                raise
            self.skipped.append(SkippedMember(member, reason))
            return None


class _ResumableRead:
    """An object's chunks; a stream that breaks is resumed with a ranged GET of the same version."""

    def __init__(self, s3: Any, bucket: str, key: str, etag: str, chunk_size: int, body: Any):
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._etag = etag
        self._chunk_size = chunk_size
        self._body = body

    def chunks(self, first: Iterator[bytes]) -> Iterator[bytes]:
        position = 0
        retries = 0
        source = first
        while True:
            try:
                for chunk in source:
                    position += len(chunk)
                    yield chunk
                return
            except _BROKEN_STREAM:
                retries += 1
                if retries > READ_RETRIES:
                    raise
                self._body.close()
                self._body = self._s3.get_object(
                    Bucket=self._bucket, Key=self._key, IfMatch=self._etag, Range=f"bytes={position}-"
                )["Body"]
                source = self._body.iter_chunks(self._chunk_size)

    def close(self) -> None:
        self._body.close()


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _read_at_least(chunks: Iterator[bytes], count: int) -> list[bytes]:
    """The first chunks of a stream, enough for `count` bytes (fewer only at its end)."""
    head: list[bytes] = []
    while sum(map(len, head)) < count:
        chunk = next(chunks, None)
        if chunk is None:
            break
        head.append(chunk)
    return head


def _full_object_crc32(response: dict[str, Any]) -> int | None:
    """The object's CRC-32 as S3 stores it, if that is a checksum of the whole object.

    A multipart upload's checksum is by default a checksum of the part checksums ("COMPOSITE", value
    suffixed `-<parts>`); only "FULL_OBJECT" ones, or those of single-part objects, are the file's CRC-32.
    """
    value = response.get("ChecksumCRC32")
    if not value:
        return None
    checksum_type = response.get("ChecksumType")
    single_part = "-" not in value and "-" not in response.get("ETag", "")
    if checksum_type != "FULL_OBJECT" and not (checksum_type is None and single_part):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
