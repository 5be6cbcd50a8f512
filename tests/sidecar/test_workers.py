"""`--workers N`: processes share the traffic port, metrics are aggregated, SIGTERM drains all."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.conftest import wait_until
from tests.sidecar.conftest import SidecarProcess, StartSidecar, http_get
from tests.sidecar.proxy.test_proxy import request
from tests.sidecar.test_metrics import promtool_check


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def workers_of(sidecar: SidecarProcess) -> list[int]:
    # Spawned workers, not the multiprocessing resource tracker (which runs no sidecar code).
    found = []
    for child in children(sidecar.pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"resource_tracker" not in cmdline:
            found.append(child)
    return found


def test_workers_share_the_port_and_metrics_add_up(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(workers=2, flush_interval=30)
    assert len(workers_of(sidecar)) == 2
    for i in range(100):
        status, _, body = request(
            sidecar.url, "POST", "/echo", f"{i}".encode(), {"Content-Type": "text/csv"}
        )
        assert status == 200 and body == f"{i}".encode()
    # `captured` counts records the workers' spool writers have written: let them catch up.
    wait_until(
        lambda: sidecar.metric("infertap_capture_records_total", outcome="captured") >= 100,
        timeout=10,
        what="100 records written to the spools",
    )
    m = sidecar.metrics()
    assert m['infertap_requests_total{code="200"}'] == 100
    assert m['infertap_capture_records_total{outcome="captured"}'] == 100
    assert m["infertap_request_duration_seconds_count"] == 100
    promtool_check(sidecar.metrics_text())
    assert sorted(p.name for p in sidecar.spool_dir.iterdir() if p.is_dir()) == [
        "worker-0",
        "worker-1",
    ]

    sidecar.terminate()
    assert sidecar.wait() == 0
    records = sidecar.records()
    assert sorted(int(r["captureData"]["endpointInput"]["data"]) for r in records) == list(
        range(100)
    )
    # Each worker sealed its own file on SIGTERM: both served part of the traffic.
    assert len(sidecar.capture_files()) >= 2


def test_a_dead_worker_is_replaced(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(workers=2)
    first = workers_of(sidecar)
    os.kill(first[0], signal.SIGKILL)
    wait_until(
        lambda: len(workers_of(sidecar)) == 2 and first[0] not in workers_of(sidecar),
        timeout=20,
        what="a replacement worker",
    )
    wait_until(lambda: http_get(sidecar.admin_url + "/readyz")[0] == 200, timeout=20)
    for _ in range(20):
        assert (
            request(sidecar.url, "POST", "/invocations", b"1,2", {"Content-Type": "text/csv"})[0]
            == 200
        )
    sidecar.terminate()
    assert sidecar.wait() == 0


def spooled_records(spool: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in spool.rglob("*.jsonl"))


def test_leftover_spools_are_recovered_across_worker_counts(
    start_sidecar: StartSidecar, tmp_path: Path
) -> None:
    spool, destination = tmp_path / "shared-spool", tmp_path / "shared-destination"
    folders = {"spool_dir": spool, "destination": destination, "flush_interval": 60}
    # A two-worker run dies hard with records still in its open spool files...
    crashed = start_sidecar(workers=2, **folders)
    for i in range(20):
        request(crashed.url, "POST", "/echo", f"a{i}".encode(), {"Content-Type": "text/csv"})
    wait_until(lambda: spooled_records(spool) == 20, timeout=10, what="records in the spool")
    crashed.kill()
    assert not destination.exists() or not list(destination.rglob("*.jsonl"))
    # ...then a single-process run recovers worker-0 and worker-1 and delivers everything.
    recovered = start_sidecar(**folders)
    wait_until(lambda: len(recovered.records()) == 20, timeout=15, what="recovered records")
    datas = sorted(r["captureData"]["endpointInput"]["data"] for r in recovered.records())
    assert datas == sorted(f"a{i}" for i in range(20))
    # And a later two-worker run finds what a single process left at the top of the spool.
    request(recovered.url, "POST", "/echo", b"single", {"Content-Type": "text/csv"})
    wait_until(lambda: spooled_records(spool) == 1, timeout=10, what="the single run's record")
    recovered.kill()
    again = start_sidecar(workers=2, **folders)
    wait_until(lambda: len(again.records()) == 21, timeout=15, what="the single run's record")
