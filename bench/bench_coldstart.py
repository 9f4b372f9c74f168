"""Cold-start benchmark (issue 9): each function as `sam build` ships it vs a bare handler, ratio ≤ 1.3.

What a cold start does before the first event, measured in fresh child processes with the Lambda
environment: import the function's handler module from the build output (`.aws-sam/build/<Function>`)
and create the clients it uses (`services()`: the DynamoDB Table resource, S3 and SQS clients). The
baseline is a bare handler that imports boto3 and creates the same three clients at import. Each is run
`--runs` times (interleaved, so a busy machine slows both alike); the table shows medians and p90s of the
time inside the child from the first import to the last client (interpreter start-up, the same for both,
is left out, which makes the ratio stricter). Under the functions, a "stack floor" row times the bare
handler plus what every function stands on before its own code (Powertools' Logger, Metrics and Tracer
with X-Ray patching botocore, one pydantic model): a reading aid for how much of a ratio is the project's.

The child sees Lambda's layout:
- `sys.path`: the function's folder (/var/task), then the layer's `python/` (/opt/python), then a
  stand-in for the runtime's own packages (/var/runtime: boto3, botocore, s3transfer, jmespath, dateutil,
  six, urllib3 copied from this venv and precompiled once, as Lambda ships them). A botocore in the layer
  therefore shadows the runtime's exactly as on Lambda; the table says which one was imported. No other
  site-packages (`python -S`).
- Lambda's environment variables (function name, region, task root, Powertools service, the template's
  variables, dummy credentials) and PYTHONDONTWRITEBYTECODE=1: /opt and /var/task are read-only on
  Lambda, so a module without a shipped .pyc is compiled from source at every cold start.
- The layer is built for arm64; where this machine is not, its native extensions (pydantic-core, PyYAML,
  wrapt, charset-normalizer, pycryptodome) are swapped, in a scratch copy of the build output, for this
  venv's builds of the same versions. Every Python module and .pyc is the build output's own.

    python bench/bench_coldstart.py                   # after `make build`; 15 runs each
    python bench/bench_coldstart.py --quick           # 5 runs each, a smoke run
    python bench/bench_coldstart.py --no-bytecode     # also the same build with its .pyc removed ("before")
    python bench/bench_coldstart.py --build-dir DIR   # another build output (e.g. an older one)

The exit status is 1 when any function's median is more than `MAX_RATIO` × the bare handler's, when the
build output is missing, or when the layer ships a botocore other than the locked one.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
LAYER = "SharedLayer"
HANDLER_MODULE = "app"  # every function's Handler is app.lambda_handler
MAX_RATIO = 1.3
DEFAULT_RUNS = 15
QUICK_RUNS = 5
# What /var/runtime provides in the python3.13 runtime (the AWS SDK and its dependencies).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
_ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64"}

PROJECT_CLIENTS = "from invoice_relay.pipeline.services import services; services()"
BARE_HANDLER = '''\
"""The baseline: a handler that imports boto3 and creates the clients the functions use."""
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
s3 = boto3.client("s3")
sqs = boto3.client("sqs")


def lambda_handler(event, context):
    return {}
'''
# Not a goal, a reading aid: what every function stands on before a line of its own (the stack the project
# chose: Powertools' Logger, Metrics and Tracer with X-Ray patching botocore, and pydantic). Printed under
# the table; the ratio that passes or fails is the function's against the bare handler.
STACK_FLOOR_HANDLER = '''\
"""The bare handler plus the stack every function uses: Powertools (X-Ray tracer) and one pydantic model."""
import os

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel


class Event(BaseModel):
    connector_id: str


logger, metrics, tracer = Logger(), Metrics(), Tracer(auto_patch=False)
tracer.patch(["botocore"])
table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
s3 = boto3.client("s3")
sqs = boto3.client("sqs")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event, context):
    return Event.model_validate(event).model_dump()
'''
CHILD = """\
import time
wall, cpu = time.perf_counter(), time.process_time()
import {module}
{clients}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
import json, botocore
print(json.dumps({{"wall": wall * 1000, "cpu": cpu * 1000, "botocore": botocore.__version__,
                  "botocore_file": botocore.__file__}}))
