"""What every benchmark shares: the run record, result files, the env list, policy specs, plots.

A result is two files with the same stem: ``<stem>.csv`` (one row per measurement, preceded by
``# run: {...}`` comment lines, so ``pandas.read_csv(path, comment="#")`` reads it) and
``<stem>.json`` (``{"record": ..., "rows": [...]}``). Both carry the :class:`RunRecord`: the
seed, the package version, the git commit, the full config and the expert backends, so a run
can be repeated exactly. Two runs with the same config give the same files apart from the
fields in :data:`VOLATILE_FIELDS` (see :func:`compare_results`).

Every benchmark goes through :func:`run_recorded`; the ones with the shared task/agent flags
use :class:`BenchConfig`, the others a :class:`RunConfig` subclass whose fields are their
flags (:func:`parse_run_config`). A ``.md`` table written next to the result is what the docs
include (``--8<-- "results/<name>.md"``), so a number on a page is the number of a run.

Run them with ``orchestra bench NAME`` or ``python -m benchmarks.<module>``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout (git state), when there is one
HLE_FIXTURE = Path(__file__).resolve().parent / "data" / "hle_sample.jsonl"  # shipped with the package
# Optional distributions whose versions a run records (the extras that change what is measured).
RECORDED_DISTRIBUTIONS = ("torch", "transformers", "trl", "peft", "datasets", "stable-baselines3", "faiss-cpu",
                          "sentence-transformers", "bm25s", "gymnasium", "numpy", "docker", "tavily-python")
# Fields of the record that legitimately differ between two identical runs.
VOLATILE_FIELDS = ("created_at", "duration_s", "command", "load_avg")
SIMULATED_EXPERTS: dict[str, Any] = {"default": "simulated", "models": {}}


# ---------------------------------------------------------------------------- configuration
@dataclass
class RunConfig:
    """The least a recorded run has: a seed and where to write. A benchmark with its own flags
    subclasses it; each field is a flag (``--field-name``) with ``metadata={"help": ...}``."""

    seed: int = field(default=0, metadata={"help": "seed of every random choice"})
    out: str = field(default="results/run", metadata={"help": "output stem, without suffix"})
    progress: bool = field(default=True, metadata={"help": "progress bars on stderr"})

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("out", "progress", "experts")}


def parse_run_config(argv: Sequence[str] | None, defaults: RunConfig, doc: str | None) -> Any:
    """A :class:`RunConfig` subclass from the command line: one flag per field, typed by its
    default (lists take several values, booleans are ``--x/--no-x``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in fields(defaults):
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        help_ = f"{f.metadata.get('help', '')} (default: %(default)s)"
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, help=help_)
        elif isinstance(value, list):
            parser.add_argument(flag, nargs="+", type=f.metadata.get("type", str), default=value, help=help_)
        else:
            kind = f.metadata.get("type", type(value) if value is not None else str)
            parser.add_argument(flag, type=kind, default=value, help=help_)
    args = parser.parse_args(argv)
    return replace(defaults, **{f.name: getattr(args, f.name) for f in fields(defaults)})


@dataclass
class BenchConfig:
    """Options every benchmark has; a benchmark subclasses it to change defaults or add fields.

    ``out`` and ``progress`` say where and how to report, not what is measured, so they are
    left out of the recorded config (two runs writing to different places still compare
    equal); ``experts`` has its own field in the record.
    """

    n: int = 20  # tasks per env (capped at the env's size)
    seed: int = 0
    envs: list[str] = field(default_factory=lambda: ["FRAMES"])
    policies: list[str] = field(default_factory=lambda: ["cheapest", "heuristic", "strongest"])
    experts: dict[str, Any] = field(default_factory=lambda: dict(SIMULATED_EXPERTS))
    out: str = "results/bench"
    progress: bool = True

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("out", "progress", "experts")}


