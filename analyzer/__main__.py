"""`infertap-analyzer`: the command line (drift, model quality with ground truth, reports)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from analyzer.commands import (
    attribution,
    baseline,
    bias_baseline,
    bias_run,
    ground_truth,
    quality_baseline,
    quality_run,
    report,
    run,
    schedule,
    watch,
)
from analyzer.results.status import EXIT_FAILED
from sidecar.common.options import add_version

PROG = "infertap-analyzer"


# Model quality (ground truth), DESIGN.md section 9.
QUALITY_COMMANDS = (quality_baseline, quality_run, ground_truth)
# SageMaker Clarify's monitors: bias drift and feature attribution drift, DESIGN.md section 14.
CLARIFY_COMMANDS = (bias_baseline, bias_run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Drift analyzer compatible with SageMaker Model Monitor: baseline a training "
            "dataset, analyse captured traffic against it, or do so every hour. Every flag "
            "also reads INFERTAP_<FLAG>."
        ),
    )
    add_version(parser, PROG)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (baseline, run, schedule, watch, *QUALITY_COMMANDS, *CLARIFY_COMMANDS, report):
        command = module.add_parser(commands)
        add_version(command, PROG)
        command.set_defaults(handler=module.run)
    for command in attribution.add_parsers(commands):
        add_version(command, PROG)
        command.set_defaults(handler=attribution.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; an unexpected error exits 2 (Failed), never 1 (CompletedWithViolations)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except Exception as exc:  # a bug: say so and exit as Failed, never as a violation
        logging.getLogger("infertap.analyzer").exception("the command failed unexpectedly")
        print(
            f"{PROG} {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
