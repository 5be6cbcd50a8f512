"""A small real model server to put the sidecar in front of: scikit-learn on the breast-cancer data.

Speaks SageMaker's container contract (`POST /invocations`, `GET /ping`) and the Open Inference
Protocol (`POST /v2/models/<name>/infer`). Run: `python examples/model_server.py --port 8080`.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_NAME = "breast-cancer"
PREDICTION_COLUMN = "prediction"
CSV_TYPE = "text/csv"
JSON_TYPE = "application/json"
# Fixed notation with a decimal point, so every value reads as Fractional (never "1e-05" or "0").
NUMBER_FORMAT = "{:.6f}"

log = logging.getLogger("model_server")


class BadInput(ValueError):
    """A request body the model cannot read; becomes a 400 with this message."""


@dataclass(frozen=True)
class Model:
    """The fitted pipeline, the training matrix and its feature names."""

    pipeline: Pipeline
    features: tuple[str, ...]
    data: NDArray[np.float64]

    def predict(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probability that each row is malignant (class 0 of the data set)."""
        if rows.ndim != 2 or rows.shape[1] != len(self.features):
            width = rows.shape[1] if rows.ndim == 2 else 0
            raise BadInput(f"each row needs {len(self.features)} features, got {width}")
        proba: NDArray[np.float64] = self.pipeline.predict_proba(rows)[:, 0]
        return proba


def load_data() -> tuple[tuple[str, ...], NDArray[np.float64], NDArray[np.int64]]:
    """Feature names (spaces as underscores), the 569 x 30 matrix and the 0/1 targets."""
    bunch = load_breast_cancer()
    features = tuple(str(name).replace(" ", "_") for name in bunch.feature_names)
    data = np.asarray(bunch.data, dtype=np.float64)
    return features, data, np.asarray(bunch.target, dtype=np.int64)


def train_model() -> Model:
    """Fit imputer + scaler + logistic regression on the bundled data (no download, < 1 s)."""
    features, data, target = load_data()
    pipeline = make_pipeline(
        SimpleImputer(strategy="mean"), StandardScaler(), LogisticRegression(max_iter=1000)
    )
    pipeline.fit(data, target)
    return Model(pipeline=pipeline, features=features, data=data)


def write_training_data(model: Model, path: Path) -> None:
    """The baseline dataset: header, then the model's output column first, then the 30 features.

    SageMaker puts the output column first so captured "prediction, features..." rows line up
    with it. The endpoint answers probabilities, so the first column holds the model's
    probability on each training row: a 0/1 label there would be Integral against Fractional
    outputs and fail the data type check on every run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scores = model.predict(model.data)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([PREDICTION_COLUMN, *model.features])
        for score, row in zip(scores, model.data, strict=True):
            writer.writerow([NUMBER_FORMAT.format(score), *(NUMBER_FORMAT.format(v) for v in row)])


def _number(value: object) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput(f"feature values must be numbers, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise BadInput(f"feature values must be numbers, got {value!r}") from None


def parse_csv(body: str) -> NDArray[np.float64]:
    """CSV rows without a header; an empty field is a missing value."""
    rows = [[_number(v.strip()) for v in line.split(",")] for line in body.splitlines() if line]
    return _matrix(rows)


def _matrix(rows: Sequence[Sequence[float]]) -> NDArray[np.float64]:
    if not rows:
        raise BadInput("the request holds no rows")
    if len({len(row) for row in rows}) != 1:
        raise BadInput("all rows must have the same number of features")
    return np.asarray(rows, dtype=np.float64)


def parse_instances(document: Any) -> NDArray[np.float64]:
    """`{"instances": [[...], ...]}` or a bare list of rows (or a single row)."""
    rows = document.get("instances") if isinstance(document, dict) else document
    if not isinstance(rows, list):
        raise BadInput('JSON bodies must be {"instances": [[...], ...]} or a list of rows')
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    if not all(isinstance(row, list) for row in rows):
        raise BadInput("every instance must be a list of feature values")
    return _matrix([[_number(v) for v in row] for row in rows])


def parse_oip(document: Any, width: int) -> NDArray[np.float64]:
    """The first tensor of an Open Inference Protocol request, as rows of `width` features."""
    inputs = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        raise BadInput('Open Inference Protocol bodies need "inputs": [{name, shape, data}]')
    flat = np.ravel(np.asarray(inputs[0].get("data"), dtype=object))
    values = np.asarray([_number(v) for v in flat], dtype=np.float64)
    if values.size == 0 or values.size % width:
        raise BadInput(f"the input tensor must hold whole rows of {width} features")
    return values.reshape(-1, width)


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"the body is not valid JSON: {exc}") from None


MODEL_KEY = web.AppKey("model", Model)


async def invocations(request: web.Request) -> web.Response:
    """SageMaker's contract: CSV in -> one probability a line; JSON in -> {"predictions": [...]}."""
    model = request.app[MODEL_KEY]
    if request.content_type == CSV_TYPE:
        scores = model.predict(parse_csv(await request.text()))
        text = "".join(NUMBER_FORMAT.format(s) + "\n" for s in scores)
        return web.Response(text=text, content_type=CSV_TYPE)
    if request.content_type == JSON_TYPE:
        scores = model.predict(parse_instances(await read_json(request)))
        return web.json_response({"predictions": [round(float(s), 6) for s in scores]})
    raise web.HTTPUnsupportedMediaType(
        text=json.dumps({"error": f"send {CSV_TYPE} or {JSON_TYPE}"}), content_type=JSON_TYPE
    )


