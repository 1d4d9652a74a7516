"""Trajectories from our envs, and the converter that splits one into per-role examples.

ToolBench is not available offline, so the training data comes from our own envs, whole
episodes that *succeeded when executed*:

* :func:`toolscale_trajectories`: the generator's gold calls (already verified by replay on a
  fresh database) played through :class:`~orchestra_env.envs.toolscale.ToolScaleEnv` with the
  scripted user; kept only if the env scores the episode 1.0;
* :func:`tau2_trajectories`: tau2's gold actions (:func:`~orchestra_env.envs.tau2.gold_steps`)
  with the scripted user, kept if tau2's reward is 1.0;
* :func:`policy_trajectories`: episodes of a policy (e.g. a baseline of
  :mod:`agents.baselines` on FRAMES), successful episodes only.

Our sources have no thoughts (ToolBench's come from GPT ReAct runs), so :func:`thought_for`
writes a short templated thought from each gold call: what it does and which arguments it
needs (names, not values). Templated thoughts are easier to imitate than GPT's free ones, so
Plan ACC here is not comparable with the paper's; say so when quoting numbers.

The converter (:func:`split_trajectory`), by the paper's rules (``GLPFT/process_data``):

* planner: every planner turn, ``thought + "Next: caller"`` before a call and
  ``thought + "Next: conclusion"`` before the conclusion, **dropping** a turn whose following
  call names a tool that does not exist;
* caller: every call turn, prompted with the history *and the preceding thought*;
* summarizer: the conclusion turn, prompted with the history (the planner's last thought
  included);
* backbone (stage 1, and the single-LLM baseline): what one model writes each turn, thought +
  call merged (``thought\\nAction: ...``) or thought + ``conclusion: ...``.

:func:`encode` tokenizes an example with the loss on target tokens only (``completion_mask``)
and **left truncation**: the newest ``max_length`` tokens are kept (of the prompt, at most
``PromptConfig.prompt_tokens``), the target always whole.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from agents.multi_agent.roles import (
    END, NEXT_CALLER, NEXT_CONCLUSION, History, PromptConfig, ToolDocs, backbone_prompt, caller_prompt,
    format_call, format_plan, planner_prompt, summarizer_prompt,
)

DONE_THOUGHT = "The request is complete, so I can conclude."
TAU2_GOODBYE = "Thank you for contacting us. Goodbye!"
MAX_SCAN = 5000  # candidate tasks looked at per collection, at most (bounded loops)
VERBS = {"get": "look up the", "find": "search the", "update": "update the", "create": "create a",
         "delete": "delete the", "cancel": "cancel the", "respond": "tell the user", "search": "search for",
         "answer": "answer with", "enhance": "reason about it with", "python": "run code with"}


@dataclass
class Step:
    """One turn: a thought, then a call and what it returned, or (last turn) the conclusion."""

    thought: str
    call: dict[str, Any] | None = None  # {"name": ..., "arguments": {...}}
    observation: str = ""
    conclusion: str | None = None


@dataclass
class Trajectory:
    """One successful episode, as the roles will see it."""

    source: str  # "toolscale/bank" | "tau2/mock" | "frames/oracle" ...
    task_id: str
    query: str
    tools: dict[str, Any]  # name -> JSON schema of every tool the env offered
    steps: list[Step] = field(default_factory=list)
    intent: str = ""

    @property
    def docs(self) -> ToolDocs:
        return ToolDocs(self.tools)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> "Trajectory":
        steps = [Step(**s) for s in row["steps"]]
        return cls(row["source"], row["task_id"], row["query"], dict(row["tools"]), steps, row.get("intent", ""))


@dataclass(frozen=True)
class RoleExample:
    """One supervised example: ``prompt`` is masked, ``completion`` is the target."""

    role: str
    prompt: str
    completion: str
    task_id: str
    step: int


def thought_for(call: Mapping[str, Any]) -> str:
    """A short thought for a gold call (our data has none): what the call does and which
    arguments it needs, not their values (the caller must find those in the history)."""
    name = str(call["name"])
    verb, _, noun = name.partition("_")
    phrase = VERBS.get(verb)
    what = f"{phrase} {noun.replace('_', ' ')}".strip() if phrase else f"use {name}"
    if verb == "respond":
        what = "tell the user"
    keys = [k for k in call.get("arguments", {}) if k != "content"]
    detail = f" by {', '.join(keys)}" if keys else ""
    return f"I should {what}{detail}."


# ----------------------------------------------------------------------------- the converter


def split_trajectory(traj: Trajectory, config: PromptConfig = PromptConfig()) -> dict[str, list[RoleExample]]:
    """Per-role examples of one trajectory, by the rules in the module docstring."""
    out: dict[str, list[RoleExample]] = {"backbone": [], "planner": [], "caller": [], "summarizer": []}
    docs, names = traj.docs, set(traj.tools)
    history = History()
    history.add("user", traj.query)
    for i, step in enumerate(traj.steps):
        past = history.render(config)
        ex = lambda role, prompt, target: RoleExample(role, prompt, target + END, traj.task_id, i)  # noqa: E731
        if step.conclusion is not None:
            out["planner"].append(ex("planner", planner_prompt(past, docs, config), format_plan(step.thought, NEXT_CONCLUSION)))
            out["backbone"].append(ex("backbone", backbone_prompt(past, docs, config),
                                      f"{step.thought}\nconclusion: {step.conclusion}"))
            history.add("assistant", step.thought)
            out["summarizer"].append(ex("summarizer", summarizer_prompt(history.render(config), docs, config),
                                        step.conclusion))
            break
        assert step.call is not None, f"{traj.task_id} step {i}: neither a call nor a conclusion"
        call_text = format_call(step.call["name"], step.call.get("arguments", {}))
        if step.call["name"] in names:  # the paper drops planner turns that lead to a hallucinated tool
            out["planner"].append(ex("planner", planner_prompt(past, docs, config), format_plan(step.thought, NEXT_CALLER)))
        out["backbone"].append(ex("backbone", backbone_prompt(past, docs, config), f"{step.thought}\n{call_text}"))
        out["caller"].append(ex("caller", caller_prompt(past, step.thought, docs, config), call_text))
        history.add("assistant", step.thought)
        history.add("caller", call_text)
        history.add("observation", step.observation)
    return out


def role_datasets(trajectories: Iterable[Trajectory], config: PromptConfig = PromptConfig()) -> dict[str, list[RoleExample]]:
    """All trajectories' examples, grouped by role (trajectory order kept)."""
    out: dict[str, list[RoleExample]] = {"backbone": [], "planner": [], "caller": [], "summarizer": []}
    for traj in trajectories:
        for role, examples in split_trajectory(traj, config).items():
            out[role].extend(examples)
    return out