def add_bench_arguments(parser: argparse.ArgumentParser, defaults: BenchConfig) -> None:
    """The shared flags, with ``defaults`` shown in ``--help``."""
    d = defaults
    parser.add_argument("--n", type=int, default=d.n, help=f"tasks per env, capped at its size (default {d.n})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"evaluation seed (default {d.seed})")
    parser.add_argument("--envs", nargs="+", default=d.envs, metavar="ENV",
                        help="env labels (HLE, FRAMES, tau2-airline, ToolScale-bank, ...), a prefix "
                             f"(tau2, ToolScale) or 'all' (default: {' '.join(d.envs)})")
    parser.add_argument("--policies", nargs="+", default=d.policies, metavar="POLICY",
                        help="baselines (random cheapest heuristic strongest prompted oracle), with options "
                             "as name:key=value, or your agent as package.module:factory "
                             f"(default: {' '.join(d.policies)})")
    parser.add_argument("--experts", metavar="FILE",
                        help="expert-pool config (YAML/JSON, as docs/experts.md); default: all simulated")
    parser.add_argument("--out", default=d.out, help=f"output stem, without suffix (default {d.out})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace, defaults: BenchConfig) -> Any:
    """``defaults`` with every flag of :func:`add_bench_arguments` (and any extra ones) applied."""
    values = {f.name: getattr(args, f.name) for f in fields(defaults) if hasattr(args, f.name)}
    values["progress"] = not args.quiet
    values["experts"] = load_experts(args.experts) if args.experts else defaults.experts
    return replace(defaults, **values)


def load_experts(path: str | Path) -> dict[str, Any]:
    """An expert-pool config from a YAML or JSON file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--experts {path}: no such file (a YAML/JSON pool config, see docs/experts.md)")
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"--experts {path}: expected a mapping with 'default' and 'models'")
    return config


def parse_config(argv: Sequence[str] | None, defaults: BenchConfig, doc: str | None,
                 extra: Any = None) -> Any:
    """Parse a benchmark script's command line into a config (``extra(parser)`` adds flags)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_arguments(parser, defaults)
    if extra is not None:
        extra(parser)
    return config_from_args(parser.parse_args(argv), defaults)


# ---------------------------------------------------------------------------- environments
@dataclass(frozen=True)
class EnvSpec:
    """One column group of a results table: a label, a registered env id and its kwargs."""

    label: str
    env_id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def make(self, experts: Mapping[str, Any] | None = None, **overrides: Any) -> Any:
        import gymnasium as gym

        import orchestra_env  # noqa: F401 - registers the ids

        kwargs = {**self.kwargs, **overrides}
        if experts is not None:
            kwargs["experts"] = dict(experts)
        return gym.make(self.env_id, **kwargs)


def hle_path() -> str:
    """``$ORCHESTRA_HLE_PATH`` (your HLE copy) or the 12-question test fixture."""
    return os.environ.get("ORCHESTRA_HLE_PATH") or str(HLE_FIXTURE)


def env_catalogue() -> dict[str, EnvSpec]:
    """Every env a benchmark can run, by label. Test splits where the data has one.

    tau2-telecom ships only its 20-task "small" set, so it runs on all of it.
    """
    from orchestra_env import TOOLSCALE_DOMAINS

    specs = [
        EnvSpec("HLE", "Orchestra/HLE-v0", {"path": hle_path()}),
        EnvSpec("FRAMES", "Orchestra/FRAMES-v0", {"split": "test"}),
        EnvSpec("tau2-airline", "Orchestra/Tau2-airline-v0", {"split": "test"}),
        EnvSpec("tau2-retail", "Orchestra/Tau2-retail-v0", {"split": "test"}),
        EnvSpec("tau2-telecom", "Orchestra/Tau2-telecom-v0", {"split": "all"}),
        *(EnvSpec(f"ToolScale-{d}", f"Orchestra/ToolScale-{d}-v0", {"split": "test"}) for d in TOOLSCALE_DOMAINS),
    ]
    return {s.label: s for s in specs}


def select_envs(labels: Sequence[str]) -> list[EnvSpec]:
    """Specs for ``labels``; ``"all"`` means every env, ``"ToolScale"`` every ToolScale domain."""
    catalogue = env_catalogue()
    chosen: list[EnvSpec] = []
    for label in labels:
        if label == "all":
            matches = list(catalogue.values())
        elif label in catalogue:
            matches = [catalogue[label]]
        else:
            matches = [s for k, s in catalogue.items() if k.startswith(label + "-")]
        if not matches:
            raise ValueError(f"unknown env label {label!r}; choose from {sorted(catalogue)}, a prefix, or 'all'")
        chosen += [m for m in matches if m not in chosen]
    return chosen


# ---------------------------------------------------------------------------- policies
def parse_policy(spec: str) -> tuple[str, dict[str, Any]]:
    """``"oracle:searches=8"`` -> ("oracle", {"searches": 8}); values are JSON, else strings.
    An agent of yours (``"package.module:factory"``) has no options: (spec, {})."""
    name, _, rest = spec.partition(":")
    if "." in name:
        return spec, {}
    kwargs: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"policy option {part!r} in {spec!r} is not key=value")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return name, kwargs


def make_policy(spec: str) -> Any:
    """A baseline (``"heuristic"``, ``"oracle:searches=8"``) or your own agent as
    ``"package.module:factory"`` (called with no arguments; returns a policy for
    :func:`agents.baselines.evaluate`)."""
    module, colon, attr = spec.partition(":")
    if colon and "." in module:
        import importlib

        return getattr(importlib.import_module(module), attr)()
    from agents.baselines import make_baseline

    name, kwargs = parse_policy(spec)
    return make_baseline(name, **kwargs)


def applicable(policy: str, env: Any) -> str | None:
    """Why ``policy`` cannot run on ``env`` (None if it can).

    The oracle looks ahead by calling the ``answer`` tool on a copy of the episode; envs without
    one (tau2, ToolScale) have nothing to look ahead with.
    """
    module, colon, _ = policy.partition(":")
    if colon and "." in module:  # an agent of yours may say where it cannot run (a trained router's menu)
        why_not = getattr(make_policy(policy), "why_not", None)
        return why_not(env) if why_not else None
    if parse_policy(policy)[0] == "oracle" and "answer" not in env.unwrapped.tools:
        return "needs an answer tool"
    return None


def run_cell(policy: str, spec: EnvSpec, n_tasks: int, seed: int,
             experts: Mapping[str, Any] | None = None, **env_overrides: Any) -> dict[str, Any]:
    """Evaluate one policy on one env: the row every benchmark builds on.

    ``n_tasks`` is capped at the env's task count (no task is scored twice). A policy that
    cannot run on the env gives a row with ``status`` saying why and no numbers.
    """
    from agents.baselines import evaluate

    env = spec.make(experts, **env_overrides)
    row: dict[str, Any] = {"env": spec.label, "policy": policy}
    try:
        reason = applicable(policy, env)
        if reason:
            return {**row, "status": f"skipped: {reason}"}
        n = min(n_tasks, len(env.unwrapped.tasks))
        if n == 0:
            return {**row, "status": "skipped: no tasks in this split"}
        result = evaluate(make_policy(policy), env, n_tasks=n, seed=seed)
    finally:
        env.close()
    return {**row, "status": "ok", **result}


# ---------------------------------------------------------------------------- the run record
def package_version() -> str:
    import orchestra_env

    return orchestra_env.__version__


def git_state() -> tuple[str | None, bool | None]:
    """(commit, whether the package/agents/benchmarks sources differ from it); Nones outside git."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None, None
        diff = git("diff", "--quiet", "HEAD", "--", "orchestra_env", "agents", "benchmarks")
        return head.stdout.strip(), diff.returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None, None


@dataclass
class RunRecord:
    """Everything needed to repeat a run; written into every result file."""

    benchmark: str
    seed: int
    config: dict[str, Any]
    experts: dict[str, Any]
    package_version: str
    git_commit: str | None
    git_dirty: bool | None
    python: str
    platform: str
    command: str
    created_at: str
    duration_s: float = 0.0
    installed: dict[str, str] = field(default_factory=dict)  # versions of RECORDED_DISTRIBUTIONS present
    device: str = ""  # where tensors ran, when the run used torch ("cpu (1 thread)", a GPU's name)
    cpus: int = 0
    load_avg: list[float] = field(default_factory=list)  # 1/5/15-min load at the start: timings on a busy box move

    @classmethod
    def start(cls, benchmark: str, config: Any) -> "RunRecord":
        commit, dirty = git_state()
        return cls(
            benchmark=benchmark, seed=config.seed, config=_jsonable(config.recorded()),
            experts=_jsonable(getattr(config, "experts", {})), installed=installed_versions(),
            cpus=os.cpu_count() or 0, load_avg=[round(x, 2) for x in os.getloadavg()],
            package_version=package_version(), git_commit=commit, git_dirty=dirty,
            python=platform.python_version(), platform=platform.platform(terse=True),
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )

    def finish(self, started: float) -> "RunRecord":
        self.duration_s = round(time.perf_counter() - started, 2)
        self.device = torch_device()
        return self


def installed_versions() -> dict[str, str]:
    """``{distribution: version}`` of the optional packages that are installed."""
    from importlib import metadata

    versions = {}
    for name in RECORDED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def torch_device() -> str:
    """The device a run's tensors used, if it imported torch ("" if it never did)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return ""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------- result files
def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def run_recorded(name: str, config: Any, run: Callable[[Any], list[dict[str, Any]]],
                 markdown: Callable[[list[dict[str, Any]]], str] | None = None,
                 ) -> tuple[list[dict[str, Any]], RunRecord, list[Path]]:
    """Run one benchmark under a :class:`RunRecord` and write ``<config.out>.csv``/``.json``,
    and ``<config.out>.md`` (``markdown(rows)`` and a line naming the run) when given.

    Returns the rows, the finished record (for plots' metadata) and the written paths.
    """
    started = time.perf_counter()
    record = RunRecord.start(name, config)
    rows = run(config)
    record.finish(started)
    paths = list(write_result(config.out, rows, record))
    if markdown is not None:
        md_path = result_path(config.out, ".md")
        md_path.write_text(markdown(rows) + "\n" + provenance(record, Path(config.out).name) + "\n")
        paths.append(md_path)
    return rows, record, paths


def spawn_map(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int) -> Iterable[Any]:
    """``fn`` over ``jobs`` in order, in ``workers`` spawned processes (a fresh interpreter each:
    no forked torch or model state), yielded as each finishes in turn."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        yield from pool.map(fn, jobs)


def record_and_print(name: str, config: Any, run: Callable[[Any], list[dict[str, Any]]],
                     markdown: Callable[[list[dict[str, Any]]], str]) -> list[dict[str, Any]]:
    """The shared tail of a benchmark's ``main``: a recorded run (``<out>.json/.csv/.md`` with
    provenance), then its markdown on stdout."""
    rows, record, paths = run_recorded(name, config, run, markdown=markdown)
    print(result_path(config.out, ".md").read_text())
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


def provenance(record: RunRecord, stem: str) -> str:
    """The line under a docs table that names its run: file, commit, seed, device, date."""
    commit = (record.git_commit or "no git")[:10] + (" (dirty)" if record.git_dirty else "")
    where = f" · {record.device}" if record.device else ""
    load = f" · {record.cpus} CPUs, load {record.load_avg[0]:.1f}" if record.load_avg else ""
    return (f"<small>`results/{stem}.json` · `{record.benchmark}` · commit {commit} · seed {record.seed}"
            f"{where}{load} · {record.created_at[:10]} · {record.duration_s:.0f} s</small>")


RESULT_SUFFIXES = (".csv", ".json", ".md", ".png")


def result_path(stem: str | Path, suffix: str) -> Path:
    """``<stem><suffix>``, where only a result suffix of ``stem`` is replaced: a dot inside an
    output stem (``runs/lr2.5e-4``) is part of its name, which ``Path.with_suffix`` would cut."""
    stem = Path(stem)
    if stem.suffix in RESULT_SUFFIXES:
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + suffix)


def write_result(stem: str | Path, rows: Sequence[Mapping[str, Any]], record: RunRecord) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.json``; return their paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    meta = asdict(record)
    buffer = io.StringIO()
    buffer.write(f"# run: {json.dumps(meta, sort_keys=True)}\n")
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    csv_path, json_path = result_path(stem, ".csv"), result_path(stem, ".json")
    csv_path.write_text(buffer.getvalue())
    json_path.write_text(json.dumps({"record": meta, "rows": _jsonable(list(rows))}, indent=2, sort_keys=True) + "\n")
    return csv_path, json_path


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                   floatfmt: str = ".4g") -> str:
    """A GitHub/mkdocs table of ``rows`` (floats as ``floatfmt``, 4 significant digits by default)."""
    columns = list(columns or _columns(rows))
    fmt = lambda v: format(v, floatfmt) if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def read_result(path: str | Path) -> dict[str, Any]:
    """``{"record": ..., "rows": [...]}`` from a result's ``.json`` (or its stem / ``.csv``)."""
    path = Path(path)
    return json.loads(result_path(path, ".json").read_text())


