"""Everything in deploy/ renders with `kubectl kustomize`, validates against the Kubernetes API
schemas (strict), and fits together: ports, names, selectors, certificates, the programs' flags."""

from __future__ import annotations

import asyncio
import copy
import re
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from analyzer.__main__ import build_parser as analyzer_parser
from analyzer.commands.flags import host_port
from analyzer.commands.watch import endpoints_from_args
from sidecar.injection.container import ADMIN_PORT_NAME, CONTAINER_NAME, InjectionConfig
from sidecar.injection.patch import Policy, mutate
from sidecar.injection.server import parse_webhook_settings
from sidecar.settings import parse_settings
from tests.deploy.k8s import (
    DEPLOY,
    KUSTOMIZATIONS,
    WEBHOOK_DNS,
    ApiServer,
    Certs,
    find,
    injector_config,
    pod_from_template,
    render,
    validate,
)
from tests.deploy.spark_application import SPARK_APPLICATION_FIELDS

Obj = dict[str, Any]
# Custom resources kubernetes-validate has no schema for: their fields, checked structurally
# against the CRD documentation (cert-manager v1, Prometheus Operator monitoring.coreos.com/v1).
CRD_FIELDS: dict[tuple[str, str], set[str]] = {
    ("cert-manager.io/v1", "Issuer"): {"selfSigned", "ca", "acme", "vault", "venafi"},
    ("cert-manager.io/v1", "Certificate"): {
        "secretName", "commonName", "dnsNames", "ipAddresses", "duration", "renewBefore",
        "privateKey", "issuerRef", "usages", "subject", "isCA", "secretTemplate",
    },
    ("monitoring.coreos.com/v1", "PodMonitor"): {
        "namespaceSelector", "selector", "podMetricsEndpoints", "jobLabel", "podTargetLabels",
        "sampleLimit",
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "namespaceSelector", "selector", "endpoints", "jobLabel", "targetLabels",
        "podTargetLabels", "sampleLimit",
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {"groups"},
    ("sparkoperator.k8s.io/v1beta2", "SparkApplication"): SPARK_APPLICATION_FIELDS,
}  # fmt: skip
ENDPOINT_FIELDS = {"port", "path", "interval", "scrapeTimeout", "honorLabels", "relabelings",
                   "metricRelabelings", "scheme", "tlsConfig"}  # fmt: skip


def all_objects() -> list[tuple[str, Obj]]:
    return [(directory, obj) for directory in KUSTOMIZATIONS for obj in render(directory)]


def env_of(container: Obj) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def test_every_kustomization_is_found() -> None:
    assert set(KUSTOMIZATIONS) == {
        "analyzer",
        "analyzer-sharded",
        "grafana",
        "model-example",
        "model-injected",
        "prometheus/operator",
        "spark",
        "webhook/base",
        "webhook/cert-manager",
    }


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_rendered_objects_validate(directory: str) -> None:
    objects = render(directory)
    assert objects
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in CRD_FIELDS:
            assert set(obj) <= {"apiVersion", "kind", "metadata", "spec"}, key
            assert set(obj["spec"]) <= CRD_FIELDS[key], (key, set(obj["spec"]))
            assert re.fullmatch(r"[a-z0-9-]{1,63}", obj["metadata"]["name"])
        else:
            validate(obj)


def test_no_credentials_in_manifests() -> None:
    for directory, obj in all_objects():
        assert obj["kind"] != "Secret", directory
        text = yaml.safe_dump(obj)
        for forbidden in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"):
            assert forbidden not in text, (directory, obj["metadata"]["name"])


def test_our_containers_run_restricted() -> None:
    for directory, obj in all_objects():
        if obj["kind"] != "Deployment":
            continue
        spec = obj["spec"]["template"]["spec"]
        for container in spec["containers"]:
            if not container["image"].startswith("infertap"):
                continue  # the example model servers are the user's own
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, directory
            assert security["readOnlyRootFilesystem"] is True, directory
            assert security["allowPrivilegeEscalation"] is False, directory
            assert security["capabilities"]["drop"] == ["ALL"], directory
            assert container["image"] == "infertap:0.1.0", directory
            assert {"requests", "limits"} <= set(container["resources"]), directory


def _webhook_parts(directory: str = "webhook/base") -> tuple[Obj, Obj, Obj, Obj]:
    objects = render(directory)
    return (
        find(objects, "MutatingWebhookConfiguration"),
        find(objects, "Deployment", "infertap-webhook"),
        find(objects, "Service", "infertap-webhook"),
        find(objects, "PodDisruptionBudget"),
    )


def test_webhook_configuration_never_blocks_pods() -> None:
    config, deployment, service, _ = _webhook_parts()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert [hook["clientConfig"]["service"]["path"] for hook in config["webhooks"]] == [
        "/mutate",
        "/mutate-opt-in",
    ]
    for hook in config["webhooks"]:
        assert hook["failurePolicy"] == "Ignore"
        assert hook["sideEffects"] == "None"
        assert hook["reinvocationPolicy"] == "Never"
        assert hook["timeoutSeconds"] <= 10
        assert hook["admissionReviewVersions"] == ["v1"]
        target = hook["clientConfig"]["service"]
        assert f"{target['name']}.{target['namespace']}.svc" == WEBHOOK_DNS
        assert target["name"] == service["metadata"]["name"]
        assert target["namespace"] == service["metadata"]["namespace"]
        port = next(p for p in service["spec"]["ports"] if p["port"] == target["port"])
        assert container_ports[port["targetPort"]] == 8443
    # The webhook serves where its probes and Service look.
    env = env_of(container)
    assert env["INFERTAP_LISTEN"].endswith(":8443")
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/healthz", "port": "https", "scheme": "HTTPS"}


def test_webhook_deployment_is_highly_available_and_configured() -> None:
    _, deployment, _, pdb = _webhook_parts()
    assert deployment["spec"]["replicas"] == 2
    assert pdb["spec"]["minAvailable"] == 1
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["args"] == ["inject-webhook"]
    env = env_of(container)
    # kustomize copies the image into INFERTAP_IMAGE: the webhook injects its own version.
    assert env["INFERTAP_IMAGE"] == container["image"]
    settings = parse_webhook_settings([], env)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "tls")
    assert settings.tls_cert.parent == Path(mount["mountPath"])
    assert settings.tls_key.parent == Path(mount["mountPath"])
    volume = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "infertap-webhook-tls"


