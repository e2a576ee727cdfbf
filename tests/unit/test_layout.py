"""The package's shape stays what the README's Layout promises: no import cycle, endpoints that
do not import each other, an authorization-server core without a web framework."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "app" / "mcp_gatekeeper"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's own modules ``path`` imports (relative and absolute, anywhere in it)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _is_package_init(name: str, graph: dict[str, set[str]]) -> bool:
    return any(other.startswith(name + ".") for other in graph)


def test_no_module_imports_itself_back() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle of design, so edges into
    # a package's own __init__ from inside it are left out.
    graph = {
        name: {
            target
            for target in targets
            if not (_is_package_init(target, graph_) and name.startswith(target + "."))
        }
        for graph_ in [_graph()]
        for name, targets in graph_.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _endpoints() -> set[str]:
    return {
        name
        for name, path in _modules().items()
        if re.search(r"^router = APIRouter\(", path.read_text(), re.MULTILINE)
    }


def test_no_endpoint_module_imports_another() -> None:
    endpoints = _endpoints()
    assert {"mcp_gatekeeper.oauth.endpoints.token", "mcp_gatekeeper.metadata.jwks"} <= endpoints
    graph = _graph()
    assert {name: graph[name] & endpoints for name in endpoints if graph[name] & endpoints} == {}


def test_the_authorization_server_core_needs_no_web_framework() -> None:
    core = [
        path
        for path in (PACKAGE / "oauth").rglob("*.py")
        if "endpoints" not in path.relative_to(PACKAGE).parts
    ]
    assert len(core) > 20
    framework = re.compile(r"^\s*(from|import) (fastapi|starlette)\b", re.MULTILINE)
    assert [str(path) for path in core if framework.search(path.read_text())] == []


def test_readme_layout_names_every_package() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```")[1]
    packages = {
        path.parent.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("__init__.py")
        if path.parent != PACKAGE
    }
    missing = [
        package for package in sorted(packages) if package.split("/")[-1] + "/" not in layout
    ]
    assert missing == []
