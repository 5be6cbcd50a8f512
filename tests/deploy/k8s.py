"""Playing the Kubernetes API server's part offline: render kustomizations with kubectl, validate
objects against the API's schemas, select admission webhooks by their rules and selectors, call
them over TLS checked against caBundle, apply the JSONPatch they return.

Also `WebhookProcess`: a real `python -m sidecar inject-webhook` with trustme certificates.
"""

from __future__ import annotations

import base64
import functools
import os
import signal
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import cel
import jsonpatch
import kubernetes_validate
import pytest
import trustme
import yaml

from tests.conftest import REPO_ROOT, free_port, port_open, wait_until

KUBECTL = "/usr/bin/kubectl"
DEPLOY = REPO_ROOT / "deploy"
# The newest Kubernetes version whose schemas kubernetes-validate ships.
K8S_VERSION = kubernetes_validate.latest_version()
WEBHOOK_DNS = "infertap-webhook.infertap-system.svc"
KUSTOMIZATIONS = sorted(
    str(path.parent.relative_to(DEPLOY)) for path in DEPLOY.rglob("kustomization.yaml")
)

Obj = dict[str, Any]


@functools.cache
def _render(directory: str) -> tuple[str, ...]:
    result = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY / directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize deploy/{directory}:\n{result.stderr}"
    return (result.stdout,)


def render(directory: str) -> list[Obj]:
    """`kubectl kustomize deploy/<directory>` as objects (fresh copies each call)."""
    return [doc for doc in yaml.safe_load_all(_render(directory)[0]) if doc]


def find(objects: Sequence[Obj], kind: str, name: str | None = None) -> Obj:
    matches = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def validate(obj: Obj) -> None:
    """Strict schema validation as the API server of K8S_VERSION would (unknown fields fail)."""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        raise AssertionError(f"{kind} {name}: {path}: {exc.message}") from None


# --- selection, as the API server does it --------------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics; an empty or absent selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _rule_matches(rule: Mapping[str, Any]) -> bool:
    def has(key: str, value: str) -> bool:
        items = rule.get(key) or []
        return "*" in items or value in items

    return (
        has("operations", "CREATE")
        and has("apiGroups", "")
        and has("apiVersions", "v1")
        and has("resources", "pods")
        and rule.get("scope", "*") in ("*", "Namespaced")
    )


def conditions_match(hook: Mapping[str, Any], pod: Obj) -> bool:
    """matchConditions, evaluated as CEL over `object`; an error skips the webhook, as the API
    server does under failurePolicy: Ignore."""
    for condition in hook.get("matchConditions") or []:
        try:
            if cel.evaluate(condition["expression"], {"object": pod}) is not True:
                return False
        except Exception:
            assert hook["failurePolicy"] == "Ignore", condition
            return False
    return True


def webhooks_for(config: Obj, namespace: str, ns_labels: Mapping[str, str], pod: Obj) -> list[Obj]:
    """The webhooks of a MutatingWebhookConfiguration the API server calls for creating `pod`."""
    labels = {"kubernetes.io/metadata.name": namespace, **ns_labels}
    pod_labels = (pod.get("metadata") or {}).get("labels") or {}
    return [
        hook
        for hook in config["webhooks"]
        if any(_rule_matches(rule) for rule in hook["rules"])
        and selector_matches(hook.get("namespaceSelector"), labels)
        and selector_matches(hook.get("objectSelector"), pod_labels)
        and conditions_match(hook, pod)
    ]


def pod_from_template(workload: Obj, pod_template_hash: str = "5d8f7c9b64") -> Obj:
    """The Pod a ReplicaSet would create from a Deployment (as admitted: generateName, no name)."""
    template = workload["spec"]["template"]
    meta = dict(template.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), "pod-template-hash": pod_template_hash}
    meta["generateName"] = f"{workload['metadata']['name']}-{pod_template_hash}-"
    meta["namespace"] = workload["metadata"].get("namespace", "default")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


@dataclass
class Admission:
    """What came back for one pod: the pod after all patches, each webhook's response."""

    pod: Obj
    responses: list[Obj] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [w for r in self.responses for w in r.get("warnings") or []]

    def container(self, name: str) -> Obj | None:
        return next((c for c in self.pod["spec"]["containers"] if c["name"] == name), None)


