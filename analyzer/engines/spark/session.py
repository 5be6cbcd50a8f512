"""The SparkSession the Spark engine runs on: found under spark-submit, else started here."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from typing import Any

from analyzer.errors import ConfigError

ENGINES = ("local", "spark")
APP_NAME = "infertap-analyzer"
ARROW_BATCH_ROWS = 65_536


def check_engine(engine: str) -> str:
    """The engine name, or ConfigError naming --engine."""
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return engine


def spark_session(master: str | None = None) -> Any:
    """The active SparkSession (spark-submit), else one started on `master` (default local[*]).

    Executors run this interpreter (PYSPARK_PYTHON), so they import the same infertap; Arrow is
    turned on for mapInArrow.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("--engine spark needs pyspark: pip install 'infertap[spark]'") from exc
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise ConfigError(
            "--engine spark needs a Java runtime (17 or later): install openjdk-17-jre-headless "
            "or set JAVA_HOME"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # py4j logs every gateway connection at INFO; the analyzer's info logs stay its own.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    builder = SparkSession.builder.appName(APP_NAME)
    if master is not None:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Not under spark-submit (which sets the master itself): this machine's cores.
        builder = builder.master("local[*]")
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    # mapInArrow batches as large as the local engine's chunks: fewer per-batch sketch updates.
    builder = builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", ARROW_BATCH_ROWS)
    session = builder.getOrCreate()
    _quiet_task_failures(session)
    return session


def _quiet_task_failures(session: Any) -> None:
    """A failed task is the analyzer's one-line error (its stacks at --log-level debug), not the
    driver's log of every Java and Python frame: with a local master that log is the console.
    Under spark-submit (above) the cluster's own log configuration is left alone."""
    jvm = session.sparkContext._jvm
    off = jvm.org.apache.logging.log4j.Level.OFF
    for logger in (
        "org.apache.spark.executor.Executor",
        "org.apache.spark.scheduler.TaskSetManager",
    ):
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, off)
