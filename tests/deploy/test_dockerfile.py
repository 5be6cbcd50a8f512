"""The Dockerfile, checked without a Docker engine: its build context is complete (the package's
metadata builds from exactly the files it copies), it installs the project's runtime
dependencies the Makefile's way, runs as a numeric non-root user and starts a console script."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sidecar.injection.container import SPOOL_DIR
from sidecar.settings import parse_settings
from tests.conftest import REPO_ROOT
from tests.deploy.k8s import KUSTOMIZATIONS, render

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    workdir: str  # the WORKDIR in force


def parse_dockerfile(path: Path = REPO_ROOT / "Dockerfile") -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    workdir = "/"
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "WORKDIR":
            workdir = str(Path(workdir, value.strip()))
        instructions.append(Instruction(keyword, value.strip(), workdir))
    return instructions


def _exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"use the exec (JSON array) form, got {value}"
    return [str(item) for item in parsed]


def _copies(instructions: list[Instruction]) -> list[tuple[list[str], str, str]]:
    """(sources, destination, workdir) of each COPY from the build context (not from a stage)."""
    out = []
    for item in instructions:
        if item.keyword in ("COPY", "ADD") and "--from=" not in item.value:
            words = [w for w in shlex.split(item.value) if not w.startswith("--")]
            out.append((words[:-1], words[-1], item.workdir))
    return out


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions of the image's own stage: from its last FROM on."""
    last = max(n for n, item in enumerate(instructions) if item.keyword == "FROM")
    return instructions[last:]


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path.rstrip("/"), p.removeprefix("**/")) for p in patterns)


def test_base_image_is_an_argument_defaulting_to_a_slim_python_the_project_supports() -> None:
    instructions = parse_dockerfile()
    # The ARG comes before FROM, so any Python 3.11+ Debian image can be the base.
    assert instructions[0].keyword == "ARG"
    name, _, default = instructions[0].value.partition("=")
    assert name == "BASE_IMAGE"
    stages = [i.value.split()[0] for i in instructions if i.keyword == "FROM"]
    assert stages and set(stages) == {"${BASE_IMAGE}"}
    match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(?:-\w+)?", default)
    assert match, default
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert (int(match[1]), int(match[2])) >= (3, 11)


