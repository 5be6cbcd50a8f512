"""The container image, built by deploy/build-image.sh (what `make image` runs) and exercised:
inside it, as its user, both programs start, a sidecar captures a request and the analyzer makes a
baseline (image_check.py, run by a build step FROM the image, since podman cannot start containers
on every host). Skipped only where neither docker nor podman can build."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.deploy.k8s import KUSTOMIZATIONS, render

BUILD = REPO_ROOT / "deploy" / "build-image.sh"
VERSION = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
MAX_IMAGE_BYTES = 600_000_000
IMAGE_UID = 10001
# Per checkout, so parallel checkouts on one machine do not build over each other's image, and a
# developer's own `make image` tag is left alone. Kept between runs: its layers are the cache.
# A cold machine makes the Debian base and installs the dependencies from PyPI: minutes.
pytestmark = pytest.mark.timeout(1800)
TEST_TAG = f"infertap-test-{hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:8]}:{VERSION}"


@dataclass(frozen=True)
class Built:
    engine: str
    tag: str


def build(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
    """deploy/build-image.sh ARGS; on a timeout or an interrupted test, its whole process group
    (debootstrap, the engine) is stopped, not only the script."""
    argv = [str(BUILD), *args]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=60)
        raise
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def engine_or_skip() -> str:
    found = build("--print-engine", timeout=60)
    if found.returncode == 3:
        pytest.skip(f"no container engine can build here: {found.stderr.strip()}")
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


@pytest.fixture(scope="module")
def image() -> Built:
    engine = engine_or_skip()
    result = build("-t", TEST_TAG)
    assert result.returncode == 0, f"the image did not build:\n{result.stderr[-4000:]}"
    return Built(engine, TEST_TAG)


@pytest.fixture
def check_tag(image: Built) -> Iterator[str]:
    tag = TEST_TAG.replace("infertap-test-", "infertap-test-check-")
    yield tag
    subprocess.run([image.engine, "image", "rm", tag], capture_output=True, timeout=60, check=False)


def test_the_build_tags_the_image_as_the_manifests_and_webhook_name_it() -> None:
    tag = build("--print-tag", timeout=60).stdout.strip()
    assert tag == f"infertap:{VERSION}"
    named = {
        container["image"]
        for directory in KUSTOMIZATIONS
        for obj in render(directory)
        if obj["kind"] == "Deployment"
        for container in obj["spec"]["template"]["spec"]["containers"]
        if container["image"].startswith("infertap")
    }
    assert named == {tag}
    webhook = next(o for o in render("webhook/base") if o["kind"] == "Deployment")
    container = webhook["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["INFERTAP_IMAGE"] == tag  # the sidecar image it injects


def test_without_an_engine_the_reason_is_given(tmp_path: Path) -> None:
    # A PATH holding every program of this machine except the two engines.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/bin", "/bin"):
        for program in Path(directory).iterdir():
            if program.name not in ("docker", "podman") and not (bin_dir / program.name).exists():
                (bin_dir / program.name).symlink_to(program)
    result = subprocess.run(
        [str(BUILD), "--print-engine"], capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": str(bin_dir)},
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "build-image: neither a Docker daemon nor podman: install podman and debootstrap "
        "(make system-deps) or start Docker"
    )


def test_a_base_image_that_cannot_be_pulled_is_named() -> None:
    engine_or_skip()
    base = "registry.invalid/python:3.11"  # .invalid never resolves (RFC 2606)
    argv = [str(BUILD), "-t", "infertap-never-built:0"]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "BASE_IMAGE": base},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == f"build-image: BASE_IMAGE={base} cannot be pulled"


def test_the_image_starts_captures_and_analyses_as_its_user(
    image: Built, check_tag: str, tmp_path: Path
) -> None:
    shutil.copy(Path(__file__).with_name("image_check.py"), tmp_path)
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY image_check.py /opt/image-check/\n"
        f"RUN python /opt/image-check/image_check.py {IMAGE_UID} {VERSION}\n"
    )
    result = build(
        "--from", image.tag, "-t", check_tag, "-f", str(tmp_path / "Dockerfile"), "--no-cache",
        str(tmp_path), timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"the check inside the image failed:\n{output[-6000:]}"
    assert "image check passed" in output
    assert f"infertap-sidecar {VERSION}" in output and f"infertap-analyzer {VERSION}" in output
    assert "captured one record" in output


def test_the_image_is_small(image: Built, capsys: pytest.CaptureFixture[str]) -> None:
    size = int(
        subprocess.run(
            [image.engine, "image", "inspect", "--format", "{{.Size}}", image.tag],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
    )  # fmt: skip
    with capsys.disabled():
        print(f"\n{image.tag} built with {image.engine}: {size / 1e6:.0f} MB")
    assert size < MAX_IMAGE_BYTES
