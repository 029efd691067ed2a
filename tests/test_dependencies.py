"""What `make run` installs is what the apps need: every import declared, no test tool imported.

`make run` installs `pip install -e .` only; the `test`, `bench` and `redis` extras come with the
targets that need them (Makefile). These tests read the apps' imports and pyproject.toml, and
start the apps in a process where the extras' packages cannot be imported.
"""

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# The packages the install ships: every app (a new app must be added there, or `pip install .`
# leaves it out; the test below checks that every app directory is listed).
APPS = tuple(p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"])


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def unguarded_imports(tree: ast.AST) -> set[str]:
    """Top-level names imported outside a `try: ... except ImportError` (functions included)."""
    names: set[str] = set()

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Try):
            catches = {getattr(h.type, "id", None) for h in node.handlers if h.type is not None} & {
                "ImportError",
                "ModuleNotFoundError",
            }
            for child in node.body:
                visit(child, guarded or bool(catches))
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, guarded)
            return
        if not guarded and isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif not guarded and isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return names


def app_imports() -> set[str]:
    names: set[str] = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            names |= unguarded_imports(ast.parse(path.read_text(), str(path)))
    return names


def settings_modules() -> set[str]:
    """Modules the settings name as strings: apps, middleware, backends, storages."""
    from django.conf import settings

    dotted = [*settings.INSTALLED_APPS, *settings.MIDDLEWARE, *settings.AUTHENTICATION_BACKENDS]
    dotted += [backend["BACKEND"] for backend in settings.TASKS.values()]
    dotted += [storage["BACKEND"] for storage in settings.STORAGES.values()]
    return {name.split(".")[0] for name in dotted}


def closure(requirements: list[str], extras: tuple[str, ...] = ()) -> set[str]:
    """The installed distributions these requirements pull in, transitively."""
    seen: set[str] = set()
    pending = [(Requirement(r), extras) for r in requirements]
    while pending:
        requirement, active = pending.pop()
        markers = [{"extra": extra} for extra in active or ("",)]
        if requirement.marker and not any(requirement.marker.evaluate(m) for m in markers):
            continue
        name = canonical(requirement.name)
        if name == "mleval":  # an extra naming another: mleval[redis]
            pending += [
                (Requirement(r), tuple(requirement.extras))
                for extra in requirement.extras
                for r in PROJECT["optional-dependencies"][extra]
            ]
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            subrequirements = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        pending += [(Requirement(r), tuple(requirement.extras)) for r in subrequirements]
    return seen


def test_the_install_ships_every_app():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")} | {"mleval_site"}
    assert apps == set(APPS)


def test_every_third_party_import_of_the_apps_is_a_runtime_dependency():
    declared = {canonical(Requirement(r).name) for r in PROJECT["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    first_party = set(APPS)
    third_party = (app_imports() | settings_modules()) - set(sys.stdlib_module_names) - first_party
    undeclared = {
        module: providers.get(module)
        for module in sorted(third_party)
        if not {canonical(d) for d in providers.get(module, [module])} & declared
    }
    assert undeclared == {}, "imported by the apps but not in [project].dependencies"


def test_the_apps_start_without_the_extras(tmp_path):
    """Every app module, the URLconf and `manage.py check` with the extras' packages blocked."""
    runtime = closure(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    only_extras = closure([r for requirements in extras.values() for r in requirements]) - runtime
    assert {"pytest", "playwright", "locust", "scikit-learn", "pandas", "redis"} <= only_extras
    assert "rapidfuzz" in only_extras  # the fuzzy extra: fuzzy_ratio says how to install it
    blocked = sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if {canonical(d) for d in dists} <= only_extras and module.isidentifier()
    )
    script = tmp_path / "start.py"
    script.write_text(
        f"""
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` raises ImportError, as if not installed
import importlib, pkgutil
import django
django.setup()
for app in {APPS!r}:
    for module in pkgutil.walk_packages(importlib.import_module(app).__path__, app + "."):
        importlib.import_module(module.name)
from django.urls import get_resolver, reverse
assert len(get_resolver().url_patterns) > 5 and reverse("healthz")
from django.core.management import call_command
call_command("check")
from evaluations.evaluators import EvaluatorConfigError, validate_params
from evaluations.evaluators.docs import evaluators_page
try:
    validate_params("fuzzy_ratio", None)
except EvaluatorConfigError as exc:
    assert "pip install 'mleval[fuzzy]'" in str(exc), exc
else:
    raise AssertionError("fuzzy_ratio was accepted without rapidfuzz")
fuzzy = next(d for d in evaluators_page().evaluators if d.evaluator.name == "fuzzy_ratio")
assert "mleval[fuzzy]" in fuzzy.verdict.feedback, fuzzy.verdict
print("started without", len({blocked!r}), "modules of the extras")
"""
    )
    from django.db import connection

    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="") + (f":{db['PORT']}" if db["PORT"] else "")
    env = {k: v for k, v in os.environ.items() if k not in {"MLEVAL_TESTING", "DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="mleval_site.settings",
        DEBUG="true",  # as `make run`
        DATABASE_URL=f"postgres://{db['USER']}@{host}/{db['NAME']}",
    )
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "started without" in out.stdout
