"""Bundle benchmark (issue 4): peak memory and throughput of streamed PDF bundles on the embedded S3.

For each size (default 0.25 GiB and 1 GiB) the drop zone gets PDF-like objects (a `%PDF-` header and
incompressible bytes, 200–600 KiB each: about 2,600 files per GiB). Then, each in a fresh child process
so that its peak RSS belongs to that run alone:

- `copy`: the baseline, a plain S3 copy of the same bytes: every object streamed (`get_object`, 1 MiB
  chunks) into one multipart upload with the same part size (8 MiB), no zip;
- `bundle`: `stream_bundle` of every object into one zip (STORED members, metadata.json), CRC-32s
  taken from S3's stored checksums (the normal case: the SDK uploaded them);
- `bundle-2pass`: the same with `use_s3_checksums=False`: every object is read twice (a CRC-32 pass,
  then the write pass), the fallback for objects uploaded without a CRC-32.

Peak RSS is the child's `VmHWM` (/proc/self/status) read at its end, interpreter and boto3 included;
`ru_maxrss` cannot be used for a child on Linux (see `peak_rss_mib`). The embedded S3 (moto server)
runs in this process and holds the objects; the children talk to it over loopback HTTP, so absolute
MiB/s are moto's, and the ratio to the copy is what carries over to AWS.

    python bench/bench_bundle.py                 # 0.25 and 1 GiB
    python bench/bench_bundle.py --quick         # 32 and 128 MiB, a smoke run
    python bench/bench_bundle.py --sizes 0.5,2   # any sizes, in GiB

The exit status is 1 when the bundle's peak RSS at the largest size exceeds the smallest size's by
`MAX_RSS_GROWTH_MIB` or more.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "shared") not in sys.path:  # run as a script (make bench): the layer and local/
    sys.path[:0] = [str(REPO_ROOT / "shared"), str(REPO_ROOT)]

MiB = 1024 * 1024
GiB = 1024 * MiB
DEFAULT_SIZES_GIB = (0.25, 1.0)
QUICK_SIZES_GIB = (32 / 1024, 128 / 1024)
FILE_KIB = (200, 600)
MAX_RSS_GROWTH_MIB = 64
OPERATIONS = {
    "copy": "S3 copy (baseline)",
    "bundle": "bundle (CRC-32 from S3)",
    "bundle-2pass": "bundle (two-pass CRC-32)",
}
_UPLOAD_THREADS = 8


@dataclass(frozen=True)
class Measurement:
    size_gib: float
    operation: str
    files: int
    bytes: int
    seconds: float
    peak_rss_mib: float
    output_bytes: int

    @property
    def mib_per_second(self) -> float:
        return self.bytes / MiB / self.seconds


# ------------------------------------------------------------------------------------- child process


def _copy(s3: Any, bucket: str, prefix: str, dest_key: str) -> dict[str, int]:
    """The baseline: every object's bytes, streamed into one multipart upload, no zip."""
    from invoice_relay.bundles.matching import index_drop_zone
    from invoice_relay.bundles.zipstream import READ_CHUNK_SIZE, S3MultipartWriter

    index = index_drop_zone(s3, bucket, prefix)
    with S3MultipartWriter(s3, bucket, dest_key, content_type="application/octet-stream") as writer:
        for found in index.values():
            body = s3.get_object(Bucket=bucket, Key=found.key)["Body"]
            for chunk in body.iter_chunks(READ_CHUNK_SIZE):
                writer.write(chunk)
            body.close()
    return {"files": len(index), "bytes": sum(f.size for f in index.values()), "output": writer.bytes_written}


