"""The warm pool: pre-started interpreters keep every guarantee of a cold start.

The hostile corpus runs on the warm path in tests/test_sandbox_matrix.py (column
``bwrap-warm``); these tests cover what is particular to a pool: a spare is never reused,
a dead spare is never handed out, spares outlive the thread that started them, and die
with the pool.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from orchestra_env.tools.sandbox import SubprocessSandbox, available_isolations

pytestmark = pytest.mark.skipif("bwrap" not in available_isolations(),
                                reason="bubblewrap unavailable (run .ci/install-system-deps.sh)")


@pytest.fixture
def box():
    sandbox = SubprocessSandbox(timeout_s=5, memory_mb=512, warm_pool=2)
    assert sandbox.warm_up() == 2
    yield sandbox
    sandbox.close()


def test_each_spare_runs_one_program_and_leaves_nothing_to_the_next(box):
    first = box.run("open('/tmp/left', 'w').write('x'); open('mine', 'w').write('y'); print('wrote')")
    box.warm_up()
    second = box.run("import os; print(os.path.exists('/tmp/left'), os.listdir('.'))")
    assert first.ok and second.ok and box.warm_runs == 2
    assert second.stdout.strip() == "False []"


def test_a_run_with_other_limits_starts_cold(box):
    assert box.run("print(1)", timeout_s=3).stdout == "1\n" and box.warm_runs == 0
    assert box.run("print(2)").stdout == "2\n" and box.warm_runs == 1


def test_the_deadline_holds_on_the_warm_path(box):
    time.sleep(0.5)  # the spare's start-up is not the program's time, nor is its wait
    result = box.run("while True: pass", timeout_s=5)
    assert result.timed_out and 5.0 <= result.wall_s < 6.0 and box.warm_runs == 1


def test_a_spare_killed_from_outside_is_never_handed_out(box):
    for worker in list(box._pool._ready):
        os.killpg(worker.proc.pid, 9)
        worker.proc.wait()
    result = box.run("print('fresh')")
    assert result.ok and result.stdout == "fresh\n" and box.warm_runs == 0


def test_spares_outlive_the_thread_that_started_them():
    """PR_SET_PDEATHSIG fires when the forking *thread* exits; the pool forks from its own."""
    made: list[SubprocessSandbox] = []
    thread = threading.Thread(target=lambda: made.append(SubprocessSandbox(warm_pool=1)) or made[0].warm_up())
    thread.start()
    thread.join()
    time.sleep(0.3)
    try:
        result = made[0].run("print('alive')")
        assert result.stdout == "alive\n" and made[0].warm_runs == 1
    finally:
        made[0].close()


def test_close_kills_every_spare():
    box = SubprocessSandbox(warm_pool=2)
    box.warm_up()
    procs = [w.proc for w in box._pool._ready]
    box.close()
    assert all(p.poll() is not None for p in procs)


def test_a_forked_child_that_finishes_does_not_end_the_parents_run():
    box = SubprocessSandbox(warm_pool=1, audit_hook=False)
    box.warm_up()
    code = ("import os, time\nif os.fork() == 0:\n    raise SystemExit(0)\nos.wait()\ntime.sleep(0.2)\n"
            "print('parent finished')\n")
    result = box.run(code)
    box.close()
    assert result.ok and result.stdout == "parent finished\n", result


def test_warm_empty_run_is_faster_than_cold():
    cold = SubprocessSandbox(warm_pool=0)
    warm = SubprocessSandbox(warm_pool=1)
    try:
        cold_s, warm_s = [], []
        for _ in range(5):
            cold_s.append(cold.run("").wall_s)
            warm.warm_up()
            time.sleep(0.05)
            start = time.perf_counter()
            assert warm.run("").ok
            warm_s.append(time.perf_counter() - start)
        assert warm.warm_runs == 5
        assert sorted(warm_s)[2] < sorted(cold_s)[2], (warm_s, cold_s)
    finally:
        warm.close()


@pytest.mark.parametrize("warm_pool", [0, 1])
def test_a_program_that_finishes_leaves_no_setsid_grandchild(warm_pool):
    """The run ends on the prelude's 'done', before the namespace is torn down: what the
    program left behind must still die with it."""
    import uuid
    from pathlib import Path

    marker = f"left-behind-{uuid.uuid4().hex}"
    box = SubprocessSandbox(warm_pool=warm_pool, audit_hook=False)
    box.warm_up()
    code = ("import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', {marker!r}], start_new_session=True)\n"
            "print('spawned')\n")
    try:
        result = box.run(code)
        assert result.ok and result.stdout == "spawned\n" and box.warm_runs == warm_pool
    finally:
        box.close()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive


def _cmdline_has(proc_dir, marker: str) -> bool:
    try:
        if marker.encode() not in (proc_dir / "cmdline").read_bytes():
            return False
        return (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_forked_process_gets_its_own_pool_and_leaves_the_parents_alone():
    """AsyncVectorEnv forks workers after envs may have run code: a child must never use
    (or hold the pipes of) the parent's spares."""
    box = SubprocessSandbox(warm_pool=1)
    box.warm_up()
    parent_spare = box._pool._ready[0]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: runs on a fresh pool of its own
        try:
            result = box.run("print('child')")
            os.write(write_end, f"{result.stdout.strip()} {box.warm_runs}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_said = os.read(read_end, 100).decode()
    os.close(read_end)
    assert child_said == "child 0" and os.waitstatus_to_exitcode(status) == 0
    assert parent_spare.proc.poll() is None  # the parent's spare is untouched, and serves it
    result = box.run("import sys; print(sys.stdin.read())", stdin="parent")
    assert result.stdout == "parent\n" and box.warm_runs == 1
    box.close()


# ------------------------------------------------------------- a SIGKILLed host leaves no spare
_HOST = """
import os, subprocess, sys, time
from orchestra_env.tools.sandbox import SubprocessSandbox
box = SubprocessSandbox(timeout_s=5, memory_mb=512, warm_pool=2)
assert box.warm_up() == 2
holder = None
if sys.argv[1] == "pipes-held-elsewhere":  # a process that outlives us keeps the spares' stdin open
    fds = [w.proc.stdin.fileno() for w in box._pool._ready]
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=fds)
print(holder.pid if holder else 0, *[w.proc.pid for w in box._pool._ready], flush=True)
if sys.argv[1] == "churn":  # killed while spares are being started and handed out
    sys.stdin.readline()
    while True:
        box.run("print(1)")
time.sleep(60)
"""


def _spare_processes(marker: str) -> list[str]:
    """Live processes whose command line names ``marker`` (each spare's bwrap binds its run
    folder, which lies under the host's TMPDIR)."""
    from pathlib import Path

    return [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]


@pytest.mark.parametrize("case", ["idle", "churn", "pipes-held-elsewhere"])
def test_a_sigkilled_host_leaves_no_spare_behind(case, tmp_path):
    """Nothing in a SIGKILLed host runs, so its spares must end without it. Two reapers do
    that, either alone enough: bwrap's ``--die-with-parent`` (the kernel's parent-death signal
    on bwrap itself and the sandbox) and the spare's stdin, whose end-of-file ends a prelude
    still waiting for its program. ``pipes-held-elsewhere`` defeats the second (a surviving
    process keeps the write ends open); ``churn`` kills the host while spares start."""
    import signal
    import subprocess
    import sys

    tmp = tmp_path / "host-tmp"
    tmp.mkdir()
    tmp.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(tmp)}
    stderr = open(tmp_path / "host.err", "w+")
    host = subprocess.Popen([sys.executable, "-c", _HOST, case], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    holder = 0
    try:
        holder, *spares = map(int, host.stdout.readline().split())
        assert len(spares) == 2 and _spare_processes(str(tmp)), "the host started no spare"
        if case == "churn":
            host.stdin.write("go\n")
            host.stdin.flush()
            time.sleep(1.0)
        assert host.poll() is None, f"the host ended by itself: {(tmp_path / 'host.err').read_text()[-2000:]}"
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        deadline = time.monotonic() + 10.0
        while (left := _spare_processes(str(tmp))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"processes of the killed host's spares still run: {left}"
    finally:
        if host.poll() is None:
            host.kill()
        host.wait(timeout=10)
        stderr.close()
        if holder:
            os.kill(holder, signal.SIGKILL)


def test_a_fork_during_a_spares_start_leaves_the_child_no_copy_of_its_pipes():
    """The stdin reaper needs the host to hold the only write end. A fork while a spare is
    being started (its pipes exist, it is not listed yet) must wait until it is listed, so
    the child closes its copy with the others (without the wait this child keeps it open)."""
    import subprocess

    from orchestra_env.tools.sandbox.isolation import RunDir
    from orchestra_env.tools.sandbox.pool import WarmPool, Worker

    started, fds = threading.Event(), []

    def slow_spawn() -> Worker:
        proc = subprocess.Popen(["sleep", "30"], stdin=subprocess.PIPE, start_new_session=True)
        report = os.pipe()
        os.close(report[1])
        fds.append(proc.stdin.fileno())
        started.set()
        time.sleep(0.5)  # the fork below lands here
        return Worker(proc, RunDir.create(), report[0])

    pool = WarmPool(slow_spawn, size=1)
    try:
        assert started.wait(10)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.fstat(fds[0])
                os.write(write_end, b"open")
            except OSError:
                os.write(write_end, b"closed")
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        child_saw = os.read(read_end, 10)
        os.close(read_end)
        assert child_saw == b"closed"
    finally:
        pool.close()
