"""Pipeline benchmark (issue 9): flows 1+2 — ServiceTrade invoices → an import file in S3 + write-back —
against a bare loop doing the irreducible work, side by side on the same sandbox and embedded AWS.

For each size (default 1,000 and 20,000 pending invoices) the sandbox ServiceTrade is seeded afresh, and:

- `bare loop`: plain `requests` + boto3, no state: sign in, list every page (100 invoices a page, as the
  connector does), one status PUT per invoice, one CSV of the invoices to S3. Sequential, as a script would.
- `project`: PollFunction, then ExportFunction, through the local runner (the real handlers, Powertools
  stack, the template's timeouts: each run works to its time budget, so a large backlog takes several
  runs, each continuing where the last stopped — counted as `runs`), until every invoice is written back.

At the smallest size each side runs `--repeats` times (default 3), alternated, and the fastest pass of each
is compared (a busy machine slows one pass, not one side); the larger sizes run once. Both run in a fresh
child process that talks to the embedded AWS (moto server) and the sandbox over loopback,
so the child's peak RSS (`VmHWM`) is the pipeline's own, not moto's or the sandbox's. In the project's child,
`aws_usage.AwsUsage` counts every AWS call made inside a function (batch calls count once) and DynamoDB's
write units per its sizing rules (base table + GSI); partner calls are the sandbox's request log.
`cost_model.estimate` turns the counts, the handlers' measured GB-seconds and their log bytes into dollars
per million invoices at list prices (bench/prices.json).

    python bench/bench_pipeline.py            # 1,000 and 20,000 invoices
    python bench/bench_pipeline.py --quick    # 300 and 1,500: a smoke run
    python bench/bench_pipeline.py --sizes 500,5000

Exit status 1 when a goal is missed: throughput ≥ 0.5× the bare loop at the smallest size; ≤ 2 AWS calls and
≤ 4 write units per invoice; partner calls at the floor (pages + one write-back per invoice); every invoice
written back exactly once at every size; peak RSS at the largest size within 32 MiB of the smallest;
≤ $5 per million invoices.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
for path in (str(BENCH_DIR), str(REPO_ROOT), str(REPO_ROOT / "shared")):
    if path not in sys.path:
        sys.path.insert(0, path)

from bench_bundle import peak_rss_mib  # noqa: E402 - bench/ is on the path only from here

DEFAULT_SIZES = (1000, 20000)
QUICK_SIZES = (300, 1500)
PAGE_SIZE = 100
MIN_THROUGHPUT_RATIO = 0.5
MAX_CALLS_PER_INVOICE = 2.0
MAX_WRITE_UNITS_PER_INVOICE = 4.0
MAX_RSS_GROWTH_MIB = 32
MAX_USD_PER_MILLION = 5.0
MAX_RUNS = 400
DEFAULT_REPEATS = 3  # at the smallest size (the throughput goal's); the larger sizes run once
MiB = 1024 * 1024


# -- child processes ---------------------------------------------------------------------------------------


def _child_bare(spec: dict[str, Any]) -> dict[str, Any]:
    """The bare loop: what any integration must do, and nothing else."""
    import boto3
    import requests

    os.environ.update(spec["aws_env"])
    s3 = boto3.client("s3")
    base = spec["servicetrade_url"]
    started = time.perf_counter()
    session = requests.Session()
    session.post(f"{base}/api/auth", json=spec["login"], timeout=30).raise_for_status()
    invoices: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = session.get(
            f"{base}/api/invoice",
            params={"status": "pending_accounting", "type": "invoice", "page": page, "limit": PAGE_SIZE},
            timeout=30,
        )
        answer.raise_for_status()
        data = answer.json()["data"]
        invoices.extend(data["invoices"])
        if page >= data["totalPages"]:
            break
        page += 1
    for invoice in invoices:
        session.put(
            f"{base}/api/invoice/{invoice['id']}", json={"status": "processed"}, timeout=30
        ).raise_for_status()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["invoice_number", "customer", "total"])
    for invoice in invoices:
        writer.writerow(
            [
                invoice.get("invoiceNumber"),
                (invoice.get("customer") or {}).get("name"),
                invoice.get("totalPrice"),
            ]
        )
    s3.put_object(Bucket=spec["bucket"], Key=f"bare/{len(invoices)}.csv", Body=out.getvalue().encode())
    session.delete(f"{base}/api/auth", timeout=30)
    return {
        "seconds": time.perf_counter() - started,
        "invoices": len(invoices),
        "peak_rss_mib": peak_rss_mib(),
    }


def _child_project(spec: dict[str, Any]) -> dict[str, Any]:
    """PollFunction until the listing is walked, ExportFunction until nothing is staged or waiting."""
    os.environ.update(spec["shared_env"])
    from aws_usage import AwsUsage
    from cost_model import LogBytes

    from local.runtime import runner

    runner.reset_layer_caches()
    runner.capture_layer_logs()
    durations: dict[str, list[float]] = {"PollFunction": [], "ExportFunction": []}
    cid = spec["connector_id"]

    def invoke(function: str) -> dict[str, Any]:
        f = spec["functions"][function]
        clock = time.perf_counter()
        summary = runner.invoke(
            function,
            {"connector_id": cid},
            f["env"],
            code_uri=Path(f["code_uri"]),
            handler=f["handler"],
            timeout=f["timeout"],
            memory=f["memory"],
        )
        durations[function].append(time.perf_counter() - clock)
        return summary

    # The bare loop starts its clock with boto3 and requests imported: import the layer and the handlers'
    # modules first too (a cold start is bench_coldstart's subject, not this one's).
    import importlib

    for module in ("invoice_relay.pipeline.poll", "invoice_relay.pipeline.export", "invoice_relay.partners"):
        importlib.import_module(module)
    runs = {"PollFunction": 0, "ExportFunction": 0}
    started = time.perf_counter()
    # Computing write units reads every item before it is written (uncounted, but it takes time): the timed
    # pass only counts calls; a second, counted pass at the smallest size measures the units.
    counting = AwsUsage(
        where=lambda: runner.current_function() is not None, units_from_service=not spec["units"]
    )
    with LogBytes() as logged, counting as usage:
        while runs["PollFunction"] < MAX_RUNS:
            runs["PollFunction"] += 1
            summary = invoke("PollFunction")
            if not summary["counts"].get("continues_at_page"):
                break
        exported = 0
        while runs["ExportFunction"] < MAX_RUNS:
            runs["ExportFunction"] += 1
            summary = invoke("ExportFunction")
            counts = summary["counts"]
            exported += counts.get("exported", 0)
            if not counts.get("more_staged") and not counts.get("write_back_pending"):
                break
        seconds = time.perf_counter() - started
        snapshot = usage.snapshot()
    return {
        # The runs' own time: what happens between them is the benchmark's bookkeeping.
        "seconds": sum(sum(d) for d in durations.values()),
        "wall_seconds": seconds,
        "runs": runs,
        "exported": exported,
        "durations": durations,
        "peak_rss_mib": peak_rss_mib(),
        "log_bytes": logged.measure(),
        "calls": {f"{service}:{op}": n for (service, op), n in snapshot.calls.items()},
        "total_calls": snapshot.total_calls,
        "write_units": snapshot.write_units,
        "read_units": snapshot.read_units,
        "write_units_by_index": dict(snapshot.write_units_by_table_index),
        "snapshot": _snapshot_to_json(snapshot),
    }


def _run_child(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    answer = subprocess.run(
        [sys.executable, __file__, "--child", mode],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=False,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{answer.stderr[-4000:]}")

    return json.loads(answer.stdout.strip().splitlines()[-1])


# -- the parent: stack, sizes, figures -----------------------------------------------------------------


def _written_back(stack: Any) -> tuple[int, int, int]:
    """(PUTs to invoices, distinct invoices PUT, invoices still pending) from the sandbox's log."""
    puts = [r for r in stack.servicetrade.requests if r["method"] == "PUT" and "/api/invoice/" in r["path"]]
    distinct = {r["path"] for r in puts}
    pending = sum(1 for i in stack.servicetrade.invoices() if i.get("status") == "pending_accounting")
    return len(puts), len(distinct), pending


