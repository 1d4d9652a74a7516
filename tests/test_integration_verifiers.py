"""One Orchestra episode through verifiers' own eval runner, against a scripted OpenAI-compatible
model served on loopback (a fixed list of replies; verifiers' null harness streams its requests).

verifiers launches its harness as a ``uv`` script: ``uv`` must be on PATH, and its first run
installs the harness's own dependencies (openai, mcp, httpx...) from the package index.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest

pytest.importorskip("verifiers.v1", reason="needs the verifiers extra: pip install 'orchestra-env[verifiers]'")

import orchestra_env  # noqa: E402,F401

BIN = os.path.dirname(sys.executable)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ScriptedModel:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 that replies ``replies`` in order:
    a string is a text reply, ``{"name", "arguments"}`` a tool call."""

    def __init__(self, replies: list) -> None:
        self.replies, self.requests = replies, []
        counter = itertools.count()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode(),
                           "application/json")

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append(request)
                i = next(counter)
                reply = outer.replies[min(i, len(outer.replies) - 1)]
                if isinstance(reply, str):
                    delta, finish = {"role": "assistant", "content": reply}, "stop"
                    message = {"role": "assistant", "content": reply}
                else:
                    call = {"id": f"call_{i}", "type": "function",
                            "function": {"name": reply["name"], "arguments": json.dumps(reply["arguments"])}}
                    delta = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}
                    message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
                base = {"id": f"c{i}", "created": 0, "model": request.get("model", "scripted")}
                usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
                if request.get("stream"):
                    chunks = [
                        {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                        {**base, "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage},
                    ]
                    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                    self._send(body.encode(), "text/event-stream")
                else:
                    self._send(json.dumps({**base, "object": "chat.completion", "usage": usage, "choices": [
                        {"index": 0, "message": message, "finish_reason": finish}]}).encode(), "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "ScriptedModel":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


needs_uv = pytest.mark.skipif(shutil.which("uv", path=BIN + os.pathsep + os.environ.get("PATH", "")) is None,
                              reason="verifiers runs its harness with uv: pip install uv")


@pytest.fixture
def vf_process(monkeypatch, tmp_path):
    """What verifiers' subprocesses need: uv on PATH, this checkout importable, a key variable."""
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("SCRIPTED_KEY", "not-a-secret")
    monkeypatch.chdir(tmp_path)  # verifiers writes its outputs/ here


@needs_uv
def test_one_episode_through_verifiers_runner(vf_process):
    from verifiers.v1.cli.eval.runner import run_eval

    from orchestra_env.integrations.verifiers_env import eval_config

    gold = gym.make("Orchestra/FRAMES-v0").unwrapped.tasks[0].answer
    replies = ["this is not an action", json.dumps({"tool": "answer", "arguments": {"answer": gold}})]
    with ScriptedModel(replies) as model:
        config = eval_config("Orchestra/FRAMES-v0", model="scripted", base_url=f"http://127.0.0.1:{model.port}/v1",
                             api_key_var="SCRIPTED_KEY", n=1, seed=5)
        episodes = asyncio.run(asyncio.wait_for(run_eval(config), timeout=600))

    assert len(episodes) == 1 and episodes[0].ok, episodes[0].errors
    (trace,) = episodes[0].traces
    # the same two actions in process, on gym.make with the same seed and task
    env = gym.make("Orchestra/FRAMES-v0")
    env.reset(seed=5, options={"task_index": 0})
    rewards = [env.step(reply)[1] for reply in replies]
    assert trace.rewards["orchestra_reward"].score == pytest.approx(sum(rewards))
    assert sum(rewards) == pytest.approx(1.0 - 0.1)  # correct answer, one format penalty
    assert trace.metrics["correct"] == 1.0 and trace.metrics["finished"] == 1.0
    # the model saw the task and the tools, then the env's format error as the next user turn
    first = model.requests[0]["messages"][-1]["content"]
    assert gym.make("Orchestra/FRAMES-v0").unwrapped.tasks[0].question[:40] in first and '"name": "answer"' in first
    assert model.requests[1]["messages"][-1]["content"].startswith("Invalid action")


@needs_uv
def test_tools_as_a_verifiers_toolset(vf_process):
    """The env's tools served as a verifiers Toolset (MCP, one server per rollout): the harness
    offers them as native tools, the scripted model calls them, the task scores the env's return."""
    from verifiers.v1.cli.eval.runner import run_eval

    from orchestra_env.integrations.verifiers_tools import eval_config

    env = gym.make("Orchestra/FRAMES-v0")
    gold = env.unwrapped.tasks[0].answer
    calls = [{"name": "search", "arguments": {"bogus": 1}}, {"name": "answer", "arguments": {"answer": gold}}]
    with ScriptedModel([*calls, "done"]) as model:
        config = eval_config("Orchestra/FRAMES-v0", model="scripted", base_url=f"http://127.0.0.1:{model.port}/v1",
                             api_key_var="SCRIPTED_KEY", n=1, seed=5)
        episodes = asyncio.run(asyncio.wait_for(run_eval(config), timeout=600))

    assert len(episodes) == 1 and episodes[0].ok, episodes[0].errors
    (trace,) = episodes[0].traces
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in model.requests[0]["tools"]}
    assert offered == {s["function"]["name"]: s["function"]["parameters"] for s in env.unwrapped.tool_schemas}
    env.reset(seed=5, options={"task_index": 0})
    rewards = [env.step({"tool": c["name"], "arguments": c["arguments"]})[1] for c in calls]
    assert trace.rewards["orchestra_reward"].score == pytest.approx(sum(rewards))
    assert sum(rewards) == pytest.approx(1.0 - 0.1)  # bad arguments cost the format penalty, then correct
    assert trace.metrics["correct"] == 1.0 and trace.metrics["turns"] == 2.0
    # the bad call's validation error came back to the model as the tool result
    tool_turns = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_turns and "Invalid arguments" in json.dumps(tool_turns[0])
