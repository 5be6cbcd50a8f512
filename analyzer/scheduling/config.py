"""The `schedule` configuration file (YAML): which endpoints to monitor and where, validated once.

    defaults:                      # any endpoint key except `name`; optional
      captures: s3://bucket/datacapture
      output: s3://bucket/monitoring
      delay: 20                    # minutes after the hour before its run starts
    endpoints:
      - name: churn                # required; the capture folder below `captures`
        variant: AllTraffic        # default AllTraffic
        baseline_statistics: s3://bucket/baseline/statistics.json   # required
        baseline_constraints: s3://bucket/baseline/constraints.json # required
        captures: ...              # required here or under defaults
        output: ...                # required here or under defaults
        # any other key is a monitoring-run option: a MonitoringJob field, of its type

The run options are declared once, as `analyzer.job.MonitoringJob`'s typed fields (the ones the
scheduler does not set itself): their types are read from the class, and an option of a type
this module cannot check fails at import, never silently. Errors name the file, the line, the key
and the fix: `monitor.yaml:12: endpoints[0].workers: must be of type int, got 'many'`.

Relative local paths are taken relative to the folder holding the configuration file. The delay
of an endpoint is its own `delay`, else `--delay` / INFERTAP_DELAY, else `defaults.delay`, else 20.
Its `max_runtime` (seconds, SageMaker's MaxRuntimeInSeconds) is its own, else
`defaults.max_runtime`, else `--max-runtime` / INFERTAP_MAX_RUNTIME, else 3600.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analyzer.errors import ConfigError
from analyzer.job import MonitoringJob
from analyzer.scheduling.clarify_config import (
    ATTRIBUTION_KEY,
    BIAS_KEY,
    AttributionSection,
    BiasSection,
    parse_attribution,
    parse_bias,
)
from analyzer.scheduling.quality_config import KEY as QUALITY_KEY
from analyzer.scheduling.quality_config import QualityConfig, parse_quality

DEFAULT_VARIANT = "AllTraffic"
MAX_DELAY_MINUTES = 24 * 60
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$")
_URL_KEYS = ("captures", "output", "baseline_statistics", "baseline_constraints")
_HINTS = {
    "name": "the endpoint name, as the first folder below the capture prefix",
    "captures": "the capture prefix the sidecar writes to (s3://bucket/prefix or a folder)",
    "output": "where reports go (s3://bucket/prefix or a folder)",
    "baseline_statistics": "the URL of the baseline statistics.json",
    "baseline_constraints": "the URL of the baseline constraints.json",
}
_TOP_KEYS = ("defaults", "endpoints")
# Keys the scheduler sets itself for each run; they cannot come from the file.
_SET_BY_SCHEDULE = frozenset(
    {"endpoint_name", "variant_name", "start", "end", "output", "captures"}
    | {"baseline_statistics", "baseline_constraints"}
)


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """One monitored endpoint variant."""

    name: str
    variant: str
    captures: str
    baseline_statistics: str
    baseline_constraints: str
    output: str
    delay_minutes: float | None = None  # its own; None: --delay, else defaults.delay, else 20
    options: Mapping[str, Any] = field(default_factory=dict)  # extra MonitoringJob fields
    model_quality: QualityConfig | None = None  # analyzer.scheduling.quality_config
    bias: BiasSection | None = None  # analyzer.scheduling.clarify_config
    attribution: AttributionSection | None = None

    @property
    def label(self) -> str:
        return f"{self.name}/{self.variant}"


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    endpoints: tuple[EndpointConfig, ...]
    delay_minutes: float | None = None  # defaults.delay, if set
    source: str = "<config>"


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate a configuration file; raise ConfigError naming the key and the fix."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the configuration file {str(source)!r}: {exc.strerror}; "
            "pass an existing YAML file with --config"
        ) from None
    try:
        document = yaml.safe_load(text)
        lines = key_lines(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    try:
        return parse_config(document, str(source), base_dir=source.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(_with_line(str(exc), str(source), lines)) from None


def key_lines(text: str) -> dict[str, int]:
    """Where each key of a YAML document is: `endpoints[0].workers` -> its line (from 1)."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                inner = f"{path}.{key.value}" if path else str(key.value)
                lines[inner] = key.start_mark.line + 1
                walk(value, inner)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[f"{path}[{index}]"] = item.start_mark.line + 1
                walk(item, f"{path}[{index}]")

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return lines


