"""Write the sample API events (`events/webhook_*.json`, `events/oauth_connect.json`) or post the webhooks.

The webhook samples are signed; `--post` signs them again for now and sends them to a running `make api`.

python -m local.commands.sample_events                                # (re)write those events/*.json
python -m local.commands.sample_events --post http://127.0.0.1:3000   # send them to `make api`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from local.scenarios.sample_events import EVENTS_DIR, REPO, post_samples, write_sample_events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.commands.sample_events", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--post", metavar="BASE_URL", help="send the samples to a running `make api`")
    parser.add_argument("--out", type=Path, default=EVENTS_DIR, help="directory for the event files")
    args = parser.parse_args(argv)
    if args.post:
        return post_samples(args.post)
    for path in write_sample_events(args.out):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
