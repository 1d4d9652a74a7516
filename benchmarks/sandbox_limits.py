"""How fast, and how well, the Python sandbox runs programs: cold start vs the warm pool.

Recorded (``results/sandbox_limits.{csv,json,md}``, via ``run_recorded``), one row per path
(``cold``: a fresh bubblewrap + interpreter per run; ``warm``: a pre-started one from the pool):

* the host-side time of an empty isolated run, p50 and p90 over ``repeats`` runs (warm: a
  spare is ready, as it is when runs are spaced by other work);
* FRAMES-v0 steps/s under a scripted policy whose episodes run Python (search, python,
  enhance_reasoning, python, answer), with simulated experts;
* how many of the hostile programs in benchmarks/data/hostile/ were contained with the audit hook off.

``--attacks`` also prints the per-attack table (kill time, error) for every backend.
Usage:  python -m benchmarks.sandbox_limits [--repeats 50] [--n 20] [--attacks]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.common import BenchConfig, markdown_table, result_path, run_recorded
from orchestra_env.tools.sandbox import SubprocessSandbox, available_isolations

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"  # shipped; tests/hostile links here
TIMEOUT_S = 2.0


def hostile(name: str, **fill: object) -> str:
    source = (HOSTILE / f"{name}.py").read_text()
    for key, value in fill.items():
        source = source.replace(f"__{key.upper()}__", str(value))
    return source


def survivors(marker: str) -> int:
    time.sleep(0.2)  # pid-namespace teardown is asynchronous
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                count += (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
        except OSError:
            pass
    return count


Attack = tuple[str, Callable[[], tuple[str, Callable[[], bool]]]]


def attacks() -> list[Attack]:
    """(name, setup) where setup() -> (program, host_untouched check)."""

    def simple(name: str) -> Callable[[], tuple[str, Callable[[], bool]]]:
        return lambda: (hostile(name), lambda: True)

    def write_outside() -> tuple[str, Callable[[], bool]]:
        tag = uuid.uuid4().hex
        targets = [Path(f"/tmp/pwned-{tag}"), Path.home() / f"pwned-{tag}", HOSTILE.parents[2] / f"pwned-{tag}"]
        code = hostile("write_outside", targets=json.dumps([str(t) for t in targets]).replace('"', '\\"'))

        def clean() -> bool:
            hit = [t for t in targets if t.exists()]
            for t in hit:
                t.unlink()
            return not hit

        return code, clean

    def network() -> tuple[str, Callable[[], bool]]:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.2)

        def nobody_knocked() -> bool:
            try:
                server.accept()[0].close()
                return False
            except socket.timeout:
                return True
            finally:
                server.close()

        return hostile("network", port=server.getsockname()[1]), nobody_knocked

    def orphan() -> tuple[str, Callable[[], bool]]:
        marker = f"bench-{uuid.uuid4().hex}"
        return hostile("orphan", marker=marker, setsid=1), lambda: survivors(marker) == 0

    def spawn_shell() -> tuple[str, Callable[[], bool]]:
        target = Path(f"/tmp/shell-{uuid.uuid4().hex}")
        return hostile("spawn_shell", target=target), lambda: not target.exists()

    def read_secrets() -> tuple[str, Callable[[], bool]]:
        return hostile("read_secrets", secret_file=Path.home() / ".bash_history"), lambda: True

    return [
        ("fork_bomb", simple("fork_bomb")), ("memory_hog", simple("memory_hog")),
        ("infinite_loop", simple("infinite_loop")), ("cpu_spin", simple("cpu_spin")),
        ("huge_stdout", simple("huge_stdout")), ("huge_file", simple("huge_file")),
        ("segfault", simple("segfault")), ("deep_recursion", simple("deep_recursion")),
        ("write_outside", write_outside), ("network", network), ("spawn_shell", spawn_shell),
        ("orphan_setsid", orphan), ("read_secrets", read_secrets),
    ]


SCRIPT: list[dict[str, Any]] = [
    {"tool": "search", "arguments": {"query": "population of the largest city"}},
    {"tool": "python", "arguments": {"code": "import math\nprint(round(math.sqrt(2) * 1000))"}},
    {"tool": "enhance_reasoning", "arguments": {"model": "reasoner-2"}},
    {"tool": "python", "arguments": {"code": "print(sum(i * i for i in range(1000)))"}},
    {"tool": "answer", "arguments": {"model": "answer-1"}},
]
PATHS = {"cold": 0, "warm": 2}  # warm_pool size per path


@dataclass
class SandboxLimitsConfig(BenchConfig):
    n: int = 20  # FRAMES episodes per path (after one untimed)
    repeats: int = 50  # empty runs per path
    policies: list[str] = field(default_factory=lambda: ["scripted"])
    attacks: bool = False  # also print the per-attack table
    out: str = "results/sandbox_limits"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def empty_run_ms(warm_pool: int, repeats: int) -> list[float]:
    box = SubprocessSandbox(warm_pool=warm_pool)
    try:
        box.run("")  # first-use costs (probe, imports) are not the path's
        times = []
        for _ in range(repeats):
            if warm_pool:
                box.warm_up()
            start = time.perf_counter()
            result = box.run("")
            times.append(1000 * (time.perf_counter() - start))
            assert result.ok, result
        if warm_pool:
            assert box.warm_runs >= repeats, f"only {box.warm_runs} of {repeats} runs were warm"
        return times
    finally:
        box.close()


def frames_steps_per_s(warm_pool: int, config: SandboxLimitsConfig) -> tuple[float, int, float]:
    """(steps/s, steps, share of step time in the python tool) under the scripted policy."""
    import gymnasium as gym

    import orchestra_env  # noqa: F401 - registers the ids

    env = gym.make("Orchestra/FRAMES-v0", experts=dict(config.experts), sandbox_options={"warm_pool": warm_pool})
    python_s = 0.0
    tool = env.unwrapped.tools["python"]
    inner = tool.__call__

    def timed(arguments: Any, episode: Any) -> Any:
        nonlocal python_s
        t0 = time.perf_counter()
        try:
            return inner(arguments, episode)
        finally:
            python_s += time.perf_counter() - t0

    tool.__call__ = timed  # type: ignore[method-assign]
    env.unwrapped.tools["python"] = _Wrapped(tool, timed)
    steps, step_s = 0, 0.0
    try:
        for episode in range(config.n + 1):
            if episode == 1:  # the first episode loads the index: not a step's cost
                steps, step_s, python_s = 0, 0.0, 0.0
            env.reset(seed=config.seed + episode)
            for action in SCRIPT:
                t0 = time.perf_counter()
                _, _, terminated, truncated, _ = env.step(action)
                step_s += time.perf_counter() - t0
                steps += 1
                if terminated or truncated:
                    break
    finally:
        sandbox = getattr(tool, "sandbox", None)
        if sandbox is not None and hasattr(sandbox, "close"):
            sandbox.close()
        env.close()
    return steps / step_s, steps, python_s / step_s


class _Wrapped:
    """The python tool with its call timed; every other attribute is the tool's."""

    def __init__(self, tool: Any, call: Callable[..., Any]) -> None:
        self._tool, self._call = tool, call

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tool, name)


