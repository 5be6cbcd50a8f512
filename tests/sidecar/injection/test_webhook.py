"""The injection webhook over TLS, called the way kube-apiserver calls it: selected by the
MutatingWebhookConfiguration in deploy/, certificate checked against caBundle, JSONPatch applied,
the mutated Pod validated against the Kubernetes API schema."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from sidecar.settings import parse_settings
from tests.conftest import REPO_ROOT
from tests.deploy.k8s import (
    ApiServer,
    WebhookProcess,
    find,
    injector_config,
    issue_certs,
    pod_from_template,
    render,
    validate,
    webhook_command,
    webhook_factory,  # noqa: F401  (fixture)
)

IMAGE = "registry.example.com/infertap:0.1.0"
DEFAULT_DESTINATION = "s3://capture-bucket/datacapture"
ENABLED = {"infertap.io/inject": "enabled"}
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def webhook(webhook_factory: Any) -> WebhookProcess:  # noqa: F811
    hook: WebhookProcess = webhook_factory(
        "--image", IMAGE, env={"INFERTAP_DEFAULT_DESTINATION": DEFAULT_DESTINATION}
    )
    return hook


@pytest.fixture(scope="module")
def api(webhook: WebhookProcess) -> ApiServer:
    return ApiServer(injector_config(webhook.certs), webhook.port)


def model_pod(annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    """A Pod as a ReplicaSet creates it, with the API server's defaults left out."""
    meta: Obj = {
        "generateName": "iris-7c9d4b8f6-",
        "namespace": "ml",
        "labels": {"app": "iris", "pod-template-hash": "7c9d4b8f6"},
    }
    if annotations is not None:
        meta["annotations"] = annotations
    container = {
        "name": "model",
        "image": "registry.example.com/iris:1",
        "ports": [{"containerPort": 8080, "name": "http"}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [container], **spec},
    }


def env_of(container: Obj) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def check_sidecar(pod: Obj) -> Obj:
    """The pod validates, carries exactly one sidecar whose settings the sidecar accepts."""
    validate(pod)
    sidecars = [c for c in pod["spec"]["containers"] if c["name"] == "infertap-sidecar"]
    assert len(sidecars) == 1
    sidecar: Obj = sidecars[0]
    parse_settings([], env_of(sidecar))  # the sidecar would start with this environment
    return sidecar


