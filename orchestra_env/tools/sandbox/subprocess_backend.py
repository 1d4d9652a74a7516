"""The default sandbox: a fresh ``python -I`` per run, under rlimits and OS isolation.

Layers, outermost first: OS isolation (bubblewrap namespaces, see ``isolation.py``), kernel rlimits (memory, CPU, file size, processes, no core dumps), a
scrubbed environment, a private temporary working directory deleted afterwards, a
process session killed as a whole, capped output reading, and the child-side audit hook
(``prelude.py``). docs/sandbox.md says which layer guarantees what.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from orchestra_env.tools.sandbox.diagnosis import Ending, explain, signal_from_status
from orchestra_env.tools.sandbox.isolation import (
    NOBODY, ChildView, Isolation, RunDir, check_isolation_name, resolve_isolation,
)
from orchestra_env.tools.sandbox.pool import JANITOR, WarmPool, Worker
from orchestra_env.tools.sandbox.result import ExecResult
from orchestra_env.tools.sandbox.runner import Limits, ProcessOutcome, finish_process, start_process

PRELUDE = Path(__file__).with_name("prelude.py")
#: A program that writes this many times ``max_output_chars`` is stopped, not just truncated.
OUTPUT_KILL_FACTOR = 50
#: Native thread pools (OpenBLAS, MKL, OpenMP) reserve address space per thread; one
#: thread keeps numpy inside a modest RLIMIT_AS and is fair to the other runs.
_THREAD_CAPS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class SubprocessConfig:
    """Limits and isolation for :class:`SubprocessSandbox`.

    ``cpu_s`` defaults to the run's timeout plus one second. ``disk_mb`` sizes the private
    tmpfs work directory and /tmp under bwrap. ``audit_hook=False`` leaves only the OS
    layers (useful to test them; keep it on otherwise). ``warm_pool`` interpreters are kept
    started ahead of time (each runs one program, see ``pool.py``); 0 starts every run cold.
    A run whose limits differ from the config's (a per-call ``timeout_s``) starts cold.
    """

    timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: float | None = None
    max_file_mb: int = 64
    max_processes: int = 64
    max_output_chars: int = 20_000
    isolation: str = "auto"
    python: str = field(default_factory=lambda: sys.executable)
    audit_hook: bool = True
    disk_mb: int = 256
    warm_pool: int = 2

    def __post_init__(self) -> None:
        check_isolation_name(self.isolation)
        for name in ("timeout_s", "memory_mb", "max_file_mb", "max_processes", "max_output_chars", "disk_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.warm_pool < 0:
            raise ValueError(f"warm_pool must be >= 0 (0 = no pre-started interpreters), got {self.warm_pool}")
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb={self.memory_mb} is too small for a Python interpreter; use >= 64")
        if not Path(self.python).exists():
            raise ValueError(f"python interpreter {self.python!r} not found; pass python=<path to python3>")


class SubprocessSandbox:
    """Runs each program in a new isolated interpreter; see :class:`SubprocessConfig`.

    ``SubprocessSandbox(timeout_s=5, isolation="bwrap")`` is shorthand for passing a config.
    The isolation is resolved once, at construction, so a missing backend fails early.
    """

    def __init__(self, config: SubprocessConfig | None = None, **overrides: object) -> None:
        self.config = dataclasses.replace(config or SubprocessConfig(), **overrides)
        self._isolation: Isolation = resolve_isolation(self.config.isolation, self.config.python, self.config.disk_mb)
        self._pool: WarmPool | None = None
        self._pool_limits = self._limits(self.config.timeout_s)
        self.warm_runs = 0  # runs served by a pre-started interpreter (the rest started cold)

    @property
    def isolation(self) -> str:
        """The isolation actually used ("bwrap" or "none")."""
        return self._isolation.name

    def run(self, code: str, *, timeout_s: float | None = None, stdin: str = "") -> ExecResult:
        cfg = self.config
        timeout = cfg.timeout_s if timeout_s is None else timeout_s
        limits = self._limits(timeout)
        program = code.encode("utf-8", errors="surrogatepass")  # a lone surrogate fails inside, visibly
        payload = b"%d\n" % len(program) + program + stdin.encode("utf-8", errors="surrogatepass")
        worker = self._take_warm(limits)
        start = time.monotonic()
        if worker is None:
            worker = _spawn(cfg, self._isolation, limits)
        else:
            self.warm_runs += 1
        try:
            outcome = finish_process(
                worker.proc, stdin=payload, start=start, timeout_s=timeout, max_output_chars=cfg.max_output_chars,
                kill_after_bytes=cfg.max_output_chars * OUTPUT_KILL_FACTOR, report_read_fd=worker.report_read_fd,
            )
        finally:
            JANITOR.dispose(worker.run_dir)  # the child is reaped: nothing uses the folder again
            if self._pool is not None:
                self._pool.replenish()
        return self._result(outcome, timeout, limits)

    def warm_up(self, wait_s: float = 30.0) -> int:
        """Start the warm pool now and wait (at most ``wait_s``) until it is full; returns
        the spares ready. Without it the pool starts on the first run."""
        pool = self._ensure_pool()
        deadline = time.monotonic() + wait_s
        while pool is not None and pool.ready() < pool.size and time.monotonic() < deadline:
            time.sleep(0.01)
        return pool.ready() if pool is not None else 0

    def close(self) -> None:
        """Kill the pre-started interpreters (also done at exit and when garbage-collected)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _limits(self, timeout: float) -> Limits:
        cfg = self.config
        return Limits(cfg.memory_mb, cfg.cpu_s or math.ceil(timeout) + 1, cfg.max_file_mb, cfg.max_processes)

    def _ensure_pool(self) -> WarmPool | None:
        if self._pool is not None and self._pool.closed:  # e.g. inherited through fork
            self._pool = None
        if self._pool is None and self.config.warm_pool > 0:
            self._pool = WarmPool(functools.partial(_spawn, self.config, self._isolation, self._pool_limits),
                                  self.config.warm_pool)
            weakref.finalize(self, self._pool.close)
        return self._pool

    def _take_warm(self, limits: Limits) -> Worker | None:
        if limits != self._pool_limits:
            return None
        pool = self._ensure_pool()
        return pool.take() if pool is not None else None

    def _result(self, outcome: ProcessOutcome, timeout: float, limits: Limits) -> ExecResult:
        rc = outcome.returncode
        sig = None if outcome.reported_exit else signal_from_status(rc, wrapped=self._isolation.name != "none")
        stderr = outcome.stderr.text()
        end = Ending(
            returncode=rc, signal=sig, stderr=stderr, timed_out=outcome.timed_out,
            output_overflow=outcome.output_overflow,
            truncated=outcome.stdout.truncated or outcome.stderr.truncated,
            timeout_s=timeout, cpu_s=limits.cpu_s, memory_mb=limits.memory_mb,
            max_file_mb=limits.max_file_mb, max_processes=limits.max_processes,
            kill_after_bytes=self.config.max_output_chars * OUTPUT_KILL_FACTOR,
        )
        return ExecResult(
            stdout=outcome.stdout.text(), stderr=stderr, returncode=rc, timed_out=outcome.timed_out,
            wall_s=outcome.wall_s, error=explain(end),
            # wait4's figure includes the host's pages inherited at fork: only the report measures
            # the program, and the program writes it, so it is labelled as its own claim
            peak_rss_mb=outcome.peak_rss_mb if outcome.peak_rss_reported else None,
            peak_rss_source="self-reported" if outcome.peak_rss_reported else None,
        )


