"""The documentation site builds with ``mkdocs build --strict``, its pages say what the code
does (env cards' sizes, CLI commands), and the how-to code runs."""
from __future__ import annotations

import json
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
    agents = (site / "agents" / "index.html").read_text()  # snippets put the results' tables and their run line in
    assert "minilm_router" in agents and "results/routing.json" in agents and "results/grpo_throughput.json" in agents
    assert "<table>" in card.split("Arguments", 1)[1]  # the docstring's arguments table is rendered


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


# ---------------------------------------------------------------------------- numbers come from results/
# A Markdown table whose cells hold digits (outside `code`) must come from a results file
# (``--8<-- "results/<name>.md"``, written by a benchmark through run_recorded) unless it is
# listed here with the reason it is not a measurement. Key: (page, the table's header row).
NOT_RESULTS: dict[tuple[str, str], str] = {
    ("docs/envs/frames.md", "| | |"): "env card facts (data sizes, splits); test_env_cards_state_the_real_sizes checks them",
    ("docs/envs/hle.md", "| | |"): "env card facts (data sizes, splits); test_env_cards_state_the_real_sizes checks them",
    ("docs/envs/tau2.md", "| | |"): "env card facts (data sizes, splits); test_env_cards_state_the_real_sizes checks them",
    ("docs/envs/toolscale.md", "| | |"): "env card facts (domain sizes, splits)",
    ("docs/agents.md", "| module | what it holds |"): "a map of modules (numbers are file names)",
    ("docs/agents.md", "| name | rule |"): "reward rules and their constants (configuration)",
    ("docs/experts.md", "| backend | class | when to use it |"): "a map of backends",
    ("docs/hardening.md", "| Protection | Where | What it guarantees | Test that fails without it |"): "a map of protections",
    ("docs/judges.md", "| # | rule | decides | `Verdict.judge` |"): "the judge's rules in order (numbers are ranks)",
    ("docs/production.md", "| preset | alpha | beta | gamma | meant for |"): "the published preset weights (configuration)",
    ("docs/scale_out.md", "| piece | module | engine | install |"): "which module needs which engine (versions are requirements)",
    ("docs/scale_out.md", "| what | where | how |"): "which test checks what, where (no measurements)",
    ("docs/judges.md", "| prediction | reference | F1 | at 0.6 |"): "worked examples of the F1 rule, not a measurement",
    ("docs/sandbox.md", "| field | default | meaning |"): "configuration defaults",
    ("docs/sandbox.md", "| layer | where | what it does |"): "a map of isolation layers",
    ("docs/sandbox.md", "| setting | value |"): "Docker settings (configuration)",
    ("docs/sandbox.md", "| guarantee | `bwrap` | `bwrap`, warm pool | `none` (trusted code only) |"):
        "the backend x guarantee matrix (limits are configuration); tests/test_sandbox_matrix.py checks each cell",
    ("docs/hardening.md", "| attack (tests/hostile/) | bwrap, cold and warm | none (root host: child is `nobody`) |"):
        "the attack x backend outcomes that tests/test_sandbox_matrix.py asserts (sizes are the configured limits)",
    ("docs/search.md", "| kind     | class          | what it does | cost | latency in `Usage` |"):
        "the backends' billing rules (configuration)",
    ("docs/search.md", "| name           | what | size | licence |"): "corpus sizes (data facts)",
    ("docs/tau2_retail_telecom.md", "| domain | tasks | agent tools (writes) | user tools (writes) | scored on |"):
        "domain sizes (data facts)",
    ("docs/toolscale.md", "| module | what it does |"): "a map of modules",
    ("docs/toolscale.md", "| stage | the model writes | checked |"): "the synthesis stages' rules (sizes are rules)",
    ("docs/toolscale.md", "| task | gold calls | tell |"): "examples of kept tasks, quoted from results/synthesis_demo/",
    ("docs/toolscale.md", "| intent | example | gold calls |"): "examples of task intents",
}
INCLUDE = re.compile(r'^--8<--\s+"(results/[^"]+)"\s*$', re.M)


def doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts) + [ROOT / "README.md"]


def markdown_tables(text: str) -> list[tuple[int, str, list[str]]]:
    """(line, header row, body rows) of each pipe table outside fenced code."""
    lines, found, fenced, i = text.splitlines(), [], False, 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            fenced = not fenced
        elif (not fenced and lines[i].lstrip().startswith("|") and i + 1 < len(lines)
              and re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1])):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            found.append((i + 1, lines[i].strip(), lines[i + 2:j]))
            i = j
            continue
        i += 1
    return found


def has_numbers(rows: list[str]) -> bool:
    """A number outside `code` and link targets, not part of a name (``tau2``, ``table1``)."""
    def strip(row: str) -> str:
        return re.sub(r"\]\([^)]*\)", "]", re.sub(r"`[^`]*`", "", row))

    return any(re.search(r"(?<![A-Za-z_\d])\d+(?:[.,]\d+)*(?![A-Za-z_\d])", strip(row)) for row in rows)


