"""Simulated LLM orchestrators: how a prompted model drives the tools, one tool call per turn.

``PromptedPolicy`` sends a catalogue model its system prompt (the env's tool schemas, one JSON
object per line), the task and every tool output so far, with ``role="orchestrator"``. A real
backend replies with a tool call; the simulated pool replies through :func:`next_action`, a
small seeded stochastic policy per model whose knobs live in ``calibration.yaml``
(``orchestrators``). It reads only the messages (no task is bound outside the env's step), so
whatever it achieves comes out of the env: the evidence its searches find, the models it
calls, the judge's verdict.

QA tools (``search``/``enhance_reasoning``/``answer``):
    it gathers for ``k`` turns (``k`` ~ 1 + Poisson(``gather_mean`` - 1), drawn once per
    episode), each a ``search`` (probability ``p_search``; its own keyword query with
    probability ``own_query``, else a query-writing model) or an ``enhance_reasoning`` call;
    then it answers: itself, when a tool output stated a derived answer and it trusts it
    (``trust_derived``), else through an answer model.
Agentic tools (``respond``/``call_expert``/domain functions):
    it follows an expert's ``Next step: {...}`` advice (probability ``follow_advice``), else
    asks an expert (at most ``max_expert_calls`` times), else asks the user for details.
Model choice (every tool with a ``model``/``expert`` enum): the share ``prefer[m]`` of calls goes
to the aliases of model ``m`` (ToolOrchestra's tool-use analysis: GPT-5 sends 52.3% of its calls
to GPT-5-mini, Qwen3-8B 73% to GPT-5); the rest is spread evenly over the other aliases.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from orchestra_env.experts.base import ExpertRequest
from orchestra_env.experts.simulated import ADVICE, read_advice
from orchestra_env.tasks import derive_seed
from orchestra_env.usage import Catalogue

_DERIVED = re.compile(r"Derived fact: the answer is (.+?)\.?\s*$", re.M)


@dataclass(frozen=True)
class OrchestratorCard:
    """One model's behaviour as a prompted orchestrator (see the module docstring).

    ``benchmarks`` holds per-task-set overrides of any other field (``{"hle": {"gather_mean":
    2.0}}``): a model reasons with code on exam questions and searches on retrieval questions,
    so its habits differ by task set; the policy's system prompt names the set (``Task set: hle``).
    """

    gather_mean: float = 2.0
    p_search: float = 0.6
    own_query: float = 0.3
    trust_derived: float = 0.5
    follow_advice: float = 0.8
    max_expert_calls: int = 4
    prefer: Mapping[str, float] = field(default_factory=dict)
    # gathering turns when the tools offer models other than itself (all_tools); None: gather_mean
    gather_experts: float | None = None
    # tokens billed per orchestrator turn beyond the simulated text: hidden reasoning, and the
    # longer contexts of real tool outputs (web pages, tool docs) that the simulator's short texts
    # stand for
    turn_tokens: float = 0.0
    turn_latency_s: float | None = None  # mean latency of one orchestrator turn (None: the model's)
    # the same two when other models are on offer: a delegating turn writes a short call where a
    # turn without helpers does the reasoning itself (None: turn_tokens / turn_latency_s)
    delegate_turn_tokens: float | None = None
    delegate_turn_latency_s: float | None = None
    benchmarks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: "OrchestratorCard | None" = None) -> "OrchestratorCard":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known - {"source"}
        if unknown:
            raise ValueError(f"unknown orchestrator keys {sorted(unknown)}; known: {sorted(known)}")
        for bench, over in (data.get("benchmarks") or {}).items():
            bad = set(over) - known - {"benchmarks"}
            if bad:
                raise ValueError(f"unknown orchestrator keys {sorted(bad)} under benchmarks.{bench}; known: {sorted(known)}")
        merged = {**(base.__dict__ if base else {}), **{k: v for k, v in data.items() if k != "source"}}
        if base is not None and base.benchmarks and "benchmarks" in data:
            merged["benchmarks"] = {**base.benchmarks, **data["benchmarks"]}
        return cls(**merged)

    def for_benchmark(self, benchmark: str | None) -> "OrchestratorCard":
        """The card with ``benchmarks[benchmark]``'s overrides applied (itself if none)."""
        over = self.benchmarks.get(benchmark or "", {})
        if not over:
            return self
        return OrchestratorCard(**{**self.__dict__, **over, "benchmarks": self.benchmarks})


