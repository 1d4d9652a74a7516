"""Any Orchestra env inside verl's multi-turn rollout, as a verl ``AgentLoop``.

verl (the trainer ToolOrchestra used, on Ray) asks an agent loop for one trajectory per
dataset row: ``async run(sampling_params, **row) -> AgentLoopOutput`` with the prompt's token
ids, the response's token ids, a ``response_mask`` (1 on tokens the LLM sampled, 0 on tool
outputs and template glue, which the loss must not train) and the sampled tokens' logprobs.
It generates through ``self.server_manager.generate(request_id, prompt_ids, sampling_params)``
(token ids in, ``TokenOutput(token_ids, log_probs)`` out), so nothing is re-tokenised.

The episode logic is :func:`run_episode`, which needs no verl: a ``generate`` coroutine, a HF
tokenizer and an env. It reuses :mod:`agents.rollout`'s token sequence (the same appending
rules our own trainers use), so verl and our GRPO see identical token streams for the same
samples. :class:`OrchestraAgentLoop` (defined only when verl imports) is the thin verl shell,
registered as ``orchestra_env``; ``agents/scaleout/verl/agent_loops.yaml`` names it with its
``env_id``, ``env_kwargs`` and ``max_turns``, and ``agents/scaleout/verl/toolorchestra_grpo.yaml``
is ToolOrchestra's recipe as a verl config (docs/scale_out.md).

Reward: ``reward_score`` is the env's return. ToolOrchestra's group-relative preference
reward needs the whole group, so ``extra_fields`` carries ``features`` and ``preference`` for a
reward function that groups by ``uid`` and applies :func:`agents.rewards.preference_rewards`.
"""
from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

Generate = Callable[[list[int], Mapping[str, Any]], Awaitable[tuple[list[int], list[float] | None]]]


class TokenizerView:
    """The few ``LLMPolicy`` members the token sequence uses, over a bare HF tokenizer (verl
    owns the model; the loop only needs the tokenizer and the stop tokens)."""

    def __init__(self, tokenizer: Any, eos_ids: Sequence[int] | None = None) -> None:
        self.tokenizer = tokenizer
        ids = set(eos_ids or [])
        if not ids:
            ids.add(tokenizer.eos_token_id)
            for token in ("<|im_end|>", "<|eot_id|>"):
                tid = tokenizer.convert_tokens_to_ids(token)
                if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                    ids.add(tid)
        self.eos_ids = sorted(i for i in ids if i is not None)

    def render(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None,
               add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(list(messages), tools=list(tools) if tools else None,
                                                  tokenize=False, add_generation_prompt=add_generation_prompt)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def _sequence_class() -> Any:
    """agents.rollout's token sequence (``TokenSequence``; ``Conversation`` before the rename)."""
    import agents.rollout as rollout

    return getattr(rollout, "TokenSequence", None) or getattr(rollout, "Conversation")


@dataclass
class EpisodeTokens:
    """One episode as verl consumes it."""

    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int]
    response_logprobs: list[float]
    reward: float
    num_turns: int
    info: dict[str, Any] = field(default_factory=dict)


async def run_episode(generate: Generate, tokenizer: Any, env: Any, reset: Mapping[str, Any],
                      sampling_params: Mapping[str, Any], max_turns: int = 30,
                      response_length: int | None = None, eos_ids: Sequence[int] | None = None) -> EpisodeTokens:
    """Play one episode: generate, step the env with the decoded text, append the tool output.

    ``response_logprobs`` is aligned with ``response_ids`` (0.0 where the mask is 0). The
    episode stops at the env's end, after ``max_turns`` generations, or when the response
    would pass ``response_length`` tokens (verl's budget).
    """
    view = TokenizerView(tokenizer, eos_ids)
    loop = asyncio.get_running_loop()
    obs, info = await loop.run_in_executor(None, lambda: env.reset(**dict(reset)))
    seq = _sequence_class().start(view, env, obs)
    prompt_len = len(seq.token_ids)
    logprobs: list[float] = []
    rewards: list[float] = []
    turns = 0
    for _ in range(max_turns):
        ids, lps = await generate(list(seq.token_ids), sampling_params)
        turns += 1
        before = len(seq.token_ids)
        text = seq.add_action(ids)
        logprobs += list(lps) if lps is not None else [0.0] * len(ids)
        logprobs += [0.0] * (len(seq.token_ids) - before - len(ids))  # a closing stop token, unsampled
        obs, reward, terminated, truncated, info = await loop.run_in_executor(None, env.step, text)
        rewards.append(float(reward))
        if terminated or truncated:
            break
        before = len(seq.token_ids)
        seq.add_output(obs["output"])
        logprobs += [0.0] * (len(seq.token_ids) - before)
        if response_length is not None and len(seq.token_ids) - prompt_len >= response_length:
            break
    response = seq.token_ids[prompt_len:]
    mask = seq.policy_mask[prompt_len:]
    if response_length is not None:
        response, mask, logprobs = response[:response_length], mask[:response_length], logprobs[:response_length]
    return EpisodeTokens(list(seq.token_ids[:prompt_len]), list(response), list(mask), logprobs, float(sum(rewards)),
                         turns, {"features": dict(info.get("features", {})), "correct": bool(info.get("correct", False)),
                                 "preference": info.get("preference", {})})


