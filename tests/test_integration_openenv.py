"""The OpenEnv server, driven by OpenEnv's own ``GenericEnvClient`` over loopback.

One server process per module (started with the same ``main`` the CLI runs), stopped at the end.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("openenv", reason="needs the openenv extra: pip install 'orchestra-env[openenv]'")
from openenv.core.generic_client import GenericEnvClient  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

import orchestra_env  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[1]
MOCK = "Orchestra/Tau2-mock-v0"
SESSIONS = 16
_LOGS = Path(os.environ.get("ORCHESTRA_CACHE", "/tmp")) / "openenv-test-logs"
_LOGS.mkdir(parents=True, exist_ok=True)


def _start(env_id: str, *extra: str) -> tuple[subprocess.Popen, int]:
    # stderr to a file, never an unread pipe: a full pipe would block the server mid-write
    log = open(_LOGS / f"server-{time.monotonic_ns()}.log", "w+")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra_env.integrations.openenv_server", env_id, "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env,
    )
    line = proc.stdout.readline()  # blocks until the server printed its port (or died)
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        log.seek(0)
        raise AssertionError(f"server did not start: {line!r} {log.read()[-2000:]}")
    port = int(match.group(1))
    deadline = time.monotonic() + 60
    import httpx

    while time.monotonic() < deadline:  # bounded wait for uvicorn to accept
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server never became healthy")


@pytest.fixture(scope="module")
def mock_server():
    proc, port = _start(MOCK, "--max-sessions", str(SESSIONS + 2))
    yield proc, port
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _client(port: int) -> GenericEnvClient:
    return GenericEnvClient(base_url=f"http://127.0.0.1:{port}", connect_timeout_s=60, message_timeout_s=120)


SCRIPT = [
    {"tool": "get_users", "arguments": {}},
    {"tool": "create_task", "arguments": {"user_id": "user_1", "title": "write tests"}},
    {"text": "not a tool call at all {"},
    {"tool": "update_task_status", "arguments": {"task_id": "task_1", "status": "completed"}},
]


def test_same_seed_same_episode_as_gym_make(mock_server):
    _, port = mock_server
    env = gym.make(MOCK)
    local_obs, _ = env.reset(seed=7)
    local = [(local_obs["output"], None)]
    for action in SCRIPT:
        a = action.get("text", action)
        obs, reward, term, trunc, info = env.step(a)
        local.append((obs["output"], reward, list(map(float, obs["spent"])), info["cost_usd"]))
    with _client(port).sync() as client:
        first = client.reset(seed=7)
        remote = [(first.observation["output"], None)]
        for action in SCRIPT:
            r = client.step(action)
            remote.append((r.observation["output"], r.reward, r.observation["spent"], r.observation["info"]["cost_usd"]))
    assert remote[0] == local[0]
    for got, want in zip(remote[1:], local[1:]):
        assert got[0] == want[0] and got[1] == pytest.approx(want[1])
        assert np.allclose(got[2], want[2], rtol=1e-6) and got[3] == pytest.approx(want[3])


def test_sixteen_sessions_are_isolated(mock_server):
    """Each session creates its own task; a DB shared between sessions would show the others'."""
    _, port = mock_server

    async def session(i: int) -> list[str]:
        client = _client(port)
        async with client:
            await client.reset(seed=i)
            await client.step({"tool": "create_task", "arguments": {"user_id": "user_1", "title": f"mine-{i}"}})
            await asyncio.sleep(0.2)  # let every other session write first
            r = await client.step({"tool": "get_users", "arguments": {}})
            users = json.loads(r.observation["output"])
            return [u for u in users if u["user_id"] == "user_1"][0]["tasks"]

    async def all_sessions():
        return await asyncio.wait_for(asyncio.gather(*(session(i) for i in range(SESSIONS))), timeout=240)

    remote = asyncio.run(all_sessions())

    def in_process(i: int) -> list[str]:  # the same script on a private env copy
        env = gym.make(MOCK)
        env.reset(seed=i)
        env.step({"tool": "create_task", "arguments": {"user_id": "user_1", "title": f"mine-{i}"}})
        obs = env.step({"tool": "get_users", "arguments": {}})[0]
        return [u for u in json.loads(obs["output"]) if u["user_id"] == "user_1"][0]["tasks"]

    assert remote == [in_process(i) for i in range(SESSIONS)]
    # a DB shared by the sessions would hold all 16 new tasks
    assert max(len(t) for t in remote) < SESSIONS