def orchestrator_card(calibration: Any, model: str, benchmark: str | None = None) -> OrchestratorCard:
    """The model's card from ``calibration.orchestrators`` (``defaults`` merged under it), with
    the overrides of ``benchmark`` (a task-set key: ``frames``, ``hle``, ``tau2``) applied."""
    table: Mapping[str, Any] = getattr(calibration, "orchestrators", {}) or {}
    base = OrchestratorCard.from_dict(table.get("defaults", {}))
    card = OrchestratorCard.from_dict(table[model], base) if model in table else base
    return card.for_benchmark(benchmark)


_TASK_SET = re.compile(r"^Task set:\s*(\S+)", re.M)


def task_set(system: str) -> str | None:
    """The task-set key named in a system prompt (``Task set: tau2-airline`` -> ``tau2``)."""
    match = _TASK_SET.search(system)
    if not match:
        return None
    key = match.group(1).lower()
    return "tau2" if key.startswith("tau") else key


def turn_billing(request: ExpertRequest, model: str, calibration: Any) -> tuple[float, float | None]:
    """Hidden tokens and mean latency of one orchestrator turn: the card's ``delegate_*`` values
    when the tools offer other models, else ``turn_tokens`` / ``turn_latency_s``."""
    system = "\n".join(m.get("content", "") for m in request.messages if m.get("role") == "system")
    card = orchestrator_card(calibration, model, task_set(system))
    if _offers_choice(parse_tools(system)):
        tokens = card.turn_tokens if card.delegate_turn_tokens is None else card.delegate_turn_tokens
        latency = card.turn_latency_s if card.delegate_turn_latency_s is None else card.delegate_turn_latency_s
        return tokens, latency
    return card.turn_tokens, card.turn_latency_s


def parse_tools(text: str) -> dict[str, dict[str, Any]]:
    """Tool schemas from a prompt: every line that is a JSON object with a ``name``."""
    tools: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            schema = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(schema, dict) and isinstance(schema.get("name"), str) and "parameters" in schema:
            tools[schema["name"]] = schema
    return tools


def _enum(schema: Mapping[str, Any], field_name: str) -> list[str]:
    """The allowed values of an alias field: pydantic writes an enum, a ``const`` (one value),
    either under ``anyOf`` when the field is optional, or a ``$ref`` into ``$defs``."""
    parameters = schema.get("parameters", {})
    defs = parameters.get("$defs", {})
    prop = (parameters.get("properties") or {}).get(field_name) or {}
    pending, values = [prop], []
    while pending:
        option = pending.pop(0)
        ref = option.get("$ref", "")
        if ref.startswith("#/$defs/"):
            pending.append(defs.get(ref.removeprefix("#/$defs/"), {}))
        pending += option.get("anyOf", []) + option.get("allOf", [])
        if "enum" in option:
            values += [str(v) for v in option["enum"]]
        if "const" in option:
            values.append(str(option["const"]))
    return list(dict.fromkeys(values))


def choose_alias(aliases: Sequence[str], card: OrchestratorCard, catalogue: Catalogue,
                 rng: np.random.Generator) -> str:
    """An alias drawn with the card's model preferences (unpreferred share split evenly)."""
    if not aliases:
        raise ValueError("choose_alias() needs at least one alias")
    model_of = {a: catalogue.aliases[a].model if a in catalogue.aliases else a for a in aliases}
    weights = np.zeros(len(aliases))
    preferred_mass = 0.0
    for model, share in card.prefer.items():
        hits = [i for i, a in enumerate(aliases) if model_of[a] == model]
        if hits:
            weights[hits] += float(share) / len(hits)
            preferred_mass += float(share)
    rest = [i for i, a in enumerate(aliases) if model_of[a] not in card.prefer]
    if rest:
        weights[rest] += max(0.0, 1.0 - preferred_mass) / len(rest)
    if weights.sum() <= 0:
        weights[:] = 1.0
    return str(aliases[int(rng.choice(len(aliases), p=weights / weights.sum()))])


def _keywords_of(text: str, limit: int = 8) -> str:
    from orchestra_env.experts.simulated import keywords

    return " ".join(keywords(text, limit)) or " ".join(text.split()[:10])


