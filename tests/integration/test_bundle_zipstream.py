"""Streamed zip bundles on the embedded S3: valid archives, skipped non-PDFs, multipart, Zip64, memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ResponseStreamingError

from invoice_relay.bundles import zipstream
from invoice_relay.bundles.matching import DropZoneObject, index_drop_zone
from invoice_relay.bundles.zipstream import (
    METADATA_NAME,
    BundleMember,
    S3MultipartWriter,
    WrittenMember,
    check_pdf,
    plan_bundles,
    stream_bundle,
    zip64_needed,
)
from invoice_relay.errors import TransientError
from local.runtime.embedded_aws import EmbeddedAWS
from local.runtime.template import REPO_ROOT, load_template

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAWS]:
    with EmbeddedAWS() as embedded_aws:
        embedded_aws.create_resources(load_template())
        yield embedded_aws


@pytest.fixture(scope="module")
def bucket(aws: EmbeddedAWS) -> str:
    return aws.physical["DocumentBucket"]


@pytest.fixture
def s3(aws: EmbeddedAWS) -> Any:
    return aws.client("s3")


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A drop zone of its own for each test (the module shares one bucket)."""
    return f"documents/{request.node.name.replace('[', '-').replace(']', '')}/"


def pdf_bytes(size: int) -> bytes:
    header = b"%PDF-1.7\n"
    return header + os.urandom(size - len(header)) if size > len(header) else header[:size]


def put(s3: Any, bucket: str, key: str, body: bytes) -> BundleMember:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return BundleMember(key=key, size=len(body), entry={"id": key.rsplit("/", 1)[-1]})


def metadata_of(written: list[WrittenMember]) -> bytes:
    files = [
        {"file_name": m.name, "size": m.size, "sha256": m.sha256, "crc32": m.crc32_hex, "key": m.key}
        for m in written
    ]
    return json.dumps({"files": files}, indent=2).encode()


