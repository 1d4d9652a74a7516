"""Nothing lost: atomic episode lines, repair after a kill, resume without duplicates, no secrets."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from orchestra_env.trajectories import RecordTrajectories, TrajectoryLog, redact
from toy_env import ToyEnv

TESTS = Path(__file__).parent


def test_each_finished_episode_is_one_complete_line(tmp_path):
    env = RecordTrajectories(ToyEnv(charge_orchestrator=False), tmp_path / "t.jsonl")
    for seed in range(3):
        env.reset(seed=seed)
        env.step({"tool": "square", "arguments": {"x": 2}})
        env.step({"tool": "submit", "arguments": {"answer": "4"}})
    env.reset(seed=9)
    env.step({"tool": "square", "arguments": {"x": 1}})  # unfinished: not logged
    records = list(TrajectoryLog(tmp_path / "t.jsonl").records())
    assert len(records) == 3
    r = records[0]
    assert len(r["steps"]) == 2 and r["steps"][0]["cost_usd"] == 0.01 and r["steps"][0]["tool"] == "square"
    assert r["total_cost_usd"] == 0.01 and r["features"]["calls/square"] == 1


def test_repair_drops_a_partial_tail_and_completed_lists_keys(tmp_path):
    log = TrajectoryLog(tmp_path / "t.jsonl")
    log.append({"key": "a", "x": 1})
    log.append({"key": "b", "x": 2})
    with open(log.path, "ab") as fh:
        fh.write(b'{"key": "c", "x"')
    assert log.completed() == {"a", "b"}
    assert log.repair() > 0
    assert log.path.read_bytes().endswith(b"\n") and log.completed() == {"a", "b"}


def test_secrets_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "hunter2hunter2")
    log = TrajectoryLog(tmp_path / "t.jsonl")
    log.append({"key": "k", "text": "key sk-test-abcdefghijklmnopqrstuvwxyz and hunter2hunter2 and tvly-ABCDEFGHIJKLMNOPQRST"})
    raw = log.path.read_text()
    assert "abcdefghijklmnop" not in raw and "hunter2" not in raw and "tvly-ABC" not in raw
    assert raw.count("[REDACTED]") == 3
    assert redact("nothing secret here", secrets=[]) == "nothing secret here"


RUNNER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from orchestra_env.trajectories import RecordTrajectories
    from toy_env import ToyEnv
    env = RecordTrajectories(ToyEnv(charge_orchestrator=False), {path!r})
    done = env.log.completed()
    for i in range(40):
        key = f"episode-{{i}}"
        if key in done:
            continue
        env.reset(seed=i, options={{"episode_key": key}})
        env.step({{"tool": "square", "arguments": {{"x": 2}}}})
        env.step({{"tool": "submit", "arguments": {{"answer": "4"}}}})
        time.sleep(0.02)
""")


def test_a_sigkilled_run_resumes_without_duplicates_or_gaps(tmp_path):
    path = tmp_path / "run.jsonl"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER.format(tests=str(TESTS), path=str(path)))
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.time() + 60
    while time.time() < deadline and len(TrajectoryLog(path).completed()) < 5:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = TrajectoryLog(path).completed()
    assert 5 <= len(first) < 40
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    keys = [json.loads(line)["key"] for line in path.read_text().splitlines()]
    assert sorted(keys) == sorted(f"episode-{i}" for i in range(40))
    assert len(keys) == len(set(keys))


# ----- full disks and torn tails ------------------------------------------------------

FILLER = textwrap.dedent("""
    import json, random, resource, sys
    sys.path.insert(0, {repo!r})
    from orchestra_env.trajectories import TrajectoryLog, TrajectoryWriteError
    if {fsize} > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))
    log = TrajectoryLog({path!r})
    rng = random.Random(0)
    ok, failed, failed_then_ok = [], [], False
    for i in range(60):
        record = {{"key": f"ep-{{i}}", "pad": "x" * rng.choice([200, 3000, 12000])}}
        try:
            log.append(record)
            ok.append(record["key"])
            failed_then_ok |= bool(failed)
        except TrajectoryWriteError as exc:
            failed.append(str(exc))
    raw = open({path!r}, "rb").read()
    print(json.dumps({{"ok": ok, "read": [r["key"] for r in log.records()], "failed": failed,
                      "failed_then_ok": failed_then_ok, "ends_whole": raw.endswith(b"\\n"),
                      "lines": raw.count(b"\\n")}}))
""")