def _partner_calls(stack: Any) -> dict[str, int]:
    calls: dict[str, int] = {}
    for r in stack.servicetrade.requests:
        path = r["path"]
        what = (
            "list"
            if r["method"] == "GET" and path.rstrip("/").endswith("/api/invoice")
            else "get one"
            if r["method"] == "GET" and "/api/invoice/" in path
            else "write-back"
            if r["method"] == "PUT"
            else "comment"
            if "/api/comment" in path
            else "auth"
        )
        calls[what] = calls.get(what, 0) + 1
    return calls


def _measure(stack: Any, size: int, *, counted: bool, repeats: int = 1) -> dict[str, Any]:
    from cost_model import estimate, function_memory_mb, gb_seconds

    from local.runtime.template import functions

    st = stack.servicetrade
    spec_functions = {}
    for name in ("PollFunction", "ExportFunction"):
        f = functions(stack.template)[name]
        spec_functions[name] = {
            "env": stack.environment(name),
            "code_uri": str(f.code_uri),
            "handler": f.handler,
            "timeout": f.timeout,
            "memory": f.memory_size,
        }
    shared_env = {**stack.aws.env(), **stack.environment("PollFunction")}

    def bare_pass() -> dict[str, Any]:
        st.reset()
        st.seed_demo_data(count=size, broken=0, credits=0)
        spec = {
            "aws_env": stack.aws.env(),
            "servicetrade_url": st.base_url,
            "login": {"username": st.username, "password": st.password},
            "bucket": stack.bucket_name,
        }
        return _run_child("bare", spec)

    def project_pass(cid: str, *, units: bool) -> dict[str, Any]:
        """The project on a freshly seeded sandbox, under a connector of its own."""
        st.reset()
        st.seed_demo_data(count=size, broken=0, credits=0)
        stack.add_servicetrade_connector(cid, template="generic_csv", page_size=PAGE_SIZE)
        spec = {"connector_id": cid, "functions": spec_functions, "shared_env": shared_env, "units": units}
        return _run_child("project", spec)

    # Alternated, `repeats` times each, the fastest of each kept: a busy machine slows one pass, not a side.
    bares: list[dict[str, Any]] = []
    passes: list[tuple[dict[str, Any], tuple[int, int, int]]] = []
    for attempt in range(repeats):
        bares.append(bare_pass())
        one = project_pass(f"bench-{size}-{attempt}", units=False)
        passes.append((one, _written_back(stack)))
        partner = _partner_calls(stack)
    bare = min(bares, key=lambda b: b["seconds"])
    # Each pass must write every invoice back once: a pass that did not is the one reported.
    wrong = [p for p in passes if p[1] != (size, size, 0)]
    project, (puts, distinct, pending) = wrong[0] if wrong else min(passes, key=lambda p: p[0]["seconds"])
    cost = None
    if counted:
        units = project_pass(f"bench-{size}-counted", units=True)
        project["write_units"] = units["write_units"]
        project["write_units_by_index"] = units["write_units_by_index"]
        cost = estimate(
            _snapshot_from_json(units["snapshot"]),
            documents=size,
            lambda_invocations={k: len(v) for k, v in project["durations"].items()},
            lambda_gb_seconds=gb_seconds(project["durations"], function_memory_mb()),  # the timed pass's
            log_bytes=units["log_bytes"],
        )
    return {
        "size": size,
        "bare": bare,
        "project": project,
        "puts": puts,
        "distinct_puts": distinct,
        "pending_after": pending,
        "partner": partner,
        "cost": cost,
    }


