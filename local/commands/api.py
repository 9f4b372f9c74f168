"""`make api`: the template's API routes on 127.0.0.1:3000, like `sam local start-api`, over the demo stack —
and the rest of the platform running by itself: the Lambda Invoke API on 127.0.0.1:3001 (like `sam local
start-lambda`; "Run now" and `aws lambda invoke --endpoint-url` reach the functions through it), the
connectors' EventBridge Scheduler schedules fired on time, and the delivery queue fed to DeliverFunction.

    python -m local.commands.api [--port 3000] [--lambda-port 3001] [--host 127.0.0.1] [--echo-logs]

The demo stack (embedded AWS + sandbox partners + demo connectors) is started once and lives as long as
the server; Ctrl+C (or SIGTERM) stops both.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from local.runtime.api_gateway import DEFAULT_HOST, DEFAULT_PORT, LocalApi
from local.runtime.platform import STAGE, sqs_batch_size
from local.scenarios import fixtures
from local.scenarios.stack import LocalStack

DEFAULT_LAMBDA_PORT = 3001  # `sam local start-lambda`'s


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl+C / SIGTERM; 1 when a port cannot be listened on."""
    parser = argparse.ArgumentParser(prog="make api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--lambda-port", type=int, default=DEFAULT_LAMBDA_PORT, help="the Lambda Invoke API's port (0: any)"
    )
    parser.add_argument("--echo-logs", action="store_true", help="also print the handlers' JSON logs")
    args = parser.parse_args(argv)

    with LocalStack() as stack:
        api = LocalApi(stack, stage=STAGE, echo_logs=args.echo_logs)
        try:
            api.start(args.host, args.port)
        except OSError as exc:
            print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        try:
            stack.start_background(lambda_host=args.host, lambda_port=args.lambda_port)
        except OSError as exc:
            api.stop()
            print(f"cannot listen on {args.host}:{args.lambda_port}: {exc}", file=sys.stderr)
            return 1
        assert stack.lambda_service is not None and stack.scheduler is not None
        print(f"Invoice Relay local API on {api.url}  (stage {STAGE}, embedded AWS {stack.aws.endpoint_url})")
        print("\n".join(api.describe_routes()))
        schedules = len(stack.scheduler.schedules())
        print(
            f"\nLambda Invoke API on {stack.lambda_service.url}  "
            f"(AWS_ENDPOINT_URL_LAMBDA={stack.lambda_service.url}; the functions' own calls go there too)\n"
            f"scheduler: {schedules} schedules, looked at every second and fired into their functions\n"
            f"delivery queue drained into DeliverFunction (batch size "
            f"{sqs_batch_size(stack.template, 'DeliverFunction')}) as messages arrive"
        )
        admin, viewer = stack.demo_users["admin"], stack.demo_users["viewer"]
        print(
            f"\nadmin page        {api.url}/admin   (Swagger UI: {api.url}/swagger)\n"
            f"  demo admin      {admin[0]} / {admin[1]}\n"
            f"  demo viewer     {viewer[0]} / {viewer[1]}\n"
            f"  command line    relay login --username {admin[0]}   (then: relay connectors list)"
        )
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
            stack.stop_background()
            api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