def test_cert_manager_overlay_issues_the_serving_certificate() -> None:
    objects = render("webhook/cert-manager")
    config = find(objects, "MutatingWebhookConfiguration")
    certificate = find(objects, "Certificate")
    issuer = find(objects, "Issuer")
    deployment = find(objects, "Deployment", "infertap-webhook")
    namespace = certificate["metadata"]["namespace"]
    annotation = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert annotation == f"{namespace}/{certificate['metadata']['name']}"
    assert WEBHOOK_DNS in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    assert certificate["spec"]["secretName"] == volume["secret"]["secretName"]
    # Everything else is the base, unchanged.
    base = {(o["kind"], o["metadata"]["name"]): o for o in render("webhook/base")}
    for obj in objects:
        if obj["kind"] not in ("Certificate", "Issuer", "MutatingWebhookConfiguration"):
            assert obj == base[(obj["kind"], obj["metadata"]["name"])]


def test_the_webhook_namespace_is_excluded_from_injection() -> None:
    webhook_namespace = find(render("webhook/base"), "Namespace")
    analyzer_namespace = find(render("analyzer"), "Namespace")
    assert webhook_namespace == analyzer_namespace
    assert webhook_namespace["metadata"]["labels"]["infertap.io/inject"] == "disabled"


def test_explicit_example_is_what_the_webhook_injects() -> None:
    """deploy/model-example spells out the sidecar; the webhook, given the same pod without it,
    produces exactly that pod (so the two deployment paths cannot drift apart)."""
    explicit = pod_from_template(find(render("model-example"), "Deployment"))
    plain = copy.deepcopy(explicit)
    plain["spec"]["containers"] = [
        c for c in plain["spec"]["containers"] if c["name"] != CONTAINER_NAME
    ]
    plain["spec"]["volumes"] = [
        v for v in plain["spec"]["volumes"] if v["name"] != "infertap-spool"
    ]
    for key in ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"):
        del plain["metadata"]["annotations"][key]
    sidecar = next(c for c in explicit["spec"]["containers"] if c["name"] == CONTAINER_NAME)
    config = InjectionConfig(
        image="infertap:0.1.0", default_destination=env_of(sidecar)["INFERTAP_DESTINATION"]
    )

    mutation = mutate(plain, Policy.NAMESPACE, config)

    assert mutation.warnings == []
    injected = jsonpatch.apply_patch(plain, mutation.patch)
    assert injected == explicit
    parse_settings([], env_of(sidecar))
    assert any(p["name"] == ADMIN_PORT_NAME for p in sidecar["ports"])