def _with_line(message: str, source: str, lines: Mapping[str, int]) -> str:
    """`{source}: {key}: ...` as `{source}:{line}: {key}: ...` where the key is in the file."""
    prefix = f"{source}: "
    if not message.startswith(prefix):
        return message
    key = message[len(prefix) :].split(": ", 1)[0]
    line = lines.get(key) or lines.get(key.rsplit(".", 1)[0])  # a missing key: its mapping
    return f"{source}:{line}: {message[len(prefix) :]}" if line else message


def parse_config(
    document: Any, source: str = "<config>", base_dir: Path | None = None
) -> MonitorConfig:
    """Validate a parsed YAML document (see the module docstring for its shape)."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping with an 'endpoints' list at the top")
    unknown = sorted(set(document) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"{source}: {unknown[0]}: unknown top-level key; use 'defaults' and 'endpoints'"
        )
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: defaults: must be a mapping of endpoint keys")
    if "name" in defaults:
        raise ConfigError(f"{source}: defaults.name: each endpoint names itself; remove it")
    _check_keys(defaults, "defaults", source)
    delay = _delay(defaults["delay"], "defaults.delay", source) if "delay" in defaults else None
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        raise ConfigError(
            f"{source}: endpoints: missing or empty; list at least one endpoint "
            "with name, baseline_statistics and baseline_constraints"
        )
    parsed: list[EndpointConfig] = []
    seen: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(endpoints):
        where = f"endpoints[{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{source}: {where}: must be a mapping with name, baseline_statistics, …"
            )
        _check_keys(raw, where, source)
        endpoint = _endpoint(raw, defaults, where, source, base_dir)
        key = (endpoint.name, endpoint.variant)
        if key in seen:
            raise ConfigError(
                f"{source}: {where}: {endpoint.label} is already configured at "
                f"endpoints[{seen[key]}]; list each endpoint variant once"
            )
        seen[key] = index
        parsed.append(endpoint)
    return MonitorConfig(tuple(parsed), delay, source)


def _option_types() -> dict[str, Any]:
    """The MonitoringJob fields the file may set -> their types (from the class, resolved)."""
    hints = typing.get_type_hints(MonitoringJob)
    found = {f.name: hints[f.name] for f in dataclasses.fields(MonitoringJob)}
    options = {name: kind for name, kind in found.items() if name not in _SET_BY_SCHEDULE}
    for name, kind in options.items():
        for part in _parts(kind):
            if part not in _CHECKS:
                raise TypeError(
                    f"MonitoringJob.{name}: {kind} has no YAML check; add it to _CHECKS"
                )
    return options


def _parts(kind: Any) -> tuple[Any, ...]:
    """The members of a union type (`int | None` -> int, None), or the type itself."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        return typing.get_args(kind)
    return (kind,)


_CHECKS: dict[Any, Any] = {
    type(None): lambda value: value is None,
    str: lambda value: isinstance(value, str),
    bool: lambda value: isinstance(value, bool),
    int: lambda value: isinstance(value, int) and not isinstance(value, bool),
    float: lambda value: isinstance(value, int | float) and not isinstance(value, bool),
}
OPTION_TYPES = _option_types()


def _type_name(kind: Any) -> str:
    return " | ".join("None" if part is type(None) else part.__name__ for part in _parts(kind))


def _check_option(value: Any, kind: Any, where: str, source: str) -> None:
    """Check an option's YAML value against its MonitoringJob type."""
    if not any(_CHECKS[part](value) for part in _parts(kind)):
        raise ConfigError(f"{source}: {where}: must be of type {_type_name(kind)}, got {value!r}")


# An endpoint's monitors beyond data quality: model quality, bias drift, feature attribution.
_SECTION_KEYS = (QUALITY_KEY, BIAS_KEY, ATTRIBUTION_KEY)


def _check_keys(raw: Mapping[str, Any], where: str, source: str) -> None:
    options = OPTION_TYPES
    allowed = {"name", "variant", "delay", *_SECTION_KEYS, *_URL_KEYS, *options}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"{source}: {where}.{key}: unknown key; known keys are {', '.join(sorted(allowed))}"
            )
        if key in options:
            _check_option(value, options[key], f"{where}.{key}", source)


