"""deploy/spark: the SparkApplication of a baseline job fits the analyzer, its image and RBAC."""

from __future__ import annotations

import re
from pathlib import Path

from analyzer.__main__ import build_parser as analyzer_parser
from analyzer.engines.spark.flags import engine_from_args
from tests.deploy.k8s import DEPLOY, find, render
from tests.deploy.spark_application import DRIVER_FIELDS, EXECUTOR_FIELDS, RESTART_FIELDS


def test_the_baseline_application_runs_the_analyzer_on_spark() -> None:
    app = find(render("spark"), "SparkApplication", "infertap-baseline")
    spec = app["spec"]
    assert (spec["type"], spec["mode"], spec["pythonVersion"]) == ("Python", "cluster", "3")
    args = analyzer_parser().parse_args(spec["arguments"])
    assert args.command == "baseline"
    assert engine_from_args(args) == ("spark", None)  # the master is spark-submit's
    assert args.dataset.startswith("s3a://")
    assert args.output.startswith("s3://")
    assert set(spec["driver"]) <= DRIVER_FIELDS
    assert set(spec["executor"]) <= EXECUTOR_FIELDS
    assert set(spec["restartPolicy"]) <= RESTART_FIELDS
    assert re.fullmatch(r"\d+(\.\d+)?[mg]", spec["executor"]["memory"])
    assert spec["executor"]["instances"] >= 1


def test_the_image_holds_the_submitted_file_and_the_spark_version() -> None:
    spec = find(render("spark"), "SparkApplication")["spec"]
    dockerfile = (DEPLOY / "spark" / "Dockerfile").read_text()
    target = spec["mainApplicationFile"].removeprefix("local://")
    assert f"COPY deploy/spark/submit.py {target}" in dockerfile
    assert f"FROM apache/spark:{spec['sparkVersion']}-" in dockerfile
    submitted = (DEPLOY / "spark" / "submit.py").read_text()
    assert "from analyzer.__main__ import main" in submitted
    assert Path(target).name == "submit.py"


def test_the_driver_may_manage_its_executors_and_nothing_else() -> None:
    objects = render("spark")
    app = find(objects, "SparkApplication")
    account = find(objects, "ServiceAccount")
    binding = find(objects, "RoleBinding")
    role = find(objects, "Role")
    namespace = find(objects, "Namespace")["metadata"]
    name = account["metadata"]["name"]
    assert app["spec"]["driver"]["serviceAccount"] == name
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": name, "namespace": namespace["name"]}
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "pods" in resources
    assert "secrets" not in resources
    assert namespace["labels"]["infertap.io/inject"] == "disabled"