def test_example_services_target_the_sidecar() -> None:
    for directory in ("model-example", "model-injected"):
        objects = render(directory)
        service = find(objects, "Service")
        deployment = find(objects, "Deployment")
        template = deployment["spec"]["template"]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        assert service["spec"]["ports"][0]["targetPort"] == "infertap"


def test_analyzer_deployment_runs_watch_with_its_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render("analyzer")
    deployment = find(objects, "Deployment")
    config_map = find(objects, "ConfigMap")
    service = find(objects, "Service")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert container["command"] == ["infertap-analyzer"]
    assert container["args"][0] == "watch"
    # The config file the args name is the ConfigMap's key, mounted where the args look.
    args = list(container["args"])
    config_path = Path(args[args.index("--config") + 1])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    (tmp_path / config_path.name).write_text(config_map["data"][config_path.name])
    args[args.index("--config") + 1] = str(tmp_path / config_path.name)
    # The real command line parses these args and this environment, and loads the config.
    for name, value in env_of(container).items():
        monkeypatch.setenv(name, value)
    parsed = analyzer_parser().parse_args(args)
    assert [e.name for e in endpoints_from_args(parsed)] == ["churn-model", "fraud-model"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == host_port(parsed.metrics_listen, "--metrics-listen")[1]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    # The monitored endpoints are the examples' endpoint names.
    sidecar = next(
        c
        for c in find(render("model-example"), "Deployment")["spec"]["template"]["spec"][
            "containers"
        ]
        if c["name"] == CONTAINER_NAME
    )
    assert env_of(sidecar)["INFERTAP_ENDPOINT_NAME"] == "churn-model"


def test_sharded_analyzer_splits_the_endpoints_over_its_replicas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render("analyzer-sharded")
    assert not [o for o in objects if o["kind"] == "Deployment"]
    statefulset = find(objects, "StatefulSet")
    config_map = find(objects, "ConfigMap")
    replicas = statefulset["spec"]["replicas"]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    config = tmp_path / "monitor.yaml"
    config.write_text(config_map["data"]["monitor.yaml"])
    monkeypatch.setenv(
        "INFERTAP_METRICS_LISTEN", env_of_fields(container)["INFERTAP_METRICS_LISTEN"]
    )
    watched: list[str] = []
    for index in range(replicas):
        # Kubernetes expands $(POD_INDEX) in args from the pod-index label.
        args = [a.replace("$(POD_INDEX)", str(index)) for a in container["args"]]
        args[args.index("--config") + 1] = str(config)
        watched += [e.name for e in endpoints_from_args(analyzer_parser().parse_args(args))]
    assert sorted(watched) == ["churn-model", "fraud-model"]  # each endpoint exactly once
    index_source = next(e for e in container["env"] if e["name"] == "POD_INDEX")
    label = index_source["valueFrom"]["fieldRef"]["fieldPath"]
    assert label == "metadata.labels['apps.kubernetes.io/pod-index']"


def env_of_fields(container: Obj) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def test_operator_monitors_find_the_sidecar_and_the_analyzer() -> None:
    objects = render("prometheus/operator")
    pod_monitor = find(objects, "PodMonitor")
    assert pod_monitor["spec"]["namespaceSelector"] == {"any": True}
    for endpoint in pod_monitor["spec"]["podMetricsEndpoints"]:
        assert set(endpoint) <= ENDPOINT_FIELDS
    assert [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]] == [ADMIN_PORT_NAME]

    service_monitor = find(objects, "ServiceMonitor")
    service = find(render("analyzer"), "Service")
    selector = service_monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    endpoint = service_monitor["spec"]["endpoints"][0]
    assert set(endpoint) <= ENDPOINT_FIELDS
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["honorLabels"] is True  # keeps the analyzer's `endpoint` label intact

    rule = find(objects, "PrometheusRule")
    plain = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    assert rule["spec"]["groups"] == plain["groups"]


async def test_gen_certs_script_makes_a_certificate_the_api_server_trusts(
    tmp_path: Path,
    webhook_factory: Any,
) -> None:
    script = DEPLOY / "webhook" / "gen-certs.sh"
    process = await asyncio.create_subprocess_exec(
        "bash", str(script), "--out", str(tmp_path), stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert not (tmp_path / "tls.csr").exists()
    certs = Certs(tmp_path)
    hook = webhook_factory("--image", "infertap:0.1.0", certs=certs)
    api = ApiServer(injector_config(certs), hook.port)
    pod = pod_from_template(find(render("model-injected"), "Deployment"))
    admitted = await api.create_pod(pod, "infertap-models", {"infertap.io/inject": "enabled"})
    assert admitted.container(CONTAINER_NAME) is not None
    validate(admitted.pod)
