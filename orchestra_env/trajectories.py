"""Trajectory logs that lose nothing: one JSON line per finished episode, appended atomically.

A run killed at any moment (even SIGKILL) leaves a log whose complete lines are complete
episodes; at most the last line is partial, and :meth:`TrajectoryLog.repair` drops it.
A write that fails (a full disk, ``RLIMIT_FSIZE``) is cut back before ``append`` raises
:class:`TrajectoryWriteError`, so the file still ends on a whole record and the next
append that fits is whole too; every append that returned is on disk.
:meth:`TrajectoryLog.completed` gives the keys of logged episodes so a restarted run skips
them (no duplicates). Secrets (API keys from the environment, ``sk-...``-style tokens) are
redacted before anything is written.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterator

import gymnasium as gym
import numpy as np

SECRET_ENV_HINTS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"tvly-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"hf_[A-Za-z0-9]{20,}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9_\-\.]{16,}"),
)
REDACTED = "[REDACTED]"


def _secret_values() -> list[str]:
    return [
        v for k, v in os.environ.items()
        if any(h in k.upper() for h in SECRET_ENV_HINTS) and len(v) >= 8
    ]


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every known secret value and key-shaped token replaced."""
    for value in secrets if secrets is not None else _secret_values():
        text = text.replace(value, REDACTED)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class TrajectoryWriteError(OSError):
    """An episode record could not be written (disk full, file too large); the log was
    left ending on its last whole record, so nothing already written is damaged."""


_TAIL_BLOCK = 1 << 16


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def whole_prefix(fd: int, size: int) -> int:
    """Length of the longest prefix of the file that ends on a whole record line.

    Reads backwards from the end, so a repair costs the size of the damage, not of the log.
    Torn tails it cuts: a line without its newline, a line that is not a JSON object (half
    of one, a zero-filled block a crash left behind), any number of them in a row."""
    end = size
    while end > 0:
        start, line = _last_line(fd, end)
        if line.endswith(b"\n") and _is_record(line):
            return end
        end = start
    return 0


def _last_line(fd: int, end: int) -> tuple[int, bytes]:
    """(offset, bytes) of the line that ends at ``end`` (its newline, if any, included)."""
    buf = b""
    pos = end
    while pos > 0:
        step = min(_TAIL_BLOCK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        cut = buf.rfind(b"\n", 0, len(buf) - 1)
        if cut >= 0:
            return pos + cut + 1, buf[cut + 1:]
    return 0, buf


class TrajectoryLog:
    """Append-only JSONL file of episode records, keyed by ``record["key"]``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record on an O_APPEND descriptor under an exclusive lock, then fsync.

        Raises :class:`TrajectoryWriteError` when the record did not reach the disk whole;
        its partial bytes have then been cut off again."""
        record = _jsonable(record)
        try:
            data = (redact(json.dumps(record, ensure_ascii=False)) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: \u-escape everything, losslessly
            data = (redact(json.dumps(record, ensure_ascii=True)) + "\n").encode("ascii")
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # writers in other processes append one at a time
            size = os.fstat(fd).st_size
            # a torn tail (killed writer) never glues onto our record; our own failures cut
            # back to a newline, so a file ending on one needs no scan
            start = size if size == 0 or os.pread(fd, 1, size - 1) == b"\n" else whole_prefix(fd, size)
            if start < size:
                os.ftruncate(fd, start)
            try:
                written = 0
                while written < len(data):  # a short write is finished or undone, never left
                    written += os.write(fd, data[written:])
                os.fsync(fd)
            except OSError as exc:
                self._cut_back(fd, start)
                reason = {errno.ENOSPC: "disk full", errno.EFBIG: "file size limit", errno.EDQUOT: "disk quota"}
                raise TrajectoryWriteError(
                    exc.errno, f"trajectory record of {len(data)} bytes not written to {self.path} "
                               f"({reason.get(exc.errno, exc.strerror)}); the log still ends on its last whole record"
                ) from exc
        finally:
            os.close(fd)

    @staticmethod
    def _cut_back(fd: int, start: int) -> None:
        try:
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError:
            pass  # the next append (or repair) cuts the torn tail before writing

    def repair(self) -> int:
        """Cut every torn tail a killed writer or a crash left (see :func:`whole_prefix`);
        returns the bytes removed."""
        if not self.path.exists():
            return 0
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            keep = whole_prefix(fd, size)
            if keep < size:
                os.ftruncate(fd, keep)
                os.fsync(fd)
            return size - keep
        finally:
            os.close(fd)

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # partial tail of a killed run
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def completed(self) -> set[str]:
        return {r["key"] for r in self.records() if "key" in r}

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Episode-level table (one row per episode, steps as a JSON column)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [{**{k: v for k, v in r.items() if k != "steps"}, "steps": json.dumps(r.get("steps", []))}
                for r in self.records()]
        pq.write_table(pa.Table.from_pylist(rows), str(path))
        return Path(path)


class RecordTrajectories(gym.Wrapper):
    """Log every step (action, observation output, reward, cost, latency, info) of every
    episode to a :class:`TrajectoryLog`, one line per finished episode.

    The episode key is ``options["episode_key"]`` when given at reset (a runner that
    resumes passes its own), else ``"<task_id>|<seed>|<n>"``.
    """

    def __init__(self, env: gym.Env, path: str | os.PathLike[str]) -> None:
        super().__init__(env)
        self.log = TrajectoryLog(path)
        self.log.repair()
        self._steps: list[dict[str, Any]] = []
        self._meta: dict[str, Any] = {}
        self._n = 0
        self.failed_writes = 0  # episodes whose record could not be written

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._n += 1
        key = (options or {}).get("episode_key") or f"{info.get('task_id')}|{seed}|{self._n}"
        self._meta = {"key": key, "task_id": info.get("task_id"), "seed": seed, "task": obs.get("task")}
        self._steps = []
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps.append({
            "action": action, "output": obs.get("output"), "reward": float(reward),
            "terminated": terminated, "truncated": truncated,
            **{k: v for k, v in info.items() if k not in ("features", "preference")},
        })
        if terminated or truncated:
            self._log_episode(info)
        return obs, reward, terminated, truncated, info

    def _log_episode(self, info: dict[str, Any]) -> None:
        """Append the episode; a full disk is reported (a warning, ``info["log_error"]``,
        ``failed_writes``) instead of ending the rollout, and the log stays whole."""
        try:
            self.log.append({
                **self._meta,
                "return": sum(s["reward"] for s in self._steps),
                "correct": info.get("correct"),
                "total_cost_usd": info.get("total_cost_usd"),
                "total_latency_s": info.get("total_latency_s"),
                "features": info.get("features"),
                "preference": info.get("preference"),
                "steps": self._steps,
            })
        except TrajectoryWriteError as exc:
            self.failed_writes += 1
            info["log_error"] = str(exc)
            warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
