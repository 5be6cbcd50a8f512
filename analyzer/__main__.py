"""`infertap-analyzer {baseline,run,schedule,report}`: the analyzer's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analyzer.commands import baseline, report, run, schedule


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infertap-analyzer",
        description=(
            "Drift analyzer compatible with SageMaker Model Monitor: baseline a training "
            "dataset, analyse captured traffic against it, or do so every hour. Every flag "
            "also reads INFERTAP_<FLAG>."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (baseline, run, schedule, report):
        command = module.add_parser(commands)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
