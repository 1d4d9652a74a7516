"""The documentation site builds with ``mkdocs build --strict``, its pages say what the code
does (env cards' sizes, CLI commands), and the how-to code runs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def nav_files(nav=None) -> list[str]:
    if nav is None:
        config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # tolerate !!python tags
        nav = config["nav"]
    out: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += nav_files(value) if isinstance(value, list) else [value]
    return out


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[dev]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python is not installed")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    card = (site / "envs" / "frames" / "index.html").read_text()
    assert "Starting State" in card and "Version History" in card  # the body is the env's docstring
    assert (site / "assets" / "table1.png").is_file()  # the hook published results/ plots
    assert "oracle" in (site / "howto" / "reproduce_results" / "index.html").read_text()  # results/table1.md


def test_every_page_is_in_the_nav_and_exists():
    listed = nav_files()
    assert all((DOCS / page).is_file() for page in listed), [p for p in listed if not (DOCS / p).is_file()]
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "hooks" not in p.parts}
    assert pages <= set(listed), f"pages missing from mkdocs.yml nav: {sorted(pages - set(listed))}"


def test_env_cards_state_the_real_sizes():
    import gymnasium as gym

    import orchestra_env  # noqa: F401
    from orchestra_env.data.frames import load_frames
    from orchestra_env.data.hle import load_hle

    frames = (DOCS / "envs" / "frames.md").read_text()
    sizes = {s: len(load_frames(s)) for s in ("all", "train", "test")}
    assert f"`all` {sizes['all']} · `train` {sizes['train']} · `test` {sizes['test']}" in frames

    hle = load_hle(str(ROOT / "tests" / "fixtures" / "hle_sample.jsonl"))
    card = (DOCS / "envs" / "hle.md").read_text()
    assert f"has {len(hle.tasks)} text-only questions ({hle.skipped_images} image questions" in card

    tau2 = (DOCS / "envs" / "tau2.md").read_text()
    for domain, splits in {"airline": ("all", "train", "test"), "retail": ("all", "train", "test"),
                           "telecom": ("all",), "mock": ("all",)}.items():
        n = {s: len(gym.make(f"Orchestra/Tau2-{domain}-v0", split=s).unwrapped.tasks) for s in splits}
        stated = f"{domain} {n['all']}" + (f" tasks (`train` {n['train']} · `test` {n['test']})" if "train" in n else "")
        assert stated in tau2, stated


def test_cli_page_covers_every_command_and_benchmark():
    from orchestra.bench import BENCHMARKS
    from orchestra.cli import COMMANDS

    page = (DOCS / "cli.md").read_text()
    assert all(f"`orchestra {c}`" in page for c in COMMANDS)
    assert all(f"`{name}`" in page for name in BENCHMARKS)
    for flag in ("--n", "--seed", "--envs", "--policies", "--experts", "--out", "--quiet", "--budgets", "--warmup"):
        assert f"`{flag}`" in page, flag


def test_add_a_tool_howto_runs(capsys):
    namespace: dict = {}
    for block in python_blocks("howto/add_a_tool.md"):
        exec(compile(block, "add_a_tool.md", "exec"), namespace)  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    assert "['value', 'unit']" in out and "3218.688 m 0.01" in out and "unknown unit 'parsec'" in out


def test_add_an_algorithm_and_benchmark_howtos_run(tmp_path, capsys):
    sys.path.insert(0, str(ROOT))
    [policy_block, *_] = python_blocks("howto/add_an_algorithm.md")
    exec(compile(policy_block, "add_an_algorithm.md", "exec"), {})  # noqa: S102
    assert "'search': 0.5" in capsys.readouterr().out

    namespace: dict = {"__doc__": "test"}
    exec(compile(python_blocks("howto/add_a_benchmark.md")[0], "add_a_benchmark.md", "exec"), namespace)  # noqa: S102
    config = namespace["PreferenceConfig"](n=2, envs=["FRAMES"], policies=["cheapest"], presets=["accuracy", "cost"],
                                           out=str(tmp_path / "pref"), progress=False)
    rows = namespace["main"](config=config)
    assert [r["preset"] for r in rows] == ["accuracy", "cost"] and (tmp_path / "pref.csv").is_file()