def _spawn(cfg: SubprocessConfig, isolation: Isolation, limits: Limits) -> Worker:
    """Start one isolated interpreter that waits on stdin for its program (cold and warm
    paths both run through here, so they cannot drift apart)."""
    owner = NOBODY if isolation.drops_root and isolation.name == "none" else None  # bwrap: cwd is its tmpfs
    run_dir = RunDir.create(owner=owner)
    try:
        shutil.copyfile(PRELUDE, run_dir.code_dir / "prelude.py")
        view = isolation.view(run_dir)
        report = os.pipe()
        prelude_cfg = {
            "filename": f"{view.code_dir}/main.py",
            "audit": cfg.audit_hook,
            "writable": list(view.writable),
            "drop_to": list(NOBODY) if isolation.drops_root else None,
            "report_fd": report[1],
            "limits": limits.for_prelude(),
            # bwrap's --die-with-parent covers its tree; a bare child asks the kernel itself
            "pdeathsig": isolation.name == "none",
        }
        prelude_cfg["site"] = site_paths(cfg.python)
        # -S: no `site` import. Its .pth files cost most of an interpreter's start (an editable
        # install's finder imports pathlib, re, urllib...); the prelude adds site-packages itself
        inner = [cfg.python, "-I", "-S", "-B", "-X", "utf8", f"{view.code_dir}/prelude.py", json.dumps(prelude_cfg)]
        proc = start_process(isolation.command(inner, run_dir), cwd=str(run_dir.work_dir), env=_child_env(view),
                             report_fd=report)
    except BaseException:
        run_dir.remove()
        raise
    return Worker(proc, run_dir, report[0])


@functools.lru_cache(maxsize=None)
def site_paths(python: str) -> dict[str, object]:
    """What ``site`` would have set up in the interpreter (asked once per interpreter):
    its site-packages folders and, for a venv, ``sys.prefix``/``sys.exec_prefix``."""
    import subprocess

    probe = "import json, site, sys; print(json.dumps([site.getsitepackages(), sys.prefix, sys.exec_prefix]))"
    done = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.defpath})
    try:
        dirs, prefix, exec_prefix = json.loads(done.stdout)
        return {"dirs": [p for p in dirs if isinstance(p, str)], "prefix": prefix, "exec_prefix": exec_prefix}
    except ValueError:
        return {}


def _child_env(view: ChildView) -> dict[str, str]:
    """Nothing from the host's environment: no API keys, no proxies, no PYTHON* knobs."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": view.workdir,
        "TMPDIR": view.tmpdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        **_THREAD_CAPS,
    }
