"""Property tests of the pod mutation: whatever the annotations say, the result is a patch that
applies to the pod and yields a valid Pod whose sidecar would start, or no patch at all."""

from __future__ import annotations

from typing import Any

import jsonpatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.injection.container import CONTAINER_NAME, InjectionConfig
from sidecar.injection.patch import KNOWN_ANNOTATIONS, Policy, escape_pointer, mutate
from sidecar.settings import parse_settings
from tests.deploy.k8s import validate

CONFIG = InjectionConfig(image="infertap:0.1.0", default_destination="s3://bucket/capture")
KEYS = [*sorted(KNOWN_ANNOTATIONS), "sampling", "port", "destination/x"]
values = st.one_of(
    st.sampled_from(["", "true", "false", "0", "100", "150", "-1", "abc", "9000", "8080",
                     "65536", "input", "output", "both", "/ping", "s3://b/p", "./rel", "a b"]),
    st.text(max_size=12),
)  # fmt: skip
annotation_maps = st.dictionaries(st.sampled_from(KEYS).map(lambda k: "infertap.io/" + k), values)
ports = st.lists(st.integers(1, 65535), max_size=3, unique=True)


def _pod(notes: dict[str, str], model_ports: list[int], with_volumes: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "model", "image": "model:1"}
    if model_ports:
        container["ports"] = [{"containerPort": p} for p in model_ports]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "m-", "labels": {"app": "m"}},
        "spec": {"containers": [container]},
    }
    if notes:
        pod["metadata"]["annotations"] = notes
    if with_volumes:
        pod["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    return pod


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(annotation_maps, ports, st.booleans(), st.sampled_from(list(Policy)))
def test_any_annotations_give_a_valid_pod_or_none(
    notes: dict[str, str], model_ports: list[int], with_volumes: bool, policy: Policy
) -> None:
    pod = _pod(notes, model_ports, with_volumes)
    mutation = mutate(pod, policy, CONFIG)
    if not mutation.injected:
        assert mutation.patch == []
        return
    mutated = jsonpatch.apply_patch(pod, mutation.patch)
    validate(mutated)
    sidecar = mutated["spec"]["containers"][-1]
    assert sidecar["name"] == CONTAINER_NAME
    parse_settings([], {e["name"]: e["value"] for e in sidecar["env"]})
    used = [p["containerPort"] for c in mutated["spec"]["containers"] for p in c.get("ports", [])]
    assert len(used) == len(set(used)), "the sidecar's ports collide with the pod's"
    # Annotations it did not take are explained.
    for key in notes:
        name = key.removeprefix("infertap.io/")
        if name not in KNOWN_ANNOTATIONS:
            assert any(f"{key}=" in w and "unknown" in w for w in mutation.warnings)
    # Idempotent: the mutated pod gets nothing more.
    assert mutate(mutated, policy, CONFIG).patch == []


def test_pointer_escaping_follows_rfc_6901() -> None:
    assert escape_pointer("prometheus.io/scrape") == "prometheus.io~1scrape"
    assert escape_pointer("a~b/c") == "a~0b~1c"
    doc = {"metadata": {"annotations": {"x": "1"}}}
    patch = [{"op": "add", "path": "/metadata/annotations/" + escape_pointer("a~/b"), "value": "v"}]
    assert jsonpatch.apply_patch(doc, patch)["metadata"]["annotations"]["a~/b"] == "v"