def test_copied_files_exist_and_make_a_complete_build_context(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    copies = _copies(parse_dockerfile())
    assert copies
    for sources, _destination, _workdir in copies:
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: missing"
            assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"
            target = context / source.rstrip("/")
            if (REPO_ROOT / source).is_dir():
                shutil.copytree(
                    REPO_ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(REPO_ROOT / source, target)
    # Every package pyproject declares, and its readme, are in the image's build context.
    top_level = {
        name.split(".")[0]
        for name in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    for package in sorted(top_level):
        assert (context / package / "__init__.py").is_file(), package
    assert (context / PYPROJECT["project"]["readme"]).is_file()
    # setuptools builds the package metadata from exactly those files.
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", "import setuptools; setuptools.setup()", "-q",
         "egg_info", "--egg-base", str(tmp_path)],
        cwd=context, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    entry_points = (tmp_path / "infertap.egg-info" / "entry_points.txt").read_text()
    for script, target in PYPROJECT["project"]["scripts"].items():
        assert f"{script} = {target}" in entry_points


def _pip_install(run: Instruction) -> list[str]:
    """The words of the `pip install` command in a RUN (one of its `&&`-joined commands)."""
    command = next(part for part in run.value.split("&&") if "pip install" in part)
    words = shlex.split(command)
    return words[words.index("pip") :]


def test_install_is_the_runtime_dependencies_then_the_project_without_extras() -> None:
    instructions = parse_dockerfile()
    image = final_stage(instructions)
    runs = [i for i in image if i.keyword == "RUN" and "pip install" in i.value]
    assert len(runs) == 2
    dependencies, project = runs
    # First the list of pyproject's [project] dependencies, made in the stage before: no extras,
    # so nothing only the dev extras bring; a layer keyed by that list alone.
    listing = next(i for i in instructions[: len(instructions) - len(image)] if i.keyword == "RUN")
    assert "['project']['dependencies']" in listing.value
    assert "optional-dependencies" not in listing.value
    requirements = listing.value.rpartition(">")[2].strip()
    assert _pip_install(dependencies)[-2:] == ["-r", requirements]
    from_stage = next(i for i in image if i.keyword == "COPY" and "--from=" in i.value)
    assert shlex.split(from_stage.value)[1:] == [requirements, requirements]
    # Then the project itself, as `pip install --no-deps .`, not editable, from where
    # pyproject.toml and the sources were copied after the dependencies were installed.
    words = _pip_install(project)
    assert [w for w in words[2:] if not w.startswith("-")] == ["."]
    assert "--no-deps" in words
    assert "-e" not in words and "--editable" not in words
    copies = _copies(image)
    pyproject_copy = next(c for c in copies if "pyproject.toml" in c[0])
    assert pyproject_copy[2] == project.workdir
    assert pyproject_copy[1] in ("./", ".", project.workdir, project.workdir + "/")
    order = [i.value for i in image]
    first_copy = min(order.index(i.value) for i in image if i.value.startswith("pyproject.toml"))
    assert order.index(dependencies.value) < first_copy < order.index(project.value)


def test_pip_gets_the_ca_bundle_as_a_build_secret_only() -> None:
    instructions = parse_dockerfile()
    runs = [i for i in instructions if i.keyword == "RUN" and "pip install" in i.value]
    for run in runs:
        assert run.value.startswith("--mount=type=secret,id=ca-bundle "), run.value
        assert "PIP_CERT=/run/secrets/ca-bundle" in run.value
    # Never copied in nor kept in the image's environment.
    for item in instructions:
        if item.keyword in ("COPY", "ADD", "ENV", "ARG"):
            assert "ca-bundle" not in item.value and "CERT" not in item.value, item.value


def test_runs_as_a_numeric_non_root_user_that_owns_the_spool() -> None:
    instructions = parse_dockerfile()
    users = [i.value for i in instructions if i.keyword == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric UID (runAsNonRoot checks it)"
    env = " ".join(i.value for i in instructions if i.keyword == "ENV")
    assert f"INFERTAP_SPOOL_DIR={SPOOL_DIR}" in env
    setup = " ".join(i.value for i in instructions if i.keyword == "RUN")
    assert f"chown {uid}:{gid or uid} {SPOOL_DIR}" in setup
    # The manifests run the image as that user.
    for directory in KUSTOMIZATIONS:
        for obj in render(directory):
            if obj["kind"] != "Deployment":
                continue
            pod = obj["spec"]["template"]["spec"]
            for container in pod["containers"]:
                if container["image"].startswith("infertap"):
                    user = container["securityContext"].get(
                        "runAsUser", pod.get("securityContext", {}).get("runAsUser")
                    )
                    assert user == int(uid), (directory, container["name"])


def test_entrypoint_is_a_console_script_and_there_is_no_healthcheck() -> None:
    instructions = parse_dockerfile()
    keywords = [i.keyword for i in instructions]
    assert "HEALTHCHECK" not in keywords  # Kubernetes probes instead
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"infertap-sidecar", "infertap-analyzer"}
    entrypoint = _exec_form(next(i.value for i in instructions if i.keyword == "ENTRYPOINT"))
    assert entrypoint == ["infertap-sidecar"]
    cmd = _exec_form(next(i.value for i in instructions if i.keyword == "CMD"))
    # Flags in CMD would override the INFERTAP_* variables the manifests and webhook set.
    assert cmd == []
    exposed = {int(p) for i in instructions if i.keyword == "EXPOSE" for p in i.value.split()}
    defaults = parse_settings([], {})
    assert exposed == {defaults.listen_port, defaults.admin_port}
