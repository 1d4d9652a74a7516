"""Warm path: isolated interpreters started ahead of time, each used for one program.

Starting bubblewrap and a fresh interpreter costs well over 100 ms; most of a short
program's run is that start. A :class:`WarmPool` keeps ``size`` of them started (inside
the same namespaces, under the same rlimits, already dropped to ``nobody``) and blocked
reading their program from stdin. ``take`` hands one over; a background thread starts its
replacement. A spare is never reused: after its program it is killed and its files are
deleted exactly as on the cold path, so every guarantee of docs/sandbox.md holds for it.

The spares are started from one long-lived thread because the kernel's parent-death
signal (``PR_SET_PDEATHSIG``, bwrap's ``--die-with-parent``) fires when the *thread* that
forked a child ends: a spare forked by a short-lived caller thread would die with it.

A SIGKILLed host runs no cleanup, so two reapers outside it end its spares, either one
enough (tests/test_sandbox_pool.py kills a host to check): the kernel's parent-death signal,
which bwrap's ``--die-with-parent`` sets on bwrap itself and on the sandbox, and the spare's
stdin, whose end of file ends a prelude still waiting for its program. The second needs the
host to be the only holder of the write end: a forked child closes its copies
(:meth:`WarmPool.forget_after_fork`), and a fork waits while a spare is being started
(``_SPAWNING``) so that no child inherits the pipes of a spare it does not know of yet.
"""
from __future__ import annotations

import atexit
import os
import queue
import select
import threading
import weakref
from dataclasses import dataclass
import subprocess
from typing import Callable

from orchestra_env.tools.sandbox.isolation import RunDir
from orchestra_env.tools.sandbox.runner import discard_process


@dataclass
class Worker:
    """One started interpreter waiting for its program, and what to clean up after it."""

    proc: subprocess.Popen
    run_dir: RunDir
    report_read_fd: int

    def started(self) -> bool:
        """Has the interpreter said ``ready`` (reached the wait for its program)? The line
        stays in the pipe for the run to read past."""
        return bool(select.select([self.report_read_fd], [], [], 0)[0])

    def discard(self) -> None:
        discard_process(self.proc, self.report_read_fd)
        self.run_dir.remove()


