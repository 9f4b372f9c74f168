"""`make invoke FN=<LogicalId> EVENT=events/<file>.json`: run one function like `sam local invoke`.

    python -m local.commands.invoke PollFunction events/poll_schedule.json

The demo stack is started (embedded AWS, sandboxes, demo connectors), the event is read — a Standard
Webhooks sample is signed again at this moment, since a signature is only valid for 5 minutes — and the
function's real handler runs in-process. Its return value is printed as JSON on stdout (pipe it to
`jq`); its structured logs go to stderr and to .local/logs/ (`make logs`). Exit code 1 when the
invocation failed, 2 when the function or the event file is wrong (said in one line, before any start-up).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from local.runtime.platform import UnknownFunction, check_function
from local.runtime.template import load_template


def read_event(path: Path) -> dict[str, Any]:
    """The event in `path`, with a Standard Webhooks signature renewed for now (others as they are)."""
    from local.scenarios import fixtures
    from local.scenarios.sample_events import resign

    try:
        event = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no event file {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError(f"{path} must hold a JSON object (the event)")
    return resign(event, fixtures.WEBHOOK_SECRET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", help="the function's logical id in template.yaml, e.g. PollFunction")
    parser.add_argument("event", type=Path, help="the event file, e.g. events/poll_schedule.json")
    args = parser.parse_args(argv)
    try:
        check_function(load_template(), args.function)
        event = read_event(args.event)
    except (UnknownFunction, ValueError) as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 2

    from local.scenarios.stack import LocalStack

    with LocalStack() as stack:
        # What the function invokes asynchronously (the management API's "Run now") runs too, before the
        # stack stops: the local Lambda service takes it.
        stack.start_background(schedules=False, delivery_queue=False, log=False)
        try:
            result = stack.invoke(args.function, event, echo_logs=True)
        except Exception as exc:
            print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}, indent=2))
            return 1
        finally:
            assert stack.lambda_service is not None
            stack.lambda_service.wait_idle(120)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