def test_malformed_actions_get_format_error_observations(mock_server):
    _, port = mock_server
    with _client(port).sync() as client:
        client.reset(seed=0)
        for bad in ({"bogus": 1}, {"tool": 5}, {"arguments": [1, 2]}, {}):
            r = client.step(bad)
            assert r.observation["info"]["format_error"] is True, bad
            assert r.reward == pytest.approx(-0.1), bad  # the env's format penalty, not a server error
            assert r.observation["output"].startswith(("Invalid", "Unknown tool")), r.observation["output"]
        # A well-formed call of a tool that does not exist, or with arguments it does not take:
        # the Tau2 ids run tau2-exact by default, where these are tau2's own errors, unpenalised.
        for bad, text in (({"tool": "no_such_tool", "arguments": {}}, "Error: Tool 'no_such_tool' not found."),
                          ({"tool": "create_task", "arguments": {"nope": True}}, "unexpected keyword argument 'nope'")):
            r = client.step(bad)
            assert r.observation["info"]["format_error"] is False and r.reward == 0.0, bad
            assert text in r.observation["output"], r.observation["output"]
    import httpx

    # the stateless HTTP route too: a fresh env that was never reset answers with an observation
    resp = httpx.post(f"http://127.0.0.1:{port}/step", json={"action": {"bogus": [1]}}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert "call reset() first" in resp.json()["observation"]["output"]


def test_schema_lists_tools_and_space_bounds(mock_server):
    import httpx

    _, port = mock_server
    schema = httpx.get(f"http://127.0.0.1:{port}/schema", timeout=30).json()
    tools = {t["name"] for t in schema["action"]["x-orchestra-tools"]}
    assert tools == {s["function"]["name"] for s in gym.make(MOCK).unwrapped.tool_schemas}
    spent = schema["observation"]["properties"]["spent"]
    assert spent["minItems"] == spent["maxItems"] == 3


def test_session_limit_and_idle_timeout():
    """Past --max-sessions a new connection is refused with OpenEnv's CAPACITY_REACHED; once the
    open session has idled past --idle-timeout it is reaped and its slot is free again."""
    proc, port = _start(MOCK, "--max-sessions", "1", "--idle-timeout", "1")
    try:
        async def refusal(client: GenericEnvClient) -> dict:
            await client.connect()
            # over capacity, the server sends its refusal as soon as the socket opens, then hangs up
            message = await client._receive()
            await client.disconnect()
            return message

        async def run():
            a = _client(port)
            async with a:
                await a.reset(seed=0)
                r = await a.step({"tool": "get_users", "arguments": {}})
                assert "user_1" in r.observation["output"]
                message = await refusal(_client(port))
                assert message["type"] == "error" and message["data"]["code"] == "CAPACITY_REACHED", message
                # a idles; the reaper (every 5 s at most) frees its slot: a bounded wait for b to get in
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    await asyncio.sleep(2)
                    b = _client(port)
                    try:
                        async with b:
                            first = await b.reset(seed=1)
                        return first
                    except (RuntimeError, ConnectionError, OSError, ConnectionClosed):
                        continue
                raise AssertionError("the idle session was never reaped")

        first = asyncio.run(asyncio.wait_for(run(), timeout=90))
        assert first.observation["output"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_listens_on_loopback_only(mock_server):
    proc, port = mock_server
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, timeout=10).stdout
    lines = [line for line in out.splitlines() if re.search(rf":{port}\b", line)]
    assert lines, out
    for line in lines:
        local = line.split()[3]
        assert local == f"127.0.0.1:{port}", line


def test_integrations_do_not_import_agents():
    """orchestra_env never imports agents (the layering rule), integrations included."""
    code = ("import sys, orchestra_env.integrations.openenv_server, orchestra_env.integrations.verifiers_tools; "
            "bad = sorted(m for m in sys.modules if m == 'agents' or m.startswith(('agents.', 'benchmarks'))); "
            "assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