def _endpoint(
    own: Mapping[str, Any],
    defaults: Mapping[str, Any],
    where: str,
    source: str,
    base_dir: Path | None,
) -> EndpointConfig:
    raw = {**defaults, **own}

    def text(key: str, default: str | None = None) -> str:
        value = raw.get(key, default)
        # Name the place the user has to edit.
        inherited = key not in own and key in defaults
        where_key = f"defaults.{key}" if inherited else f"{where}.{key}"
        if value is None or value == "":
            fix = f"add {_HINTS[key]}"
            if key != "name" and not key.startswith("baseline"):
                fix += " (here or under defaults)"
            raise ConfigError(f"{source}: {where_key}: missing; {fix}")
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {where_key}: must be a string, got {value!r}")
        return value

    name = text("name")
    variant = text("variant", DEFAULT_VARIANT) if "variant" in raw else DEFAULT_VARIANT
    for key, value in (("name", name), ("variant", variant)):
        if not _NAME.match(value):
            raise ConfigError(
                f"{source}: {where}.{key}: must be 1-63 letters, digits, '.', '_' or '-', "
                f"got {value!r}"
            )
    urls = {key: _resolve(text(key), base_dir) for key in _URL_KEYS}
    # Only the endpoint's own delay: defaults.delay ranks below --delay (commands.schedule).
    delay = _delay(own["delay"], f"{where}.delay", source) if "delay" in own else None
    own_keys = {"name", "variant", "delay", *_SECTION_KEYS, *_URL_KEYS}
    options = {k: v for k, v in raw.items() if k not in own_keys}
    max_runtime = options.get("max_runtime")
    if max_runtime is not None and not 0 < max_runtime < math.inf:
        inherited = "max_runtime" not in own
        where_key = "defaults.max_runtime" if inherited else f"{where}.max_runtime"
        raise ConfigError(
            f"{source}: {where_key}: must be a positive number of seconds, got {max_runtime!r}"
        )
    return EndpointConfig(
        name=name,
        variant=variant,
        captures=urls["captures"],
        baseline_statistics=urls["baseline_statistics"],
        baseline_constraints=urls["baseline_constraints"],
        output=urls["output"],
        delay_minutes=delay,
        options=options,
        model_quality=_quality(raw, where, source, base_dir),
        **_clarify(raw, where, source, base_dir),
    )


def _clarify(
    raw: Mapping[str, Any], where: str, source: str, base_dir: Path | None
) -> dict[str, Any]:
    """The endpoint's bias and attribution sections, local paths resolved like the others."""
    found: dict[str, Any] = {}
    if raw.get(BIAS_KEY) is not None:
        bias = parse_bias(raw[BIAS_KEY], where, source)
        found["bias"] = dataclasses.replace(
            bias,
            analysis_config=_resolve(bias.analysis_config, base_dir),
            baseline_constraints=_resolve(bias.baseline_constraints, base_dir),
            ground_truth=_resolve(bias.ground_truth, base_dir) if bias.ground_truth else None,
        )
    if raw.get(ATTRIBUTION_KEY) is not None:
        explain = parse_attribution(raw[ATTRIBUTION_KEY], where, source)
        found["attribution"] = dataclasses.replace(
            explain,
            analysis_config=_resolve(explain.analysis_config, base_dir),
            baseline_constraints=_resolve(explain.baseline_constraints, base_dir),
        )
    return found


def _quality(
    raw: Mapping[str, Any], where: str, source: str, base_dir: Path | None
) -> QualityConfig | None:
    """The endpoint's model-quality section, its local paths resolved like the others."""
    if raw.get(QUALITY_KEY) is None:
        return None
    parsed = parse_quality(raw[QUALITY_KEY], where, source)
    return dataclasses.replace(
        parsed,
        ground_truth=_resolve(parsed.ground_truth, base_dir),
        baseline_constraints=_resolve(parsed.baseline_constraints, base_dir),
        baseline_statistics=_resolve(parsed.baseline_statistics, base_dir)
        if parsed.baseline_statistics
        else None,
    )


def _resolve(url: str, base_dir: Path | None) -> str:
    """Relative local paths are relative to the configuration file's folder."""
    if "://" in url or base_dir is None or Path(url).is_absolute():
        return url
    return str((base_dir / url).resolve())


def _delay(value: Any, where: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{source}: {where}: must be a number of minutes, got {value!r}")
    if not 0 <= value <= MAX_DELAY_MINUTES:
        raise ConfigError(
            f"{source}: {where}: must be between 0 and {MAX_DELAY_MINUTES} minutes, got {value}"
        )
    return float(value)