def compare_results(a: str | Path, b: str | Path, ignore: Sequence[str] = VOLATILE_FIELDS) -> list[str]:
    """Differences between two results, field by field, ignoring ``ignore`` in the records.
    An empty list means the runs agree."""
    ra, rb = read_result(a), read_result(b)
    diffs = [f"record.{k}: {ra['record'].get(k)!r} != {rb['record'].get(k)!r}"
             for k in sorted(set(ra["record"]) | set(rb["record"]))
             if k not in ignore and ra["record"].get(k) != rb["record"].get(k)]
    if len(ra["rows"]) != len(rb["rows"]):
        return diffs + [f"rows: {len(ra['rows'])} != {len(rb['rows'])}"]
    for i, (x, y) in enumerate(zip(ra["rows"], rb["rows"])):
        diffs += [f"rows[{i}].{k}: {x.get(k)!r} != {y.get(k)!r}"
                  for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
    return diffs


# ---------------------------------------------------------------------------- plots
def new_figure(n_panels: int, width: float = 4.2, height: float = 3.4, per_row: int = 4) -> tuple[Any, list[Any]]:
    """``n_panels`` axes, ``per_row`` to a row. A bare ``Figure`` (Agg canvas, no pyplot): no
    window opens and a notebook's backend is left alone."""
    from matplotlib.figure import Figure

    cols = max(1, min(n_panels, per_row))
    rows = -(-max(n_panels, 1) // cols)
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def log_x(ax: Any) -> None:
    """Dollars on a log axis (every call is billed, so costs are > 0) when they span a decade
    or more; a plain axis otherwise (a log axis without a major tick has no labels)."""
    from matplotlib.ticker import NullFormatter

    low, high = ax.dataLim.x0, ax.dataLim.x1
    if low > 0 and high / low >= 10:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())


def save_figure(fig: Any, path: str | Path, record: RunRecord) -> Path:
    """Save as PNG with the run record in the file's metadata (``Description``)."""
    path = result_path(path, ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Description": json.dumps(asdict(record), sort_keys=True)})
    return path


def progress(items: Sequence[Any], desc: str, enabled: bool = True) -> Iterable[Any]:
    """``tqdm`` over ``items`` on stderr (silent when disabled or not installed)."""
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, leave=False)