class ApiServer:
    """Calls the webhooks of `config` like kube-apiserver: TLS verified against caBundle for the
    Service's DNS name, AdmissionReview v1, JSONPatch applied to the object in order."""

    def __init__(self, config: Obj, port: int) -> None:
        self.config = config
        self.port = port

    async def review(self, hook: Obj, review: Obj) -> tuple[int, Obj]:
        client = hook["clientConfig"]
        service = client["service"]
        context = ssl.create_default_context(
            cadata=base64.b64decode(client["caBundle"]).decode("ascii")
        )
        timeout = aiohttp.ClientTimeout(total=hook.get("timeoutSeconds", 10))
        url = f"https://127.0.0.1:{self.port}{service.get('path', '/')}"
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(
                url,
                json=review,
                ssl=context,
                server_hostname=f"{service['name']}.{service['namespace']}.svc",
            ) as response,
        ):
            return response.status, await response.json()

    async def create_pod(
        self, pod: Obj, namespace: str, ns_labels: Mapping[str, str] | None = None
    ) -> Admission:
        result = Admission(pod=pod)
        for hook in webhooks_for(self.config, namespace, ns_labels or {}, pod):
            uid = str(uuid.uuid4())
            review = {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": uid,
                    "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                    "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": namespace,
                    "operation": "CREATE",
                    "userInfo": {"username": "system:serviceaccount:kube-system:replicaset"},
                    "object": result.pod,
                    "oldObject": None,
                    "dryRun": False,
                    "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
                },
            }
            status, body = await self.review(hook, review)
            assert status == 200, body
            assert body["apiVersion"] == "admission.k8s.io/v1", body
            assert body["kind"] == "AdmissionReview", body
            response = body["response"]
            assert response["uid"] == uid
            assert response["allowed"] is True
            if "patch" in response:
                assert response["patchType"] == "JSONPatch"
                patch = jsonpatch.JsonPatch.from_string(base64.b64decode(response["patch"]))
                result.pod = patch.apply(result.pod)
            result.responses.append(response)
            result.webhooks.append(hook["name"])
        return result


# --- a real webhook process -------------------------------------------------------------------


@dataclass
class Certs:
    folder: Path
    ca: trustme.CA | None = None  # None: ca.crt in `folder` (certificates made elsewhere)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes() if self.ca else (self.folder / "ca.crt").read_bytes()

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca_pem).decode("ascii")

    @property
    def cert(self) -> Path:
        return self.folder / "tls.crt"

    @property
    def key(self) -> Path:
        return self.folder / "tls.key"


def issue_certs(folder: Path, ca: trustme.CA | None = None) -> Certs:
    """A CA and a serving certificate for the webhook Service's name and 127.0.0.1."""
    ca = ca or trustme.CA()
    folder.mkdir(parents=True, exist_ok=True)
    server = ca.issue_cert(WEBHOOK_DNS, f"{WEBHOOK_DNS}.cluster.local", "127.0.0.1")
    certs = Certs(folder, ca)
    # Write-then-rename, as the kubelet swaps a renewed Secret in place.
    for target, blob in (
        (certs.cert, server.cert_chain_pems),
        (certs.key, [server.private_key_pem]),
    ):
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(b"".join(pem.bytes() for pem in blob))
        temporary.replace(target)
    return certs


@dataclass
class WebhookProcess:
    port: int
    process: subprocess.Popen[bytes]
    certs: Certs
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def webhook_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidecar", "inject-webhook", *args]


def start_webhook(
    folder: Path, *args: str, env: Mapping[str, str] | None = None, certs: Certs | None = None
) -> WebhookProcess:
    certs = certs or issue_certs(folder / "tls")
    port = free_port()
    log = folder / f"webhook-{port}.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INFERTAP_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            webhook_command(
                "--listen",
                f"127.0.0.1:{port}",
                "--tls-cert",
                str(certs.cert),
                "--tls-key",
                str(certs.key),
                *args,
            ),
            cwd=REPO_ROOT,
            env={**environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    hook = WebhookProcess(port, process, certs, log)
    try:
        wait_until(
            lambda: process.poll() is not None or port_open(port), timeout=20, what="webhook"
        )
        assert process.poll() is None, f"webhook exited:\n{hook.log_text()}"
    except BaseException:
        hook.stop()
        raise
    return hook


@pytest.fixture(scope="module")
def webhook_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """`start(*flags, env=None, certs=None)` -> a running WebhookProcess, stopped at teardown."""
    started: list[WebhookProcess] = []

    def start(*args: str, **kwargs: Any) -> WebhookProcess:
        hook = start_webhook(tmp_path_factory.mktemp("webhook"), *args, **kwargs)
        started.append(hook)
        return hook

    try:
        yield start
    finally:
        for hook in started:
            hook.stop()


def injector_config(certs: Certs, directory: str = "webhook/cert-manager") -> Obj:
    """The rendered MutatingWebhookConfiguration with caBundle set, as cert-manager would."""
    config = find(render(directory), "MutatingWebhookConfiguration")
    for hook in config["webhooks"]:
        hook["clientConfig"]["caBundle"] = certs.ca_bundle
    return config
