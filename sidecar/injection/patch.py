"""Pure pod mutation for the injection webhook: a Pod and its `infertap.io/*` annotations in,
an RFC 6902 JSONPatch adding the sidecar container (plus warnings for the user) out."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sidecar.injection.container import (
    CONTAINER_NAME,
    DEFAULT_ADMIN_PORT,
    DEFAULT_SIDECAR_PORT,
    SPOOL_DIR,
    SPOOL_VOLUME,
    InjectionConfig,
    SidecarPorts,
    sidecar_container,
    spool_volume,
)
from sidecar.settings import SettingsError, parse_settings

ANNOTATION_PREFIX = "infertap.io/"
INJECT_ANNOTATION = ANNOTATION_PREFIX + "inject"
PORT_SEARCH = 100  # ports tried from the default when the pod already uses it
# The container kubectl picks for `logs`/`exec`; also the one we treat as the model server.
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
PROMETHEUS_ANNOTATIONS = ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path")

# Annotation (below infertap.io/) -> the sidecar variable it sets, for the plain pass-through ones.
PASS_THROUGH = {
    "sampling-percentage": "INFERTAP_SAMPLING_PERCENTAGE",
    "destination": "INFERTAP_DESTINATION",
    "endpoint-name": "INFERTAP_ENDPOINT_NAME",
    "variant-name": "INFERTAP_VARIANT_NAME",
    "capture-mode": "INFERTAP_CAPTURE_MODE",
    "upstream-health-path": "INFERTAP_UPSTREAM_HEALTH_PATH",
}
PORT_ANNOTATIONS = ("upstream-port", "sidecar-port", "admin-port")
KNOWN_ANNOTATIONS = frozenset({"inject", *PASS_THROUGH, *PORT_ANNOTATIONS})

_TRUE = frozenset({"true", "enabled", "yes"})
_FALSE = frozenset({"false", "disabled", "no"})
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class Policy(enum.Enum):
    """Why the API server sent the pod: which default applies when the pod does not say."""

    NAMESPACE = "namespace"  # the namespace opted in: inject unless the pod opts out
    ANNOTATION = "annotation"  # only pods annotated infertap.io/inject: "true"


@dataclass(frozen=True, slots=True)
class Mutation:
    """The answer for one pod: the JSONPatch (maybe empty) and warnings shown to the user."""

    patch: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    injected: bool = False
    reason: str = ""


def escape_pointer(token: str) -> str:
    """One JSON Pointer reference token, escaped per RFC 6901 (`~` -> `~0`, `/` -> `~1`)."""
    return token.replace("~", "~0").replace("/", "~1")


def _warn(key: str, value: str, why: str) -> str:
    return f"infertap: annotation {ANNOTATION_PREFIX}{key}={value!r} ignored: {why}"


def _opt_in(annotations: Mapping[str, str], warnings: list[str]) -> bool | None:
    """True/False when the pod says, None when it does not (or says something unreadable)."""
    raw = annotations.get(INJECT_ANNOTATION)
    if raw is None:
        return None
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    warnings.append(_warn("inject", str(raw), 'use "true" or "false"'))
    return None


def _containers(pod: Mapping[str, Any], key: str = "containers") -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    items = spec.get(key) or []
    return [c for c in items if isinstance(c, dict)]


def _already_injected(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("name") == CONTAINER_NAME
        for key in ("containers", "initContainers")
        for c in _containers(pod, key)
    )


def _model_container(pod: Mapping[str, Any], annotations: Mapping[str, str]) -> dict[str, Any]:
    containers = _containers(pod)
    wanted = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    for container in containers:
        if wanted and container.get("name") == wanted:
            return container
    return containers[0] if containers else {}


def _ports_in_use(pod: Mapping[str, Any]) -> set[int]:
    ports: set[int] = set()
    for key in ("containers", "initContainers"):
        for container in _containers(pod, key):
            for port in container.get("ports") or []:
                if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                    ports.add(port["containerPort"])
    return ports


def _endpoint_default(pod: Mapping[str, Any]) -> str | None:
    """The app label, else the owner's name from generateName (minus the ReplicaSet hash)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    candidates = [labels.get("app.kubernetes.io/name"), labels.get("app")]
    generated = str(meta.get("generateName") or "").rstrip("-")
    template_hash = labels.get("pod-template-hash")
    if template_hash and generated.endswith(f"-{template_hash}"):
        generated = generated[: -len(template_hash) - 1]
    candidates += [generated, meta.get("name")]
    for name in candidates:
        if isinstance(name, str) and _ENDPOINT_NAME.match(name):
            return name
    return None