def _snapshot_to_json(snapshot: Any) -> dict[str, Any]:
    """A `UsageSnapshot` as JSON, to carry it out of the child process."""
    out: dict[str, Any] = {}
    for name, value in vars(snapshot).items():
        if name == "calls":
            out[name] = [[service, op, n] for (service, op), n in value.items()]
        else:
            out[name] = dict(value) if isinstance(value, dict) else value
    return out


def _snapshot_from_json(data: dict[str, Any]) -> Any:
    from collections import Counter

    from aws_usage import UsageSnapshot

    fields = {
        name: Counter({(s, o): n for s, o, n in value})
        if name == "calls"
        else Counter(value)
        if isinstance(value, dict)
        else value
        for name, value in data.items()
    }
    return UsageSnapshot(**fields)


def _report(results: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    first, last = results[0], results[-1]
    print()
    print(
        "| invoices | bare loop /s | project /s | ratio | runs (poll + export) | AWS calls /invoice"
        " | write units /invoice | partner calls /invoice | peak RSS MiB (bare / project) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        size, bare, project = r["size"], r["bare"], r["project"]
        bare_rate, rate = size / bare["seconds"], size / project["seconds"]
        units = f"{project['write_units'] / size:.2f}" if r["cost"] else "(counted at the smallest size)"
        print(
            f"| {size:,} | {bare_rate:,.0f} | {rate:,.0f} | {rate / bare_rate:.2f}× |"
            f" {project['runs']['PollFunction']} + {project['runs']['ExportFunction']} |"
            f" {project['total_calls'] / size:.3f} | {units} | {sum(r['partner'].values()) / size:.3f} |"
            f" {bare['peak_rss_mib']:.0f} / {project['peak_rss_mib']:.0f} |"
        )
    for r in results:
        size, project = r["size"], r["project"]
        by_operation = sorted(project["calls"].items(), key=lambda kv: -kv[1])
        print(f"\n{size:,} invoices — AWS calls: " + ", ".join(f"{k} {v}" for k, v in by_operation))
        print("  partner calls: " + ", ".join(f"{k} {v}" for k, v in sorted(r["partner"].items())))
        if r["cost"]:
            units = ", ".join(f"{k} {v:g}" for k, v in project["write_units_by_index"].items())
            print(f"  write units by table/index: {units}")
            print(r["cost"].per_million().table())
        problems.extend(_goals_missed(r))
    rate = first["size"] / first["project"]["seconds"]
    ratio = rate / (first["size"] / first["bare"]["seconds"])
    if ratio < MIN_THROUGHPUT_RATIO:
        problems.append(f"{first['size']}: throughput {ratio:.2f}× the bare loop < {MIN_THROUGHPUT_RATIO}×")
    growth = last["project"]["peak_rss_mib"] - first["project"]["peak_rss_mib"]
    print(
        f"\npeak RSS {first['size']:,} → {last['size']:,} invoices: {growth:+.1f} MiB"
        f" (limit +{MAX_RSS_GROWTH_MIB})"
    )
    if growth > MAX_RSS_GROWTH_MIB:
        problems.append(f"peak RSS grows {growth:.1f} MiB from {first['size']} to {last['size']} invoices")
    return problems


def _goals_missed(r: dict[str, Any]) -> list[str]:
    size, project, partner = r["size"], r["project"], r["partner"]
    problems = []
    floor = -(-size // PAGE_SIZE) + size  # listing pages + one write-back per invoice
    listing_and_puts = partner.get("list", 0) + partner.get("write-back", 0)
    if partner.get("get one", 0):
        problems.append(f"{size}: {partner['get one']} single-invoice GETs (the listing carries the invoice)")
    if listing_and_puts > floor + project["runs"]["PollFunction"]:  # a resumed listing re-reads its page
        problems.append(f"{size}: {listing_and_puts} listing + write-back calls, floor {floor}")
    if r["distinct_puts"] != size or r["puts"] != size or r["pending_after"]:
        problems.append(
            f"{size}: {r['puts']} write-backs for {r['distinct_puts']} of {size} invoices,"
            f" {r['pending_after']} still pending (each written back once)"
        )
    if project["exported"] != size:
        problems.append(f"{size}: {project['exported']} invoices exported, {size} expected")
    if project["total_calls"] / size > MAX_CALLS_PER_INVOICE:
        problems.append(f"{size}: {project['total_calls'] / size:.2f} AWS calls per invoice")
    if r["cost"]:
        if project["write_units"] / size > MAX_WRITE_UNITS_PER_INVOICE:
            problems.append(f"{size}: {project['write_units'] / size:.2f} write units per invoice")
        if r["cost"].per_million().total > MAX_USD_PER_MILLION:
            problems.append(f"{size}: ${r['cost'].per_million().total:.2f} per million invoices")
    return problems


def _aws_in_its_own_process() -> Any:
    """The embedded AWS (moto server, with the local runtime's patches) in a process of its own, as AWS is a
    service of its own: its work must not share the sandbox's interpreter (one GIL for both would charge
    every DynamoDB call of the project to the partner's time, and the bare loop makes none)."""
    import socket

    from local.runtime.embedded_aws import EmbeddedAWS

    class SeparateAWS(EmbeddedAWS):
        _process: subprocess.Popen[bytes] | None = None

        def start(self) -> SeparateAWS:
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                port = probe.getsockname()[1]
            code = (
                "import sys, threading; sys.path[:0] = sys.argv[2:];"
                " from local.runtime.embedded_aws import EmbeddedAWS;"
                " EmbeddedAWS(port=int(sys.argv[1])).start(); threading.Event().wait()"
            )
            self._process = subprocess.Popen(
                [sys.executable, "-c", code, str(port), str(REPO_ROOT), str(REPO_ROOT / "shared")]
            )
            self._port = port
            self._wait_until_answering()
            return self

        def stop(self) -> None:
            if self._process is not None:
                self._process.terminate()
                self._process.wait(timeout=30)
                self._process = None

    return SeparateAWS()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    parser.add_argument("--sizes", help="comma-separated invoice counts")
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help=f"passes of each side at the smallest size, alternated, the fastest kept ({DEFAULT_REPEATS})",
    )
    parser.add_argument("--child", choices=("bare", "project"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(sys.stdin.read())
        if os.environ.get("BENCH_PROFILE") and args.child == "project":  # where the time goes
            import cProfile

            with cProfile.Profile() as profile:
                result = _child_project(spec)
            profile.dump_stats(os.environ["BENCH_PROFILE"])
        else:
            result = _child_bare(spec) if args.child == "bare" else _child_project(spec)
        print(json.dumps(result))
        return 0
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    )

    from local.scenarios.stack import LocalStack

    print(
        f"pipeline benchmark — flows 1+2, sizes {sizes}, {PAGE_SIZE} invoices a page,"
        f" {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    results = []
    stack = LocalStack(seed_demo=False)
    stack.aws = _aws_in_its_own_process()
    with stack:
        for size in sizes:
            clock = time.perf_counter()
            first = size == sizes[0]
            results.append(_measure(stack, size, counted=first, repeats=args.repeats if first else 1))
            last = results[-1]
            durations = {k: [round(d, 1) for d in v] for k, v in last["project"]["durations"].items()}
            print(
                f"  {size:,} invoices measured in {time.perf_counter() - clock:.0f} s; the project's runs"
                f" took {durations} s, the bare loop {last['bare']['seconds']:.1f} s",
                flush=True,
            )
    problems = _report(results)
    for problem in problems:
        print(f"GOAL MISSED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
