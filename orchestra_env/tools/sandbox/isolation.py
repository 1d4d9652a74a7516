"""OS isolation around the sandboxed interpreter: bubblewrap, or (trusted code only) nothing.

Each :class:`Isolation` turns the interpreter's command line into the command that runs
it inside its namespaces, and says where the child sees its files. ``resolve_isolation``
checks the one asked for. ``"auto"`` means bubblewrap or nothing at all: it never falls
back to a weaker isolation, because untrusted code must not get less than docs/sandbox.md
promises. (An ``unshare`` mode existed; it shared the host's filesystem and, as root, let
programs write anywhere, so it was removed.)
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

NOBODY = (65534, 65534)  # uid, gid a root-run bwrap sandbox drops to
ISOLATION_NAMES = ("auto", "bwrap", "none")
INSTALL_HINT = (
    "install bubblewrap (`sudo apt-get install bubblewrap`, `dnf install bubblewrap`, `apk add bubblewrap`; "
    ".ci/install-system-deps.sh does it) and allow user namespaces "
    "(/proc/sys/user/max_user_namespaces > 0; on Ubuntu 24.04+ an AppArmor profile for bwrap)"
)


class SandboxUnavailable(RuntimeError):
    """The requested isolation cannot run on this machine."""


@dataclass(frozen=True)
class RunDir:
    """Host-side files of one run: ``code/`` holds main.py and the prelude, ``work/`` is the cwd."""

    root: Path

    @classmethod
    def create(cls, owner: tuple[int, int] | None = None) -> RunDir:
        """``owner``: (uid, gid) the work dir is handed to when the child drops root."""
        root = Path(tempfile.mkdtemp(prefix="orchestra-sandbox-"))
        root.chmod(0o711)  # mkdtemp's 0700 would lock a dropped child out of its own cwd
        (root / "code").mkdir(mode=0o755)
        (root / "work").mkdir(mode=0o700)
        if owner is not None:
            os.chown(root / "work", *owner)
        return cls(root)

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def work_dir(self) -> Path:
        return self.root / "work"

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class ChildView:
    """Paths as the sandboxed child sees them."""

    workdir: str
    code_dir: str
    tmpdir: str
    writable: tuple[str, ...]


class Isolation(ABC):
    """One way of wrapping the interpreter in OS isolation."""

    name: ClassVar[str]
    #: True when the child starts as root and the prelude must drop to ``NOBODY``.
    drops_root: bool = False

    @abstractmethod
    def command(self, inner: list[str], run: RunDir) -> list[str]:
        """The full command line that runs ``inner`` isolated."""

    def view(self, run: RunDir) -> ChildView:
        work = str(run.work_dir)
        return ChildView(workdir=work, code_dir=str(run.code_dir), tmpdir=work, writable=(work,))

    def works(self, python: str) -> bool:
        """Probe: can this isolation start ``python`` here? (namespaces may be forbidden)."""
        run = RunDir.create()
        try:
            argv = self.command([python, "-I", "-c", "pass"], run)
            done = subprocess.run(argv, capture_output=True, timeout=30, cwd=run.work_dir, env={"PATH": os.defpath})
            return done.returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False
        finally:
            run.remove()


class NoIsolation(Isolation):
    """TRUSTED CODE ONLY. A plain child process: rlimits, a scrubbed environment, no
    inherited descriptors, a process group and the audit hook. It sees the host's files and
    network. As root it drops to ``nobody``, so it cannot read the host's ``/proc/<pid>``
    (environment, open files) nor signal host processes; as an ordinary user it can."""

    name = "none"

    def __init__(self) -> None:
        self.drops_root = os.geteuid() == 0

    def command(self, inner: list[str], run: RunDir) -> list[str]:
        return list(inner)

    def works(self, python: str) -> bool:
        """As root: can ``nobody`` run this interpreter and read its standard library? (One
        under /root, mode 0700, it cannot.)"""
        if not self.drops_root:
            return True
        try:
            done = subprocess.run(
                [python, "-I", "-c", "import ctypes, json"], capture_output=True, timeout=30, cwd="/",
                env={"PATH": os.defpath}, user=NOBODY[0], group=NOBODY[1], extra_groups=[],
            )
            return done.returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


class BwrapIsolation(Isolation):
    """bubblewrap: private network/pid/ipc/uts namespaces and a minimal read-only filesystem.

    The child sees /usr, /etc and the interpreter's prefixes read-only, a fresh /proc and
    /dev, size-limited private tmpfs at /tmp and /sandbox (the cwd), and its code read-only
    at /code. Nothing else of the host (home directories, the repository, other temp
    files) exists inside.
    """

    name = "bwrap"
    WORKDIR, CODE_DIR, TMPDIR = "/sandbox", "/code", "/tmp"

    def __init__(self, python: str, disk_mb: int) -> None:
        self.python = python
        self.disk_mb = disk_mb
        self.drops_root = os.geteuid() == 0

    def view(self, run: RunDir) -> ChildView:
        return ChildView(self.WORKDIR, self.CODE_DIR, self.TMPDIR, (self.WORKDIR, self.TMPDIR))

    def command(self, inner: list[str], run: RunDir) -> list[str]:
        size = str(self.disk_mb * 1024 * 1024)
        argv = [
            _bwrap() or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
        ]
        argv += _system_links()
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--size", size, "--perms", "1777", "--tmpfs", self.TMPDIR]
        # after /tmp: an interpreter that lives under /tmp (a venv in a temporary clone)
        # is bound on top of the private tmpfs instead of being hidden by it
        argv += _bind_prefixes(_python_prefixes(self.python))
        argv += ["--size", size, "--perms", "1777", "--tmpfs", self.WORKDIR]
        argv += ["--ro-bind", str(run.code_dir), self.CODE_DIR, "--chdir", self.WORKDIR, "--", *inner]
        return argv


def _system_links() -> list[str]:
    """Top-level /bin, /lib... as the host has them: symlinks into /usr, or read-only binds."""
    args: list[str] = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _python_prefixes(python: str) -> list[str]:
    """Directories the interpreter needs: its install prefix and, for our own, the venv."""
    exe = Path(python)
    found = {str(exe.parent.parent), str(exe.resolve().parent.parent)}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        found |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found = {os.path.realpath(p) for p in found} | found
    outermost: list[str] = []
    for p in sorted(found, key=len):
        if p.startswith("/usr/") or p == "/usr" or any(p == q or p.startswith(q + "/") for q in outermost):
            continue
        outermost.append(p)
    return outermost


def _bind_prefixes(prefixes: list[str]) -> list[str]:
    """Read-only binds whose parent directories are created world-traversable (bwrap would
    otherwise copy e.g. /root's 0700, locking out the unprivileged child)."""
    args: list[str] = []
    made: set[str] = set()
    for prefix in prefixes:
        for parent in reversed(Path(prefix).parents):
            p = str(parent)
            if p != "/" and p not in made:
                args += ["--perms", "0755", "--dir", p]
                made.add(p)
        args += ["--ro-bind", prefix, prefix]
    return args


def _bwrap() -> str | None:
    """bubblewrap as found on PATH now (tests hide it by emptying PATH)."""
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def _probe(name: str, python: str, tool: str | None) -> bool:
    if name == "bwrap" and tool is None:
        return False
    return _build(name, python, disk_mb=16).works(python)


def _build(name: str, python: str, disk_mb: int) -> Isolation:
    return BwrapIsolation(python, disk_mb) if name == "bwrap" else NoIsolation()


def available_isolations(python: str = sys.executable) -> list[str]:
    """Isolation names that work on this machine with ``python``, strongest first."""
    return [name for name in ("bwrap", "none") if _probe(name, python, _bwrap())]


def check_isolation_name(name: str) -> None:
    """Raise ``ValueError`` naming the fix for an isolation that does not exist."""
    if name == "unshare":
        raise ValueError(
            "isolation='unshare' was removed: it shared the host's filesystem (as root a program could "
            f"write anywhere). Use isolation='bwrap' ({INSTALL_HINT}), or isolation='none' for trusted code only")
    if name not in ISOLATION_NAMES:
        raise ValueError(f"isolation must be one of {ISOLATION_NAMES}, got {name!r}")


def resolve_isolation(name: str, python: str, disk_mb: int) -> Isolation:
    """The isolation to use. ``auto`` is bubblewrap, or a :class:`SandboxUnavailable` saying
    how to install it: never a silent fall back to ``none``, which is for trusted code only."""
    check_isolation_name(name)
    if name in ("auto", "bwrap") and not _probe("bwrap", python, _bwrap()):
        found = "bwrap was not found on PATH" if _bwrap() is None else "bwrap is installed but cannot create namespaces"
        raise SandboxUnavailable(
            f"isolation={name!r}: no backend here gives the sandbox's guarantees ({found}). To run untrusted "
            f"(policy-written) code, {INSTALL_HINT}. For code you trust, pass isolation='none' "
            "(no filesystem or network isolation; see docs/sandbox.md)")
    if name == "none" and not _probe("none", python, None):
        raise SandboxUnavailable(
            f"isolation='none' as root runs the program as nobody (so it cannot read the host's /proc or signal "
            f"host processes), but nobody cannot run {python!r} (its files are not world-readable, e.g. under "
            "/root). Use isolation='bwrap', or python=<a world-readable interpreter such as /usr/bin/python3>")
    return _build("bwrap" if name == "auto" else name, python, disk_mb)
