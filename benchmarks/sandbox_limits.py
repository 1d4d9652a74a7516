"""How well, and how fast, the Python sandbox contains hostile programs.

Prints, per isolation mode (with the audit hook, and with the OS layers alone):
time to kill each attack in tests/hostile/ and whether the host stayed untouched;
the peak resident memory of a memory hog against its cap; and the overhead of an empty
run. Usage:  orchestra bench sandbox [--repeats 20]  (writes results/sandbox_limits.{csv,json,md};
the hostile programs are read from the checkout's tests/hostile/).
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from orchestra_env.tools.sandbox import SubprocessSandbox, available_isolations

from benchmarks.common import RunConfig, markdown_table, parse_run_config, run_recorded

HOSTILE = Path(__file__).resolve().parents[1] / "tests" / "hostile"
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
        targets = [Path(f"/tmp/pwned-{tag}"), Path.home() / f"pwned-{tag}", HOSTILE.parents[1] / f"pwned-{tag}"]
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


def contain_table(config: "SandboxConfig") -> list[dict[str, Any]]:
    """Per isolation x audit hook x attack: seconds to kill, and whether it was contained
    (host untouched, no secret leaked, the next run works)."""
    os.environ["OPENAI_API_KEY"] = "sk-bench-secret"
    rows: list[dict[str, Any]] = []
    for iso in available_isolations():
        for hook in (True, False):
            box = SubprocessSandbox(isolation=iso, timeout_s=TIMEOUT_S, memory_mb=512, max_file_mb=64, audit_hook=hook)
            for name, setup in attacks():
                row = {"table": "attacks", "isolation": iso, "hook": "on" if hook else "off", "attack": name}
                if name == "fork_bomb" and not hook and os.geteuid() == 0 and iso != "bwrap":
                    rows.append({**row, "contained": "skipped",
                                 "error": "root is exempt from RLIMIT_NPROC; only bwrap drops to nobody"})
                    continue
                code, untouched = setup()
                r = box.run(code)
                ok = untouched() and "sk-bench-secret" not in r.stdout + r.stderr and box.run("print(1)").ok
                rows.append({**row, "kill_s": r.wall_s, "contained": str(ok), "error": r.error or ""})
    return rows


def memory_table(config: "SandboxConfig") -> list[dict[str, Any]]:
    """A memory hog's peak RSS (wait4; not measurable through bwrap's pid 1) against its cap."""
    rows: list[dict[str, Any]] = []
    for iso in available_isolations():
        for cap in (256, 1024):
            r = SubprocessSandbox(isolation=iso, memory_mb=cap, timeout_s=20).run(hostile("memory_hog"))
            rows.append({"table": "memory", "isolation": iso, "cap_mb": cap, "peak_rss_mb": r.peak_rss_mb,
                         "held": "n/a" if r.peak_rss_mb is None else str(r.peak_rss_mb <= cap),
                         "wall_s": r.wall_s, "error": r.error or ""})
    return rows


def overhead_table(config: "SandboxConfig") -> list[dict[str, Any]]:
    """Median wall time of an empty run: bare ``python -I``, then each isolation with/without the hook."""
    t = []
    for _ in range(config.repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        t.append(time.perf_counter() - start)
    rows = [{"table": "overhead", "runner": "bare python -I", "median_ms": statistics.median(t) * 1000}]
    for iso in available_isolations():
        for hook in (True, False):
            box = SubprocessSandbox(isolation=iso, audit_hook=hook)
            times = [box.run("pass").wall_s for _ in range(config.repeats)]
            rows.append({"table": "overhead", "runner": iso + (" +hook" if hook else ""),
                         "median_ms": statistics.median(times) * 1000})
    return rows


@dataclass
class SandboxConfig(RunConfig):
    repeats: int = field(default=20, metadata={"help": "empty runs per overhead median"})
    out: str = field(default="results/sandbox_limits", metadata={"help": "output stem"})


def measure(config: SandboxConfig) -> list[dict[str, Any]]:
    return contain_table(config) + memory_table(config) + overhead_table(config)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The three tables, one after another, from the rows of one run."""
    def part(table: str, columns: list[str]) -> str:
        return markdown_table([r for r in rows if r["table"] == table], columns, ".2f")

    return (f"**Attacks** (time limit {TIMEOUT_S:g} s; contained = host untouched, no secret leaked, "
            "next run works)\n\n" + part("attacks", ["isolation", "hook", "attack", "kill_s", "contained", "error"])
            + "\n**Memory cap** (memory_hog)\n\n"
            + part("memory", ["isolation", "cap_mb", "peak_rss_mb", "held", "wall_s", "error"])
            + "\n**Empty-run overhead** (median, ms)\n\n" + part("overhead", ["runner", "median_ms"]))


def main(argv: Sequence[str] | None = None, config: SandboxConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, SandboxConfig(), __doc__)
    print(f"isolations available: {available_isolations()}  (euid {os.geteuid()}, {os.cpu_count()} cpus)\n")
    rows, record, paths = run_recorded("sandbox_limits", config, measure, markdown=markdown)
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