async def oip_infer(request: web.Request) -> web.Response:
    model = request.app[MODEL_KEY]
    name = request.match_info["name"]
    if name != MODEL_NAME:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no model {name!r}; this server has {MODEL_NAME!r}"}),
            content_type=JSON_TYPE,
        )
    document = await read_json(request)
    scores = model.predict(parse_oip(document, len(model.features)))
    output = {
        "name": "malignant_probability",
        "shape": [len(scores)],
        "datatype": "FP64",
        "data": [round(float(s), 6) for s in scores],
    }
    answer: dict[str, Any] = {"model_name": MODEL_NAME, "outputs": [output]}
    if isinstance(document, dict) and "id" in document:
        answer["id"] = document["id"]
    return web.json_response(answer)


async def oip_metadata(request: web.Request) -> web.Response:
    model = request.app[MODEL_KEY]
    width = len(model.features)
    return web.json_response(
        {
            "name": MODEL_NAME,
            "platform": "sklearn",
            "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, width]}],
            "outputs": [{"name": "malignant_probability", "datatype": "FP64", "shape": [-1]}],
        }
    )


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="")


@web.middleware
async def bad_input_as_400(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BadInput as exc:
        return web.json_response({"error": str(exc)}, status=400)


def build_app(model: Model) -> web.Application:
    app = web.Application(middlewares=[bad_input_as_400], client_max_size=16 * 2**20)
    app[MODEL_KEY] = model
    app.router.add_get("/ping", ping)
    app.router.add_post("/invocations", invocations)
    app.router.add_get("/v2/health/ready", ping)
    app.router.add_get("/v2/health/live", ping)
    app.router.add_get(f"/v2/models/{MODEL_NAME}", oip_metadata)
    app.router.add_post("/v2/models/{name}/infer", oip_infer)
    return app


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"level": record.levelname.lower(), "logger": record.name}
        entry["msg"] = record.getMessage()
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--write-training-data",
        type=Path,
        metavar="PATH",
        help="also write the baseline CSV (header; output column first, then the 30 features)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    started = time.monotonic()
    model = train_model()
    fields = {"seconds": round(time.monotonic() - started, 3), "features": len(model.features)}
    log.info("model trained", extra={"fields": fields})
    if args.write_training_data:
        write_training_data(model, args.write_training_data)
        log.info("training data written", extra={"fields": {"path": str(args.write_training_data)}})
    log.info("listening", extra={"fields": {"host": args.host, "port": args.port}})
    web.run_app(build_app(model), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