def _bundle(s3: Any, bucket: str, prefix: str, dest_key: str, *, use_s3_checksums: bool) -> dict[str, int]:
    from invoice_relay.bundles.matching import index_drop_zone
    from invoice_relay.bundles.zipstream import BundleMember, WrittenMember, stream_bundle

    def metadata(written: list[WrittenMember]) -> bytes:
        files = [
            {"file_name": m.name, "size": m.size, "sha256": m.sha256, "crc32": m.crc32_hex} for m in written
        ]
        return json.dumps({"files": files}, indent=2).encode()

    index = index_drop_zone(s3, bucket, prefix)
    members = [BundleMember.for_entry(None, found) for found in index.values()]
    result = stream_bundle(
        s3, bucket, members, dest_key=dest_key, metadata_json=metadata, use_s3_checksums=use_s3_checksums
    )
    if result.skipped or len(result.members) != len(members):
        raise RuntimeError(
            f"bundle incomplete: {len(result.members)} of {len(members)}, {result.skipped[:3]}"
        )
    return {"files": len(result.members), "bytes": sum(m.size for m in result.members), "output": result.size}


def child_main(operation: str, bucket: str, prefix: str, dest_key: str) -> None:
    """One measured run; prints its figures as one JSON line."""
    import boto3

    s3 = boto3.client("s3")
    started = time.perf_counter()
    if operation == "copy":
        figures = _copy(s3, bucket, prefix, dest_key)
    else:
        figures = _bundle(s3, bucket, prefix, dest_key, use_s3_checksums=operation == "bundle")
    seconds = time.perf_counter() - started
    print(json.dumps({**figures, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident set size, in MiB.

    Linux: `VmHWM` of /proc/self/status. Not `ru_maxrss`: on exec Linux carries the forking parent's
    peak into the child's `ru_maxrss`, and the parent here holds the embedded S3's objects, so
    `ru_maxrss` would report the parent's size. Elsewhere `ru_maxrss` (bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MiB if sys.platform == "darwin" else peak / 1024


# ------------------------------------------------------------------------------------ parent process


def _label(size_gib: float) -> str:
    return f"{size_gib:g} GiB" if size_gib >= 0.25 else f"{size_gib * 1024:g} MiB"


def seed_drop_zone(s3: Any, bucket: str, prefix: str, total_bytes: int, file_kib: tuple[int, int]) -> int:
    """PDF-like objects (valid header, incompressible body) under `prefix`, `total_bytes` in all."""
    rng = random.Random(f"{prefix}{total_bytes}")
    sizes: list[int] = []
    while sum(sizes) < total_bytes:
        sizes.append(min(rng.randint(file_kib[0] * 1024, file_kib[1] * 1024), total_bytes - sum(sizes)))

    def upload(number: int, size: int) -> None:
        header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
        body = header + random.Random(number).randbytes(max(0, size - len(header)))
        s3.put_object(Bucket=bucket, Key=f"{prefix}{number:06d}.pdf", Body=body[: max(size, len(header))])

    with concurrent.futures.ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
        list(pool.map(upload, range(len(sizes)), sizes))
    return len(sizes)


def _measure(
    operation: str, size_gib: float, env: dict[str, str], bucket: str, prefix: str, dest: str
) -> Measurement:
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", operation, bucket, prefix, dest],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"{operation} at {_label(size_gib)} failed:\n{child.stderr}")
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    return Measurement(
        size_gib=size_gib,
        operation=operation,
        files=figures["files"],
        bytes=figures["bytes"],
        seconds=figures["seconds"],
        peak_rss_mib=figures["peak_rss_mib"],
        output_bytes=figures["output"],
    )


def _delete_all_versions(s3: Any, bucket: str, key: str) -> None:
    """The bucket is versioned: free moto's memory by deleting every version, not just the current one."""
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    for version in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def run_benchmark(
    sizes_gib: Sequence[float] = DEFAULT_SIZES_GIB,
    *,
    operations: Sequence[str] = tuple(OPERATIONS),
    file_kib: tuple[int, int] = FILE_KIB,
    out: Callable[[str], None] = print,
) -> list[Measurement]:
    """Seed, measure every operation at every size in fresh child processes, print the table."""
    from local.runtime.embedded_aws import EmbeddedAWS
    from local.runtime.template import load_template

    measurements: list[Measurement] = []
    with EmbeddedAWS() as aws:
        bucket = aws.create_resources(load_template())["DocumentBucket"]
        s3 = aws.client("s3")
        env = {
            **os.environ,
            **aws.env(),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "shared"), str(REPO_ROOT)]),
        }
        prefixes = {}
        for size_gib in sizes_gib:
            prefix = f"documents/bench-{size_gib:g}gib/"
            started = time.perf_counter()
            files = seed_drop_zone(s3, bucket, prefix, int(size_gib * GiB), file_kib)
            out(f"seeded {_label(size_gib)}: {files} PDFs in {time.perf_counter() - started:.1f} s")
            prefixes[size_gib] = prefix
        for size_gib in sizes_gib:
            for operation in operations:
                dest = f"bundles/bench/{size_gib:g}gib-{operation}.zip"
                measurements.append(_measure(operation, size_gib, env, bucket, prefixes[size_gib], dest))
                _delete_all_versions(s3, bucket, dest)
    out(format_table(measurements, file_kib=file_kib))
    return measurements