def fenced_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(opening line, info string, body lines) of each fenced code block, fences paired in order."""
    blocks, opened = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if opened is None:
                opened = (n, line.strip()[3:].strip(), [])
            else:
                blocks.append(opened)
                opened = None
        elif opened is not None:
            opened[2].append(line)
    return blocks


def pasted_output(text: str) -> list[int]:
    """Lines opening an untyped (or ``text``) fenced block that reads like program output: two or
    more lines with two or more numbers each, one of them with a decimal point."""
    def numeric(line: str) -> bool:
        return len(re.findall(r"\d+(?:\.\d+)?", line)) >= 2 and re.search(r"\d\.\d", line) is not None

    return [n for n, info, body in fenced_blocks(text)
            if info in ("", "text", "console") and sum(map(numeric, body)) >= 2]


def test_number_tables_in_the_docs_come_from_results():
    bad = []
    for page in doc_pages():
        rel = str(page.relative_to(ROOT))
        text = page.read_text()
        for line, header, body in markdown_tables(text):
            if has_numbers(body) and (rel, header) not in NOT_RESULTS:
                bad.append(f"{rel}:{line} {header[:80]}")
        bad += [f"{rel}:{line} pasted program output (a fenced block of numbers)" for line in pasted_output(text)]
    assert bad == [], ("hand-written number tables; include a results file (--8<-- \"results/<name>.md\", written "
                       "by a benchmark via benchmarks.common.run_recorded) or add the table to NOT_RESULTS with a "
                       "reason:\n" + "\n".join(bad))


def test_the_table_check_catches_hand_written_numbers():
    text = "x\n\n| policy | reward |\n|---|---|\n| oracle | 0.968 |\n\n```\nours 2888.1 tokens/s 2.68 s\ntrl 2408.2 3.21\n```\n"
    [(_, header, body)] = markdown_tables(text)
    assert header == "| policy | reward |" and has_numbers(body) and pasted_output(text) == [7]
    assert not has_numbers(["| `max_turns=20` | a default |", "| [tau2](../tau2.md) | table1 |"])
    assert has_numbers(["| x | 1,024 env steps |"]) and has_numbers(["| x | 50 |"])


def test_not_results_entries_still_exist():
    """An allow-list entry whose table is gone, renamed or holds no numbers any more must be
    removed, not kept as a loophole."""
    present = {(str(p.relative_to(ROOT)), header) for p in doc_pages()
               for _, header, body in markdown_tables(p.read_text()) if has_numbers(body)}
    assert set(NOT_RESULTS) - present == set()


def test_included_results_exist_and_carry_a_run_record():
    for page in doc_pages():
        for target in INCLUDE.findall(page.read_text()):
            md = ROOT / target
            assert md.is_file(), f"{page.relative_to(ROOT)} includes {target}, which no benchmark has written"
            record = json.loads(md.with_suffix(".json").read_text())["record"]
            assert {"seed", "git_commit", "config", "package_version"} <= set(record), target


# ---------------------------------------------------------------------------- env and wrapper docstrings
ENV_SECTIONS = ("## Description", "## Arguments", "## Version History")
SET_BY_THE_ENV = {"FramesEnv": {"tasks"}, "HLEEnv": {"tasks"}}  # constructor parameters a subclass fills itself


def arguments_table(doc: str) -> dict[str, tuple[str, str]]:
    """``{name: (type, default)}`` from the docstring's ``## Arguments`` table."""
    lines = "\n".join(line.strip() for line in doc.splitlines())
    section = lines.split("## Arguments", 1)[1].split("\n## ", 1)[0].split("\nExample:", 1)[0]
    [(_, header, body)] = markdown_tables(section)
    assert header == "| name | type | default | meaning |", header
    rows = {}
    for row in body:
        name, kind, default, meaning = (c.strip() for c in row.strip().strip("|").split("|"))
        assert meaning, f"{name}: no meaning"
        rows[name.strip("`")] = (kind, default.strip("`"))
    return rows


def constructor_defaults(cls: type) -> dict[str, object]:
    """Every keyword a class takes through its ``__init__`` chain (up to gymnasium's), nearest default."""
    import inspect

    params: dict[str, object] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("gymnasium") or "__init__" not in vars(klass):
            continue
        for p in list(inspect.signature(klass.__init__).parameters.values())[1:]:
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                params.setdefault(p.name, p.default)
    return params


def documented_classes() -> list[type]:
    import importlib
    import inspect

    import gymnasium as gym

    import orchestra_env
    from orchestra_env import wrappers

    envs = {getattr(importlib.import_module(e.split(":")[0]), e.split(":")[1]) for e, _ in orchestra_env.ENV_IDS.values()}
    wraps = {c for _, c in inspect.getmembers(wrappers, inspect.isclass)
             if issubclass(c, gym.Wrapper) and c.__module__ == wrappers.__name__}
    return sorted(envs, key=lambda c: c.__name__) + sorted(wraps, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", documented_classes(), ids=lambda c: c.__name__)
def test_docstring_tables_every_argument_with_its_real_default(cls):
    import ast
    import inspect

    import gymnasium as gym

    doc = inspect.getdoc(cls) or ""
    is_wrapper = issubclass(cls, gym.Wrapper)
    sections = ("## Arguments", "Example:", "## Version History") if is_wrapper else ENV_SECTIONS + (
        "## Action Space", "## Observation Space", "## Rewards", "## Episode End")
    assert all(s in doc or (s != "## Description" and s in doc.replace(" / ", "\n## ")) for s in sections), cls
    table, signature = arguments_table(doc), constructor_defaults(cls)
    expected = set(signature) - SET_BY_THE_ENV.get(cls.__name__, set())
    assert set(table) == expected, f"{cls.__name__}: missing {expected - set(table)}, extra {set(table) - expected}"
    for name, (_, default) in table.items():
        real = signature[name]
        if real is inspect.Parameter.empty:
            assert default == "required", name
        else:
            assert ast.literal_eval(default) == real, f"{cls.__name__}.{name}: table says {default}, code {real!r}"


def test_wrapper_examples_run():
    import doctest

    from orchestra_env import wrappers

    result = doctest.testmod(wrappers, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0, result
