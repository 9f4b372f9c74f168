"""The bundle benchmark at a few MiB, so that it keeps working (the real run is `make bench`)."""

from __future__ import annotations

from bench.bench_bundle import MAX_RSS_GROWTH_MIB, OPERATIONS, rss_growth_mib, run_benchmark

MiB = 1024 * 1024


def test_benchmark_runs_every_operation_at_every_size_and_prints_the_table() -> None:
    lines: list[str] = []

    measurements = run_benchmark((2 / 1024, 6 / 1024), file_kib=(20, 60), out=lines.append)

    assert [(m.size_gib * 1024, m.operation) for m in measurements] == [
        (size, operation) for size in (2, 6) for operation in OPERATIONS
    ]
    for m in measurements:
        assert m.bytes == round(m.size_gib * 1024) * MiB
        assert m.files >= m.bytes // (60 * 1024)
        assert m.seconds > 0 and m.peak_rss_mib > 0
        # the copy is the bytes themselves; a bundle adds headers and metadata.json
        assert m.output_bytes == m.bytes if m.operation == "copy" else m.output_bytes > m.bytes
    growth = rss_growth_mib(measurements)
    assert growth is not None and growth < MAX_RSS_GROWTH_MIB
    table = lines[-1]
    assert "vs copy" in table and "bundle (CRC-32 from S3)" in table and "6 MiB" in table
    assert "(limit 64 MiB): OK" in table
