"""Train TRL's ``GRPOTrainer`` on any Orchestra id, multi-turn, through TRL's ``environment_factory``.

    from trl import GRPOConfig, GRPOTrainer
    from agents.trl_env import OrchestraTRL

    orch = OrchestraTRL("Orchestra/FRAMES-v0", max_turns=4)
    trainer = GRPOTrainer(model, args=GRPOConfig(..., num_generations=4),
                          train_dataset=orch.dataset(n_tasks=64, seed=0),
                          environment_factory=orch.environment_factory,
                          reward_funcs=[orch.env_reward])      # or orch.preference_reward
    trainer.train()

How the pieces meet TRL 1.16's contract (``trl/trainer/grpo_trainer.py``):

* ``environment_factory()`` returns one env wrapper per rollout; TRL lists its public methods as
  tools. We generate one method per Orchestra tool, with the signature and Google docstring TRL
  (``transformers.get_json_schema``) turns back into that tool's JSON schema, so the model sees
  the same tools as in our own trainer. A method call is one ``env.step``; it returns the tool's
  output, which TRL appends as the ``tool`` message.
* ``reset(**row)`` gets the dataset row (``task_index``, ``seed``), resets the env and returns the
  preference and task text, which TRL appends to the (empty) user message.
* The model's final message (one without a tool call) ends TRL's loop. Reward functions get the
  rollouts' ``environments``: the final message is stepped into the env as the policy's last
  action (in conversational domains it is a message to the user; elsewhere a JSON action in
  text still counts), and an episode still open after it scores as failed, with the format
  penalties it earned. ``env_reward`` is the env's return (sum of its step rewards, wrappers
  included); ``preference_reward`` is ToolOrchestra's group-relative preference reward
  (:func:`agents.rewards.preference_rewards`) over the rollouts of one (task, seed) group.

Every finished rollout is appended to ``OrchestraTRL.episodes`` (task, seed, return, features),
so a run can be audited against what the trainer logged.
"""
from __future__ import annotations

import inspect
import json
import keyword
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np

import orchestra_env  # noqa: F401  (registers the ids)
from agents.rewards import preference_rewards

JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                              "array": list, "object": dict}
RESERVED = {"reset", "get_reward"}


@dataclass
class EpisodeRecord:
    """One finished TRL rollout: enough to replay it in process (``reset`` + ``actions``)."""

    task_id: str
    task_index: int | None
    seed: int | None
    actions: list[Any]
    env_return: float
    finished: bool
    features: dict[str, float]
    preference: dict[str, Any]


