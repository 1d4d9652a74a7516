"""Any Orchestra id as a verifiers v1 environment (``verifiers`` 0.4, its ``verifiers.v1`` API).

    from verifiers.v1.cli.eval.runner import run_eval
    from orchestra_env.integrations.verifiers_env import eval_config
    episodes = asyncio.run(run_eval(eval_config("Orchestra/FRAMES-v0", model="my-model",
                                                base_url="http://127.0.0.1:8000/v1", n=20)))

The module is a verifiers taskset plugin (its ``__all__`` exports one ``Taskset`` and one ``Env``):
each task is one (task_index, seed) of the Orchestra id, and :class:`OrchestraVerifiersEnv`
plays the environment side the way verifiers' own OpenEnv taskset does: the gym env lives in
the eval process, the agent's every reply is one ``env.step`` (parsed by the env: JSON,
``<tool_call>`` tags, or in conversational domains a plain message), the tool output is the
next user turn, and the episode's return is the trace's ``orchestra_reward`` (ToolOrchestra's
cost and latency are recorded as metrics). The first user turn lists the tools as the env
renders them (``obs["tools"]``, one JSON schema per line).

Why not verifiers' ``openenv`` taskset against :mod:`orchestra_env.integrations.openenv_server`:
verifiers 0.4.0's ``OpenEnvEnv.run`` reads ``GenericEnvClient._base_url``, which openenv-core
0.3.0's client does not have (``AttributeError: 'GenericEnvClient' object has no attribute
'_base_url'``), so that path fails before the first step.
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
from pydantic import Field

import orchestra_env  # noqa: F401  (registers the ids)

try:
    import verifiers.v1 as vf
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("The verifiers adapter needs verifiers: pip install 'orchestra-env[verifiers]'") from exc

__all__ = ["OrchestraTaskset", "OrchestraVerifiersEnv"]

# verifiers resolves a taskset id by importing it as one top-level module name (it first probes
# ``verifiers.v1.tasksets.<id>``, which fails for a dotted id), so the plugin answers to this alias
# once this module is imported.
PLUGIN_ID = "orchestra_verifiers"
sys.modules.setdefault(PLUGIN_ID, sys.modules[__name__])


class OrchestraData(vf.TaskData):
    env_id: str
    task_index: int
    seed: int
    make_kwargs: dict[str, Any] = Field(default_factory=dict)


class OrchestraTask(vf.Task[OrchestraData]):
    pass


class OrchestraTasksetConfig(vf.TasksetConfig):
    env_id: str = "Orchestra/FRAMES-v0"
    """Any registered Orchestra id."""
    n: int | None = None
    """Tasks to run (default: every task of the split), in the split's order."""
    seed: int = 0
    """Task k is reset with seed ``seed + k``."""
    make_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Passed to ``gym.make`` (``max_turns``, ``preference``...)."""


class OrchestraTaskset(vf.Taskset[OrchestraTask, OrchestraTasksetConfig]):
    def load(self) -> Iterator[OrchestraTask]:
        c = self.config
        env = gym.make(c.env_id, **c.make_kwargs)  # a bad id or kwarg fails here, before any rollout
        tasks = env.unwrapped.tasks
        env.close()
        n = len(tasks) if c.n is None else min(int(c.n), len(tasks))
        for k in range(n):
            yield OrchestraTask(
                OrchestraData(name=f"{c.env_id}#{tasks[k].task_id}", id=tasks[k].task_id, prompt=None,
                              env_id=c.env_id, task_index=k, seed=c.seed + k, make_kwargs=c.make_kwargs),
                c.task,
            )


class OrchestraEnvConfig(vf.EnvConfig):
    agent: vf.AgentConfig = vf.AgentConfig()
    """The policy's seat (``--env.agent.*``)."""


def opening(obs: dict[str, Any]) -> str:
    """The first user turn: preference, task, tools, and the env's first output (if any)."""
    parts = [obs["preference"], obs["task"], "Tools (call exactly one per turn, as JSON "
             '{"tool": NAME, "arguments": {...}} or <tool_call>{"name": NAME, "arguments": {...}}</tool_call>):\n'
             + obs["tools"]]
    if obs.get("output"):
        parts.append(obs["output"])
    return "\n\n".join(p for p in parts if p)


class OrchestraVerifiersEnv(vf.Env[OrchestraEnvConfig]):
    """One episode = one Orchestra episode; the env answers each agent reply with one step."""

    async def run(self, task: OrchestraTask, agents: vf.Agents) -> None:
        data = task.data
        env = await asyncio.to_thread(gym.make, data.env_id, **data.make_kwargs)
        try:
            obs, _ = await asyncio.to_thread(env.reset, seed=data.seed, options={"task_index": data.task_index})
            total, info, done = 0.0, {}, False
            async with agents.agent.interaction(task) as interaction:
                segment = await interaction.turn(opening(obs))
                # bounded: the env truncates at max_turns, so this loop ends within that many steps
                while not segment.terminated and not done:
                    obs, reward, terminated, truncated, info = await asyncio.to_thread(env.step, segment.last_reply)
                    total += float(reward)
                    done = bool(terminated or truncated)
                    if not done:
                        segment = await interaction.turn(obs["output"])
            trace = interaction.trace
            trace.record_reward("orchestra_reward", total)
            trace.record_metric("finished", float(done))
            trace.record_metric("correct", float(bool(info.get("correct", False))))
            trace.record_metric("cost_usd", float(info.get("total_cost_usd", 0.0)))
            trace.record_metric("latency_s", float(info.get("total_latency_s", 0.0)))
        finally:
            env.close()


def eval_config(env_id: str, *, model: str, base_url: str, api_key_var: str = "OPENAI_API_KEY",
                n: int | None = None, seed: int = 0, make_kwargs: dict[str, Any] | None = None,
                rollouts_per_task: int = 1, max_concurrent: int = 8):
    """A ``verifiers.v1`` ``EvalConfig`` running ``env_id`` against an OpenAI-compatible endpoint,
    with the agent in a local subprocess runtime (no container, no tunnel)."""
    from verifiers.v1.configs.cli.eval import EvalConfig

    env = OrchestraEnvConfig.model_validate({
        "taskset": {"id": PLUGIN_ID, "env_id": env_id, "n": n, "seed": seed, "make_kwargs": dict(make_kwargs or {})},
        "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "null"}},
    })
    return EvalConfig.model_validate({
        "env": env, "model": model, "client": {"base_url": base_url, "api_key_var": api_key_var},
        "num_rollouts": rollouts_per_task, "max_concurrent": max_concurrent, "rich": None,
    })
