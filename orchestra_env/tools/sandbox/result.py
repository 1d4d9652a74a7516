"""What one sandboxed run returns, and the bounded buffer that collects its output.

Output is captured with a hard byte cap so that a program printing gigabytes cannot
blow up the host's memory; the head and the tail are kept because the end of stderr
(the traceback) is usually what a policy needs to see.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecResult:
    """Outcome of running one program.

    ``error`` is ``None`` for a clean run, otherwise one short reason a policy (or a
    person) can act on, e.g. ``"time limit 10s exceeded"``, ``"memory limit 512 MB
    exceeded"``, ``"exit code 1: ZeroDivisionError: division by zero"`` or
    ``"output truncated"``. ``peak_rss_mb`` is the program's peak resident set when the
    backend has a figure; ``peak_rss_source`` says who measured it. ``"self-reported"``
    means the sandboxed program wrote it (VmHWM at exit), so a hostile program can forge
    it: use it as a diagnostic, never for accounting or rewards.
    """

    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool
    wall_s: float
    error: str | None = None
    peak_rss_mb: float | None = None
    peak_rss_source: str | None = None

    @property
    def ok(self) -> bool:
        """True when the program ran to completion and exited with status 0."""
        return self.returncode == 0 and not self.timed_out


class OutputCapture:
    """Keeps at most ``max_chars`` bytes of a stream: the first half and the last half.

    Everything in between is counted, not stored; :meth:`text` puts a marker where it was
    cut saying how many bytes are missing.
    """

    def __init__(self, max_chars: int) -> None:
        if max_chars < 2:
            raise ValueError(f"max_chars must be at least 2, got {max_chars}")
        self._head_cap = max_chars // 2
        self._tail_cap = max_chars - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total_bytes = 0

    def feed(self, chunk: bytes) -> None:
        self.total_bytes += len(chunk)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self._tail_cap:
                del self._tail[: len(self._tail) - self._tail_cap]

    @property
    def cut_bytes(self) -> int:
        return self.total_bytes - len(self._head) - len(self._tail)

    @property
    def truncated(self) -> bool:
        return self.cut_bytes > 0

    def text(self) -> str:
        head = self._head.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        if not self.truncated:
            return head + tail
        marker = (
            f"\n[... {self.cut_bytes} bytes cut by the sandbox "
            f"({self.total_bytes} written, first and last {self._head_cap + self._tail_cap} kept) ...]\n"
        )
        return head + marker + tail
