"""The `--engine local|spark` and `--spark-master` option group shared by the commands."""

from __future__ import annotations

import argparse

from analyzer.engines.spark.session import ENGINES, check_engine


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """Add the engine option group; INFERTAP_ENGINE / INFERTAP_SPARK_MASTER via apply_env."""
    group = parser.add_argument_group("the engine")
    group.add_argument(
        "--engine",
        default="local",
        help=f"{' or '.join(ENGINES)}: profile in this process (default) or on Apache Spark",
    )
    group.add_argument(
        "--spark-master",
        default=None,
        help="Spark master URL for --engine spark (default: spark-submit's, else local[*])",
    )


def engine_from_args(args: argparse.Namespace) -> tuple[str, str | None]:
    """The validated engine and Spark master; ConfigError names --engine."""
    return check_engine(args.engine), args.spark_master or None
