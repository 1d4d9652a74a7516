"""An Orchestra id as a verifiers v1 taskset whose tools are a verifiers ``Toolset`` (MCP).

The other way in (:mod:`orchestra_env.integrations.verifiers_env`) keeps the env in the eval
process and parses the agent's text. Here the agent's harness calls the env's tools natively
(OpenAI tool calls, through verifiers' MCP boundary):

* :class:`OrchestraToolset` is a per-rollout MCP server (verifiers launches one process per
  rollout) holding one ``gym.make`` copy of the env. It lists the env's tool schemas and runs
  each call as one ``env.step``; the episode's return, verdict, cost and latency go into the
  rollout's state, which verifiers syncs back to the host after every call.
* :class:`OrchestraToolTask` fills that state at setup (id, task, seed) and scores the trace
  with it: ``orchestra_reward`` is the env's return. An episode the agent left without ending
  it scores what it earned so far (format penalties), as failed.

In conversational domains (tau2) the simulated user answers the ``respond`` tool, so every
domain works the same way. The tool server is ``python -m`` this module in verifiers' runtime:
orchestra-env must be importable there (installed, or on ``PYTHONPATH``).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
from pydantic import Field

import orchestra_env  # noqa: F401  (registers the ids)
from orchestra_env.integrations.verifiers_env import OrchestraData, OrchestraTasksetConfig

try:
    import verifiers.v1 as vf
    from mcp.types import CallToolResult, TextContent, Tool
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("The verifiers adapter needs verifiers: pip install 'orchestra-env[verifiers]'") from exc

__all__ = ["OrchestraToolTaskset"]
PLUGIN_ID = "orchestra_verifiers_tools"  # see verifiers_env.PLUGIN_ID
sys.modules.setdefault(PLUGIN_ID, sys.modules[__name__])


class OrchestraState(vf.State):
    """The rollout's state, shared by the tool server (writes) and the task (reads)."""

    env_id: str = ""
    task_index: int = 0
    seed: int = 0
    make_kwargs: dict[str, Any] = Field(default_factory=dict)
    episode_return: float = 0.0
    turns: int = 0
    done: bool = False
    correct: bool = False
    cost_usd: float = 0.0
    latency_s: float = 0.0


class OrchestraToolset(vf.Toolset[vf.ToolsetConfig, OrchestraState]):
    """The env's tools over MCP; one server process, hence one env copy, per rollout."""

    TOOL_PREFIX = None  # advertise the env's tool names bare, as the policy sees them in process

    def __init__(self, config: vf.ToolsetConfig) -> None:
        super().__init__(config)
        self._env: gym.Env | None = None

    def register(self, mcp) -> None:
        # the tool list depends on the rollout's env id, so the handlers are replaced rather
        # than registering static tools (the pattern of verifiers' NeMo Gym toolset)
        mcp.list_tools = self._with_state(self.list_tools)
        mcp.call_tool = self._with_state(self.call_tool)

    def _ensure_env(self) -> gym.Env:
        s = self.state
        if self._env is None:
            self._env = gym.make(s.env_id, **s.make_kwargs)
            self._env.reset(seed=s.seed, options={"task_index": s.task_index})
        return self._env

    async def list_tools(self) -> list[Tool]:
        env = self._ensure_env()
        return [Tool(name=f["name"], description=f.get("description"), input_schema=f.get("parameters") or {})
                for f in (schema["function"] for schema in env.unwrapped.tool_schemas)]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> CallToolResult:
        s = self.state
        if s.done:
            return CallToolResult(content=[TextContent(type="text", text="The episode is over; reply without a tool call.")],
                                  is_error=True)
        env = self._ensure_env()
        obs, reward, terminated, truncated, info = env.step({"tool": name, "arguments": dict(arguments or {})})
        s.episode_return += float(reward)
        s.turns += 1
        s.done = bool(terminated or truncated)
        s.cost_usd = float(info.get("total_cost_usd", 0.0))
        s.latency_s = float(info.get("total_latency_s", 0.0))
        s.correct = bool(info.get("correct", False))
        return CallToolResult(content=[TextContent(type="text", text=obs["output"])],
                              is_error=bool(info.get("format_error")))


class OrchestraToolTask(vf.Task[OrchestraData, OrchestraState]):
    async def setup(self, trace, runtime) -> None:
        s, d = trace.state, self.data
        s.env_id, s.task_index, s.seed, s.make_kwargs = d.env_id, d.task_index, d.seed, dict(d.make_kwargs)

    @classmethod
    def toolsets(cls, config) -> list[vf.Toolset]:
        return [OrchestraToolset(vf.ToolsetConfig())]

    @vf.reward(weight=1.0)
    async def orchestra_reward(self, trace) -> float:
        s = trace.state
        trace.record_metric("finished", float(s.done))
        trace.record_metric("correct", float(s.correct and s.done))
        trace.record_metric("cost_usd", s.cost_usd)
        trace.record_metric("latency_s", s.latency_s)
        trace.record_metric("turns", float(s.turns))
        return float(s.episode_return)


class OrchestraToolTaskset(vf.Taskset[OrchestraToolTask, OrchestraTasksetConfig]):
    def load(self) -> Iterator[OrchestraToolTask]:
        c = self.config
        env = gym.make(c.env_id, **c.make_kwargs)  # a bad id or kwarg fails here, before any rollout
        n = len(env.unwrapped.tasks) if c.n is None else min(int(c.n), len(env.unwrapped.tasks))
        for k in range(n):
            obs, info = env.reset(seed=c.seed + k, options={"task_index": k})  # the prompt the toolset's env will see
            prompt = obs["task"] + (f"\n\n{obs['output']}" if obs.get("output") else "")
            yield OrchestraToolTask(
                OrchestraData(name=f"{c.env_id}#{info['task_id']}", id=info["task_id"], prompt=prompt,
                              system_prompt=obs["preference"], env_id=c.env_id, task_index=k, seed=c.seed + k,
                              make_kwargs=c.make_kwargs),
                c.task,
            )
        env.close()


def eval_config(env_id: str, *, model: str, base_url: str, api_key_var: str = "OPENAI_API_KEY",
                n: int | None = None, seed: int = 0, make_kwargs: dict[str, Any] | None = None,
                rollouts_per_task: int = 1, max_concurrent: int = 8):
    """A ``verifiers.v1`` ``EvalConfig``: verifiers' single-agent env, its ``null`` chat harness in
    a local subprocess, the env's tools over MCP."""
    from verifiers.v1 import SingleAgentEnvConfig
    from verifiers.v1.configs.cli.eval import EvalConfig

    env = SingleAgentEnvConfig.model_validate({
        "taskset": {"id": PLUGIN_ID, "env_id": env_id, "n": n, "seed": seed, "make_kwargs": dict(make_kwargs or {})},
        "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "null"}},
    })
    return EvalConfig.model_validate({
        "env": env, "model": model, "client": {"base_url": base_url, "api_key_var": api_key_var},
        "num_rollouts": rollouts_per_task, "max_concurrent": max_concurrent, "rich": None,
    })


if __name__ == "__main__":  # verifiers launches the tool server as `python -m <this module>`
    OrchestraToolset.run()
