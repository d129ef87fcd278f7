"""Every runtime dependency in pyproject.toml is one `src/` imports, or one it needs without importing
it (listed below with the reason), so a dependency nothing uses any more cannot stay behind."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Needed at run time, never imported by name in src/.
NOT_IMPORTED = {
    "sniffio": "httpcore imports it on every request (see the comment in pyproject.toml)",
    "python-multipart": "FastAPI parses the pages' form posts with it",
    "greenlet": "the SQLAlchemy instrumentation imports SQLAlchemy's asyncio module, which needs it",
    "httptools": "uvicorn parses HTTP with it when it is installed (see the test below)",
}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [_name(requirement) for requirement in project["dependencies"]]


def imported_names() -> set[str]:
    """Every dotted name src/ imports: `import a.b` gives a.b, `from a import b` gives a and a.b."""
    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_roots(distribution: str) -> set[str]:
    """The outermost packages (and top-level modules) a distribution installs, as dotted names."""
    files = [str(f) for f in importlib.metadata.files(distribution) or [] if str(f).endswith(".py")]
    packages = {f.removesuffix("/__init__.py").replace("/", ".") for f in files if f.endswith("/__init__.py")}
    modules = {f.removesuffix(".py") for f in files if "/" not in f}
    roots = {p for p in packages if not any(p.startswith(other + ".") for other in packages)}
    return roots | modules


def uses(names: set[str], root: str) -> bool:
    return any(name == root or name.startswith(root + ".") for name in names)


def test_every_runtime_dependency_is_imported_by_src_or_needed_for_a_stated_reason() -> None:
    names = imported_names()
    unused = [
        dependency
        for dependency in runtime_dependencies()
        if dependency not in NOT_IMPORTED and not any(uses(names, root) for root in package_roots(dependency))
    ]
    assert unused == [], f"runtime dependencies nothing in src/ imports: {unused}"


def test_the_dependencies_needed_without_an_import_are_still_dependencies_and_still_not_imported() -> None:
    dependencies, names = runtime_dependencies(), imported_names()
    assert set(NOT_IMPORTED) <= set(dependencies)
    imported = [d for d in NOT_IMPORTED if any(uses(names, root) for root in package_roots(d))]
    assert imported == [], f"imported after all, so not an exception any more: {imported}"


def test_jirabridge_serve_parses_http_with_httptools() -> None:
    # `jirabridge serve` leaves uvicorn's `http="auto"`: httptools when installed, else h11 (pure
    # Python, several % of the service's CPU per request).
    import uvicorn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    async def app(scope: object, receive: object, send: object) -> None: ...

    config = uvicorn.Config(app)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
