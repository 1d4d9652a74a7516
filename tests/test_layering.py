"""The layers point one way: ``orchestra_env`` <- ``agents`` <- ``benchmarks`` <- ``orchestra``
(the CLI), and a plain (non-editable) install works from any directory."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# package -> the top-level packages of this project it must never import
FORBIDDEN = {
    "orchestra_env": {"agents", "benchmarks", "orchestra", "tests"},
    "agents": {"benchmarks", "orchestra", "tests"},
    "benchmarks": {"orchestra", "tests"},
}


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an ``import``/``from ... import`` names, at any depth (lazy imports inside
    functions included), and the literal targets of ``importlib.import_module("...")`` /
    ``__import__("...")``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, module in imported_modules(tree):
            if module.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_the_scanner_sees_lazy_and_dynamic_imports():
    source = ("def f():\n    from agents.baselines import evaluate\n"
              "def g():\n    import importlib\n    importlib.import_module('benchmarks.table1')\n"
              "class C:\n    def m(self):\n        import agents\n")
    modules = [m for _, m in imported_modules(ast.parse(source))]
    assert {"agents.baselines", "benchmarks.table1", "agents"} <= set(modules)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    assert violations(package) == []


def test_env_package_does_not_reach_into_the_checkout():
    """No path into the source tree (``tests/``, ``benchmarks/``) and no ``sys.path`` edits:
    an installed ``orchestra_env`` must not depend on where its checkout is."""
    bad = []
    for path in sorted((ROOT / "orchestra_env").rglob("*.py")):
        text = path.read_text()
        for needle in ('"tests"', "'tests'", "tests/fixtures", "sys.path.insert", "sys.path.append"):
            if needle in text:
                bad.append(f"{path.relative_to(ROOT)}: {needle}")
    assert bad == []


def test_every_subcommand_target_exists():
    """Each line of the CLI's table names an importable ``main(argv) -> int``."""
    from orchestra.bench import BENCHMARKS
    from orchestra.cli import COMMANDS

    for name, command in COMMANDS.items():
        assert callable(command.load()), name
    import importlib

    for name, bench in BENCHMARKS.items():
        assert callable(importlib.import_module(bench.module).main), name


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_non_editable_install_runs_the_cli_outside_the_checkout(tmp_path):
    """``pip install --no-deps --target`` (a wheel build: only what setup.cfg ships), then the
    CLI from another directory with only that target on the path: the commands that need
    ``agents`` and ``benchmarks`` and the HLE sample data must come from the install."""
    pytest.importorskip("setuptools")
    target, build = tmp_path / "site", tmp_path / "build"
    src = tmp_path / "src"  # a copy, so the build's egg-info/build dirs never touch the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", "notebooks", "site", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PIP_NO_INDEX"] = "1"
    done = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                 "--no-compile", "--target", str(target), str(src)], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    for package in ("orchestra", "orchestra_env", "agents", "benchmarks"):
        assert (target / package / "__init__.py").is_file(), package
    assert (target / "benchmarks" / "data" / "hle_sample.jsonl").is_file()
    data = target / "benchmarks" / "data"  # what synthesis_demo and sandbox_limits read, shipped
    assert (data / "synthesis" / "movie_booking.json").is_file() and (data / "hostile" / "cpu_spin.py").is_file()

    # Only the install (plus the venv's third-party packages) on the path; cwd outside the checkout.
    env.update(PYTHONPATH=str(target), ORCHESTRA_CACHE=str(tmp_path / "cache"), PYTHONSAFEPATH="1")
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([sys.executable, "-c", "import orchestra, agents, benchmarks.common as c; "
                  "print(orchestra.__file__, agents.__file__, c.hle_path())"], cwd=work, env=env)
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(ROOT) not in where.stdout and all(str(target) in p for p in where.stdout.split())

    envs = _run([sys.executable, "-m", "orchestra.cli", "list-envs"], cwd=work, env=env)
    assert envs.returncode == 0, envs.stderr[-2000:]
    assert "Orchestra/FRAMES-v0" in envs.stdout and "Orchestra/Tau2-airline-v0" in envs.stdout

    bench = _run([sys.executable, "-m", "orchestra.cli", "bench", "--help"], cwd=work, env=env)
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "table1" in bench.stdout and "routing" in bench.stdout

    # A benchmark actually runs from the install (HLE reads the shipped sample, not tests/).
    out = work / "t1"
    table = _run([sys.executable, "-m", "orchestra.cli", "bench", "table1", "--n", "2", "--envs", "HLE",
                  "--policies", "cheapest", "--out", str(out), "--quiet"], cwd=work, env=env)
    assert table.returncode == 0, table.stderr[-3000:]
    assert out.with_suffix(".json").is_file() and out.with_suffix(".md").is_file()

    demo = _run([sys.executable, "-m", "benchmarks.synthesis_demo", "--out", str(work / "sd")], cwd=work, env=env)
    assert demo.returncode == 0, demo.stderr[-3000:]  # its canned stage answers come from the install
    assert "| kept | 5 |" in (work / "sd.md").read_text()


def test_benchmarks_do_not_read_the_checkouts_tests():
    """An installed benchmark has no ``tests/``: its data ships in ``benchmarks/data``."""
    bad = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "benchmarks").rglob("*.py"))
           for n, line in enumerate(path.read_text().splitlines(), 1)
           if not line.lstrip().startswith("#") and ('"tests"' in line or "'tests'" in line)]
    assert bad == []
