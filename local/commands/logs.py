"""`make logs [LAST=N]`: the structured logs of the last local invocations, one readable line per record.

python -m local.commands.logs [--last N]
"""

from __future__ import annotations

import argparse
import sys

from local.runtime.runner import print_logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make logs", description=__doc__.split("\n")[0])
    parser.add_argument("--last", type=int, default=3, help="how many invocations (default 3)")
    args = parser.parse_args(argv)
    return print_logs(args.last)


if __name__ == "__main__":
    sys.exit(main())