class WarmPool:
    """Keeps ``size`` spares from ``spawn`` ready; thread-safe; ``close`` kills the spares."""

    def __init__(self, spawn: Callable[[], Worker], size: int) -> None:
        if size < 1:
            raise ValueError(f"a warm pool needs size >= 1, got {size}")
        self._spawn, self.size = spawn, size
        self._ready: list[Worker] = []
        self._cond = threading.Condition()
        self._closed = False
        self._taken = 0  # spares handed out since the last replenish()
        self.spawn_errors = 0
        self._thread = threading.Thread(target=self._fill, name="sandbox-warm-pool", daemon=True)
        self._thread.start()
        _LIVE_POOLS.add(self)

    def take(self) -> Worker | None:
        """A live spare, or ``None`` if none is ready (use the cold path). The replacement
        is started only at :meth:`replenish`, after the run: starting it forks this
        (possibly large) process, which would otherwise stall the run being timed."""
        with self._cond:
            for worker in [w for w in self._ready if w.proc.poll() is not None]:
                self._ready.remove(worker)  # died while waiting (killed from outside): never hand it out
                worker.discard()
            if not self._ready:
                return None
            # one that finished starting if any; else one still starting beats a cold start
            worker = next((w for w in self._ready if w.started()), self._ready[0])
            self._ready.remove(worker)
            self._taken += 1
            return worker

    def replenish(self) -> None:
        """Let the filler thread start replacements for the spares taken so far."""
        with self._cond:
            self._taken = 0
            self._cond.notify_all()

    def ready(self) -> int:
        """Spares that have finished starting."""
        with self._cond:
            return sum(w.started() and w.proc.poll() is None for w in self._ready)

    def _fill(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or len(self._ready) + self._taken < self.size)
                if self._closed:
                    return
            with _SPAWNING:  # a fork now waits until the new spare is listed (module docstring)
                try:
                    worker = self._spawn()
                except Exception:  # noqa: BLE001 - the cold path reports the real error to the caller
                    worker = None
                    self.spawn_errors += 1
                if worker is not None:
                    with self._cond:
                        if self._closed:
                            worker.discard()
                            return
                        self._ready.append(worker)
                        self._cond.notify_all()
                        continue
            with self._cond:
                self._cond.wait(timeout=min(5.0, 0.1 * 2 ** min(self.spawn_errors, 6)))

    @property
    def closed(self) -> bool:
        return self._closed

    def forget_after_fork(self) -> None:
        """In a forked child (``AsyncVectorEnv`` workers): the spares belong to the parent.
        Close our copies of their pipes (a copy of a stdin write end would keep a program in
        the parent waiting for end-of-file) and never touch their processes."""
        self._cond = threading.Condition()  # the parent's lock may have been held at fork
        self._closed = True
        for worker in self._ready:
            for stream in (worker.proc.stdin, worker.proc.stdout, worker.proc.stderr):
                try:
                    if stream is not None:
                        os.close(stream.fileno())
                except (OSError, ValueError):
                    pass
            try:
                os.close(worker.report_read_fd)
            except OSError:
                pass
            worker.proc.returncode = 0  # not ours to wait for
        self._ready = []

    def close(self) -> None:
        """Kill every spare and delete its files; the pool starts no more."""
        with self._cond:
            self._closed = True
            spares, self._ready = self._ready, []
            self._cond.notify_all()
        for worker in spares:
            worker.discard()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


_LIVE_POOLS: "weakref.WeakSet[WarmPool]" = weakref.WeakSet()
#: Held from a spare's fork to its listing in ``_ready``, and by ``os.fork`` (register_at_fork
#: below). Reentrant: ``Popen`` without ``preexec_fn`` runs no fork hooks, but a spawn that
#: did would otherwise deadlock on itself.
_SPAWNING = threading.RLock()


class _Janitor:
    """Deletes finished runs' folders off the caller's path: on a busy overlay filesystem
    removing even a near-empty folder can take longer than an empty warm run. The child
    that used the folder is dead (reaped) before it is queued, and nothing reads it again."""

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue[RunDir | None]" = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def dispose(self, run_dir: RunDir) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="sandbox-janitor", daemon=True)
                self._thread.start()
        self._queue.put(run_dir)

    def _work(self) -> None:
        while (run_dir := self._queue.get()) is not None:
            run_dir.remove()

    def flush(self) -> None:
        """Delete everything queued, now (at exit)."""
        while True:
            try:
                run_dir = self._queue.get_nowait()
            except queue.Empty:
                return
            if run_dir is not None:
                run_dir.remove()


JANITOR = _Janitor()


def _after_fork_in_child() -> None:
    for pool in list(_LIVE_POOLS):
        pool.forget_after_fork()
    JANITOR.__init__()  # its thread did not survive the fork, its lock may be held


_FORKING = threading.local()


def _before_fork() -> None:
    # bounded: a spawn that waited on a lock the forking thread holds must not hang the fork
    _FORKING.held = _SPAWNING.acquire(timeout=5.0)


def _release_after_fork() -> None:
    if getattr(_FORKING, "held", False):
        _FORKING.held = False
        _SPAWNING.release()


def _after_fork_in_child_locked() -> None:
    _release_after_fork()
    _after_fork_in_child()


os.register_at_fork(before=_before_fork, after_in_parent=_release_after_fork,
                    after_in_child=_after_fork_in_child_locked)


@atexit.register
def _close_all() -> None:
    for pool in list(_LIVE_POOLS):
        pool.close()
    JANITOR.flush()