"""


@dataclass
class Timing:
    name: str
    cpu: list[float]  # ms of CPU time (user + system) per run: what the ratio is taken on
    wall: list[float]  # ms of elapsed time per run
    botocore: str

    @property
    def median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def p90(self) -> float:
        ordered = sorted(self.cpu)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)


def lambda_environment(function: str, task_root: Path, python_path: Sequence[Path]) -> dict[str, str]:
    """The variables Lambda (and template.yaml's Globals) set, with local paths for /var/task etc."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(str(p) for p in python_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(python_path[-1]),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": f"invoice-relay-bench-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/invoice-relay-bench-{function}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": f"{HANDLER_MODULE}.lambda_handler",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",  # a dummy: nothing is called
        "AWS_SESSION_TOKEN": "bench",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "TABLE_NAME": "invoice-relay-bench-state",
        "BUCKET_NAME": "invoice-relay-bench-documents",
        "DELIVERY_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/invoice-relay-bench-delivery",
        "IDEMPOTENCY_TABLE_NAME": "invoice-relay-bench-idempotency",
        "STAGE": "bench",
        "POWERTOOLS_SERVICE_NAME": "invoice-relay",
        "POWERTOOLS_METRICS_NAMESPACE": "InvoiceRelay",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "EXPORT_LINK_TTL_SECONDS": "604800",
        "RUN_LOG_TTL_DAYS": "90",
    }


def functions_of(build: Path) -> list[str]:
    """The functions in a build output: every folder with the handler module in it."""
    return sorted(d.name for d in build.iterdir() if (d / f"{HANDLER_MODULE}.py").is_file())


def count_files(build: Path) -> tuple[int, int]:
    """(.py, .pyc) files in the build output."""
    return sum(1 for _ in build.rglob("*.py")), sum(1 for _ in build.rglob("*.pyc"))


def shipped_botocore(build: Path) -> str | None:
    """The botocore version the layer ships (None: the runtime's is used)."""
    found = sorted((build / LAYER / "python").glob("botocore-*.dist-info"))
    return found[0].name.removeprefix("botocore-").removesuffix(".dist-info") if found else None


def _elf_machine(path: Path) -> str | None:
    with path.open("rb") as binary:
        header = binary.read(20)
    return _ELF_MACHINES.get(int.from_bytes(header[18:20], "little")) if header[:4] == b"\x7fELF" else None


def _site_packages() -> Path:
    return Path(importlib.metadata.distribution("pydantic").locate_file(""))


def make_host_runnable(layer: Path) -> list[str]:
    """Swap the layer's native extensions built for another architecture for this venv's builds of the
    same file (same package versions: both come from the lock). Returns what could not be swapped."""
    host = platform.machine()
    site = _site_packages()
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    missing = []
    for native in layer.rglob("*.so"):
        machine = _elf_machine(native)
        if machine is None or machine == host:
            continue
        relative = native.relative_to(layer)
        stem = native.name.split(".", 1)[0]
        matches = [p for p in (site / relative.parent).glob(f"{stem}.*") if p.name.endswith(suffixes)]
        if not matches:
            missing.append(str(relative))
            continue
        native.unlink()
        shutil.copy2(matches[0], native.parent / matches[0].name)
    return missing


def version_mismatches(layer: Path) -> list[str]:
    """Layer distributions whose version differs from this venv's (the swapped binaries must match)."""
    mismatches = []
    for info in layer.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        try:
            local = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if local != version:
            mismatches.append(f"{name} {version} (venv {local})")
    return mismatches


def runtime_stand_in(into: Path) -> Path:
    """/var/runtime: the SDK packages from this venv, precompiled as Lambda ships them."""
    site = _site_packages()
    into.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(into)], check=True)
    return into


def strip_bytecode(tree: Path) -> None:
    for cache in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache)