def encode(example: RoleExample, tokenizer: Any, max_length: int, prompt_tokens: int = 0) -> dict[str, list[int]]:
    """Token ids with the prompt masked, left-truncated: the target is kept whole (cut only if it
    alone exceeds ``max_length``), the oldest prompt tokens go first, as in the paper.

    ``prompt_tokens`` > 0 (:attr:`~agents.multi_agent.roles.PromptConfig.prompt_tokens`) keeps at
    most that many prompt tokens whatever the target's length, the window generation keeps too;
    at 0 the prompt keeps what fits beside the target (a call's target is ~80 tokens of the tiny
    BPE, a conclusion's ~45, so the window then depends on what the model is about to write)."""
    prompt = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    target = tokenizer(example.completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    target = target[:max_length]
    keep = max_length - len(target)
    if prompt_tokens > 0:
        keep = min(keep, prompt_tokens)
    prompt = prompt[max(0, len(prompt) - keep):] if keep > 0 else []
    return {"input_ids": prompt + target, "completion_mask": [0] * len(prompt) + [1] * len(target)}


# ----------------------------------------------------------------------------- collection


def _docs_of(env: Any) -> dict[str, Any]:
    return dict(ToolDocs.from_env(env).schemas)


def play(env: Any, options: Mapping[str, Any], calls: Sequence[Mapping[str, Any]], conclusion: Any,
         source: str, thoughts: Sequence[str] | None = None, conclusion_text: str | None = None) -> Trajectory | None:
    """Play ``calls`` then ``conclusion`` (an env action) in ``env``; the trajectory if the
    episode ends and is scored correct, else None (only verified episodes are kept)."""
    obs, info = env.reset(seed=0, options=dict(options))
    query = str(obs["output"]).removeprefix("User: ")
    traj = Trajectory(source, info["task_id"], query, _docs_of(env), intent=str(options.get("intent", "")))
    for j, call in enumerate(calls):
        obs, _, terminated, truncated, info = env.step({"tool": call["name"], "arguments": dict(call["arguments"])})
        thought = thoughts[j] if thoughts else thought_for(call)
        traj.steps.append(Step(thought, {"name": call["name"], "arguments": dict(call["arguments"])}, str(obs["output"])))
        if terminated or truncated:
            return None  # the conclusion must be the last turn
    _, _, terminated, truncated, info = env.step(conclusion)
    if not (terminated or truncated) or not info.get("correct"):
        return None
    text = conclusion_text if conclusion_text is not None else (
        conclusion if isinstance(conclusion, str) else json.dumps(conclusion, ensure_ascii=False))
    traj.steps.append(Step(DONE_THOUGHT, conclusion=text))
    return traj


def toolscale_conclusion(task: Any) -> str:
    """The final message of a ToolScale gold episode: the required answers, then goodbye (the
    scripted user hangs up on it)."""
    required = list(task.metadata.get("required", []))
    told = f"{'; '.join(required)}. " if required else ""
    return f"{told}Your request is done. Goodbye!"


def gold_like(traj: Trajectory, max_calls: int = 2) -> bool:
    """The simplest task family: at most ``max_calls`` gold calls, every argument value of
    which the user's opening request already states (no value has to be read from an
    observation). A filter on which tasks a benchmark uses, applied to train and test alike;
    the agent never sees the gold calls."""
    calls = [s.call for s in traj.steps if s.call is not None]
    return len(calls) <= max_calls and all(str(v) in traj.query for c in calls for v in c.get("arguments", {}).values())


def toolscale_trajectories(domain: str, n: int, split: str = "train", seed: int = 0,
                           intents: Sequence[str] | None = None, max_turns: int = 30,
                           keep: Callable[[Trajectory], bool] | None = None) -> list[Trajectory]:
    """``n`` verified gold trajectories of a ToolScale domain (optionally of some intents only,
    and only those ``keep`` accepts, e.g. :func:`gold_like`)."""
    from orchestra_env.envs.toolscale import ToolScaleEnv

    env = ToolScaleEnv(domain, split=split, num_tasks=MAX_SCAN, seed=seed, max_turns=max_turns)
    out: list[Trajectory] = []
    for index, task in enumerate(env.tasks):
        if len(out) >= n:
            break
        if intents and task.metadata["intent"] not in intents:
            continue
        traj = play(env, {"task_index": index, "intent": task.metadata["intent"]}, task.metadata["actions"],
                    toolscale_conclusion(task), f"toolscale/{domain}")
        if traj is not None and (keep is None or keep(traj)):
            out.append(traj)
    env.close()
    return out


def tau2_trajectories(domain: str = "mock", n: int = 10, max_turns: int = 40) -> list[Trajectory]:
    """tau2 gold actions with the scripted user (messages to the user, e.g. the information to
    communicate, are ``respond`` calls); a goodbye is the conclusion."""
    from orchestra_env.envs.tau2 import Tau2Env, gold_steps

    env = Tau2Env(domain, max_turns=max_turns)
    out: list[Trajectory] = []
    for task_id, task in list(env.tau2_tasks.items())[: MAX_SCAN]:
        if len(out) >= n:
            break
        calls = [{"name": s["tool"], "arguments": s["arguments"]} for s in gold_steps(task)]
        traj = play(env, {"task_id": task_id}, calls, TAU2_GOODBYE, f"tau2/{domain}")
        if traj is not None:
            out.append(traj)
    env.close()
    return out


def policy_trajectories(policy: Any, env: Any, n_episodes: int, source: str, seed: int = 0) -> list[Trajectory]:
    """Successful episodes of a policy (``begin``/``act``, as in :mod:`agents.baselines`); its
    last action (the ``answer`` call in QA envs) is the conclusion."""
    out: list[Trajectory] = []
    n_tasks = len(env.unwrapped.tasks)
    for i in range(min(n_episodes, n_tasks)):
        obs, info = env.reset(seed=seed + i, options={"task_index": i})
        query = str(obs["output"])
        policy.begin(env, obs, info)
        actions: list[Any] = []
        outputs: list[str] = []
        done = False
        while not done:
            action = policy.act(obs, info)
            obs, _, terminated, truncated, info = env.step(action)
            actions.append(action)
            outputs.append(str(obs["output"]))
            done = terminated or truncated
        if not info.get("correct") or not all(isinstance(a, Mapping) for a in actions):
            continue
        calls = [{"name": a.get("tool", a.get("name")), "arguments": dict(a.get("arguments", {}))}
                 for a in actions]
        traj = Trajectory(source, info["task_id"], query, _docs_of(env))
        for call, output in zip(calls[:-1], outputs[:-1]):
            traj.steps.append(Step(thought_for(call), call, output))
        last = calls[-1]
        traj.steps.append(Step(DONE_THOUGHT, conclusion=json.dumps({"tool": last["name"], "arguments": last["arguments"]},
                                                                    ensure_ascii=False)))
        out.append(traj)
    return out


def frames_trajectories(n_episodes: int = 20, baseline: str = "oracle", seed: int = 0) -> list[Trajectory]:
    """Successful FRAMES episodes of a baseline (default: the oracle router, the best policy of
    the simulated world)."""
    import gymnasium as gym

    import orchestra_env  # noqa: F401 - registers the ids
    from agents.baselines import make_baseline

    env = gym.make("Orchestra/FRAMES-v0")
    try:
        return policy_trajectories(make_baseline(baseline), env, n_episodes, f"frames/{baseline}", seed)
    finally:
        env.close()


def save_jsonl(trajectories: Iterable[Trajectory], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for t in trajectories:
            f.write(json.dumps(t.to_dict(), ensure_ascii=False) + "\n")


def load_jsonl(path: str) -> list[Trajectory]:
    with open(path, encoding="utf-8") as f:
        return [Trajectory.from_dict(json.loads(line)) for line in f if line.strip()]


def iter_sources(spec: str, split: str = "train", seed: int = 0) -> Iterator[Trajectory]:
    """Trajectories named by a CLI spec: ``toolscale:bank:40[:intent+intent]``, ``tau2:mock:10``,
    ``frames:20``, or a ``.jsonl`` file."""
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if part.endswith(".jsonl"):
            yield from load_jsonl(part)
            continue
        kind, *rest = part.split(":")
        if kind == "toolscale":
            domain, n = rest[0], int(rest[1])
            intents = rest[2].split("+") if len(rest) > 2 else None
            yield from toolscale_trajectories(domain, n, split=split, seed=seed, intents=intents)
        elif kind == "tau2":
            yield from tau2_trajectories(rest[0], int(rest[1]))
        elif kind == "frames":
            yield from frames_trajectories(int(rest[0]), seed=seed)
        else:
            raise ValueError(f"unknown data source {part!r}: use toolscale:DOMAIN:N[:INTENTS], tau2:DOMAIN:N, "
                             "frames:N or a .jsonl file")


DataSource = Callable[[], list[Trajectory]]
