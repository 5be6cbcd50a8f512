"""What the webhook injects: the sidecar container and its spool volume, shaped by the webhook's
settings (InjectionConfig). deploy/model-example writes the same container out by hand."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.errors import SidecarError
from sidecar.settings import SettingsError, parse_settings

CONTAINER_NAME = "infertap-sidecar"
SPOOL_VOLUME = "infertap-spool"
SPOOL_DIR = "/var/spool/infertap"
DEFAULT_SIDECAR_PORT = 9000
DEFAULT_ADMIN_PORT = 9090
TRAFFIC_PORT_NAME = "infertap"
ADMIN_PORT_NAME = "infertap-admin"
# The sidecar stops accepting records at this share of the emptyDir size limit, well before the
# kubelet would evict the pod for exceeding it.
SPOOL_CAP_SHARE = 0.8
# Kubernetes resource.Quantity (the API server's own pattern).
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


class InjectionConfigError(SidecarError, ValueError):
    """A bad webhook setting; the message names the option and what it accepts."""


def quantity_bytes(text: str, option: str) -> int:
    """`1Gi`, `500Mi`, `2G` or plain bytes -> bytes (the subset of Quantity that sizes use)."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", text.strip())
    if not match:
        raise InjectionConfigError(f"{option} must be a size such as 1Gi or 500Mi, got {text!r}")
    return int(match.group(1)) * _QUANTITY_UNITS[match.group(2) or ""]


def check_quantity(text: str, option: str) -> str:
    if not _QUANTITY.match(text):
        raise InjectionConfigError(
            f"{option} must be a Kubernetes quantity such as 100m, 1 or 256Mi, got {text!r}"
        )
    return text


@dataclass(frozen=True, slots=True)
class InjectionConfig:
    """What the webhook injects, set once at start-up (webhook flags)."""

    image: str
    image_pull_policy: str = "IfNotPresent"
    default_destination: str | None = None
    default_sampling_percentage: float = 20.0
    default_variant_name: str = "AllTraffic"
    default_capture_mode: str = "input,output"
    spool_size_limit: str = "1Gi"
    cpu_request: str = "50m"
    memory_request: str = "64Mi"
    cpu_limit: str = "1"
    memory_limit: str = "256Mi"
    # None leaves the UID to the image/platform (OpenShift assigns one per namespace).
    run_as_user: int | None = 10001

    def __post_init__(self) -> None:
        if not self.image.strip():
            raise InjectionConfigError("--image must name the sidecar image, e.g. infertap:0.1.0")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise InjectionConfigError(
                "--image-pull-policy must be Always, IfNotPresent or Never, "
                f"got {self.image_pull_policy!r}"
            )
        quantity_bytes(self.spool_size_limit, "--spool-size-limit")
        for option, value in (
            ("--cpu-request", self.cpu_request),
            ("--memory-request", self.memory_request),
            ("--cpu-limit", self.cpu_limit),
            ("--memory-limit", self.memory_limit),
        ):
            check_quantity(value, option)
        try:
            parse_settings([], self.base_env(self.default_destination or f"file://{SPOOL_DIR}"))
        except SettingsError as exc:
            raise InjectionConfigError(f"a default would not start the sidecar: {exc}") from None

    @property
    def spool_max_bytes(self) -> int:
        return int(quantity_bytes(self.spool_size_limit, "--spool-size-limit") * SPOOL_CAP_SHARE)

    def base_env(self, destination: str) -> dict[str, str]:
        return {
            "INFERTAP_DESTINATION": destination,
            "INFERTAP_SAMPLING_PERCENTAGE": f"{self.default_sampling_percentage:g}",
            "INFERTAP_VARIANT_NAME": self.default_variant_name,
            "INFERTAP_CAPTURE_MODE": self.default_capture_mode,
            "INFERTAP_SPOOL_DIR": SPOOL_DIR,
            "INFERTAP_SPOOL_MAX_BYTES": str(self.spool_max_bytes),
        }


@dataclass(frozen=True, slots=True)
class SidecarPorts:
    """Where the model listens and where the sidecar serves traffic and its admin endpoints."""

    upstream: int
    traffic: int
    admin: int


def sidecar_container(
    env: Mapping[str, str], ports: SidecarPorts, config: InjectionConfig
) -> dict[str, Any]:
    """The container spec the webhook adds (also the shape deploy/model-example writes out)."""
    security: dict[str, Any] = {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if config.run_as_user is not None:
        security["runAsUser"] = config.run_as_user
        security["runAsGroup"] = config.run_as_user
    return {
        "name": CONTAINER_NAME,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "env": [{"name": name, "value": value} for name, value in sorted(env.items())],
        "ports": [
            {"name": TRAFFIC_PORT_NAME, "containerPort": ports.traffic, "protocol": "TCP"},
            {"name": ADMIN_PORT_NAME, "containerPort": ports.admin, "protocol": "TCP"},
        ],
        # Ready only while the model answers its health path: the sidecar passes readiness through.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": ports.admin},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": ports.admin},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": config.cpu_request, "memory": config.memory_request},
            "limits": {"cpu": config.cpu_limit, "memory": config.memory_limit},
        },
        "securityContext": security,
        "volumeMounts": [{"name": SPOOL_VOLUME, "mountPath": SPOOL_DIR}],
    }


def spool_volume(config: InjectionConfig) -> dict[str, Any]:
    return {"name": SPOOL_VOLUME, "emptyDir": {"sizeLimit": config.spool_size_limit}}