def run_child(task_root: Path, python_path: Sequence[Path], function: str, clients: str) -> dict:
    code = CHILD.format(module=HANDLER_MODULE, clients=clients)
    env = lambda_environment(function, task_root, python_path)
    # -S: no site-packages but the ones on PYTHONPATH (Lambda's layout); the cwd is the task root.
    done = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env=env,
        cwd=task_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{function}: the cold start failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(
    build: Path, runs: int, scratch: Path, runtime: Path, *, bytecode: bool
) -> tuple[list[Timing], Timing, list[str]]:
    """Copy the build output to `scratch`, make it runnable here, time every function and the bare handler."""
    view = scratch / "build"
    shutil.copytree(build, view, symlinks=True)
    unswapped = make_host_runnable(view / LAYER / "python")
    notes = [
        f"native extensions with no build for this machine, left as built: {', '.join(sorted(unswapped))}"
    ]
    notes = notes if unswapped else []
    if not bytecode:
        strip_bytecode(view)
    bare_root, floor_root = scratch / "bare", scratch / "floor"
    for root, handler in ((bare_root, BARE_HANDLER), (floor_root, STACK_FLOOR_HANDLER)):
        root.mkdir(exist_ok=True)
        (root / f"{HANDLER_MODULE}.py").write_text(handler)

    functions = functions_of(view)
    names = [*functions, "bare", "floor"]
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    botocore: dict[str, str] = {}
    for _ in range(runs):
        for name in names:
            if name == "bare":
                result = run_child(bare_root, [bare_root, runtime], name, "")
            elif name == "floor":
                result = run_child(floor_root, [floor_root, view / LAYER / "python", runtime], name, "")
            else:
                task_root = view / name
                path = [task_root, view / LAYER / "python", runtime]
                result = run_child(task_root, path, name, PROJECT_CLIENTS)
            cpu[name].append(result["cpu"])
            wall[name].append(result["wall"])
            where = "layer" if str(view / LAYER) in result["botocore_file"] else "runtime"
            botocore[name] = f"{result['botocore']} ({where})"
    timings = [Timing(name, cpu[name], wall[name], botocore[name]) for name in [*functions, "floor"]]
    return timings, Timing("bare", cpu["bare"], wall["bare"], botocore["bare"]), notes


def format_table(title: str, timings: Sequence[Timing], bare: Timing) -> str:
    """One line per function: CPU ms (median, p90) of the project and the bare handler, their ratio, then
    elapsed ms (medians) for reference."""
    lines = [
        title,
        f"{'function':<22}{'project ms':>11}{'p90':>6}{'bare ms':>9}{'p90':>6}{'ratio':>8}"
        f"{'elapsed ms':>13}  botocore imported",
    ]
    for t in timings:
        if t.name == "floor":
            lines.append(
                f"{'(stack floor)':<22}{t.median:>11.0f}{t.p90:>6.0f}{bare.median:>9.0f}{bare.p90:>6.0f}"
                f"{t.median / bare.median:>7.2f}×  boto3 + Powertools Logger/Metrics/Tracer + pydantic"
            )
            continue
        lines.append(
            f"{t.name:<22}{t.median:>11.0f}{t.p90:>6.0f}{bare.median:>9.0f}{bare.p90:>6.0f}"
            f"{t.median / bare.median:>7.2f}×{t.wall_median:>7.0f} /{bare.wall_median:>4.0f}  {t.botocore}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, help="the `sam build` output")
    parser.add_argument("--runs", type=int, help=f"fresh processes per function (default {DEFAULT_RUNS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} runs each: a smoke run")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="also time the build with its .pyc removed (before)"
    )
    args = parser.parse_args(argv)
    build: Path = args.build_dir
    runs = args.runs or (QUICK_RUNS if args.quick else DEFAULT_RUNS)
    if not (build / LAYER / "python").is_dir():
        print(f"no build output at {build}: run `make build` first", file=sys.stderr)
        return 1

    py, pyc = count_files(build)
    layer_botocore = shipped_botocore(build)
    print(f"build output {build}: {py} .py, {pyc} .pyc; the layer ships botocore: {layer_botocore or 'no'}")
    mismatches = version_mismatches(build / LAYER / "python")
    if mismatches:
        print("layer versions that differ from the venv (the lock): " + ", ".join(mismatches))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; {runs} fresh processes per function")

    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        scratch = Path(tmp)
        runtime = runtime_stand_in(scratch / "runtime")
        if args.no_bytecode:
            timings, bare, notes = measure(build, runs, scratch / "source-only", runtime, bytecode=False)
            print()
            print(format_table("without bytecode (the build with its .pyc removed)", timings, bare))
        timings, bare, notes = measure(build, runs, scratch / "as-shipped", runtime, bytecode=True)
        print()
        print(format_table("as shipped", timings, bare))
    for note in notes:
        print(note)

    worst = max(t.median / bare.median for t in timings if t.name != "floor")
    failed = worst > MAX_RATIO or layer_botocore is not None
    print()
    print(f"worst ratio {worst:.2f}× (goal ≤ {MAX_RATIO}×)" + ("" if worst <= MAX_RATIO else ": MISSED"))
    if layer_botocore:
        print(
            f"the layer ships botocore {layer_botocore}: it shadows the runtime's (goal: none in the layer)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
