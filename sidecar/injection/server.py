"""The sidecar injection webhook: an HTTPS aiohttp server answering Kubernetes AdmissionReview v1.

`infertap-sidecar inject-webhook --tls-cert FILE --tls-key FILE --image IMAGE ...`; every flag is
also `INFERTAP_<FLAG>`. POST /mutate injects into pods of opted-in namespaces unless the pod says
`infertap.io/inject: "false"`; POST /mutate-opt-in only into pods saying `"true"`. GET /healthz.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from sidecar.common.logs import setup_logging
from sidecar.common.options import ENV_PREFIX, add_version
from sidecar.injection.container import InjectionConfig, InjectionConfigError
from sidecar.injection.patch import Mutation, Policy, mutate
from sidecar.settings import SettingsError, apply_env

ADMISSION_API_VERSION = "admission.k8s.io/v1"
logger = logging.getLogger("infertap.webhook")


class WebhookSettingsError(SettingsError):
    """A bad webhook option; the message names the option and the fix."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    host: str
    port: int
    tls_cert: Path
    tls_key: Path
    tls_reload_interval: float
    injection: InjectionConfig
    log_level: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infertap-sidecar inject-webhook",
        description=(
            "Mutating admission webhook that adds the infertap sidecar container to pods that opt "
            "in. Every flag can also be set as INFERTAP_<FLAG>, e.g. INFERTAP_IMAGE."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_version(parser, "infertap-sidecar inject-webhook")
    parser.add_argument("--listen", default="0.0.0.0:8443", help="HTTPS address HOST:PORT")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain (required)")
    parser.add_argument("--tls-key", default=None, help="PEM private key (required)")
    parser.add_argument(
        "--tls-reload-interval",
        type=float,
        default=30.0,
        help="seconds between checks for a renewed certificate",
    )
    parser.add_argument("--image", default=None, help="sidecar image to inject (required)")
    parser.add_argument("--image-pull-policy", default="IfNotPresent")
    parser.add_argument(
        "--default-destination",
        default=None,
        help="capture destination for pods without infertap.io/destination (s3://bucket/prefix)",
    )
    parser.add_argument("--default-sampling-percentage", type=float, default=20.0)
    parser.add_argument("--default-variant-name", default="AllTraffic")
    parser.add_argument("--default-capture-mode", default="input,output")
    parser.add_argument("--spool-size-limit", default="1Gi", help="emptyDir sizeLimit of the spool")
    parser.add_argument("--cpu-request", default="50m")
    parser.add_argument("--memory-request", default="64Mi")
    parser.add_argument("--cpu-limit", default="1")
    parser.add_argument("--memory-limit", default="256Mi")
    parser.add_argument(
        "--run-as-user",
        default="10001",
        help="UID of the sidecar; 'none' leaves it to the image or the platform",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def parse_webhook_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> WebhookSettings:
    parser = build_parser()
    apply_env(parser, os.environ if environ is None else environ)
    args = parser.parse_args(argv)
    for option in ("tls_cert", "tls_key", "image"):
        if not getattr(args, option):
            flag = "--" + option.replace("_", "-")
            raise WebhookSettingsError(f"{flag} is required (or {ENV_PREFIX}{option.upper()})")
    host, _, port = str(args.listen).rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise WebhookSettingsError(f"--listen must be HOST:PORT, got {args.listen!r}")
    try:
        sampling = float(args.default_sampling_percentage)
        interval = float(args.tls_reload_interval)
    except ValueError as exc:
        raise WebhookSettingsError(f"a numeric option is not a number: {exc}") from None
    user = str(args.run_as_user).strip().lower()
    if user != "none" and not user.isdigit():
        raise WebhookSettingsError(f"--run-as-user must be a UID or 'none', got {user!r}")
    try:
        injection = InjectionConfig(
            image=str(args.image),
            image_pull_policy=str(args.image_pull_policy),
            default_destination=args.default_destination or None,
            default_sampling_percentage=sampling,
            default_variant_name=str(args.default_variant_name),
            default_capture_mode=str(args.default_capture_mode),
            spool_size_limit=str(args.spool_size_limit),
            cpu_request=str(args.cpu_request),
            memory_request=str(args.memory_request),
            cpu_limit=str(args.cpu_limit),
            memory_limit=str(args.memory_limit),
            run_as_user=None if user == "none" else int(user),
        )
    except InjectionConfigError as exc:
        raise WebhookSettingsError(str(exc)) from None
    return WebhookSettings(
        host=host.strip("[]") or "0.0.0.0",
        port=int(port),
        tls_cert=Path(args.tls_cert),
        tls_key=Path(args.tls_key),
        tls_reload_interval=max(interval, 0.05),
        injection=injection,
        log_level=str(args.log_level),
    )


# --- TLS ----------------------------------------------------------------------------------------


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def _stamp(*paths: Path) -> tuple[tuple[int, int], ...]:
    # stat() follows the symlinks a mounted Secret swaps when cert-manager renews it.
    return tuple((s.st_ino, s.st_mtime_ns) for s in (p.stat() for p in paths))


async def _reload_tls(context: ssl.SSLContext, settings: WebhookSettings) -> None:
    """Load a renewed certificate into the live context; new handshakes use it."""
    paths = (settings.tls_cert, settings.tls_key)
    seen = _stamp(*paths)
    while True:
        await asyncio.sleep(settings.tls_reload_interval)
        try:
            current = _stamp(*paths)
            if current != seen:
                context.load_cert_chain(*paths)
                seen = current
                logger.info("reloaded TLS certificate", extra={"cert": str(settings.tls_cert)})
        except (OSError, ssl.SSLError) as exc:
            # Half-written files during a renewal: keep serving the old certificate, retry.
            logger.warning("TLS certificate reload failed: %s", exc)


# --- HTTP ---------------------------------------------------------------------------------------

CONFIG_KEY = web.AppKey("injection_config", InjectionConfig)
SETTINGS_KEY = web.AppKey("webhook_settings", WebhookSettings)
TLS_KEY = web.AppKey("tls_context", ssl.SSLContext)


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _review(uid: str, mutation: Mutation) -> dict[str, Any]:
    response: dict[str, Any] = {
        "uid": uid,
        "allowed": True,
        "patchType": "JSONPatch",
        "patch": base64.b64encode(orjson.dumps(mutation.patch)).decode("ascii"),
    }
    if mutation.warnings:
        response["warnings"] = mutation.warnings
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}


def _decide(request: Mapping[str, Any], policy: Policy, config: InjectionConfig) -> Mutation:
    kind = (request.get("kind") or {}).get("kind")
    pod = request.get("object")
    if kind != "Pod" or request.get("operation") != "CREATE" or not isinstance(pod, dict):
        return Mutation([], reason=f"not a pod creation ({kind}, {request.get('operation')})")
    try:
        return mutate(pod, policy, config)
    except Exception:
        # Never fail a pod for our bug: admit it untouched, say so, and log the trace.
        logger.exception("injection failed", extra={"uid": request.get("uid")})
        return Mutation([], ["infertap: sidecar not injected: internal error, see webhook logs"])


def mutate_handler(policy: Policy) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            review = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _bad_request("body is not JSON; send an admission.k8s.io/v1 AdmissionReview")
        admission = review.get("request") if isinstance(review, dict) else None
        if not isinstance(admission, dict) or not isinstance(admission.get("uid"), str):
            return _bad_request("AdmissionReview has no request.uid")
        if not isinstance(admission.get("kind") or {}, dict):
            return _bad_request(
                'AdmissionReview request.kind must be an object like {"kind": "Pod"}'
            )
        mutation = _decide(admission, policy, request.app[CONFIG_KEY])
        pod = admission.get("object")
        meta = pod.get("metadata") if isinstance(pod, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        logger.info(
            "admission",
            extra={
                "uid": admission["uid"],
                "namespace": admission.get("namespace", ""),
                "pod": meta.get("name") or meta.get("generateName") or "",
                "policy": policy.value,
                "injected": mutation.injected,
                "reason": mutation.reason,
                "warnings": len(mutation.warnings),
            },
        )
        return web.Response(
            body=orjson.dumps(_review(admission["uid"], mutation)), content_type="application/json"
        )

    return handle


async def healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _tls_reloader(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_reload_tls(app[TLS_KEY], app[SETTINGS_KEY]))
    yield
    task.cancel()


def build_app(settings: WebhookSettings, context: ssl.SSLContext) -> web.Application:
    # Pod objects with large specs fit easily; the API server caps requests at 3 MiB anyway.
    app = web.Application(client_max_size=4 * 2**20)
    app[CONFIG_KEY] = settings.injection
    app[SETTINGS_KEY] = settings
    app[TLS_KEY] = context
    app.router.add_post("/mutate", mutate_handler(Policy.NAMESPACE))
    app.router.add_post("/mutate-opt-in", mutate_handler(Policy.ANNOTATION))
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_tls_reloader)
    return app


# --- process ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the webhook until SIGTERM/SIGINT; 2 on a bad option or unreadable certificate."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["inject-webhook"]:
        args = args[1:]
    try:
        settings = parse_webhook_settings(args)
        context = tls_context(settings.tls_cert, settings.tls_key)
    except SettingsError as exc:
        print(f"infertap-sidecar inject-webhook: {exc}", file=sys.stderr)
        return 2
    except (OSError, ssl.SSLError) as exc:
        print(
            f"infertap-sidecar inject-webhook: cannot load --tls-cert/--tls-key: {exc}",
            file=sys.stderr,
        )
        return 2
    setup_logging(settings.log_level)
    logger.info("starting", extra={"listen": f"{settings.host}:{settings.port}"})
    web.run_app(
        build_app(settings, context),
        host=settings.host,
        port=settings.port,
        ssl_context=context,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
