"""Sampling: path/method patterns, rates within binomial bounds, determinism by inference id."""

from __future__ import annotations

import math
import random
import urllib.request

import pytest

from sidecar.capture.sampling import Sampler, id_hash
from tests.conftest import wait_until
from tests.sidecar.conftest import StartSidecar


def within_binomial(count: int, trials: int, p: float, sigmas: float = 4.0) -> bool:
    mean = trials * p
    spread = sigmas * math.sqrt(trials * p * (1 - p))
    return mean - spread <= count <= mean + spread


def kept_at(inference_id: str, percentage: float) -> bool:
    """The rule by id: kept when the id's hash falls in the first `percentage` of its range."""
    return id_hash(inference_id) < int(percentage / 100 * 2**64)


def test_id_hash_is_stable_across_processes_and_versions() -> None:
    # Replicas must agree on which ids are kept: the hash is pinned (blake2b, 8 bytes).
    assert id_hash("abc") == 15617099051652453721
    assert id_hash("request-1") == 18050845452336855140


@pytest.mark.parametrize("percentage", [0, 20, 100])
def test_rate_without_id_within_binomial_bounds(percentage: float) -> None:
    sampler = Sampler(percentage, rng=random.Random(7))
    trials = 20_000
    kept = sum(sampler.keep(None) for _ in range(trials))
    if percentage in (0, 100):
        assert kept == trials * percentage // 100
    else:
        assert within_binomial(kept, trials, percentage / 100)


@pytest.mark.parametrize("percentage", [1, 20, 50, 99.5])
def test_rate_by_id_within_binomial_bounds(percentage: float) -> None:
    sampler = Sampler(percentage)
    trials = 20_000
    kept = sum(sampler.keep(f"id-{i}") for i in range(trials))
    assert within_binomial(kept, trials, percentage / 100)


def test_same_id_same_decision_in_every_sampler() -> None:
    ids = [f"order-{i}" for i in range(2000)]
    first = [Sampler(20).keep(i) for i in ids]
    again = Sampler(20, rng=random.Random(99))
    assert [again.keep(i) for i in ids] == first
    assert first == [kept_at(i, 20) for i in ids]
    # Kept at 20% implies kept at any higher rate: ground truth at 50% still joins.
    assert all(Sampler(50).keep(i) for i, kept in zip(ids, first, strict=True) if kept)


def test_candidates_by_method_and_path() -> None:
    sampler = Sampler(100, methods=["POST", "PUT"], paths=["/invocations", "/v2/models/*"])
    assert sampler.is_candidate("POST", "/invocations")
    assert sampler.is_candidate("PUT", "/v2/models/m1/infer")
    assert not sampler.is_candidate("GET", "/invocations")
    assert not sampler.is_candidate("POST", "/ping")
    assert not sampler.is_candidate("POST", "/invocations/extra")
    everything = Sampler(100, methods=["*"])
    assert everything.is_candidate("DELETE", "/any/path")


def test_path_cache_stays_bounded() -> None:
    sampler = Sampler(100, paths=["/items/*"])
    for i in range(10_000):
        assert sampler.is_candidate("POST", f"/items/{i}")
    assert len(sampler._path_cache) <= 4096


def test_bad_percentage_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        Sampler(101)


def _post(url: str, inference_id: str | None = None) -> None:
    headers = {"Content-Type": "text/csv"}
    if inference_id is not None:
        headers["X-Inference-Id"] = inference_id
    request = urllib.request.Request(url, data=b"1,2", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_sidecar_samples_20_percent_at_random_and_by_id(start_sidecar: StartSidecar) -> None:
    sidecar = start_sidecar(sampling_percentage=20)
    url = sidecar.url + "/invocations"
    trials = 200
    for _ in range(trials):
        _post(url)
    ids = [f"e2e-{i}" for i in range(100)]
    for inference_id in ids:
        _post(url, inference_id)
    for inference_id in ids[:50]:
        _post(url, inference_id)  # the same ids again: the same decisions
    expected_ids = [i for i in ids if kept_at(i, 20)]
    repeated = [i for i in ids[:50] if kept_at(i, 20)]

    # `captured` counts records the spool writer has written: wait for it to catch up.
    def outcomes() -> tuple[float, float]:
        captured = sidecar.metric("infertap_capture_records_total", outcome="captured")
        not_sampled = sidecar.metric("infertap_capture_records_total", outcome="not_sampled")
        return captured, not_sampled

    wait_until(lambda: sum(outcomes()) >= trials + 150, timeout=10, what="every exchange counted")
    captured, not_sampled = outcomes()
    assert captured + not_sampled == trials + 150
    random_kept = captured - len(expected_ids) - len(repeated)
    assert within_binomial(int(random_kept), trials, 0.2)

    records = sidecar.wait_for_records(int(captured))
    with_id = sorted(
        r["eventMetadata"]["inferenceId"] for r in records if "inferenceId" in r["eventMetadata"]
    )
    assert with_id == sorted(expected_ids + repeated)


@pytest.mark.parametrize("percentage", [0, 100])
def test_sidecar_samples_none_or_all(start_sidecar: StartSidecar, percentage: int) -> None:
    sidecar = start_sidecar(sampling_percentage=percentage)
    for _ in range(50):
        _post(sidecar.url + "/invocations")

    def outcomes() -> tuple[float, float]:
        captured = sidecar.metric("infertap_capture_records_total", outcome="captured")
        not_sampled = sidecar.metric("infertap_capture_records_total", outcome="not_sampled")
        return captured, not_sampled

    # `captured` counts records the spool writer has written: wait for it to catch up.
    wait_until(lambda: sum(outcomes()) >= 50, timeout=10, what="every exchange counted")
    captured, not_sampled = outcomes()
    assert (captured, not_sampled) == ((50, 0) if percentage == 100 else (0, 50))