def _port(key: str, raw: str | None, warnings: list[str]) -> int | None:
    if raw is None:
        return None
    text = str(raw).strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    warnings.append(_warn(key, str(raw), "must be a port number between 1 and 65535"))
    return None


def _declared_port(model: Mapping[str, Any], warnings: list[str]) -> int | None:
    """The model container's first valid containerPort; the others are named in warnings
    (never written into the sidecar's upstream URL, where the sidecar could not start)."""
    for entry in model.get("ports") or []:
        declared = entry.get("containerPort") if isinstance(entry, dict) else None
        if type(declared) is int and 1 <= declared <= 65535:
            return declared
        if declared is not None:
            warnings.append(
                f"infertap: containerPort {declared!r} of container {model.get('name', '')!r} "
                "is not a port number between 1 and 65535; ignored"
            )
    return None


def _free_port_from(start: int, taken: set[int]) -> int | None:
    # The Service targets the port by name, so another number changes nothing for clients.
    return next((port for port in range(start, start + PORT_SEARCH) if port not in taken), None)


def _choose_ports(
    pod: Mapping[str, Any], options: Mapping[str, str], warnings: list[str]
) -> SidecarPorts | str:
    """The three ports, or the reason the sidecar cannot be placed in this pod."""
    model = _model_container(pod, options)
    upstream = _port("upstream-port", options.get(ANNOTATION_PREFIX + "upstream-port"), warnings)
    if upstream is None:
        upstream = _declared_port(model, warnings)
    if upstream is None:
        return (
            f"the model container {model.get('name', '')!r} declares no containerPort; "
            f"set {ANNOTATION_PREFIX}upstream-port"
        )
    taken = _ports_in_use(pod) | {upstream}
    chosen: dict[str, int] = {}
    for key, default in (
        ("sidecar-port", DEFAULT_SIDECAR_PORT),
        ("admin-port", DEFAULT_ADMIN_PORT),
    ):
        raw = options.get(ANNOTATION_PREFIX + key)
        asked = _port(key, raw, warnings)
        if asked is not None and asked in taken:
            warnings.append(_warn(key, str(raw), f"port {asked} is already used in the pod"))
            asked = None
        port = asked if asked is not None else _free_port_from(default, taken)
        if port is None:
            return f"no free port near {default} in the pod; set {ANNOTATION_PREFIX}{key}"
        if asked is None and port != default:
            warnings.append(
                f"infertap: port {default} is already used in the pod; the sidecar's "
                f"{'traffic' if key == 'sidecar-port' else 'admin'} port is {port} "
                f"(set {ANNOTATION_PREFIX}{key} to choose)"
            )
        taken.add(port)
        chosen[key] = port
    return SidecarPorts(upstream, chosen["sidecar-port"], chosen["admin-port"])


def _check_destination(value: str) -> str | None:
    """Why a destination cannot work inside a pod (read-only root file system), or None."""
    if value.startswith("s3://") or value.startswith("file:///") or value.startswith("/"):
        return None
    return "use s3://bucket/prefix, or an absolute path on a volume the pod mounts"


def _sidecar_env(
    pod: Mapping[str, Any],
    annotations: Mapping[str, str],
    ports: SidecarPorts,
    config: InjectionConfig,
    warnings: list[str],
) -> dict[str, str] | str:
    """INFERTAP_* variables; each annotation is checked by the sidecar's own settings parser."""
    env = config.base_env(config.default_destination or "")
    env["INFERTAP_UPSTREAM"] = f"http://127.0.0.1:{ports.upstream}"
    env["INFERTAP_LISTEN"] = f"0.0.0.0:{ports.traffic}"
    env["INFERTAP_ADMIN_LISTEN"] = f"0.0.0.0:{ports.admin}"
    endpoint = _endpoint_default(pod)
    if endpoint:
        env["INFERTAP_ENDPOINT_NAME"] = endpoint
    # Checks one value at a time against settings known to be good, so a rejection names it.
    probe = {**env, "INFERTAP_DESTINATION": env["INFERTAP_DESTINATION"] or f"file://{SPOOL_DIR}"}
    for key, variable in PASS_THROUGH.items():
        raw = annotations.get(ANNOTATION_PREFIX + key)
        if raw is None:
            continue
        value = str(raw).strip()
        problem = _check_destination(value) if key == "destination" else None
        problem = problem or _sidecar_rejects({**probe, variable: value})
        if problem is None:
            env[variable] = probe[variable] = value
        else:
            default = env.get(variable)
            warnings.append(
                _warn(key, str(raw), problem + (f"; using {default!r}" if default else ""))
            )
    if not env["INFERTAP_DESTINATION"]:
        return (
            f"no capture destination: annotate the pod with {ANNOTATION_PREFIX}destination "
            "or start the webhook with --default-destination"
        )
    if "INFERTAP_ENDPOINT_NAME" not in env:
        env["INFERTAP_ENDPOINT_NAME"] = "default"
        warnings.append(
            f"infertap: no usable app label or name for the endpoint; using 'default' "
            f"(set {ANNOTATION_PREFIX}endpoint-name)"
        )
    return env