def hostile_contained(warm_pool: int) -> tuple[int, int]:
    """(contained, tried) over the corpus, audit hook off, on this path."""
    os.environ["OPENAI_API_KEY"] = "sk-bench-secret"
    contained = tried = 0
    for name, setup in attacks():
        box = SubprocessSandbox(timeout_s=TIMEOUT_S, memory_mb=512, max_file_mb=64, audit_hook=False,
                                warm_pool=warm_pool)
        try:
            if warm_pool:
                box.warm_up()
            code, untouched = setup()
            r = box.run(code)
            # contained: the host is untouched, no secret leaked, and the sandbox still works (a
            # write to the private /tmp or a shell inside the namespaces is no escape)
            ok = untouched() and "sk-bench-secret" not in r.stdout + r.stderr
            contained += ok and box.run("print(1)").ok
            tried += 1
        finally:
            box.close()
    return contained, tried


def run(config: SandboxLimitsConfig) -> list[dict[str, Any]]:
    if "bwrap" not in available_isolations():
        raise SystemExit("bubblewrap is required for this benchmark (run .ci/install-system-deps.sh)")
    rows = []
    for path, warm_pool in PATHS.items():
        load = os.getloadavg()[0]
        empty = empty_run_ms(warm_pool, config.repeats)
        steps_per_s, steps, python_share = frames_steps_per_s(warm_pool, config)
        contained, tried = hostile_contained(warm_pool)
        rows.append({
            "path": path, "warm_pool": warm_pool, "empty_runs": len(empty),
            "empty_p50_ms": percentile(empty, 0.5), "empty_p90_ms": percentile(empty, 0.9),
            "frames_steps": steps, "frames_steps_per_s": steps_per_s, "frames_python_share": python_share,
            "hostile_contained": contained, "hostile_tried": tried,
            # other jobs' load: on a shared box every interpreter start waits for a core
            "load_avg_1m": round(load, 1), "cpus": os.cpu_count(),
        })
    cold, warm = rows
    warm["frames_speedup"] = warm["frames_steps_per_s"] / cold["frames_steps_per_s"]
    cold["frames_speedup"] = 1.0
    return rows


def contain_table() -> None:
    os.environ["OPENAI_API_KEY"] = "sk-bench-secret"
    print(f"## Attacks (time limit {TIMEOUT_S:g}s; 'contained' = host untouched, no secret leaked, next run works)")
    print(f"{'isolation':9} {'hook':5} {'attack':15} {'kill_s':>7}  {'contained':9}  error")
    for iso in available_isolations():
        for hook in (True, False):
            box = SubprocessSandbox(isolation=iso, timeout_s=TIMEOUT_S, memory_mb=512, max_file_mb=64, audit_hook=hook,
                                    warm_pool=0)
            for name, setup in attacks():
                code, untouched = setup()
                r = box.run(code)
                ok = untouched() and "sk-bench-secret" not in r.stdout + r.stderr and box.run("print(1)").ok
                print(f"{iso:9} {'on' if hook else 'off':5} {name:15} {r.wall_s:7.2f}  {str(ok):9}  {r.error}")


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=SandboxLimitsConfig.repeats, help="empty runs per path")
    parser.add_argument("--attacks", action="store_true", help="also print the per-attack table")


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    from benchmarks.common import parse_config

    config = parse_config(argv, SandboxLimitsConfig(), __doc__, _extra)
    print(f"euid {os.geteuid()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
    rows, record, paths = run_recorded("sandbox_limits", config, run)
    md = result_path(config.out, ".md")
    md.write_text(markdown_table(rows))
    for r in rows:
        print(f"{r['path']:5} empty run p50 {r['empty_p50_ms']:.1f} ms, p90 {r['empty_p90_ms']:.1f} ms; "
              f"FRAMES {r['frames_steps_per_s']:.1f} steps/s (x{r['frames_speedup']:.2f}, python "
              f"{100 * r['frames_python_share']:.0f}% of a step); hostile {r['hostile_contained']}/{r['hostile_tried']}")
    print(f"wrote {', '.join(map(str, paths))}, {md} ({record.duration_s:.0f} s)")
    if config.attacks:
        contain_table()
    return rows


if __name__ == "__main__":
    main()
