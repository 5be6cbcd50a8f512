"""One local[2] SparkSession for every Spark test (a session takes 10-20 s to start).

It starts after the S3 test server, so the executors' Python workers inherit the environment
that points them at it. Without Java or pyspark the fixture errors: the tests fail, never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from analyzer.engines.spark.session import spark_session
from tests.conftest import S3Server


@pytest.fixture(scope="session")
def spark(s3_server: S3Server) -> Iterator[Any]:
    session = spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    # Small partitions, so even small test files are profiled by several tasks and merged.
    session.conf.set("spark.sql.files.maxPartitionBytes", 32 * 1024)
    session.conf.set("spark.sql.files.openCostInBytes", 0)
    yield session
    session.stop()