class OrchestraTRL:
    """Factory of TRL environments, dataset and reward functions for one Orchestra id.

    Arguments:
        env_id: any registered Orchestra id.
        wrappers: gymnasium wrappers applied after ``gym.make`` (e.g. ``CostLatencyPenalty``);
            their rewards are the env's return.
        **make_kwargs: passed to ``gym.make`` (``max_turns``, ``preference``...).
    """

    def __init__(self, env_id: str, *, wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (), **make_kwargs: Any):
        self.env_id, self.wrappers, self.make_kwargs = env_id, tuple(wrappers), make_kwargs
        self.episodes = []
        self._lock = threading.Lock()
        probe = self.make_env()  # bad ids or kwargs fail here, not inside TRL
        self.tool_schemas = [s["function"] for s in probe.unwrapped.tool_schemas]
        self.n_tasks = len(probe.unwrapped.tasks)
        probe.close()
        self.env_class = _env_class(env_id, self.tool_schemas)

    def make_env(self) -> gym.Env:
        env = gym.make(self.env_id, **self.make_kwargs)
        for wrap in self.wrappers:
            env = wrap(env)
        return env

    def environment_factory(self) -> "OrchestraToolEnv":
        """TRL's ``environment_factory``: one instance per concurrent rollout (TRL pools them)."""
        return self.env_class(self)

    def dataset(self, n_tasks: int | None = None, seed: int = 0):
        """A ``datasets.Dataset`` of rows ``{prompt, task_index, seed}``; the prompt is an empty
        user turn that ``reset`` fills with the task (TRL appends what ``reset`` returns)."""
        from datasets import Dataset

        n = self.n_tasks if n_tasks is None else int(n_tasks)
        rng = np.random.default_rng(seed)
        order = rng.permutation(self.n_tasks)[:n] if n <= self.n_tasks else rng.integers(self.n_tasks, size=n)
        return Dataset.from_list([
            {"prompt": [{"role": "user", "content": ""}], "task_index": int(i), "seed": int(seed * 1_000_003 + k)}
            for k, i in enumerate(order)
        ])

    # ------------------------------------------------------------------ reward functions
    def env_reward(self, completions: list, environments: list | None = None, **_: Any) -> list[float]:
        """TRL reward function: each rollout's env return (see module docstring)."""
        return [self._finish(env, completion).env_return for env, completion in zip(_need(environments), completions)]

    def preference_reward(self, completions: list, environments: list | None = None, **_: Any) -> list[float]:
        """TRL reward function: ToolOrchestra's group-relative preference reward; a group is the
        rollouts of one (task, seed) in the batch (TRL's ``num_generations`` copies of a row)."""
        records = [self._finish(env, completion) for env, completion in zip(_need(environments), completions)]
        out = np.zeros(len(records))
        groups: dict[tuple[str, int | None], list[int]] = {}
        for i, r in enumerate(records):
            groups.setdefault((r.task_id, r.seed), []).append(i)
        for idx in groups.values():
            pref = records[idx[0]].preference
            out[idx] = preference_rewards([records[i].features for i in idx], pref.get("weights", {"correct": 1.0}),
                                          pref.get("avoid", ()))
        return out.tolist()

    def _finish(self, env: "OrchestraToolEnv", completion: Any) -> EpisodeRecord:
        record = env._finish_rollout(_final_text(completion))
        with self._lock:
            if env._recorded is not record:
                env._recorded = record
                self.episodes.append(record)
        return record


def _need(environments: list | None) -> list:
    if environments is None:
        raise ValueError("Orchestra reward functions need GRPOTrainer(environment_factory=orch.environment_factory)")
    return environments


def _final_text(completion: Any) -> str:
    """The model's last message of a rollout, as text (TRL passes a list of messages)."""
    if isinstance(completion, str):
        return completion
    for message in reversed(list(completion or [])):
        if message.get("role") == "assistant":
            content = message.get("content") or ""
            return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    return ""


class OrchestraToolEnv:
    """One rollout's env; subclassed per id with one method per tool (see :func:`_env_class`).

    Every public method except ``reset`` is a tool to TRL, so helpers here are private.
    """

    def __init__(self, owner: OrchestraTRL) -> None:
        self.owner = owner
        self.env = owner.make_env()
        self._episode: dict[str, Any] | None = None
        self._recorded: EpisodeRecord | None = None

    def reset(self, task_index: int | None = None, seed: int | None = None, **_: Any) -> str:
        """Start the row's task; returns the text TRL appends to the user message."""
        options = {"task_index": int(task_index)} if task_index is not None else None
        obs, info = self.env.reset(seed=None if seed is None else int(seed), options=options)
        self._episode = {"task_id": info["task_id"], "task_index": task_index, "seed": seed, "actions": [],
                         "return": 0.0, "done": False, "info": {}, "preference": info.get("preference", {})}
        self._recorded = None
        text = f"{obs['preference']}\n\n{obs['task']}"
        return text + (f"\n\n{obs['output']}" if obs.get("output") else "")

    def _call(self, tool: str, arguments: Mapping[str, Any]) -> str:
        e = self._episode
        if e is None:
            raise RuntimeError("reset() was not called")
        if e["done"]:
            return "The episode is over; write your final message without a tool call."
        return self._step({"tool": tool, "arguments": {k: v for k, v in arguments.items() if v is not None}})

    def _step(self, action: Any) -> str:
        e = self._episode
        e["actions"].append(action)
        obs, reward, terminated, truncated, info = self.env.step(action)
        e["return"] += float(reward)
        e["done"] = bool(terminated or truncated)
        e["info"] = info
        return obs["output"]

    def _finish_rollout(self, final_text: str) -> EpisodeRecord:
        """End of TRL's rollout: step the final message if the episode is open; record it."""
        e = self._episode
        if e is None:
            raise RuntimeError("reset() was not called")
        if self._recorded is not None:
            return self._recorded
        if not e["done"] and final_text.strip():
            self._step(final_text)
        features = dict(e["info"].get("features") or {"correct": 0.0})
        if not e["done"]:
            features["correct"] = 0.0
        return EpisodeRecord(e["task_id"], e["task_index"], e["seed"], list(e["actions"]), e["return"], e["done"],
                             features, e["preference"])


