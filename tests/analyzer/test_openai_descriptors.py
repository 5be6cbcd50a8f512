"""OpenAI-compatible exchanges -> descriptor features, and baselines from captured traffic.

Records are written in the sidecar's local layout: streamed ones as the sidecar captures them
(the assembled response, JSON, observed as text/event-stream), plain ones with build_record.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from analyzer.__main__ import main
from analyzer.decoding.openai import FEATURES, descriptors
from analyzer.pipeline.window import CHUNK_FILES
from sidecar.common.layout import file_name, partition_key
from tests.analyzer.captures import csv_record
from tests.analyzer.monitoring_data import analyzer, write_captures

HOUR = datetime(2026, 11, 25, 8, tzinfo=UTC)
ENDPOINT = "chat"


def side(data: Any, content_type: str = "application/json", mode: str = "INPUT") -> dict[str, Any]:
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": "JSON"}


def chat_record(
    i: int, prompt: str, answer: str, *, stream: bool = True, model: str = "llama-3-8b"
) -> dict[str, Any]:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]
    request = {"model": model, "stream": stream, "messages": messages}
    tokens = max(1, len(answer) // 4)
    response = {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "created": 1764057600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop" if answer else "length",
            }
        ],
        "usage": {"prompt_tokens": len(prompt) // 4 + 5, "completion_tokens": tokens},
    }
    metadata: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": (HOUR + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "path": "/v1/chat/completions",
        "status": 200,
        "upstreamLatencyMs": 40.0,
    }
    output_type = "text/event-stream" if stream else "application/json"
    if stream:
        metadata |= {"stream": True, "timeToFirstTokenMs": 50.0 + i % 7, "events": tokens + 2}
        metadata["streamDurationMs"] = 50.0 + i % 7 + 20.0 * tokens
    return {
        "captureData": {
            "endpointInput": side(request),
            "endpointOutput": side(response, output_type, "OUTPUT"),
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def write_records(root: Path, hour: datetime, records: list[dict[str, Any]]) -> None:
    folder = root / partition_key(ENDPOINT, "AllTraffic", hour)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(hour + timedelta(minutes=1), uuid.uuid4())
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def test_a_streamed_chat_exchange_becomes_descriptors() -> None:
    record = chat_record(3, "What is the capital of France?", "Paris, of course.")
    capture = record["captureData"]
    row = descriptors(capture["endpointInput"], capture["endpointOutput"], record["eventMetadata"])
    assert row == {
        "model": "llama-3-8b",
        "prompt_messages": 2,
        "prompt_chars": len("Be brief.") + len("What is the capital of France?"),
        "prompt_tokens": 12,
        "completion_tokens": 4,
        "completion_chars": len("Paris, of course."),
        "finish_reason": "stop",
        "time_to_first_token_ms": 53.0,
        "output_tokens_per_second": round(4 / 0.08, 3),
        "empty_completion": 0,
    }
    assert list(row) == list(FEATURES)


def test_completions_tool_calls_and_plain_responses() -> None:
    request = side({"model": "m", "prompt": "Once upon"})
    response = side(
        {"object": "text_completion", "model": "m", "choices": [{"text": "", "index": 0}]},
        mode="OUTPUT",
    )
    row = descriptors(request, response, {"upstreamLatencyMs": 10.0})
    assert row is not None
    assert (row["prompt_messages"], row["prompt_chars"], row["empty_completion"]) == (1, 9, 1)
    assert row["prompt_tokens"] is None and row["output_tokens_per_second"] is None
    tools = {"object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
             "message": {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}}],
             "usage": {"prompt_tokens": 3, "completion_tokens": 10}}  # fmt: skip
    multimodal = {"messages": [{"role": "user", "content": [{"type": "text", "text": "abc"}]}]}
    row = descriptors(side(multimodal), side(tools), {"upstreamLatencyMs": 500.0})
    assert row is not None and row["empty_completion"] == 0 and row["prompt_chars"] == 3
    assert row["output_tokens_per_second"] == 20.0 and row["time_to_first_token_ms"] is None


@pytest.mark.parametrize(
    ("request_side", "response_side"),
    [
        (side({"instances": [1, 2]}), side({"predictions": [0.5]})),
        (side({"messages": []}), side({"predictions": [0.5]})),
        ({"data": "1,2", "encoding": "CSV"}, {"data": "0.5", "encoding": "CSV"}),
        (side("not json {"), side("[1]")),
    ],
)
def test_other_exchanges_are_left_to_the_other_decoders(
    request_side: dict[str, Any], response_side: dict[str, Any]
) -> None:
    assert descriptors(request_side, response_side, {}) is None


def test_baseline_from_captured_llm_traffic_then_a_drifted_run(tmp_path: Path) -> None:
    captures = tmp_path / "captures"
    short = [chat_record(i, f"Question {i}?", "Answer " + "x" * (i % 20)) for i in range(300)]
    long = [
        chat_record(i, "Please explain in detail " * 20, "word " * (100 + i % 50), model="big")
        for i in range(300)
    ]
    write_records(captures, HOUR, short)
    write_records(captures, HOUR + timedelta(hours=1), long)
    window = ["--captures", str(captures), "--endpoint-name", ENDPOINT]
    done = analyzer(
        "baseline", *window, "--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z",
        "--output", str(tmp_path / "baseline"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "300 rows, 10 features" in done.stdout
    statistics = orjson.loads((tmp_path / "baseline" / "statistics.json").read_bytes())
    names = [f["name"] for f in statistics["features"]]
    assert sorted(names) == sorted(FEATURES)
    run = analyzer(
        "run", *window, "--start", "2026-11-25T09:00:00Z", "--end", "2026-11-25T10:00:00Z",
        "--baseline-statistics", str(tmp_path / "baseline" / "statistics.json"),
        "--baseline-constraints", str(tmp_path / "baseline" / "constraints.json"),
        "--output", str(tmp_path / "run"),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    violations = orjson.loads((tmp_path / "run" / "constraint_violations.json").read_bytes())
    drifted = {v["feature_name"] for v in violations["violations"]}
    assert {"prompt_chars", "completion_tokens", "completion_chars", "model"} <= drifted


def test_baseline_from_captured_csv_traffic_matches_a_run_over_it(tmp_path: Path) -> None:
    captures = tmp_path / "captures"
    write_captures(captures, HOUR, [i % 100 for i in range(200)], endpoint=ENDPOINT)
    window = [
        "--captures", str(captures), "--endpoint-name", ENDPOINT,
        "--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z",
    ]  # fmt: skip
    done = analyzer("baseline", *window, "--output", str(tmp_path / "baseline"))
    assert done.returncode == 0, done.stderr
    statistics = orjson.loads((tmp_path / "baseline" / "statistics.json").read_bytes())
    assert [f["name"] for f in statistics["features"]] == ["_c0", "_c1", "_c2"]
    run = analyzer(
        "run", *window, "--output", str(tmp_path / "run"),
        "--baseline-statistics", str(tmp_path / "baseline" / "statistics.json"),
        "--baseline-constraints", str(tmp_path / "baseline" / "constraints.json"),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_baseline_from_an_empty_window_names_what_to_check(tmp_path: Path) -> None:
    done = analyzer(
        "baseline", "--captures", str(tmp_path), "--endpoint-name", ENDPOINT,
        "--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z",
        "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 2 and "no capture files under" in done.stderr
    missing = analyzer("baseline", "--captures", str(tmp_path), "--output", str(tmp_path))
    assert missing.returncode == 2 and "--endpoint-name is required" in missing.stderr


def test_per_model_breakdown_of_an_endpoint_serving_several_models(tmp_path: Path) -> None:
    captures = tmp_path / "captures"

    def hour_of(big_answer: str) -> list[dict[str, Any]]:
        small = [chat_record(i, f"Q{i}?", "A" * (i % 20), model="small") for i in range(0, 400, 2)]
        big = [chat_record(i, f"Q{i}?", big_answer, model="big") for i in range(1, 400, 2)]
        return small + big

    write_records(captures, HOUR, hour_of("short"))
    write_records(captures, HOUR + timedelta(hours=1), hour_of("long " * 200))  # big drifts
    window = ["--captures", str(captures), "--endpoint-name", ENDPOINT, "--model"]
    for model in ("small", "big"):
        done = analyzer(
            "baseline", *window, model, "--output", str(tmp_path / model),
            "--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z",
        )  # fmt: skip
        assert done.returncode == 0 and "200 rows" in done.stdout, done.stderr

    def run(model: str) -> int:
        done = analyzer(
            "run", *window, model, "--output", str(tmp_path / f"run-{model}"),
            "--start", "2026-11-25T09:00:00Z", "--end", "2026-11-25T10:00:00Z",
            "--baseline-statistics", str(tmp_path / model / "statistics.json"),
            "--baseline-constraints", str(tmp_path / model / "constraints.json"),
        )  # fmt: skip
        execution = orjson.loads((tmp_path / f"run-{model}" / "execution.json").read_bytes())
        assert "200 records are of other models" in " ".join(execution.get("warnings", []))
        return done.returncode

    assert run("small") == 0
    assert run("big") == 1


def test_model_filter_holds_in_every_chunk_of_a_window(tmp_path: Path) -> None:
    """More files than one chunk holds (CHUNK_FILES), on an endpoint that also serves a plain CSV
    path (whose output width the first chunk learns): every chunk keeps --model."""
    captures = tmp_path / "captures"
    base = [chat_record(i, f"Q{i}?", "A" * (i % 20), model="small") for i in range(200)]
    write_records(captures, HOUR, base)
    window = ["--captures", str(captures), "--endpoint-name", ENDPOINT, "--model", "small"]
    baseline = ["--start", "2026-11-25T08:00:00Z", "--end", "2026-11-25T09:00:00Z"]
    assert main(["baseline", *window, "--output", str(tmp_path / "base"), *baseline]) == 0
    files = CHUNK_FILES + 20
    later = HOUR + timedelta(hours=1)
    # The plain record's file, opened first, is listed (and so profiled) first.
    first = captures / partition_key(ENDPOINT, "AllTraffic", later) / file_name(later, uuid.uuid4())
    first.parent.mkdir(parents=True)
    first.write_bytes(csv_record("3,4", "0.5", later))
    for i in range(files - 1):
        small = chat_record(3600 + i, f"Q{i}?", "A" * (i % 20), model="small")
        big = chat_record(3600 + i, f"Q{i}?", "long " * 200, model="big")
        write_records(captures, later, [small, big])
    main(
        [
            "run", *window, "--output", str(tmp_path / "run"),
            "--start", "2026-11-25T09:00:00Z", "--end", "2026-11-25T10:00:00Z",
            "--baseline-statistics", str(tmp_path / "base" / "statistics.json"),
            "--baseline-constraints", str(tmp_path / "base" / "constraints.json"),
        ]
    )  # fmt: skip
    execution = orjson.loads((tmp_path / "run" / "execution.json").read_bytes())
    assert execution["status"] != "Failed", execution["failure_reason"]
    assert execution["counts"]["files"] == files  # more than one chunk
    assert execution["counts"]["other_models"] == files - 1  # every big record, in every chunk