def stored_zip(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def assert_valid_bundle(data: bytes, written: list[WrittenMember]) -> dict[str, Any]:
    """The archive opens, every CRC checks, members are STORED, metadata.json is last and exact."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    infos = archive.infolist()
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    assert [info.filename for info in infos] == [m.name for m in written] + [METADATA_NAME]
    metadata = json.loads(archive.read(METADATA_NAME))
    assert [f["file_name"] for f in metadata["files"]] == [m.name for m in written]
    for listed in metadata["files"]:
        content = archive.read(listed["file_name"])
        assert content.startswith(b"%PDF-")
        assert listed["size"] == len(content) == archive.getinfo(listed["file_name"]).file_size
        assert listed["sha256"] == hashlib.sha256(content).hexdigest()
        assert (
            listed["crc32"]
            == f"{zlib.crc32(content):08x}"
            == f"{archive.getinfo(listed['file_name']).CRC:08x}"
        )
    return metadata


class CountingS3:
    """The real client, counting calls and letting a test replace one operation."""

    def __init__(self, client: Any, **overrides: Any):
        self._client = client
        self._overrides = overrides
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        operation = self._overrides.get(name) or getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return operation(*args, **kwargs)

        return call if callable(operation) else operation


# ------------------------------------------------------------------------------------------- archives


def test_bundle_is_a_valid_zip_with_exact_metadata_and_non_pdfs_skipped(
    s3: Any, bucket: str, prefix: str
) -> None:
    members = [
        put(s3, bucket, f"{prefix}1042.pdf", pdf_bytes(300_000)),
        put(s3, bucket, f"{prefix}a/INV 1043 (copy).pdf", pdf_bytes(1000)),
        put(s3, bucket, f"{prefix}../../etc/passwd.pdf", pdf_bytes(2000)),
        put(s3, bucket, f"{prefix}b/1042.PDF", pdf_bytes(5000)),  # same name as the first, other case
        put(s3, bucket, f"{prefix}not-a-pdf.pdf", b"PK\x03\x04 a zip, not a PDF"),
        put(s3, bucket, f"{prefix}empty.pdf", b""),
        put(s3, bucket, f"{prefix}metadata.json", pdf_bytes(500)),  # cannot shadow the real metadata
    ]

    result = stream_bundle(s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of)

    data = stored_zip(s3, bucket, f"bundles/{prefix}b.zip")
    assert (result.key, result.size, result.sha256) == (
        f"bundles/{prefix}b.zip",
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    assert [m.name for m in result.members] == [
        "1042.pdf",
        "INV_1043_copy.pdf",
        "passwd.pdf",
        "1042-2.PDF",
        "metadata-2.json",
    ]
    assert [m.entry for m in result.members] == [members[i].entry for i in (0, 1, 2, 3, 6)]
    assert [(s.member.key, s.reason) for s in result.skipped] == [
        (f"{prefix}not-a-pdf.pdf", "not a PDF: it starts with 'PK\\x03\\x04 a z', not with '%PDF-'"),
        (f"{prefix}empty.pdf", "the file is empty (0 bytes)"),
    ]
    assert result.parts == 0  # under one part: a single put_object
    assert not result.zip64
    assert_valid_bundle(data, result.members)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read("passwd.pdf") == s3.get_object(Bucket=bucket, Key=members[2].key)["Body"].read()


def test_member_sizes_follow_the_planned_layout_exactly(s3: Any, bucket: str, prefix: str) -> None:
    members = [put(s3, bucket, f"{prefix}{n}.pdf", pdf_bytes(10_000 + n)) for n in range(3)]
    result = stream_bundle(s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of)
    metadata_size = len(metadata_of(result.members))
    names = [m.name for m in result.members] + [METADATA_NAME]
    expected = (
        sum(m.size for m in result.members)
        + metadata_size
        + sum(zipstream.member_overhead(len(n), zip64=False) for n in names)
        + zipstream.end_records_size(zip64=False)
    )
    assert result.size == expected


@pytest.mark.parametrize("use_s3_checksums", [True, False])
def test_crc32_comes_from_s3_when_it_has_one_else_from_a_first_read(
    aws: EmbeddedAWS, bucket: str, prefix: str, use_s3_checksums: bool
) -> None:
    real = aws.client("s3")
    no_checksum_uploader = boto3.client(
        "s3",
        endpoint_url=aws.endpoint_url,
        region_name=aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(request_checksum_calculation="when_required"),
    )
    with_crc = put(real, bucket, f"{prefix}with-crc.pdf", pdf_bytes(200_000))
    without_crc = put(no_checksum_uploader, bucket, f"{prefix}without-crc.pdf", pdf_bytes(200_000))
    assert "ChecksumCRC32" not in real.head_object(Bucket=bucket, Key=without_crc.key, ChecksumMode="ENABLED")

    counting = CountingS3(real)
    result = stream_bundle(
        counting,
        bucket,
        [with_crc, without_crc],
        dest_key=f"bundles/{prefix}b.zip",
        metadata_json=metadata_of,
        use_s3_checksums=use_s3_checksums,
    )

    # One GET per file when S3's CRC-32 is used; two (CRC pass + write pass) otherwise.
    assert counting.calls["get_object"] == (3 if use_s3_checksums else 4)
    assert_valid_bundle(stored_zip(real, bucket, f"bundles/{prefix}b.zip"), result.members)


def test_multipart_upload_with_several_parts_for_a_bundle_over_8_mib(
    s3: Any, bucket: str, prefix: str
) -> None:
    members = [put(s3, bucket, f"{prefix}{n}.pdf", pdf_bytes(3 * MiB)) for n in range(7)]  # 21 MiB

    result = stream_bundle(s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of)

    assert result.parts == 3
    head = s3.head_object(Bucket=bucket, Key=result.key)
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == result.size
    assert head["ContentType"] == "application/zip"
    assert_valid_bundle(stored_zip(s3, bucket, result.key), result.members)


def test_forced_zip64_writes_zip64_members_and_end_records(s3: Any, bucket: str, prefix: str) -> None:
    members = [put(s3, bucket, f"{prefix}{n}.pdf", pdf_bytes(50_000)) for n in range(3)]

    result = stream_bundle(
        s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of, force_zip64=True
    )

    data = stored_zip(s3, bucket, result.key)
    assert result.zip64
    assert_valid_bundle(data, result.members)
    assert_zip64_end_records(data, entries=4)
    assert all(info.extract_version == 45 for info in zipfile.ZipFile(io.BytesIO(data)).infolist())


def test_zip64_starts_at_the_first_member_that_needs_it(
    s3: Any, bucket: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 1 MiB "4 GiB limit" instead of writing 4 GiB: the switch logic is the same.
    monkeypatch.setattr(zipstream, "_ZIP32_LIMIT", MiB)
    members = [put(s3, bucket, f"{prefix}{n}.pdf", pdf_bytes(400_000)) for n in range(4)]

    result = stream_bundle(s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of)

    data = stored_zip(s3, bucket, result.key)
    versions = [info.extract_version for info in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    assert versions == [20, 20, 45, 45, 45]  # the third would end beyond the limit
    assert_valid_bundle(data, result.members)
    assert_zip64_end_records(data, entries=5)


def assert_zip64_end_records(data: bytes, *, entries: int) -> None:
    end = data[-22:]
    assert end[:4] == b"PK\x05\x06"
    assert struct.unpack("<HHHHIIH", end[4:])[2:6] == (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    locator = data[-42:-22]
    assert locator[:4] == b"PK\x06\x07"
    record_offset = struct.unpack("<IQI", locator[4:])[1]
    record = data[record_offset : record_offset + 56]
    assert record[:4] == b"PK\x06\x06"
    assert struct.unpack("<QHHIIQQQQ", record[4:])[5:7] == (entries, entries)


@pytest.mark.parametrize(
    ("offset", "size", "entries", "last", "needed"),
    [
        (0, 600 * MiB, 10, False, False),
        (4 * 1024 * MiB - 700 * MiB, 600 * MiB, 10, False, False),
        (4 * 1024 * MiB - 500 * MiB, 600 * MiB, 10, False, True),  # would end beyond 4 GiB
        (0, 5 * 1024 * MiB, 0, False, True),  # the file itself is over 4 GiB
        (0, 1000, 0xFFFD, False, False),
        (0, 1000, 0xFFFE, False, True),  # metadata.json would be entry 65537
        (0, 1000, 0xFFFE, True, False),  # metadata.json itself: entry 65535 fits
    ],
)
def test_zip64_decision(offset: int, size: int, entries: int, last: bool, needed: bool) -> None:
    assert zip64_needed(offset, size, 20, entries, last=last) is needed


# ------------------------------------------------------------------------------------ drop-zone changes


def test_a_file_replaced_or_deleted_after_matching_is_skipped(s3: Any, bucket: str, prefix: str) -> None:
    kept = put(s3, bucket, f"{prefix}1.pdf", pdf_bytes(1000))
    put(s3, bucket, f"{prefix}2.pdf", pdf_bytes(1000))
    put(s3, bucket, f"{prefix}3.pdf", pdf_bytes(1000))
    index = index_drop_zone(s3, bucket, prefix)
    s3.put_object(Bucket=bucket, Key=f"{prefix}2.pdf", Body=pdf_bytes(1200))  # replaced by the customer
    s3.delete_object(Bucket=bucket, Key=f"{prefix}3.pdf")
    members = [BundleMember.for_entry({"id": n}, index[f"{n}.pdf"]) for n in ("1", "2", "3")]

    result = stream_bundle(s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of)

    assert [m.key for m in result.members] == [kept.key]
    assert [(s.member.key, s.reason.split(";")[0]) for s in result.skipped] == [
        (f"{prefix}2.pdf", "the file was replaced in the drop zone after it was matched"),
        (f"{prefix}3.pdf", "the file is no longer in the drop zone"),
    ]


def test_a_broken_read_resumes_where_it_stopped(aws: EmbeddedAWS, bucket: str, prefix: str) -> None:
    real = aws.client("s3")
    member = put(real, bucket, f"{prefix}big.pdf", pdf_bytes(5 * MiB))
    broken = {"left": 1}

    def get_object(**kwargs: Any) -> dict[str, Any]:
        response = real.get_object(**kwargs)
        if broken["left"] and "Range" not in kwargs:
            broken["left"] -= 1
            response["Body"] = BreaksAfter(response["Body"], 2 * MiB + 123)
        return response

    counting = CountingS3(real, get_object=get_object)
    result = stream_bundle(
        counting, bucket, [member], dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of
    )

    assert counting.calls["get_object"] == 2  # the original and one ranged resume
    data = stored_zip(real, bucket, result.key)
    assert_valid_bundle(data, result.members)
    original = real.get_object(Bucket=bucket, Key=member.key)["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(data)).read("big.pdf") == original


class BreaksAfter:
    """A response body whose connection drops after `limit` bytes."""

    def __init__(self, body: Any, limit: int):
        self._body = body
        self._left = limit

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        for chunk in self._body.iter_chunks(min(chunk_size, self._left) or 1):
            if self._left <= 0:
                raise ResponseStreamingError(error="connection reset by peer")
            self._left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._body.close()


# --------------------------------------------------------------------------------------- failures


def no_uploads_left(s3: Any, bucket: str, key: str) -> bool:
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return not uploads and "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key)


def test_nothing_is_stored_when_no_file_can_be_bundled(s3: Any, bucket: str, prefix: str) -> None:
    members = [put(s3, bucket, f"{prefix}x.pdf", b"hello"), put(s3, bucket, f"{prefix}y.pdf", b"")]
    key = f"bundles/{prefix}b.zip"

    result = stream_bundle(s3, bucket, members, dest_key=key, metadata_json=metadata_of)

    assert (result.key, result.size, result.members) == (None, 0, [])
    assert len(result.skipped) == 2
    assert no_uploads_left(s3, bucket, key)


def test_an_s3_failure_mid_upload_aborts_the_multipart_upload(
    aws: EmbeddedAWS, bucket: str, prefix: str
) -> None:
    real = aws.client("s3")
    members = [put(real, bucket, f"{prefix}{n}.pdf", pdf_bytes(3 * MiB)) for n in range(7)]
    parts = {"n": 0}

    def upload_part(**kwargs: Any) -> dict[str, Any]:
        parts["n"] += 1
        if parts["n"] == 2:
            raise ConnectionError("network down")
        return real.upload_part(**kwargs)

    key = f"bundles/{prefix}b.zip"
    with pytest.raises(ConnectionError):
        stream_bundle(
            CountingS3(real, upload_part=upload_part),
            bucket,
            members,
            dest_key=key,
            metadata_json=metadata_of,
        )
    assert no_uploads_left(real, bucket, key)


def test_bytes_that_contradict_the_s3_checksum_fail_the_bundle(
    aws: EmbeddedAWS, bucket: str, prefix: str
) -> None:
    real = aws.client("s3")
    members = [put(real, bucket, f"{prefix}{n}.pdf", pdf_bytes(100_000)) for n in range(2)]

    def get_object(**kwargs: Any) -> dict[str, Any]:
        response = real.get_object(**kwargs)
        if kwargs["Key"].endswith("1.pdf"):
            response["ChecksumCRC32"] = "AAAAAA=="  # what a corrupted read would look like
        return response

    key = f"bundles/{prefix}b.zip"
    with pytest.raises(TransientError, match=r"1\.pdf was read with another CRC-32 than S3 stated"):
        stream_bundle(
            CountingS3(real, get_object=get_object), bucket, members, dest_key=key, metadata_json=metadata_of
        )
    assert no_uploads_left(real, bucket, key)


def test_check_pdf() -> None:
    assert check_pdf(b"%PDF-1.4\n", 100) is None
    assert check_pdf(b"", 0) == "the file is empty (0 bytes)"
    assert check_pdf(b"%PD", 3) == "not a PDF: it starts with '%PD', not with '%PDF-'"
    assert check_pdf(b"\xef\xbb\xbf%PDF-1.4", 100) is not None


def test_multipart_writer_stores_small_objects_with_one_put(s3: Any, bucket: str, prefix: str) -> None:
    with S3MultipartWriter(s3, bucket, f"{prefix}small.bin", part_size=5 * MiB) as writer:
        writer.write(b"abc")
        writer.write(memoryview(b"def"))
    assert (writer.parts, writer.bytes_written, writer.sha256) == (
        0,
        6,
        hashlib.sha256(b"abcdef").hexdigest(),
    )
    assert s3.get_object(Bucket=bucket, Key=f"{prefix}small.bin")["Body"].read() == b"abcdef"


def test_multipart_writer_cuts_exact_parts(aws: EmbeddedAWS, bucket: str, prefix: str) -> None:
    real = aws.client("s3")
    part_sizes: list[int] = []

    def upload_part(**kwargs: Any) -> dict[str, Any]:
        part_sizes.append(len(kwargs["Body"]))
        return real.upload_part(**kwargs)

    data = os.urandom(11 * MiB + 17)
    s3 = CountingS3(real, upload_part=upload_part)
    with S3MultipartWriter(s3, bucket, f"{prefix}big.bin", part_size=5 * MiB) as writer:
        for start in range(0, len(data), 700_001):
            writer.write(data[start : start + 700_001])
    assert part_sizes == [5 * MiB, 5 * MiB, MiB + 17]
    assert writer.parts == 3
    assert real.get_object(Bucket=bucket, Key=f"{prefix}big.bin")["Body"].read() == data
    assert writer.sha256 == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------- planning


def found(key: str, size: int) -> DropZoneObject:
    return DropZoneObject(
        key=key, size=size, etag='"e"', last_modified=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    )


def test_plans_split_at_the_file_count() -> None:
    matched = [({"id": n}, found(f"d/{n}.pdf", 1000)) for n in range(7)]
    plans = plan_bundles(matched, max_bytes=None, max_files=3)
    assert [[m.entry["id"] for m in plan] for plan in plans] == [[0, 1, 2], [3, 4, 5], [6]]
    assert plans[0][0] == BundleMember(
        key="d/0.pdf", size=1000, etag='"e"', last_modified=matched[0][1].last_modified, entry={"id": 0}
    )


def test_plans_split_at_the_size_and_an_oversized_file_goes_alone() -> None:
    matched = [
        ({"id": n}, found(f"d/{n}.pdf", size)) for n, size in enumerate([4 * MiB, 4 * MiB, 30 * MiB, 1 * MiB])
    ]
    plans = plan_bundles(matched, max_bytes=10 * MiB, max_files=100)
    assert [[m.entry["id"] for m in plan] for plan in plans] == [[0, 1], [2], [3]]


def test_planned_bundles_stay_within_the_limit_and_nothing_is_deferred(
    s3: Any, bucket: str, prefix: str
) -> None:
    for n in range(12):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{n}.pdf", Body=pdf_bytes(300_000 + n * 1000))
    index = index_drop_zone(s3, bucket, prefix)
    matched = [({"id": n}, index[f"{n}.pdf"]) for n in range(12)]
    limit = MiB + 300_000
    plans = plan_bundles(matched, max_bytes=limit, max_files=50)
    assert [len(plan) for plan in plans] == [4, 4, 4]  # a fifth file would pass the limit
    for number, plan in enumerate(plans):
        result = stream_bundle(
            s3,
            bucket,
            plan,
            dest_key=f"bundles/{prefix}{number}.zip",
            metadata_json=metadata_of,
            max_bytes=limit,
        )
        assert result.size <= limit
        assert result.deferred == []
        assert len(result.members) == len(plan)


def test_max_bytes_defers_what_does_not_fit(s3: Any, bucket: str, prefix: str) -> None:
    members = [
        put(s3, bucket, f"{prefix}{n}.pdf", pdf_bytes(size))
        for n, size in enumerate([400_000, 700_000, 100_000])
    ]
    result = stream_bundle(
        s3, bucket, members, dest_key=f"bundles/{prefix}b.zip", metadata_json=metadata_of, max_bytes=MiB
    )
    assert [m.key for m in result.members] == [members[0].key, members[2].key]
    assert result.deferred == [members[1]]
    assert result.size <= MiB


# ----------------------------------------------------------------------------------------- memory

_MEMORY_CHILD = textwrap.dedent(
    """
    import json, sys, tracemalloc, boto3
    from invoice_relay.bundles.zipstream import BundleMember, stream_bundle

    bucket, prefix, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s3 = boto3.client("s3")
    members = [BundleMember(key=f"{prefix}{n}.pdf", size=size) for n in range(count)]
    metadata = lambda written: json.dumps([m.name for m in written]).encode()
    stream_bundle(s3, bucket, members[:1], dest_key=prefix + "warm-up.zip", metadata_json=metadata)
    tracemalloc.start()
    result = stream_bundle(s3, bucket, members, dest_key=prefix + "bundle.zip", metadata_json=metadata)
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps(
        {"peak": peak, "size": result.size, "files": len(result.members), "parts": result.parts}
    ))
    """
)


def test_peak_python_memory_stays_far_below_the_bundle_size(
    aws: EmbeddedAWS, bucket: str, prefix: str
) -> None:
    """64 MiB bundled in a child process (the embedded S3 in this one holds the objects), traced."""
    s3 = aws.client("s3")
    count, size = 32, 2 * MiB
    for n in range(count):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{n}.pdf", Body=pdf_bytes(size))
    env = {
        **os.environ,
        **aws.env(),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "shared"), str(REPO_ROOT)]),
    }

    child = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, bucket, prefix, str(count), str(size)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert child.returncode == 0, child.stderr
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    assert measured["files"] == count
    assert measured["size"] > count * size
    assert measured["parts"] == 9  # 64 MiB and the headers: 8 full parts and a short one
    print(f"peak Python allocations while bundling 64 MiB: {measured['peak'] / MiB:.1f} MiB")
    assert measured["peak"] < 24 * MiB, f"peak Python allocations {measured['peak'] / MiB:.1f} MiB"