async def test_namespace_opt_in_injects_the_example_deployment(api: ApiServer) -> None:
    objects = render("model-injected")
    namespace = find(objects, "Namespace")
    deployment = find(objects, "Deployment")
    pod = pod_from_template(deployment)
    original = copy.deepcopy(pod)

    admitted = await api.create_pod(
        pod, namespace["metadata"]["name"], namespace["metadata"]["labels"]
    )

    assert admitted.webhooks == ["namespace.sidecar-injector.infertap.io"]
    assert admitted.warnings == []
    sidecar = check_sidecar(admitted.pod)
    # The model container is untouched; the sidecar is added after it.
    assert admitted.pod["spec"]["containers"][0] == original["spec"]["containers"][0]
    assert sidecar["image"] == IMAGE
    assert env_of(sidecar) == {
        "INFERTAP_ADMIN_LISTEN": "0.0.0.0:9090",
        "INFERTAP_CAPTURE_MODE": "input,output",
        "INFERTAP_DESTINATION": "s3://my-capture-bucket/datacapture",
        "INFERTAP_ENDPOINT_NAME": "fraud-model",
        "INFERTAP_LISTEN": "0.0.0.0:9000",
        "INFERTAP_SAMPLING_PERCENTAGE": "10",
        "INFERTAP_SPOOL_DIR": "/var/spool/infertap",
        "INFERTAP_SPOOL_MAX_BYTES": str(int(2**30 * 0.8)),
        "INFERTAP_UPSTREAM": "http://127.0.0.1:8080",
        "INFERTAP_UPSTREAM_HEALTH_PATH": "/v2/health/ready",
        "INFERTAP_VARIANT_NAME": "AllTraffic",
    }
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 9090}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 9090}
    security = sidecar["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert set(sidecar["resources"]) == {"requests", "limits"}
    assert {"name": "infertap-spool", "emptyDir": {"sizeLimit": "1Gi"}} in admitted.pod["spec"][
        "volumes"
    ]
    assert sidecar["volumeMounts"] == [
        {"name": "infertap-spool", "mountPath": "/var/spool/infertap"}
    ]
    annotations = admitted.pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9090"
    assert annotations["prometheus.io/path"] == "/metrics"
    # The example Service's named targetPort now resolves to the sidecar's traffic port.
    service = find(objects, "Service")
    target = service["spec"]["ports"][0]["targetPort"]
    named = {
        p["name"]: p["containerPort"]
        for c in admitted.pod["spec"]["containers"]
        for p in c.get("ports", [])
    }
    assert named[target] == 9000


async def test_pod_annotation_opts_in_outside_labelled_namespaces(api: ApiServer) -> None:
    opted_in = await api.create_pod(model_pod({"infertap.io/inject": "true"}), "team-a")
    assert opted_in.webhooks == ["pod.sidecar-injector.infertap.io"]
    sidecar = check_sidecar(opted_in.pod)
    assert env_of(sidecar)["INFERTAP_ENDPOINT_NAME"] == "iris"
    assert env_of(sidecar)["INFERTAP_DESTINATION"] == DEFAULT_DESTINATION
    assert env_of(sidecar)["INFERTAP_SAMPLING_PERCENTAGE"] == "20"

    # Same namespace, no infertap.io/inject annotation: the API server does not even ask.
    for plain in (model_pod(), model_pod({"team": "a"})):
        assert (await api.create_pod(plain, "team-a")).webhooks == []

    # Annotated with something unreadable: asked, left alone, and told why.
    unclear = model_pod({"infertap.io/inject": "maybe"})
    admitted = await api.create_pod(copy.deepcopy(unclear), "team-a")
    assert admitted.webhooks == ["pod.sidecar-injector.infertap.io"]
    assert admitted.pod == unclear
    assert admitted.warnings == [
        'infertap: annotation infertap.io/inject=\'maybe\' ignored: use "true" or "false"'
    ]


async def test_opt_out_by_annotation_or_label_and_system_namespaces(api: ApiServer) -> None:
    by_annotation = model_pod({"infertap.io/inject": "false"})
    admitted = await api.create_pod(copy.deepcopy(by_annotation), "ml", ENABLED)
    assert admitted.webhooks == ["namespace.sidecar-injector.infertap.io"]
    assert admitted.pod == by_annotation

    by_label = model_pod()
    by_label["metadata"]["labels"]["infertap.io/inject"] = "false"
    assert (await api.create_pod(by_label, "ml", ENABLED)).webhooks == []

    wants_it = model_pod({"infertap.io/inject": "true"})
    for namespace, labels in (
        ("kube-system", {}),
        ("infertap-system", {"infertap.io/inject": "disabled"}),
        ("quiet", {"infertap.io/inject": "disabled"}),
    ):
        assert (await api.create_pod(wants_it, namespace, labels)).webhooks == [], namespace


async def test_a_pod_that_has_the_sidecar_gets_an_empty_patch(
    api: ApiServer, webhook: WebhookProcess
) -> None:
    first = await api.create_pod(model_pod(), "ml", ENABLED)
    check_sidecar(first.pod)

    again = await api.create_pod(copy.deepcopy(first.pod), "ml", ENABLED)

    assert again.pod == first.pod
    assert base64.b64decode(again.responses[0]["patch"]) == b"[]"
    assert again.warnings == []

    # The explicit example (deploy/model-example) is not injected twice either.
    explicit = pod_from_template(find(render("model-example"), "Deployment"))
    admitted = await api.create_pod(copy.deepcopy(explicit), "infertap-demo", ENABLED)
    assert admitted.pod == explicit


async def test_bad_and_unknown_annotations_become_warnings_and_defaults(api: ApiServer) -> None:
    annotations = {
        "infertap.io/sampling-percentage": "150",
        "infertap.io/sampling": "5",
        "infertap.io/capture-mode": "sideways",
        "infertap.io/destination": "relative/folder",
        "infertap.io/endpoint-name": "not a name!",
        "infertap.io/sidecar-port": "70000",
        "infertap.io/admin-port": "8080",
        "infertap.io/upstream-health-path": "ping",
    }
    admitted = await api.create_pod(model_pod(annotations), "ml", ENABLED)

    sidecar = check_sidecar(admitted.pod)
    env = env_of(sidecar)
    assert env["INFERTAP_SAMPLING_PERCENTAGE"] == "20"
    assert env["INFERTAP_CAPTURE_MODE"] == "input,output"
    assert env["INFERTAP_DESTINATION"] == DEFAULT_DESTINATION
    assert env["INFERTAP_ENDPOINT_NAME"] == "iris"
    assert env["INFERTAP_LISTEN"] == "0.0.0.0:9000"
    assert env["INFERTAP_ADMIN_LISTEN"] == "0.0.0.0:9090"
    assert "INFERTAP_UPSTREAM_HEALTH_PATH" not in env
    warnings = admitted.warnings
    for key in annotations:
        assert sum(key + "=" in w for w in warnings) == 1, (key, warnings)
    assert any("sampling-percentage='150'" in w and "between 0 and 100" in w for w in warnings)
    assert any("infertap.io/sampling='5' ignored: unknown annotation" in w for w in warnings)
    assert any("admin-port='8080'" in w and "already used" in w for w in warnings)
    assert all(w.startswith("infertap: ") for w in warnings)


async def test_ports_in_use_move_the_sidecar_and_upstream_port_is_required(
    api: ApiServer,
) -> None:
    pod = model_pod({"infertap.io/upstream-port": "9000"})
    pod["spec"]["containers"][0]["ports"] = [
        {"containerPort": 9000, "name": "http"},
        {"containerPort": 9090, "name": "metrics"},
    ]
    admitted = await api.create_pod(pod, "ml", ENABLED)
    env = env_of(check_sidecar(admitted.pod))
    assert env["INFERTAP_UPSTREAM"] == "http://127.0.0.1:9000"
    assert env["INFERTAP_LISTEN"] == "0.0.0.0:9001"
    assert env["INFERTAP_ADMIN_LISTEN"] == "0.0.0.0:9091"
    assert admitted.pod["metadata"]["annotations"]["prometheus.io/port"] == "9091"
    assert any("port 9000 is already used" in w for w in admitted.warnings)

    # No declared port and no annotation: the sidecar would not know where the model listens.
    portless = model_pod()
    del portless["spec"]["containers"][0]["ports"]
    skipped = await api.create_pod(copy.deepcopy(portless), "ml", ENABLED)
    assert skipped.pod == portless
    assert any("infertap.io/upstream-port" in w and "not injected" in w for w in skipped.warnings)

    portless["metadata"]["annotations"] = {"infertap.io/upstream-port": "7000"}
    fixed = await api.create_pod(portless, "ml", ENABLED)
    assert env_of(check_sidecar(fixed.pod))["INFERTAP_UPSTREAM"] == "http://127.0.0.1:7000"


@pytest.mark.parametrize("declared", [99999999, -1, 0])
async def test_a_declared_port_no_socket_can_have_is_not_injected(
    api: ApiServer, declared: object
) -> None:
    pod = model_pod()
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": declared, "name": "http"}]
    skipped = await api.create_pod(copy.deepcopy(pod), "ml", ENABLED)
    assert skipped.pod == pod  # admitted as it came: the API server will name its own error
    [ignored] = [w for w in skipped.warnings if "containerPort" in w and "ignored" in w]
    assert ignored == (
        f"infertap: containerPort {declared!r} of container 'model' is not a port number "
        "between 1 and 65535; ignored"
    )
    assert any("not injected" in w and "upstream-port" in w for w in skipped.warnings)
    # A valid port after it is the upstream, with the warning kept.
    pod["spec"]["containers"][0]["ports"].append({"containerPort": 8081, "name": "alt"})
    admitted = await api.create_pod(pod, "ml", ENABLED)
    assert env_of(check_sidecar(admitted.pod))["INFERTAP_UPSTREAM"] == "http://127.0.0.1:8081"
    assert ignored in admitted.warnings


async def test_pod_without_annotations_or_volumes_gets_both_arrays(
    api: ApiServer, webhook: WebhookProcess
) -> None:
    pod = model_pod()
    assert "annotations" not in pod["metadata"]
    assert "volumes" not in pod["spec"]
    review = _review(pod, "ml")
    status, body = await api.review(api.config["webhooks"][0], review)
    assert status == 200
    patch = json.loads(base64.b64decode(body["response"]["patch"]))
    paths = [op["path"] for op in patch]
    assert paths.index("/metadata/annotations") < paths.index(
        "/metadata/annotations/prometheus.io~1scrape"
    )
    assert "/spec/volumes" in paths
    assert "/spec/containers/-" in paths

    admitted = await api.create_pod(pod, "ml", ENABLED)
    check_sidecar(admitted.pod)

    # A pod with other volumes and a model metrics annotation keeps both; the volume is appended.
    busy = model_pod(
        {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
        volumes=[{"name": "models", "emptyDir": {}}],
    )
    admitted = await api.create_pod(busy, "ml", ENABLED)
    check_sidecar(admitted.pod)
    assert [v["name"] for v in admitted.pod["spec"]["volumes"]] == ["models", "infertap-spool"]
    assert admitted.pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
    }
    assert any("PodMonitor" in w for w in admitted.warnings)


def _review(pod: Obj, namespace: str, operation: str = "CREATE", kind: str = "Pod") -> Obj:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "7f0b2a1c-0000-4000-8000-000000000001",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": operation,
            "object": pod,
        },
    }


