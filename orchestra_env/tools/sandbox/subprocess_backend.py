"""The default sandbox: a fresh ``python -I`` per run, under rlimits and OS isolation.

Layers, outermost first: OS isolation (bubblewrap namespaces, see ``isolation.py``), kernel rlimits (memory, CPU, file size, processes, no core dumps), a
scrubbed environment, a private temporary working directory deleted afterwards, a
process session killed as a whole, capped output reading, and the child-side audit hook
(``prelude.py``). docs/sandbox.md says which layer guarantees what.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from orchestra_env.tools.sandbox.diagnosis import Ending, explain, signal_from_status
from orchestra_env.tools.sandbox.isolation import (
    NOBODY, ChildView, Isolation, RunDir, check_isolation_name, resolve_isolation,
)
from orchestra_env.tools.sandbox.result import ExecResult
from orchestra_env.tools.sandbox.runner import Limits, ProcessOutcome, run_process

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
    layers (useful to test them; keep it on otherwise).
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

    def __post_init__(self) -> None:
        check_isolation_name(self.isolation)
        for name in ("timeout_s", "memory_mb", "max_file_mb", "max_processes", "max_output_chars", "disk_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
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

    @property
    def isolation(self) -> str:
        """The isolation actually used ("bwrap" or "none")."""
        return self._isolation.name

    def run(self, code: str, *, timeout_s: float | None = None, stdin: str = "") -> ExecResult:
        cfg = self.config
        timeout = cfg.timeout_s if timeout_s is None else timeout_s
        limits = Limits(cfg.memory_mb, cfg.cpu_s or math.ceil(timeout) + 1, cfg.max_file_mb, cfg.max_processes)
        run_dir = RunDir.create(owner=self._work_owner())
        report_fd = os.pipe()
        try:
            view = self._isolation.view(run_dir)
            inner = self._interpreter_argv(code, run_dir, view, report_fd[1])
            argv = self._isolation.command(inner, run_dir)
            outcome = run_process(
                argv, cwd=str(run_dir.work_dir), env=_child_env(view), stdin=stdin.encode("utf-8", errors="surrogatepass"),
                timeout_s=timeout, limits=limits, max_output_chars=cfg.max_output_chars,
                kill_after_bytes=cfg.max_output_chars * OUTPUT_KILL_FACTOR, report_fd=report_fd,
            )
        finally:
            run_dir.remove()
        return self._result(outcome, timeout, limits)

    def _work_owner(self) -> tuple[int, int] | None:
        """Under ``none`` a root host's child becomes ``nobody`` and must own its cwd; under
        bwrap the cwd is a private tmpfs inside the sandbox."""
        return NOBODY if self._isolation.drops_root and self._isolation.name == "none" else None

    def _interpreter_argv(self, code: str, run_dir: RunDir, view: ChildView, report_fd: int) -> list[str]:
        (run_dir.code_dir / "main.py").write_text(code, encoding="utf-8", errors="surrogatepass")
        shutil.copyfile(PRELUDE, run_dir.code_dir / "prelude.py")
        prelude_cfg = {
            "code_path": f"{view.code_dir}/main.py",
            "audit": self.config.audit_hook,
            "writable": list(view.writable),
            "drop_to": list(NOBODY) if self._isolation.drops_root else None,
            "report_fd": report_fd,
        }
        return [self.config.python, "-I", "-B", "-X", "utf8", f"{view.code_dir}/prelude.py", json.dumps(prelude_cfg)]

    def _result(self, outcome: ProcessOutcome, timeout: float, limits: Limits) -> ExecResult:
        rc = outcome.returncode
        sig = signal_from_status(rc, wrapped=self._isolation.name != "none")
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