def rss_growth_mib(measurements: Sequence[Measurement], operation: str = "bundle") -> float | None:
    """Peak RSS of `operation` at the largest size minus at the smallest (None with one size)."""
    runs = sorted((m for m in measurements if m.operation == operation), key=lambda m: m.size_gib)
    return runs[-1].peak_rss_mib - runs[0].peak_rss_mib if len(runs) > 1 else None


def format_table(measurements: Sequence[Measurement], *, file_kib: tuple[int, int] = FILE_KIB) -> str:
    copy_speed = {m.size_gib: m.mib_per_second for m in measurements if m.operation == "copy"}
    lines = [
        "",
        "Bundle benchmark: embedded S3 (moto server on loopback), 8 MiB parts, 1 MiB reads;",
        f"PDF-like objects of {file_kib[0]}-{file_kib[1]} KiB, incompressible;"
        " peak RSS = VmHWM of a fresh child process per run",
        "",
        f"{'size':>9}  {'operation':<25} {'files':>6} {'MiB':>8} {'seconds':>8} {'MiB/s':>7} "
        f"{'peak RSS MiB':>12} {'vs copy':>8}",
    ]
    for m in measurements:
        ratio = m.mib_per_second / copy_speed[m.size_gib] if m.size_gib in copy_speed else None
        lines.append(
            f"{_label(m.size_gib):>9}  {OPERATIONS[m.operation]:<25} {m.files:>6} {m.bytes / MiB:>8.1f} "
            f"{m.seconds:>8.2f} {m.mib_per_second:>7.1f} {m.peak_rss_mib:>12.1f} "
            f"{f'{ratio:.2f}' if ratio is not None else '-':>8}"
        )
    sizes = sorted({m.size_gib for m in measurements})
    lines.append("")
    for operation in OPERATIONS:
        growth = rss_growth_mib(measurements, operation)
        if growth is not None:
            verdict = "OK" if growth < MAX_RSS_GROWTH_MIB else "TOO MUCH"
            lines.append(
                f"peak RSS {OPERATIONS[operation]}: {_label(sizes[-1])} - {_label(sizes[0])}"
                f" = {growth:+.1f} MiB (limit {MAX_RSS_GROWTH_MIB} MiB): {verdict}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", help="comma-separated sizes in GiB (default 0.25,1)")
    parser.add_argument("--quick", action="store_true", help="32 MiB and 128 MiB: a smoke run")
    parser.add_argument(
        "--child", nargs=4, metavar=("OPERATION", "BUCKET", "PREFIX", "DEST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0
    sizes = (
        tuple(float(s) for s in args.sizes.split(","))
        if args.sizes
        else QUICK_SIZES_GIB
        if args.quick
        else DEFAULT_SIZES_GIB
    )
    measurements = run_benchmark(sizes)
    growth = rss_growth_mib(measurements)
    return 1 if growth is not None and growth >= MAX_RSS_GROWTH_MIB else 0


if __name__ == "__main__":
    sys.exit(main())
