"""The example model server, run as `python examples/model_server.py`, answers like a
SageMaker container (CSV and JSON on /invocations) and like an Open Inference Protocol server."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, free_port, port_open, wait_until

# Rows 0 (malignant, target 0) and 19 (benign, target 1) of scikit-learn's breast-cancer data.
MALIGNANT = [
    17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
    0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
    17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
]  # fmt: skip
BENIGN = [
    13.54, 14.36, 87.46, 566.3, 0.09779, 0.08129, 0.06664, 0.04781, 0.1885, 0.05766, 0.2699,
    0.7886, 2.058, 23.56, 0.008462, 0.0146, 0.02387, 0.01315, 0.0198, 0.0023, 15.11, 19.26,
    99.7, 711.2, 0.144, 0.1773, 0.239, 0.1288, 0.2977, 0.07259,
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The model server on a free port; yields its base URL and the training CSV it wrote."""
    port = free_port()
    train = tmp_path_factory.mktemp("model") / "train.csv"
    process = subprocess.Popen(
        [
            *(sys.executable, "examples/model_server.py", "--port", str(port)),
            *("--write-training-data", str(train)),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_open(port), timeout=30, what="model server")
        yield f"http://127.0.0.1:{port}", train
    finally:
        process.terminate()
        process.wait(timeout=10)


def post(url: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def csv_row(values: list[float]) -> str:
    return ",".join(str(v) for v in values)


def test_ping_answers_200(server: tuple[str, Path]) -> None:
    with urllib.request.urlopen(f"{server[0]}/ping", timeout=5) as response:
        assert response.status == 200


def test_csv_rows_get_one_probability_a_line(server: tuple[str, Path]) -> None:
    body = f"{csv_row(MALIGNANT)}\n{csv_row(BENIGN)}\n".encode()
    status, content_type, answer = post(f"{server[0]}/invocations", body, "text/csv")
    assert status == 200
    assert content_type.startswith("text/csv")
    lines = answer.decode().splitlines()
    assert len(lines) == 2
    malignant, benign = (float(line) for line in lines)
    assert malignant > 0.9 > 0.1 > benign
    assert all("." in line for line in lines)


def test_json_instances_get_the_same_predictions(server: tuple[str, Path]) -> None:
    csv_answer = post(f"{server[0]}/invocations", csv_row(MALIGNANT).encode(), "text/csv")[2]
    body = json.dumps({"instances": [MALIGNANT, BENIGN]}).encode()
    status, content_type, answer = post(f"{server[0]}/invocations", body, "application/json")
    assert status == 200
    assert content_type.startswith("application/json")
    predictions = json.loads(answer)["predictions"]
    assert len(predictions) == 2
    assert predictions[0] == pytest.approx(float(csv_answer), abs=1e-6)
    assert predictions[1] < 0.1


def test_missing_values_are_imputed(server: tuple[str, Path]) -> None:
    row = csv_row(MALIGNANT).split(",")
    row[8] = ""
    status, _, answer = post(f"{server[0]}/invocations", ",".join(row).encode(), "text/csv")
    assert status == 200
    assert 0.0 <= float(answer) <= 1.0


def test_open_inference_protocol(server: tuple[str, Path]) -> None:
    tensor = {"name": "input-0", "shape": [2, 30], "datatype": "FP64", "data": [MALIGNANT, BENIGN]}
    body = json.dumps({"id": "r-1", "inputs": [tensor]}).encode()
    url = f"{server[0]}/v2/models/breast-cancer/infer"
    status, _, answer = post(url, body, "application/json")
    assert status == 200
    document = json.loads(answer)
    assert document["id"] == "r-1"
    output = document["outputs"][0]
    assert output["shape"] == [2]
    assert output["data"][0] > 0.9 > 0.1 > output["data"][1]


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        ("/invocations", b"1,2,3\n", "text/csv", 400),
        ("/invocations", b"{not json", "application/json", 400),
        ("/invocations", b"abc", "application/octet-stream", 415),
        ("/v2/models/other/infer", b'{"inputs": []}', "application/json", 404),
    ],
)
def test_bad_requests_get_a_json_error(
    server: tuple[str, Path], path: str, body: bytes, content_type: str, status: int
) -> None:
    got, answer_type, answer = post(f"{server[0]}{path}", body, content_type)
    assert got == status
    assert answer_type.startswith("application/json")
    assert json.loads(answer)["error"]


def test_training_csv_puts_the_output_column_first(server: tuple[str, Path]) -> None:
    with server[1].open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, data = rows[0], rows[1:]
    assert header[0] == "prediction"
    assert header[1:4] == ["mean_radius", "mean_texture", "mean_perimeter"]
    assert len(header) == 31
    assert len(data) == 569
    assert all(len(row) == 31 and all("." in value for value in row) for row in data)
    assert {round(float(row[0])) for row in data} == {0, 1}
