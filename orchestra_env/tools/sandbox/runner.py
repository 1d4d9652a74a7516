"""Start one child under rlimits, feed its stdin, read its output with a cap, kill it whole.

The child leads its own session, so one ``killpg`` reaches every process it started
(unless one calls ``setsid`` itself; bwrap's pid namespace closes that gap).
When the program finishes, the prelude writes ``done <status> <peak kB>`` to a report pipe
(``Report``); the run ends there. A program killed before that has no memory figure:
``wait4``'s would include the host's pre-``exec`` image. Starting and finishing are separate
so that a pool can start interpreters ahead of time.
"""
from __future__ import annotations

import math
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass

from orchestra_env.tools.sandbox.result import OutputCapture

_CHUNK = 65536


@dataclass(frozen=True)
class Limits:
    """Kernel resource limits applied to the child before it executes anything."""

    memory_mb: int
    cpu_s: float
    max_file_mb: int
    max_processes: int

    def for_prelude(self) -> dict[str, int]:
        """The limits as the prelude applies them to itself before any user code runs.

        The child sets them, not a ``preexec_fn``: without one, ``Popen`` can ``vfork``,
        which costs microseconds instead of copying a large host's page tables (tens of ms,
        holding the GIL) for every interpreter the warm pool starts. The prelude is ours and
        runs first; once it has lowered the hard limits and dropped root, the program cannot
        raise them again."""
        return {
            "as": self.memory_mb * 1024 * 1024,
            "cpu": max(1, math.ceil(self.cpu_s)),  # counted from when the program arrives
            "fsize": self.max_file_mb * 1024 * 1024,
            "nproc": _nproc_limit(self.max_processes),
        }


def _nproc_limit(max_processes: int) -> int:
    """RLIMIT_NPROC counts *all* processes of the real uid, so grant ``max_processes`` more than
    that uid already runs: an ordinary user's other processes, or, for root (whose bwrap child
    becomes ``nobody``), the other sandboxes already running as ``nobody`` (the warm spares of
    every env on the host: a fixed 64 made the 65th spare of a vector env fail)."""
    from orchestra_env.tools.sandbox.isolation import NOBODY

    uid = NOBODY[0] if os.geteuid() == 0 else os.getuid()
    theirs = 0
    for entry in os.scandir("/proc"):
        try:
            theirs += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            continue
    return theirs + max_processes


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    stdout: OutputCapture
    stderr: OutputCapture
    timed_out: bool
    output_overflow: bool
    wall_s: float
    peak_rss_mb: float | None
    #: True when the figure came from the program itself (there is no other)
    peak_rss_reported: bool = False
    #: True when ``returncode`` is the status the prelude reported, not the wrapper's
    reported_exit: bool = False


def start_process(
    argv: list[str], *, cwd: str, env: dict[str, str], report_fd: tuple[int, int],
) -> subprocess.Popen:
    """Start ``argv`` in its own session, stdin/stdout/stderr piped (the prelude applies
    the limits, see :meth:`Limits.for_prelude`).

    ``report_fd`` is a pipe (read end, write end) whose write end only the child keeps (it
    writes its peak memory there at exit); the host's copy is closed here. Nothing else is
    inherited (``close_fds``)."""
    try:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, pass_fds=(report_fd[1],),
        )
    except BaseException:
        os.close(report_fd[0])
        raise
    finally:
        os.close(report_fd[1])


def finish_process(
    proc: subprocess.Popen,
    *,
    stdin: bytes,
    start: float,
    timeout_s: float,
    max_output_chars: int,
    kill_after_bytes: int,
    report_read_fd: int,
) -> ProcessOutcome:
    """Feed ``stdin``, read output with a cap, until exit, ``start + timeout_s`` or output
    overflow; kills the whole process group and reaps it. Never leaves a process behind."""
    out, err = OutputCapture(max_output_chars), OutputCapture(max_output_chars)
    timed_out = overflow = False
    report: Report | None = None
    try:
        timed_out, overflow, report = _pump(proc, stdin, out, err, start + timeout_s, kill_after_bytes,
                                            report_read_fd)
    finally:
        wall_s = time.monotonic() - start
        _kill_group(proc.pid)  # whatever is left (background children, the namespace) dies now
        _, raw_status, _ = os.wait4(proc.pid, 0)
        status = proc.returncode = os.waitstatus_to_exitcode(raw_status)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        os.close(report_read_fd)
    done = report is not None and not timed_out and not overflow
    return ProcessOutcome(
        # a finished program's own status; our SIGKILL of the wrappers is not its ending
        returncode=report.status if done else status, stdout=out, stderr=err, timed_out=timed_out,
        output_overflow=overflow, wall_s=wall_s,
        peak_rss_mb=report.peak_kb / 1024 if done else None,
        peak_rss_reported=done,
        reported_exit=done,
    )