def _fill(path: Path, fsize: int = 0, wrap: list[str] | None = None) -> dict:
    script = path.parent.parent / f"filler-{path.parent.name}.py"  # outside a small mount
    script.write_text(FILLER.format(repo=str(TESTS.parent), path=str(path), fsize=fsize))
    done = subprocess.run([*(wrap or []), sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_nothing_reported_is_lost(out: dict) -> None:
    assert out["failed"], "the limit was never reached: the test proves nothing"
    assert out["read"] == out["ok"]  # every append that returned is read back, in order
    assert out["lines"] == len(out["ok"]) and out["ends_whole"]
    assert out["failed_then_ok"]  # after a failure, a record that fits is written whole
    assert all("not written" in f for f in out["failed"])


def test_file_size_limit_cuts_the_partial_record_and_reports_it(tmp_path):
    _assert_nothing_reported_is_lost(_fill(tmp_path / "t.jsonl", fsize=60_000))


def test_full_filesystem_cuts_the_partial_record_and_reports_it(tmp_path):
    """A real ENOSPC: a 64 KiB tmpfs mounted in a private mount namespace (root only)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        import pytest

        pytest.skip("mounting a small tmpfs needs root and util-linux unshare")
    mnt = tmp_path / "small"
    mnt.mkdir()
    wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            f'mount -t tmpfs -o size=64k tmpfs "{mnt}" && exec "$0" "$@"']
    out = _fill(mnt / "t.jsonl", wrap=wrap)
    assert all("disk full" in f for f in out["failed"]), out["failed"][:1]
    _assert_nothing_reported_is_lost(out)
    assert not (mnt / "t.jsonl").exists()  # it lived in the private mount only


TORN_TAILS = {
    "partial line": b'{"key": "c", "x"',
    "object without newline": b'{"key": "c"}',
    "zero-filled block": b"\x00" * 4096,
    "zeros then newline": b"\x00\x00\x00\n",
    "half line with newline": b'{"key": "c", "x\n',
    "not an object": b"[1, 2]\n",
    "two torn lines": b'{"key": "c"\n{"key": "d", ',
    "invalid utf-8": b'{"key": "\xff\xfe"}\n',
}


import pytest  # noqa: E402


@pytest.mark.parametrize("tail", list(TORN_TAILS))
def test_repair_cuts_every_kind_of_torn_tail(tmp_path, tail):
    log = TrajectoryLog(tmp_path / "t.jsonl")
    log.append({"key": "a", "x": 1})
    log.append({"key": "b", "text": "é" * 70_000})  # longer than one read-back block
    whole = log.path.read_bytes()
    with open(log.path, "ab") as fh:
        fh.write(TORN_TAILS[tail])
    assert log.repair() == len(TORN_TAILS[tail])
    assert log.path.read_bytes() == whole
    log.append({"key": "z"})
    assert [r["key"] for r in log.records()] == ["a", "b", "z"]


def test_append_after_a_torn_tail_without_repair_is_still_whole(tmp_path):
    log = TrajectoryLog(tmp_path / "t.jsonl")
    log.append({"key": "a"})
    with open(log.path, "ab") as fh:
        fh.write(b'{"key": "torn", "x')  # another writer died mid-record
    log.append({"key": "b"})
    assert [r["key"] for r in log.records()] == ["a", "b"]


def test_wrapper_reports_a_failed_write_and_the_rollout_goes_on(tmp_path, monkeypatch):
    from orchestra_env.trajectories import TrajectoryWriteError

    env = RecordTrajectories(ToyEnv(charge_orchestrator=False), tmp_path / "t.jsonl")

    def full(record):
        raise TrajectoryWriteError(28, "trajectory record of 10 bytes not written (disk full)")

    monkeypatch.setattr(env.log, "append", full)
    env.reset(seed=0)
    env.step({"tool": "square", "arguments": {"x": 2}})
    with pytest.warns(RuntimeWarning, match="disk full"):
        *_, info = env.step({"tool": "submit", "arguments": {"answer": "4"}})
    assert "disk full" in info["log_error"] and env.failed_writes == 1
    monkeypatch.undo()
    env.reset(seed=1)
    env.step({"tool": "square", "arguments": {"x": 2}})
    *_, info = env.step({"tool": "submit", "arguments": {"answer": "4"}})
    assert "log_error" not in info and len(list(env.log.records())) == 1