def _env_class(env_id: str, schemas: Sequence[Mapping[str, Any]]) -> type[OrchestraToolEnv]:
    """A subclass of :class:`OrchestraToolEnv` with one typed, documented method per tool."""
    methods = {}
    for schema in schemas:
        name = schema["name"]
        if name in RESERVED or name.startswith("_") or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"tool name {name!r} of {env_id} cannot be a TRL tool method")
        methods[name] = _tool_method(schema)
    cls_name = "".join(ch for ch in env_id.split("/")[-1] if ch.isalnum()) + "TRLEnv"
    return type(cls_name, (OrchestraToolEnv,), methods)


def _tool_method(schema: Mapping[str, Any]) -> Callable[..., str]:
    """A method whose signature and docstring ``transformers.get_json_schema`` reads as ``schema``."""
    name = schema["name"]
    params = schema.get("parameters", {}) or {}
    props: Mapping[str, Any] = params.get("properties", {}) or {}
    required = set(params.get("required", []))

    # parameter names must be identifiers; a tool's "name.first_name" becomes name_first_name
    py_names = _identifiers(props)
    original = {py: arg for arg, py in py_names.items()}

    def method(self: OrchestraToolEnv, **arguments: Any) -> str:
        return self._call(name, {original.get(k, k): v for k, v in arguments.items()})

    sig_params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    lines = []
    # required first: a Python signature cannot put a defaulted parameter before one without
    for arg in sorted(props, key=lambda a: a not in required):
        spec, py_name = props[arg], py_names[arg]
        py = _py_type(spec)
        annotations[py_name] = py if arg in required else py | None
        default = inspect.Parameter.empty if arg in required else None
        sig_params.append(inspect.Parameter(py_name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=annotations[py_name]))
        desc = " ".join(str(spec.get("description", arg)).split())
        if "enum" in spec:
            desc += f" (choices: {json.dumps(spec['enum'])})"
        lines.append(f"    {py_name}: {desc}")
    annotations["return"] = str
    method.__name__ = method.__qualname__ = name
    method.__signature__ = inspect.Signature(sig_params, return_annotation=str)
    method.__annotations__ = annotations
    description = str(schema.get("description", name)).strip()
    method.__doc__ = description + ("\n\nArgs:\n" + "\n".join(lines) if lines else "") + \
        "\n\nReturns:\n    The tool's output."
    return method


def _identifiers(props: Mapping[str, Any]) -> dict[str, str]:
    """Schema parameter name -> a distinct Python identifier."""
    out: dict[str, str] = {}
    for arg in props:
        py = re.sub(r"\W", "_", arg)
        py = py if py.isidentifier() and not keyword.iskeyword(py) and py != "self" else f"arg_{py}"
        while py in out.values():
            py += "_"
        out[arg] = py
    return out


def _py_type(spec: Mapping[str, Any]) -> Any:
    kind = spec.get("type")
    if kind is None and "anyOf" in spec:  # pydantic's Optional[X]
        kinds = [s.get("type") for s in spec["anyOf"] if s.get("type") not in (None, "null")]
        kind = kinds[0] if kinds else "string"
    if kind == "array":
        return list[_py_type(spec.get("items", {}))] if spec.get("items") else list
    return JSON_TYPES.get(kind, str)
