"""Run inside the infertap image by test_image.py, as a build step FROM the image (so as the
image's user, with the image's Python): the installed programs start, a sidecar captures one
request to a tiny upstream into a folder, and the analyzer profiles a small CSV.

Usage: python image_check.py UID VERSION. Standard library only, besides the image's programs; any
failure exits non-zero with the reason, which fails the build step and so the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WORK = Path("/tmp/image-check")
PREDICTION = b'{"score": 0.25}'


class Model(BaseHTTPRequestHandler):
    """A model server: /ping for readiness, every POST answered with PREDICTION."""

    def do_GET(self) -> None:
        self._reply(b"{}")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(PREDICTION)

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"image check: timed out waiting for {what}")
        time.sleep(0.1)


def run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise SystemExit(f"image check: {' '.join(argv)} exited {result.returncode}:\n"
                         f"{result.stdout}{result.stderr}")  # fmt: skip
    print(f"$ {' '.join(argv)}\n{result.stdout.strip()}")
    return result.stdout


def check_versions(version: str) -> None:
    for program in ("infertap-sidecar", "infertap-analyzer"):
        output = run(program, "--version").strip()
        if output != f"{program} {version}":
            raise SystemExit(f"image check: {program} --version printed {output!r}")


def ready(url: str, sidecar: subprocess.Popen[bytes]) -> bool:
    if sidecar.poll() is not None:
        raise SystemExit(f"image check: the sidecar exited with {sidecar.returncode}")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status == 200
    except OSError:
        return False


def check_capture() -> None:
    model = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    port, admin_port = free_port(), free_port()
    capture = WORK / "capture"
    sidecar = subprocess.Popen(
        ["infertap-sidecar", f"--upstream=http://127.0.0.1:{model.server_address[1]}",
         f"--listen=127.0.0.1:{port}", f"--admin-listen=127.0.0.1:{admin_port}",
         f"--destination={capture}", "--endpoint-name=image-check",
         "--sampling-percentage=100", "--shutdown-grace=10"],
    )  # fmt: skip
    try:
        wait_until(lambda: ready(f"http://127.0.0.1:{admin_port}/readyz", sidecar), "/readyz")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=b'{"features": [1.5, 2]}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.read() != PREDICTION:
                raise SystemExit("image check: the sidecar changed the model's answer")
        # On SIGTERM the sidecar seals its open file and delivers it before exiting.
        sidecar.send_signal(signal.SIGTERM)
        if sidecar.wait(timeout=30) != 0:
            raise SystemExit(f"image check: the sidecar exited with {sidecar.returncode}")
    finally:
        if sidecar.poll() is None:
            sidecar.kill()
        model.shutdown()
    files = sorted(capture.rglob("*.jsonl"))
    records = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    if len(records) != 1:
        raise SystemExit(f"image check: expected one captured record, found {len(records)}")
    data = records[0]["captureData"]
    if json.loads(data["endpointInput"]["data"]) != {"features": [1.5, 2]}:
        raise SystemExit(f"image check: captured input {data['endpointInput']!r}")
    print(f"captured one record in {files[0].relative_to(capture)}")


def check_baseline() -> None:
    dataset = WORK / "train.csv"
    rows = [f"{i},{i * 0.5},{'ab'[i % 2]}" for i in range(40)]
    dataset.write_text("count,ratio,kind\n" + "\n".join(rows) + "\n")
    output = WORK / "baseline"
    run("infertap-analyzer", "baseline", f"--dataset={dataset}", f"--output={output}")
    statistics = json.loads((output / "statistics.json").read_text())
    constraints = json.loads((output / "constraints.json").read_text())
    names = sorted(feature["name"] for feature in statistics["features"])
    if names != ["count", "kind", "ratio"] or statistics["dataset"]["item_count"] != 40:
        raise SystemExit(f"image check: statistics.json has {names}")
    if len(constraints["features"]) != 3:
        raise SystemExit("image check: constraints.json lacks features")


def check_layout(uid: int) -> None:
    """The image's user, Python and venv; nothing of the build's CA bundle left behind."""
    if os.getuid() != uid:
        raise SystemExit(f"image check: running as UID {os.getuid()}, not the image's {uid}")
    if sys.version_info < (3, 11):  # noqa: UP036 (the image's Python, whatever its base)
        raise SystemExit(f"image check: Python {sys.version} (3.11 or later needed)")
    program = shutil.which("infertap-sidecar")
    if program != "/opt/infertap/bin/infertap-sidecar" or os.access("/opt/infertap", os.W_OK):
        raise SystemExit(f"image check: infertap-sidecar is {program}, or its venv is writable")
    if Path("/run/secrets/ca-bundle").exists() or "PIP_CERT" in os.environ:
        raise SystemExit("image check: the build's CA bundle is still in the image")
    print(f"UID {uid}, Python {sys.version.split()[0]}, programs in /opt/infertap/bin")


def main() -> None:
    uid, version = int(sys.argv[1]), sys.argv[2]
    check_layout(uid)
    WORK.mkdir()
    check_versions(version)
    check_capture()
    check_baseline()
    print("image check passed")


if __name__ == "__main__":
    main()