def discard_process(proc: subprocess.Popen, report_read_fd: int) -> None:
    """Kill and reap a started process that will never run anything (a pooled spare)."""
    _kill_group(proc.pid)
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()
    try:
        os.close(report_read_fd)
    except OSError:
        pass


@dataclass(frozen=True)
class Report:
    """What the prelude writes to the report pipe once the program has finished normally:
    ``done <exit status> <VmHWM kB>``. The program could write it too, which only lets it
    end its own run early or mislabel its own exit: the figures are its own claims."""

    status: int
    peak_kb: int

    @classmethod
    def parse(cls, data: bytes) -> "Report | None":
        """The ``done`` line among the complete lines of ``data`` (``ready`` comes first)."""
        for line in data.split(b"\n")[:-1]:
            parts = line.split()
            if len(parts) == 3 and parts[0] == b"done" and parts[1].isdigit() and parts[2].isdigit():
                return cls(int(parts[1]) & 0xFF, int(parts[2]))
        return None


def _pump(
    proc: subprocess.Popen, stdin: bytes, out: OutputCapture, err: OutputCapture,
    deadline: float, kill_after_bytes: int, report_fd: int,
) -> tuple[bool, bool, Report | None]:
    """Move bytes until the child reports it is done or both pipes close; returns
    (timed_out, output_overflow, report).

    Returning on the report, rather than waiting for end-of-file, skips the teardown of the
    namespaces (the pipes stay open until bubblewrap's last process exits): everything the
    program wrote before reporting is already in the pipes, and is drained first."""
    assert proc.stdin and proc.stdout and proc.stderr
    sel = selectors.DefaultSelector()
    for stream, capture in ((proc.stdout, out), (proc.stderr, err)):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream.fileno(), selectors.EVENT_READ, capture)
    os.set_blocking(report_fd, False)
    report = bytearray()
    sel.register(report_fd, selectors.EVENT_READ, report)
    pending = memoryview(stdin)
    if pending:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, None)
    else:
        proc.stdin.close()
    exited_at: float | None = None
    try:
        while any(key.data is not report for key in sel.get_map().values()):
            now = time.monotonic()
            if now >= deadline:
                return True, False, None
            events = sel.select(timeout=min(deadline - now, 0.05))
            if not events:
                # The child may have exited while a background grandchild holds the pipes open.
                if exited_at is None and _has_exited(proc.pid):
                    exited_at = now
                    _kill_group(proc.pid)
                elif exited_at is not None and now - exited_at > 1.0:
                    break
            for key, _ in events:
                if key.data is None:
                    pending = _write_some(sel, proc, pending)
                    continue
                chunk = _read(key.fd)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                if key.data is report:
                    report += chunk
                    if b"\n" in report:
                        if (done := Report.parse(bytes(report))) is not None:
                            return False, _drain(out, err, proc, kill_after_bytes), done
                    continue
                key.data.feed(chunk)
                if out.total_bytes + err.total_bytes > kill_after_bytes:
                    return False, True, None
        return False, False, Report.parse(bytes(report) + _read(report_fd))
    finally:
        sel.close()


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _CHUNK)
    except BlockingIOError:
        return b"\0"  # nothing yet; a NUL never parses as a report
    except OSError:
        return b""


def _drain(out: OutputCapture, err: OutputCapture, proc: subprocess.Popen, kill_after_bytes: int) -> bool:
    """Read what is already in the output pipes, without waiting; True on output overflow."""
    assert proc.stdout and proc.stderr
    for stream, capture in ((proc.stdout, out), (proc.stderr, err)):
        while True:
            try:
                chunk = os.read(stream.fileno(), _CHUNK)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            capture.feed(chunk)
            if out.total_bytes + err.total_bytes > kill_after_bytes:
                return True
    return False


def _write_some(sel: selectors.BaseSelector, proc: subprocess.Popen, pending: memoryview) -> memoryview:
    assert proc.stdin is not None
    try:
        pending = pending[os.write(proc.stdin.fileno(), pending[:_CHUNK]):]
    except (BrokenPipeError, BlockingIOError) as exc:
        if isinstance(exc, BlockingIOError):
            return pending
        pending = pending[:0]  # the child closed stdin; it does not want the rest
    if not pending:
        sel.unregister(proc.stdin.fileno())
        proc.stdin.close()
    return pending


def _has_exited(pid: int) -> bool:
    """Exited but not yet reaped (WNOWAIT keeps the pid, so killpg stays safe)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
