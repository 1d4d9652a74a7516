"""Hardening tests for the Python sandbox (issue "Hardening").

Every hostile program in tests/hostile/ must: return within its time limit plus a small
margin, give a clear error, leave the host (processes, files, listening sockets)
untouched, and leave the sandbox usable. Each protection layer has a test that runs it
*alone* (the audit hook switched off where an OS layer is under test), so removing that
layer makes the test fail.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from orchestra_env.tools.sandbox import (
    DockerConfig, DockerSandbox, DockerUnavailable, ExecResult, Sandbox, SandboxUnavailable,
    SubprocessConfig, SubprocessSandbox, available_isolations, make_sandbox,
)
from orchestra_env.tools.sandbox import isolation as isolation_module
from orchestra_env.tools.sandbox.result import OutputCapture

HOSTILE = Path(__file__).parent / "hostile"
REPO = Path(__file__).resolve().parents[1]
MARGIN_S = 3.0  # start-up + kill + cleanup allowance beyond the time limit
IS_ROOT = os.geteuid() == 0



def hostile(name: str, **fill: object) -> str:
    """Source of tests/hostile/<name>.py with ``__KEY__`` placeholders filled in."""
    source = (HOSTILE / f"{name}.py").read_text()
    for key, value in fill.items():
        source = source.replace(f"__{key.upper()}__", str(value))
    return source


def _none_python() -> str | None:
    """As root, ``none`` runs the child as nobody, who cannot read an interpreter under /root."""
    return next((p for p in (sys.executable, "/usr/bin/python3") if Path(p).exists() and "none" in available_isolations(p)), None)


NONE_PYTHON = _none_python()
#: every backend this machine can run ("none" with an interpreter its child can read)
ISOLATIONS = [i for i in available_isolations() if i != "none"] + (["none"] if NONE_PYTHON else [])
needs_bwrap = pytest.mark.skipif(
    "bwrap" not in ISOLATIONS, reason="bubblewrap unavailable (run .ci/install-system-deps.sh)")
DEFAULT = ISOLATIONS[0]  # bwrap where it works; these tests are about one layer, not the backend


def sandbox(isolation: str, **overrides: object) -> SubprocessSandbox:
    settings: dict[str, object] = {"timeout_s": 5, "memory_mb": 512, "max_file_mb": 16, **overrides}
    if isolation == "none":
        if NONE_PYTHON is None:
            pytest.skip("no interpreter the `none` child (nobody, as root) can read")
        settings.setdefault("python", NONE_PYTHON)
    return SubprocessSandbox(isolation=isolation, **settings)


def assert_contained(box: SubprocessSandbox, result: ExecResult, limit_s: float) -> None:
    """Returned in time, said why, and the sandbox still works."""
    assert result.wall_s < limit_s + MARGIN_S, result
    assert result.error, result
    again = box.run("print(6 * 7)")
    assert again.ok and again.stdout == "42\n", again


def alive_with(marker: str, grace_s: float = 1.0) -> list[int]:
    """Host pids (not zombies) whose command line contains ``marker``, after giving the
    kernel ``grace_s`` to finish tearing down a dead pid namespace (that is asynchronous)."""
    deadline = time.monotonic() + grace_s
    while (found := _alive_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _alive_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


# ----- ordinary programs -------------------------------------------------------------

@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_ordinary_program_prints_reads_stdin_and_writes_its_cwd(isolation: str) -> None:
    code = (
        "import math, sys\n"
        "data = sys.stdin.read()\n"
        "open('notes.txt', 'w').write(data * 2)\n"
        "print(math.factorial(20), open('notes.txt').read())\n"
    )
    result = sandbox(isolation).run(code, stdin="ab")
    assert result.ok and result.error is None, result
    assert result.stdout == f"{2432902008176640000} abab\n"


def test_numpy_works_inside_the_memory_limit() -> None:
    pytest.importorskip("numpy")
    result = sandbox(ISOLATIONS[0]).run("import numpy as np; print(int(np.arange(10).sum()))")
    assert result.ok and result.stdout == "45\n", result


def test_failed_program_reports_exit_code_and_exception() -> None:
    result = sandbox(DEFAULT).run("print('before'); 1 / 0")
    assert result.returncode == 1 and result.stdout == "before\n"
    assert result.error == "exit code 1: ZeroDivisionError: division by zero"
    assert "prelude" not in result.stderr.splitlines()[1]  # traceback starts at the user's code


def test_invalid_text_is_reported_not_raised() -> None:
    result = sandbox(DEFAULT).run("print('\ud800')", stdin="\udcff")
    assert result.returncode == 1 and result.error.startswith("exit code 1: UnicodeDecodeError")


def test_work_directory_is_fresh_and_deleted() -> None:
    box = sandbox(DEFAULT)
    first = box.run("import os; open('left.txt', 'w').write('x'); print(os.getcwd())")
    second = box.run("import os; print(os.listdir('.'))")
    assert first.ok and second.ok
    assert not Path(first.stdout.strip()).exists()
    assert second.stdout.strip() == "[]"


# ----- environment, rlimits, output ---------------------------------------------------

@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_host_env_secrets_are_invisible(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-host-secret")
    result = sandbox(isolation, audit_hook=False).run(hostile("read_secrets", secret_file="/nonexistent"))
    assert result.ok, result
    assert "env: {}" in result.stdout
    assert "host-secret" not in result.stdout + result.stderr
    names = sandbox(isolation).run("import os; print(sorted(os.environ))").stdout
    assert set(eval(names)) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PWD",
                                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_infinite_loop_is_killed_at_the_wall_clock_limit(isolation: str) -> None:
    box = sandbox(isolation)
    result = box.run(hostile("infinite_loop"), timeout_s=1.0)
    assert result.timed_out and result.error == "time limit 1s exceeded"
    assert result.wall_s >= 1.0
    assert_contained(box, result, 1.0)


def test_cpu_spin_is_stopped_by_the_cpu_limit_before_the_wall_limit() -> None:
    box = sandbox(ISOLATIONS[0], cpu_s=1)
    result = box.run(hostile("cpu_spin"), timeout_s=20)
    assert not result.timed_out  # 1 CPU-second passes long before 20 wall seconds, even on a busy host
    assert result.error == "CPU time limit 1s exceeded"
    assert_contained(box, result, 20)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_memory_hog_hits_the_memory_limit(isolation: str) -> None:
    box = sandbox(isolation, memory_mb=256, audit_hook=False)
    result = box.run(hostile("memory_hog"))
    assert result.error == "memory limit 256 MB exceeded"
    if result.peak_rss_mb is not None:
        assert result.peak_rss_mb <= 256
    assert_contained(box, result, 5)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_huge_file_hits_the_file_size_limit(isolation: str) -> None:
    box = sandbox(isolation, max_file_mb=8, audit_hook=False)
    result = box.run(hostile("huge_file"))
    assert result.error == "file size limit 8 MB exceeded"
    assert "wrote 1 GiB" not in result.stdout
    assert_contained(box, result, 5)


def test_core_dumps_are_disabled() -> None:
    result = sandbox(DEFAULT).run("import resource; print(resource.getrlimit(resource.RLIMIT_CORE))")
    assert result.stdout.strip() == "(0, 0)"


def test_huge_stdout_is_capped_and_the_writer_stopped() -> None:
    box = sandbox(ISOLATIONS[0], max_output_chars=1000)
    result = box.run(hostile("huge_stdout"), timeout_s=30)
    assert not result.timed_out  # stopped for its output, long before the time limit
    assert result.error.startswith("output limit exceeded")
    assert len(result.stdout) < 1200 and "bytes cut by the sandbox" in result.stdout
    assert_contained(box, result, 30)


def test_long_output_is_truncated_with_a_marker() -> None:
    result = sandbox(DEFAULT, max_output_chars=100).run("print('a' * 500); print('END')")
    assert result.ok and result.error == "output truncated"
    assert result.stdout.startswith("a" * 50) and result.stdout.endswith("END\n")
    assert "405 bytes cut" in result.stdout  # 505 written, 100 kept
    assert len(result.stdout) < 200


def test_output_capture_keeps_head_and_tail() -> None:
    cap = OutputCapture(10)
    for piece in (b"01234", b"56789", b"abcdefghij", b"KLMNO"):
        cap.feed(piece)
    assert cap.total_bytes == 25 and cap.cut_bytes == 15
    text = cap.text()
    assert text.startswith("01234") and text.endswith("KLMNO") and "15 bytes cut" in text


# ----- processes ----------------------------------------------------------------------

@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_orphaned_grandchild_dies_with_the_run(isolation: str) -> None:
    marker = f"orphan-{uuid.uuid4().hex}"
    box = sandbox(isolation, audit_hook=False)
    result = box.run(hostile("orphan", marker=marker, setsid=0), timeout_s=1.5)
    assert result.timed_out and "spawned" in result.stdout
    assert alive_with(marker) == []


@pytest.mark.parametrize("isolation", [i for i in ISOLATIONS if i != "none"])
def test_pid_namespace_kills_a_grandchild_that_left_the_session(isolation: str) -> None:
    marker = f"escapee-{uuid.uuid4().hex}"
    result = sandbox(isolation, audit_hook=False).run(hostile("orphan", marker=marker, setsid=1), timeout_s=1.5)
    assert result.timed_out and "spawned" in result.stdout
    assert alive_with(marker) == []


def test_fork_bomb_is_refused_by_the_audit_hook() -> None:
    box = sandbox(DEFAULT)
    result = box.run(hostile("fork_bomb"), timeout_s=3)
    assert result.error.startswith("blocked by the sandbox: forking")
    assert_contained(box, result, 3)


@pytest.mark.skipif(IS_ROOT and "bwrap" not in ISOLATIONS,
                    reason="root is exempt from RLIMIT_NPROC; only bwrap (which drops to nobody) limits it")
def test_fork_bomb_is_stopped_by_the_process_limit() -> None:
    box = sandbox(ISOLATIONS[0], audit_hook=False, max_processes=32)
    bomb = "import os, signal\nn = 0\nwhile n < 1000:\n    os.fork() or signal.pause()\n    n += 1\n"  # linear, so bounded
    result = box.run(bomb, timeout_s=3)
    assert not result.timed_out, result
    assert result.error == "process limit 32 exceeded"
    assert_contained(box, result, 3)


@needs_bwrap
def test_exponential_fork_bomb_is_contained_by_bwrap() -> None:
    box = sandbox("bwrap", audit_hook=False, max_processes=32)
    result = box.run(hostile("fork_bomb"), timeout_s=2)
    assert_contained(box, result, 2)


@pytest.mark.skipif(not IS_ROOT or "bwrap" not in ISOLATIONS, reason="the uid drop applies to root + bwrap")
def test_bwrap_child_runs_as_nobody_not_root() -> None:
    result = sandbox("bwrap").run("import os; print(os.getuid(), os.getgid(), os.getgroups())")
    assert result.stdout.strip() == "65534 65534 []"


def test_spawning_a_shell_is_refused_by_the_audit_hook(tmp_path: Path) -> None:
    target = tmp_path / "shell-was-here"
    box = sandbox(DEFAULT)
    result = box.run(hostile("spawn_shell", target=target))
    assert result.error.startswith("blocked by the sandbox: running a shell command")
    assert "shell ran" not in result.stdout and not target.exists()
    assert_contained(box, result, 5)


# ----- filesystem ---------------------------------------------------------------------

def outside_targets(tmp_path: Path) -> list[Path]:
    tag = uuid.uuid4().hex
    return [Path(f"/tmp/pwned-{tag}"), REPO / f"pwned-{tag}", Path.home() / f"pwned-{tag}", tmp_path / "pwned"]


@pytest.mark.parametrize(("isolation", "audit_hook"), [("none", True), ("bwrap", False), ("bwrap", True)])
def test_writes_outside_the_work_directory_never_reach_the_host(
    isolation: str, audit_hook: bool, tmp_path: Path
) -> None:
    if isolation not in ISOLATIONS:
        pytest.skip(f"{isolation} unavailable (run .ci/install-system-deps.sh)")
    targets = outside_targets(tmp_path)
    box = sandbox(isolation, audit_hook=audit_hook)
    try:
        result = box.run(hostile("write_outside", targets=json.dumps([str(t) for t in targets]).replace('"', '\\"')))
        assert [t for t in targets if t.exists()] == []
        assert result.stdout.count("refused") >= 3  # /tmp may be the sandbox's own private /tmp
    finally:
        for t in targets:
            t.unlink(missing_ok=True)
    assert box.run("print(1)").ok


def test_audit_hook_refuses_symlink_escape(tmp_path: Path) -> None:
    target = tmp_path / "via-link"
    code = f"import os\nos.symlink({str(target)!r}, 'link')\nopen('link', 'w').write('x')\n"
    result = sandbox("none").run(code)
    assert result.error.startswith("blocked by the sandbox: writing")
    assert not target.exists()


@needs_bwrap
def test_bwrap_hides_host_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host-only")
    result = sandbox("bwrap", audit_hook=False).run(hostile("read_secrets", secret_file=secret))
    assert "file refused: FileNotFoundError" in result.stdout
    assert "host-only" not in result.stdout


# ----- network ------------------------------------------------------------------------

@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    yield server
    server.close()


@pytest.mark.parametrize(("isolation", "audit_hook"), [("none", True), ("bwrap", False), ("bwrap", True)])
def test_network_connection_to_a_host_port_fails(isolation: str, audit_hook: bool, listener: socket.socket) -> None:
    if isolation not in ISOLATIONS:
        pytest.skip(f"{isolation} unavailable on this machine")
    box = sandbox(isolation, audit_hook=audit_hook)
    result = box.run(hostile("network", port=listener.getsockname()[1]))
    assert "connected" not in result.stdout and result.returncode != 0
    with pytest.raises(socket.timeout):
        listener.accept()  # nobody ever knocked
    if audit_hook:
        assert result.error.startswith("blocked by the sandbox: network access")
    assert_contained(box, result, 5)


# ----- crashes ------------------------------------------------------------------------

def test_ctypes_loads_libraries_so_scientific_packages_import() -> None:
    """numpy and torch load their C libraries through ctypes; the OS layers contain native code."""
    result = sandbox(DEFAULT).run("import ctypes, ctypes.util; print(ctypes.CDLL(ctypes.util.find_library('m')).abs(-3))")
    assert result.ok and result.stdout == "3\n", result


def test_torch_imports_and_runs_inside_the_sandbox() -> None:
    pytest.importorskip("torch")
    result = sandbox(DEFAULT, memory_mb=4096, timeout_s=60).run(
        "import torch\nprint(int(torch.arange(10).sum()), torch.nn.Linear(4, 2)(torch.ones(1, 4)).shape[-1])")
    assert result.ok and result.stdout == "45 2\n", result


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_segfault_is_reported_and_contained(isolation: str) -> None:
    box = sandbox(isolation, audit_hook=False)
    result = box.run(hostile("segfault"))
    assert result.error == "killed by signal SIGSEGV (segmentation fault)"
    assert_contained(box, result, 5)


def test_ordinary_deep_recursion_is_a_recursion_error() -> None:
    result = sandbox(DEFAULT).run("def f(n): return f(n + 1)\nf(0)")
    assert result.error.startswith("exit code 1: RecursionError")


def test_c_stack_overflow_is_contained() -> None:
    box = sandbox(ISOLATIONS[0])
    result = box.run(hostile("deep_recursion"), timeout_s=10)
    assert result.returncode != 0 and result.error
    assert_contained(box, result, 10)


# ----- construction and other backends ------------------------------------------------

def test_make_sandbox_builds_the_default_and_rejects_unknown_kinds() -> None:
    box = make_sandbox(timeout_s=3)
    assert isinstance(box, Sandbox) and box.isolation == ISOLATIONS[0]
    with pytest.raises(ValueError, match="unknown sandbox kind"):
        make_sandbox("vm")


def test_bad_config_fails_early_with_a_hint() -> None:
    with pytest.raises(ValueError, match="isolation must be one of"):
        SubprocessConfig(isolation="chroot")
    with pytest.raises(ValueError, match="memory_mb"):
        SubprocessConfig(memory_mb=16)


def test_requesting_a_missing_isolation_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation_module, "_probe", lambda name, python, tool: name == "none")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        SubprocessSandbox(isolation="bwrap")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        SubprocessSandbox(isolation="auto")  # never a silent fall back to "none"
    assert SubprocessSandbox(isolation="none").isolation == "none"


class FakeContainer:
    def __init__(self, status: int | None, logs: dict[bool, list[bytes]]) -> None:
        self.status, self.logs_by_stream, self.removed, self.killed = status, logs, False, False
        self.attrs = {"State": {"OOMKilled": False}}

    def start(self) -> None: ...

    def wait(self, timeout: float) -> dict:
        if self.status is None:
            raise TimeoutError("Read timed out.")
        return {"StatusCode": self.status}

    def kill(self) -> None:
        self.killed = True

    def logs(self, stdout: bool, stderr: bool, stream: bool):
        return iter(self.logs_by_stream[stdout])

    def reload(self) -> None: ...

    def remove(self, force: bool) -> None:
        self.removed = True


class FakeClient:
    def __init__(self, container: FakeContainer) -> None:
        self.container, self.created = container, {}
        self.containers = self

    def create(self, **options: object) -> FakeContainer:
        self.created = options
        return self.container


def test_docker_options_isolate_the_container() -> None:
    box = DockerSandbox(DockerConfig(memory_mb=300, max_processes=16), client=FakeClient(FakeContainer(0, {})))
    opts = box.container_options("print(1)", "")
    assert opts["network_mode"] == "none" and opts["read_only"] is True
    assert opts["user"] == "65534:65534" and opts["cap_drop"] == ["ALL"]
    assert opts["mem_limit"] == "300m" and opts["memswap_limit"] == "300m" and opts["pids_limit"] == 16
    assert set(opts["tmpfs"]) == {"/sandbox", "/tmp"} and opts["working_dir"] == "/sandbox"
    assert "OPENAI_API_KEY" not in opts["environment"]


def test_docker_run_kills_on_timeout_and_always_removes_the_container() -> None:
    hung = FakeContainer(None, {True: [b"partial\n"], False: []})
    result = DockerSandbox(client=FakeClient(hung)).run("while True: pass", timeout_s=0.1)
    assert result.timed_out and result.error == "time limit 0.1s exceeded" and result.stdout == "partial\n"
    assert hung.killed and hung.removed
    crashed = FakeContainer(139, {True: [], False: [b"boom\n"]})
    result = DockerSandbox(client=FakeClient(crashed)).run("...")
    assert result.error == "killed by signal SIGSEGV (segmentation fault)" and crashed.removed


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _docker_engine(), reason="no Docker engine answers docker.from_env().ping()")
def test_docker_sandbox_runs_and_has_no_network(listener: socket.socket) -> None:
    box = make_sandbox("docker", timeout_s=30)
    assert box.run("print(6 * 7)").stdout == "42\n"
    result = box.run(hostile("network", port=listener.getsockname()[1]), timeout_s=30)
    assert "connected" not in result.stdout and result.returncode != 0


def test_docker_without_engine_raises_a_clear_error() -> None:
    if _docker_engine():
        pytest.skip("a Docker engine answers here")
    with pytest.raises(DockerUnavailable, match="no Docker engine answers|pip install docker"):
        DockerSandbox()


def test_peak_memory_is_the_programs_own_not_the_large_hosts():
    """A host that holds a lot of memory (a training process with torch loaded) must not
    inflate the child's figure: Linux's ru_maxrss keeps the pre-exec fork image."""
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page: resident in the host
    result = SubprocessSandbox(memory_mb=512).run("a = bytearray(50 * 1024 * 1024); print(len(a))")
    assert result.ok and result.peak_rss_mb is not None
    assert 50 <= result.peak_rss_mb < 200
    del ballast


@needs_bwrap
def test_bwrap_runs_an_interpreter_that_lives_under_tmp(tmp_path):
    """CI clones into a temporary folder: its venv's python is under /tmp, which bwrap
    replaces with a private tmpfs; the interpreter must still be visible inside."""
    import subprocess
    import sys

    venv = Path("/tmp") / f"sandbox-venv-{uuid.uuid4().hex[:8]}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    try:
        result = SubprocessSandbox(python=str(venv / "bin" / "python"), isolation="bwrap").run(
            "import sys; print(sys.prefix)")
        assert result.ok, result.error
        assert result.stdout.strip() == str(venv)
    finally:
        import shutil

        shutil.rmtree(venv, ignore_errors=True)