def next_action(request: ExpertRequest, model: str, calibration: Any, catalogue: Catalogue) -> str:
    """The simulated orchestrator's next tool call, as JSON text (see the module docstring)."""
    system = "\n".join(m.get("content", "") for m in request.messages if m.get("role") == "system")
    card = orchestrator_card(calibration, model, task_set(system))
    tools = parse_tools(system)
    users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
    task_text = users[0] if users else ""
    turn = sum(m.get("role") == "assistant" for m in request.messages)
    episode_rng = np.random.default_rng(derive_seed(request.seed, model, "plan"))
    rng = np.random.default_rng(derive_seed(request.seed, model, "turn", turn))
    if "answer" in tools:
        action = _qa_action(tools, card, catalogue, task_text, request.messages, turn, episode_rng, rng)
    else:
        action = _agentic_action(tools, card, catalogue, request.messages, rng)
    return json.dumps(action, ensure_ascii=False)


def _qa_action(tools: Mapping[str, Any], card: OrchestratorCard, catalogue: Catalogue, task_text: str,
               messages: Sequence[Mapping[str, str]], turn: int, episode_rng: np.random.Generator,
               rng: np.random.Generator) -> dict[str, Any]:
    k = _gather_turns(_gather_mean(tools, card, catalogue), episode_rng) \
        if any(t in tools for t in ("search", "enhance_reasoning")) else 0
    if turn < k:
        use_search = "search" in tools and ("enhance_reasoning" not in tools or rng.random() < card.p_search)
        if use_search:
            aliases = _enum(tools["search"], "model")
            if not aliases or rng.random() < card.own_query:
                return {"tool": "search", "arguments": {"query": _keywords_of(task_text)}}
            return {"tool": "search", "arguments": {"model": choose_alias(aliases, card, catalogue, rng)}}
        aliases = _enum(tools["enhance_reasoning"], "model")
        return {"tool": "enhance_reasoning", "arguments": {"model": choose_alias(aliases, card, catalogue, rng)}}
    outputs = "\n".join(m.get("content", "") for m in messages[2:] if m.get("role") == "user")
    derived = _DERIVED.findall(outputs)
    aliases = _enum(tools["answer"], "model")
    if (derived and rng.random() < card.trust_derived) or not aliases:
        answer = derived[-1].strip() if derived else _keywords_of(task_text, 2)
        return {"tool": "answer", "arguments": {"answer": answer}}
    return {"tool": "answer", "arguments": {"model": choose_alias(aliases, card, catalogue, rng)}}


def _gather_mean(tools: Mapping[str, Any], card: OrchestratorCard, catalogue: Catalogue) -> float:
    """``gather_experts`` when some QA tool offers a choice of models, else ``gather_mean``: a
    model with other helpers at hand calls them more (or less) than it uses only itself."""
    if card.gather_experts is None:
        return card.gather_mean
    return card.gather_experts if _offers_choice(tools) else card.gather_mean


def _offers_choice(tools: Mapping[str, Any]) -> bool:
    """Whether a model-choosing tool offers more than one alias (counting aliases, not resolving
    them: the env's catalogue may name aliases the simulator's catalogue does not know)."""
    return any(len(_enum(tools[name], "model" if name != "call_expert" else "expert")) > 1
               for name in ("search", "enhance_reasoning", "answer", "call_expert") if name in tools)


def _gather_turns(mean: float, rng: np.random.Generator) -> int:
    """Gathering calls of one episode: 1 + Poisson(mean - 1), or a coin below a mean of 1."""
    if mean < 1:
        return int(rng.random() < mean)
    return 1 + int(rng.poisson(mean - 1.0))


def _agentic_action(tools: Mapping[str, Any], card: OrchestratorCard, catalogue: Catalogue,
                    messages: Sequence[Mapping[str, str]], rng: np.random.Generator) -> dict[str, Any]:
    last = messages[-1].get("content", "") if messages else ""
    advice = ADVICE.search(last)
    if advice and rng.random() < card.follow_advice:  # the draw is taken whenever advice is shown
        step = read_advice(advice.group(0))
        if step is not None and step["tool"] in tools:
            return {"tool": step["tool"], "arguments": dict(step.get("arguments") or {})}
    expert_calls = sum('"call_expert"' in m.get("content", "") for m in messages if m.get("role") == "assistant")
    if "call_expert" in tools and expert_calls < card.max_expert_calls:
        aliases = _enum(tools["call_expert"], "expert")
        if aliases:
            alias = choose_alias(aliases, card, catalogue, rng)
            return {"tool": "call_expert", "arguments": {"expert": alias, "question": "What should I do next?"}}
    if "respond" in tools:
        return {"tool": "respond", "arguments": {"content": "Could you give me any detail I still need to help you?"}}
    return {"tool": "done", "arguments": {}} if "done" in tools else {"tool": next(iter(tools)), "arguments": {}}