def _sidecar_rejects(env: Mapping[str, str]) -> str | None:
    try:
        parse_settings([], env)
    except SettingsError as exc:
        return str(exc)
    return None


def _prometheus_annotations(
    annotations: Mapping[str, str], admin_port: int, warnings: list[str]
) -> dict[str, str]:
    """Scrape annotations for the sidecar, only when the pod sets none of its own."""
    present = [key for key in PROMETHEUS_ANNOTATIONS if key in annotations]
    if not present:
        return {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(admin_port),
            "prometheus.io/path": "/metrics",
        }
    if annotations.get("prometheus.io/port") != str(admin_port):
        warnings.append(
            "infertap: the pod already sets prometheus.io/* annotations, so they were kept; "
            f"scrape the sidecar's port {admin_port} through the PodMonitor"
        )
    return {}


def _patch(
    pod: Mapping[str, Any],
    container: dict[str, Any],
    add_annotations: Mapping[str, str],
    config: InjectionConfig,
) -> list[dict[str, Any]]:
    patch: list[dict[str, Any]] = []
    meta = pod.get("metadata")
    if add_annotations:
        if not isinstance(meta, dict):
            patch.append({"op": "add", "path": "/metadata", "value": {}})
            meta = {}
        if not isinstance(meta.get("annotations"), dict):
            patch.append({"op": "add", "path": "/metadata/annotations", "value": {}})
        for key, value in add_annotations.items():
            path = "/metadata/annotations/" + escape_pointer(key)
            patch.append({"op": "add", "path": path, "value": value})
    patch.append({"op": "add", "path": "/spec/containers/-", "value": container})
    spec = pod.get("spec") or {}
    volumes = spec.get("volumes")
    if not isinstance(volumes, list):
        patch.append({"op": "add", "path": "/spec/volumes", "value": [spool_volume(config)]})
    elif not any(isinstance(v, dict) and v.get("name") == SPOOL_VOLUME for v in volumes):
        # A volume the pod already names infertap-spool (a PVC, say) is used as it is.
        patch.append({"op": "add", "path": "/spec/volumes/-", "value": spool_volume(config)})
    return patch


def _string_annotations(pod: Mapping[str, Any]) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}


def mutate(pod: Mapping[str, Any], policy: Policy, config: InjectionConfig) -> Mutation:
    """The JSONPatch injecting the sidecar into `pod`, or an empty one with the reason."""
    annotations = _string_annotations(pod)
    warnings: list[str] = []
    if _already_injected(pod):
        return Mutation([], [], reason="already has the sidecar container")
    if not _containers(pod):
        return Mutation([], [], reason="no containers")
    wanted = _opt_in(annotations, warnings)
    if wanted is False:
        return Mutation([], warnings, reason="opted out by annotation")
    if wanted is None and policy is Policy.ANNOTATION:
        return Mutation([], warnings, reason="not opted in")
    warnings += [
        _warn(key[len(ANNOTATION_PREFIX) :], value, "unknown annotation")
        for key, value in annotations.items()
        if key.startswith(ANNOTATION_PREFIX)
        and key[len(ANNOTATION_PREFIX) :] not in KNOWN_ANNOTATIONS
    ]
    ports = _choose_ports(pod, annotations, warnings)
    if isinstance(ports, str):
        return _skipped(warnings, ports)
    env = _sidecar_env(pod, annotations, ports, config, warnings)
    if isinstance(env, str):
        return _skipped(warnings, env)
    container = sidecar_container(env, ports, config)
    scrape = _prometheus_annotations(annotations, ports.admin, warnings)
    return Mutation(_patch(pod, container, scrape, config), warnings, True, "injected")


def _skipped(warnings: Sequence[str], why: str) -> Mutation:
    return Mutation([], [*warnings, f"infertap: sidecar not injected: {why}"], reason=why)