async def test_other_requests_are_admitted_unchanged_and_garbage_is_rejected(
    api: ApiServer, webhook: WebhookProcess
) -> None:
    hook = api.config["webhooks"][0]
    not_an_object = _review(model_pod(), "ml")
    not_an_object["request"]["object"] = ["not", "a", "pod"]
    for review in (
        _review(model_pod(), "ml", operation="UPDATE"),
        _review(model_pod(), "ml", kind="ConfigMap"),
        not_an_object,
    ):
        status, body = await api.review(hook, review)
        assert status == 200
        assert body["response"]["allowed"] is True
        assert body["response"]["uid"] == review["request"]["uid"]
        assert base64.b64decode(body["response"]["patch"]) == b"[]"

    context = ssl.create_default_context(cadata=webhook.certs.ca_pem.decode())
    url = f"https://127.0.0.1:{webhook.port}"
    async with aiohttp.ClientSession() as session:
        kind_as_text = json.dumps(
            _review(model_pod(), "ml") | {"request": {"uid": "u", "kind": "Pod"}}
        )
        for data in (b"not json", b'{"request": {}}', kind_as_text.encode()):
            async with session.post(f"{url}/mutate", data=data, ssl=context) as response:
                assert response.status == 400
                assert "AdmissionReview" in (await response.json())["error"]
        async with session.get(f"{url}/healthz", ssl=context) as response:
            assert response.status == 200