class EnvCache:
    """Envs are expensive to build (indices, DBs): keep a free list per spec, per process."""

    def __init__(self) -> None:
        self._free: dict[tuple, list[Any]] = {}
        self._lock = threading.Lock()

    def acquire(self, env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
        from agents.scaleout.ray_workers import EnvSpec

        key = (env_id, repr(sorted(env_kwargs.items())))
        with self._lock:
            if self._free.get(key):
                return key, self._free[key].pop()
        return key, EnvSpec(env_id, dict(env_kwargs)).make()

    def release(self, key: tuple, env: Any) -> None:
        with self._lock:
            self._free.setdefault(key, []).append(env)


ENVS = EnvCache()


def dataset_rows(env_id: str, n: int | None = None, seed: int = 0, env_kwargs: Mapping[str, Any] | None = None,
                 agent_name: str = "orchestra_env") -> list[dict[str, Any]]:
    """verl dataset rows, one per task: ``prompt`` (the task as chat, for verl's length filter
    and logs; the loop renders the real prompt from the env), ``agent_name`` and ``extra_info``
    (``seed``, ``task_index``). Write them with ``pandas.DataFrame(rows).to_parquet(path)``."""
    import numpy as np

    from agents.scaleout.ray_workers import EnvSpec

    env = EnvSpec(env_id, dict(env_kwargs or {})).make()
    tasks = env.unwrapped.tasks
    order = np.random.default_rng(seed).permutation(len(tasks))[: n or len(tasks)]
    rows = [{"data_source": env_id, "agent_name": agent_name,
             "prompt": [{"role": "user", "content": tasks[int(i)].question}],
             "extra_info": {"seed": int(seed) * 1_000_003 + int(i), "task_index": int(i)}} for i in order]
    env.close()
    return rows

try:  # the verl shell: only where verl is installed (its own venv, see docs/scale_out.md)
    from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register
except ImportError:  # pragma: no cover - verl absent
    AgentLoopBase = None  # type: ignore[assignment,misc]

if AgentLoopBase is not None:  # pragma: no cover - exercised only with verl installed

    @register("orchestra_env")
    class OrchestraAgentLoop(AgentLoopBase):
        """One Orchestra episode per dataset row. The row's ``extra_info`` carries ``seed`` and
        ``task_index`` (see :func:`dataset_rows`); the agent-loop YAML entry
        (``agents/scaleout/verl/agent_loops.yaml``) gives ``env_id``, ``env_kwargs``, ``max_turns``
        (verl instantiates the loop per row with those keys as arguments)."""

        def __init__(self, *args: Any, env_id: str = "Orchestra/FRAMES-v0", env_kwargs: Any = None,
                     max_turns: int = 30, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            from omegaconf import DictConfig, OmegaConf

            if isinstance(env_kwargs, DictConfig):
                env_kwargs = OmegaConf.to_container(env_kwargs, resolve=True)
            self.env_id, self.env_kwargs, self.max_turns = env_id, dict(env_kwargs or {}), int(max_turns)
            self.response_length = int(self.rollout_config.response_length)

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
            extra = dict(kwargs.get("extra_info") or {})
            reset = {"seed": int(extra.get("seed", 0))}
            if "task_index" in extra:
                reset["options"] = {"task_index": int(extra["task_index"])}
            request_id = uuid.uuid4().hex  # one id per episode: sticky session, prefix cache

            async def generate(ids: list[int], params: Mapping[str, Any]) -> tuple[list[int], list[float] | None]:
                out = await self.server_manager.generate(request_id=request_id, prompt_ids=ids,
                                                         sampling_params=dict(params))
                return list(out.token_ids), (list(out.log_probs) if out.log_probs else None)

            key, env = ENVS.acquire(self.env_id, self.env_kwargs)
            try:
                ep = await run_episode(generate, self.tokenizer, env, reset, sampling_params, self.max_turns,
                                       self.response_length)
            finally:
                ENVS.release(key, env)
            return AgentLoopOutput(
                prompt_ids=ep.prompt_ids, response_ids=ep.response_ids, response_mask=ep.response_mask,
                response_logprobs=ep.response_logprobs, reward_score=ep.reward, num_turns=2 * ep.num_turns,
                metrics={}, extra_fields={**ep.info, "turn_scores": [], "tool_rewards": []},
            )
