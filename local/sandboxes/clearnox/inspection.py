"""The checks of an uploaded bundle: the zip is opened and every member read to its end (so `zipfile`
verifies its CRC-32, as `ZipFile.testzip()` does, but reporting every bad member rather than the first)
while its SHA-256 and first bytes are taken; then `metadata.json` (`BundleMetadata`) is held against the
members: names, sizes, CRC-32s, SHA-256s, `%PDF-`, nothing missing and nothing unlisted.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

from invoice_relay.partners.clearnox.models import (
    METADATA_FILE_NAME,
    PDF_MAGIC,
    BundleMetadata,
    InvalidBundleMetadata,
    unsafe_file_name_reason,
)

from .store import Problem, Rejected

MAX_METADATA_BYTES = 32 * 1024**2
READ_BLOCK_BYTES = 256 * 1024


@dataclass
class MemberScan:
    """What reading one zip member to its end found."""

    sha256: str | None = None
    head: bytes = b""
    content: bytes | None = None  # metadata.json only


class BundleInspection:
    """Opens an uploaded zip and checks it against its metadata.json (everything but the entries' state,
    which is checked under the data lock when the bundle is imported). `run()` returns the metadata or
    raises Rejected with every problem found."""

    def __init__(self, archive: IO[bytes], bundle_id: str):
        self.archive = archive
        self.bundle_id = bundle_id
        self.problems: list[Problem] = []

    def run(self) -> BundleMetadata:
        self.archive.seek(0)
        try:
            with zipfile.ZipFile(self.archive) as bundle:
                members = bundle.infolist()
                self._check_names(members)
                scans = {id(info): self._scan(bundle, info) for info in members}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise Rejected(
                422, [Problem("invalid_archive", None, f"the body is not a readable zip: {exc}")]
            ) from None
        metadata = self._metadata(members, scans)
        self._check_files(metadata, members, scans)
        if self.problems:
            raise Rejected(422, self.problems)
        return metadata

    def _problem(self, code: str, target: str | None, message: str) -> None:
        self.problems.append(Problem(code, target, message))

    def _check_names(self, members: list[zipfile.ZipInfo]) -> None:
        seen: dict[str, str] = {}
        for info in members:
            name = info.filename
            reason = unsafe_file_name_reason(name.rstrip("/") if info.is_dir() else name)
            if reason is not None:
                self._problem("unsafe_file_name", name, f"the name {reason}")
            elif info.is_dir():
                self._problem("unlisted_file", name, "directories are not allowed in a bundle")
            key = name.casefold()
            if key in seen:
                self._problem(
                    "duplicate_file_name", name, f"the archive already has a member named {seen[key]!r}"
                )
            seen.setdefault(key, name)

    def _scan(self, bundle: zipfile.ZipFile, info: zipfile.ZipInfo) -> MemberScan | None:
        """Read one member to its end (zipfile checks its CRC-32 there); None if it cannot be read."""
        if info.is_dir():
            return MemberScan()
        is_metadata = info.filename == METADATA_FILE_NAME
        digest, head, content = hashlib.sha256(), b"", bytearray()
        try:
            with bundle.open(info) as member:
                while block := member.read(READ_BLOCK_BYTES):
                    digest.update(block)
                    head = head or block[: len(PDF_MAGIC)]
                    if is_metadata and len(content) <= MAX_METADATA_BYTES:
                        content += block
        except zipfile.BadZipFile as exc:
            code = "crc_mismatch" if "CRC" in str(exc) else "invalid_archive"
            self._problem(code, info.filename, f"the member is corrupt: {exc}")
            return None
        except (zlib.error, NotImplementedError, RuntimeError, EOFError, ValueError) as exc:
            self._problem("invalid_archive", info.filename, f"the member cannot be read: {exc}")
            return None
        return MemberScan(digest.hexdigest(), head, bytes(content) if is_metadata else None)

    def _metadata(
        self, members: list[zipfile.ZipInfo], scans: dict[int, MemberScan | None]
    ) -> BundleMetadata:
        info = next((i for i in members if i.filename == METADATA_FILE_NAME), None)
        if info is None:
            self._problem("metadata_missing", METADATA_FILE_NAME, "the bundle has no metadata.json")
            raise Rejected(422, self.problems)
        scan = scans[id(info)]
        if scan is None:
            raise Rejected(422, self.problems)
        if scan.content is None or len(scan.content) > MAX_METADATA_BYTES:
            self._problem("metadata_invalid", METADATA_FILE_NAME, f"larger than {MAX_METADATA_BYTES} bytes")
            raise Rejected(422, self.problems)
        try:
            metadata = BundleMetadata.from_json_bytes(scan.content)
        except InvalidBundleMetadata as exc:
            self.problems.extend(Problem("metadata_invalid", METADATA_FILE_NAME, p) for p in exc.problems)
            raise Rejected(422, self.problems) from None
        if metadata.bundle_id != self.bundle_id:
            self._problem(
                "bundle_id_mismatch",
                METADATA_FILE_NAME,
                f"bundle_id is {metadata.bundle_id}, X-Bundle-Id is {self.bundle_id}",
            )
        return metadata

    def _check_files(
        self,
        metadata: BundleMetadata,
        members: list[zipfile.ZipInfo],
        scans: dict[int, MemberScan | None],
    ) -> None:
        by_name = {info.filename: info for info in members}
        listed = {file.file_name for file in metadata.files}
        for info in members:
            if info.filename not in listed and info.filename != METADATA_FILE_NAME and not info.is_dir():
                self._problem("unlisted_file", info.filename, "the file is not listed in metadata.json")
        for file in metadata.files:
            info = by_name.get(file.file_name)
            if info is None:
                self._problem(
                    "missing_file", file.file_name, "listed in metadata.json but not in the archive"
                )
                continue
            if info.file_size != file.size:
                self._problem(
                    "size_mismatch",
                    file.file_name,
                    f"metadata.json says {file.size} bytes, the archive has {info.file_size}",
                )
            if f"{info.CRC:08x}" != file.crc32:
                self._problem(
                    "checksum_mismatch",
                    file.file_name,
                    f"metadata.json says CRC-32 {file.crc32}, the archive {info.CRC:08x}",
                )
            scan = scans[id(info)]
            if scan is None:
                continue  # unreadable: already reported
            if scan.sha256 != file.sha256:
                self._problem(
                    "checksum_mismatch",
                    file.file_name,
                    f"metadata.json says SHA-256 {file.sha256}, the file's is {scan.sha256}",
                )
            if scan.head != PDF_MAGIC:
                self._problem(
                    "not_a_pdf",
                    file.file_name,
                    f"the file does not start with %PDF- (starts with {scan.head!r})",
                )