async def test_without_a_default_destination_pods_must_name_one(
    webhook_factory: Any,  # noqa: F811
) -> None:
    hook: WebhookProcess = webhook_factory("--image", IMAGE)
    api = ApiServer(injector_config(hook.certs), hook.port)
    pod = model_pod()
    skipped = await api.create_pod(copy.deepcopy(pod), "ml", ENABLED)
    assert skipped.pod == pod
    assert any("no capture destination" in w for w in skipped.warnings)

    pod["metadata"]["annotations"] = {"infertap.io/destination": "s3://team-bucket/capture"}
    admitted = await api.create_pod(pod, "ml", ENABLED)
    assert env_of(check_sidecar(admitted.pod))["INFERTAP_DESTINATION"] == "s3://team-bucket/capture"
    lines = [json.loads(line) for line in hook.log_text().splitlines() if line.startswith("{")]
    decisions = [line for line in lines if line.get("message") == "admission"]
    assert [d["injected"] for d in decisions] == [False, True]


async def test_a_renewed_certificate_is_served_without_restart(
    webhook_factory: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    certs = issue_certs(tmp_path / "tls")
    hook: WebhookProcess = webhook_factory(
        "--image", IMAGE, "--tls-reload-interval", "0.1", certs=certs
    )

    renewed = issue_certs(tmp_path / "tls", trustme.CA())

    async def trusted_by(ca_pem: bytes) -> bool:
        context = ssl.create_default_context(cadata=ca_pem.decode())
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"https://127.0.0.1:{hook.port}/healthz", ssl=context) as response,
            ):
                return response.status == 200
        except aiohttp.ClientConnectorCertificateError:
            return False

    # Polled (bounded): the reloader checks the files every 0.1 s.
    for _attempt in range(100):
        if await trusted_by(renewed.ca_pem):
            break
        await asyncio.sleep(0.05)
    assert await trusted_by(renewed.ca_pem)
    assert not await trusted_by(certs.ca_pem)
    assert "reloaded TLS certificate" in hook.log_text()

    # SIGTERM is a clean stop.
    hook.stop()
    assert hook.process.returncode == 0, hook.log_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--image is required"),
        (("--image", IMAGE, "--cpu-limit", "lots"), "--cpu-limit must be a Kubernetes quantity"),
        (("--image", IMAGE, "--default-sampling-percentage", "120"), "--sampling-percentage"),
        (("--image", IMAGE, "--tls-cert", "/nonexistent/tls.crt"), "cannot load --tls-cert"),
    ],
)
def test_bad_options_stop_start_up_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    certs = issue_certs(tmp_path)
    result = subprocess.run(
        webhook_command("--tls-cert", str(certs.cert), "--tls-key", str(certs.key), *args),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
