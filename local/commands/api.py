"""`make api`: the template's API routes on 127.0.0.1:3000, like `sam local start-api`, over the demo stack.

    python -m local.commands.api [--port 3000] [--host 127.0.0.1] [--echo-logs]

The demo stack (embedded AWS + sandbox partners + demo connectors) is started once and lives as long as
the server; Ctrl+C (or SIGTERM) stops both.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from local.runtime.api_gateway import DEFAULT_HOST, DEFAULT_PORT, LocalApi
from local.runtime.platform import STAGE
from local.scenarios import fixtures
from local.scenarios.stack import LocalStack


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--echo-logs", action="store_true", help="also print the handlers' JSON logs")
    args = parser.parse_args(argv)

    with LocalStack() as stack:
        api = LocalApi(stack, stage=STAGE, echo_logs=args.echo_logs)
        try:
            api.start(args.host, args.port)
        except OSError as exc:
            print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(f"Invoice Relay local API on {api.url}  (stage {STAGE}, embedded AWS {stack.aws.endpoint_url})")
        print("\n".join(api.describe_routes()))
        print(
            f"\nconnector {fixtures.SHOP_CONNECTOR_ID} takes signed webhooks; send the samples with\n"
            f"  python -m local.commands.sample_events --post {api.url}\n"
            "Ctrl+C stops the server (and the local stack with it)."
        )
        # `kill` (SIGTERM) stops it as cleanly as Ctrl+C: the local stack is shut down on the way out.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping", file=sys.stderr)
        finally:
            api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
