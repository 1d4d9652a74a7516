"""A calibrated *simulator* of the expert pool: the offline default, not a language model.

It learns the hidden task from the env's oracle (:func:`~orchestra_env.experts.oracle.current_task`,
bound only while the env dispatches a tool; requests carry messages only) and decides, with a seeded coin, whether the called
model gets it right. The coin's bias is the model's skill on the task's benchmark and categories
(``calibration.yaml``, with sources), raised when the prompt already contains the gold answer
(evidence found by search or by an earlier reasoner call). What it writes depends on the role:

* ``answer``: the gold answer when right, a plausible wrong one otherwise;
* ``expert`` (agentic domains): advice about the *next* step of the task's plan when right (one
  tool call, never the whole gold list), an incomplete or wrong step otherwise (:func:`advise`);
* ``reasoner``: a few lines of reasoning that may state a derived fact containing the answer
  (evidence for a later ``answer`` call) and may carry a small, safe ``python`` block;
* ``search``: a query; stronger models pick the informative words (and gold article titles);
* ``judge``: ``yes``/``no`` from a normalised comparison of reference and prediction;
* ``orchestrator``: one tool call, as a prompted LLM orchestrator would write it
  (:mod:`orchestra_env.experts.simulated_orchestrator`); it never sees the task.

Token counts model what a real model would bill (hidden reasoning included), not the length of
the short text returned. Every draw comes from one ``numpy`` generator seeded by the request, so
the same request always gets the same response.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import yaml

from orchestra_env.experts.base import ExpertRequest, ExpertResponse
from orchestra_env.experts.oracle import current_episode_seed, current_task
from orchestra_env.model_json import first_json
from orchestra_env.tasks import Task, derive_seed
from orchestra_env.usage import Catalogue, approx_tokens

# --------------------------------------------------------------------------------------------
# Calibration: model cards and the skill formula
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCard:
    """What the simulator knows about one real model."""

    name: str
    skill: Mapping[str, float]  # benchmark -> accuracy of one direct call, no evidence
    query_skill: float  # probability of writing an informative search query
    verbosity: float  # multiplies the role's mean output tokens
    latency_s: float  # used only when the catalogue has no alias for this model
    category_offsets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # hidden reasoning tokens per call, billed as output on top of the visible text (which the
    # request's max_tokens caps): thinking models bill far more than they show
    thinking_tokens: float = 0.0
    # task set -> {"thinking_scale", "latency_scale"}: the effort of the model's intermediate calls
    # (advice, search queries, reasoning steps; not its final answer, see ``call_effort``) on that
    # task set relative to a QA answer: advising one step of a customer-service conversation is
    # not answering an exam question
    effort: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def call_effort(self, role: str, benchmark: str | None) -> tuple[float, float]:
        """``(thinking_scale, latency_scale)`` of one call in ``role`` on ``benchmark``.

        A final ``answer`` (and a judge's verdict) is the model's whole effort on the question,
        which its ``no_tools`` figures fix on every task set, so it is never scaled."""
        if role in UNSCALED_ROLES or benchmark is None:
            return 1.0, 1.0
        over = self.effort.get(_benchmark_key(benchmark), {})
        return float(over.get("thinking_scale", 1.0)), float(over.get("latency_scale", 1.0))


@dataclass(frozen=True)
class Calibration:
    """Model cards plus the shared knobs of the simulator (see ``calibration.yaml``)."""

    cards: Mapping[str, ModelCard]
    evidence_boost: float
    tokens_out: Mapping[str, float]
    tokens_sigma: float
    latency_sigma: float
    category_mix: Mapping[str, Mapping[str, float]]
    category_offsets: Mapping[str, Mapping[str, float]]
    orchestrators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, source: "str | Path | Mapping[str, Any] | None" = None) -> "Calibration":
        """From a YAML path, a dict of the same shape, or the shipped ``calibration.yaml``."""
        if source is None:
            package = resources.files("orchestra_env.experts")
            data = yaml.safe_load(package.joinpath("calibration.yaml").read_text())
            fitted = package.joinpath("fitted.yaml")
            if fitted.is_file():  # figures fitted by benchmarks/fit_calibration.py (see its header)
                data = deep_merge(data, yaml.safe_load(fitted.read_text()) or {})
        elif isinstance(source, Mapping):
            data = source
        else:
            data = yaml.safe_load(Path(source).read_text())
        cards = {
            name: ModelCard(
                name=name,
                skill={b: float(p) for b, p in c["skill"].items()},
                query_skill=float(c["query_skill"]),
                verbosity=float(c.get("verbosity", 1.0)),
                latency_s=float(c.get("latency_s", 10.0)),
                category_offsets=c.get("category_offsets", {}),
                thinking_tokens=_thinking_tokens(data["models"], name),
                effort=_effort(data["models"], name),
            )
            for name, c in data["models"].items()
        }
        return cls(
            cards=cards,
            evidence_boost=float(data["evidence_boost"]),
            tokens_out=data["tokens_out"],
            tokens_sigma=float(data["tokens_sigma"]),
            latency_sigma=float(data["latency_sigma"]),
            category_mix=data.get("category_mix", {}),
            category_offsets=data.get("category_offsets", {}),
            orchestrators=data.get("orchestrators", {}),
        )

    def card(self, model: str) -> ModelCard:
        if model not in self.cards:
            raise ValueError(
                f"the simulated pool has no card for model {model!r}; known: {sorted(self.cards)}. "
                "Add one to a copy of orchestra_env/experts/calibration.yaml and pass "
                "SimulatedExpert(calibration=Calibration.load(path))."
            )
        return self.cards[model]

    def skill(self, model: str, benchmark: str, categories: Sequence[str] = ()) -> float:
        """Probability that one direct call to ``model`` answers a task right, without evidence.

        Known categories shift the log-odds by their offsets (averaged for multi-label tasks)
        around an intercept chosen so that accuracy over the benchmark's category mix equals the
        card's published figure. Unknown benchmarks get the mean of the card's figures.
        """
        card = self.card(model)
        bench = _benchmark_key(benchmark)
        base = card.skill.get(bench, float(np.mean(list(card.skill.values()))))
        offsets = self._offsets(model, bench)
        known = [offsets[c] for c in categories if c in offsets]
        if not known:
            return base
        intercept = self._intercept(model, bench, base)
        return _sigmoid(intercept + float(np.mean(known)))

    def _offsets(self, model: str, bench: str) -> dict[str, float]:
        shared = dict(self.category_offsets.get(bench, {}))
        for cat, off in self.card(model).category_offsets.get(bench, {}).items():
            shared[cat] = shared.get(cat, 0.0) + float(off)
        return shared

    def _intercept(self, model: str, bench: str, base: float) -> float:
        return _solve_intercept(
            base,
            tuple(sorted(self._offsets(model, bench).items())),
            tuple(sorted(self.category_mix.get(bench, {}).items())),
        )


def _bills_like(models: Mapping[str, Any], name: str, key: str) -> tuple[str, Mapping[str, Any]]:
    """The card (name, fields) whose ``key`` prices ``name``'s calls: its own when it sets ``key``
    or names no ``thinking_like``, else the fitted card its ``thinking_like`` names. A model outside
    Table 1 has no figure to fit its bill to, so it bills like its family (gpt-5-mini like gpt-5),
    not for free."""
    card = models[name]
    if key in card or "thinking_like" not in card:
        return name, card
    like = card["thinking_like"]
    if like not in models or "thinking_like" in models[like]:
        raise ValueError(f"models.{name}.thinking_like names {like!r}, which must be a card with its own thinking_tokens")
    return like, models[like]


def _thinking_tokens(models: Mapping[str, Any], name: str) -> float:
    """A card's ``thinking_tokens``, or those of the card its ``thinking_like`` names."""
    return float(_bills_like(models, name, "thinking_tokens")[1].get("thinking_tokens", 0.0))


EFFORT_KEYS = ("thinking_scale", "latency_scale")
UNSCALED_ROLES = ("answer", "judge", "orchestrator")


def _effort(models: Mapping[str, Any], name: str) -> dict[str, dict[str, float]]:
    """A card's per-task-set effort (``benchmarks: {tau2: {thinking_scale: .., latency_scale: ..}}``),
    or that of its ``thinking_like`` model when it has none (it bills like its family)."""
    owner, source = _bills_like(models, name, "benchmarks")
    out: dict[str, dict[str, float]] = {}
    for bench, over in (source.get("benchmarks") or {}).items():
        unknown = sorted(set(over) - set(EFFORT_KEYS))
        if unknown:
            raise ValueError(f"models.{owner}.benchmarks.{bench} has unknown keys {unknown}; a model card's "
                             f"per-task-set keys are {list(EFFORT_KEYS)}")
        values = {k: float(v) for k, v in over.items()}
        if any(v < 0 for v in values.values()):
            raise ValueError(f"models.{owner}.benchmarks.{bench}: effort scales must be >= 0, got {values}")
        out[_benchmark_key(bench)] = values
    return out


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s leaves replacing its own, nested mappings merged key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _benchmark_key(benchmark: str) -> str:
    """``tau2-retail`` and ``TAU2`` both read the ``tau2`` figure."""
    key = benchmark.lower()
    return "tau2" if key.startswith("tau") else key


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@lru_cache(maxsize=None)
def _solve_intercept(
    target: float, offsets: tuple[tuple[str, float], ...], mix: tuple[tuple[str, float], ...]
) -> float:
    """Log-odds intercept b with sum_c w_c * sigmoid(b + offset_c) == target (bisection)."""
    off = dict(offsets)
    weights = {c: w for c, w in mix if c in off} or {c: 1.0 for c in off}
    total = sum(weights.values())

    def mean_p(b: float) -> float:
        return sum(w * _sigmoid(b + off[c]) for c, w in weights.items()) / total

    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_p(mid) < target else (lo, mid)
    return (lo + hi) / 2


# --------------------------------------------------------------------------------------------
# Text helpers: normalisation, evidence, plausible wrong answers, query keywords
# --------------------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a an the of in on at to for from by with as is was were are be been being and or but if
    then than that this these those what which who whom whose when where why how many much
    does did do has have had it its their there they them he she his her i my me you your we our
    would could should will can may might into about after before over under same also only
    not no yes one first second""".split()
)
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_WORD = r"[A-Z](?:\.|[\w'’-]*)"
_PHRASE = re.compile(rf"{_WORD}(?:[ \t]+(?:of[ \t]+|de[ \t]+|the[ \t]+)?{_WORD})*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*)$")
_STARTERS = frozenset("imagine according round note here's here please suppose consider".split())


def normalize(text: str) -> str:
    """Lower case, digits' thousands separators and punctuation removed, articles dropped."""
    text = re.sub(r"(?<=\d),(?=\d)", "", text.lower())
    text = re.sub(r"[^\w\s.]|(?<!\d)\.|\.(?!\d)", " ", text)
    words = [w for w in text.split() if w not in ("a", "an", "the")]
    return " ".join(words)


def contains_answer(text: str, task: Task) -> bool:
    """Whether ``text`` states the task's gold answer (the simulator's notion of evidence)."""
    if task.answer_type == "multipleChoice":
        letter = re.escape(task.answer.strip().strip("()").lower())
        return re.search(rf"answer\s*(?:is|:)\s*\(?{letter}\b", text.lower()) is not None
    gold = normalize(task.answer)
    return bool(gold) and f" {gold} " in f" {normalize(text)} "


def _evidence_text(request: ExpertRequest, task: Task) -> str:
    """The prompt without the question itself (a gold answer echoed by the question is no evidence)."""
    return request.prompt_text.replace(task.question.strip(), " ")


def _ordinal_suffix(n: int) -> str:
    if 10 <= abs(n) % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")


def _perturb_number(token: str, rng: np.random.Generator) -> str:
    ordinal = _ORDINAL.match(token)
    digits = ordinal.group(1) if ordinal else token.replace(",", "")
    if "." in digits:
        value = float(digits)
        factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.05, 0.3)
        decimals = len(digits.split(".")[1])
        return f"{value * factor:.{decimals}f}"
    n = int(digits)
    if 1000 <= n <= 2100:  # a year: shift it a little
        shift = int(rng.integers(1, 6))
    else:
        shift = int(rng.integers(1, max(2, round(abs(n) * 0.2) + 1)))
    m = n + shift * int(rng.choice([-1, 1]))
    if m < 0 <= n:
        m = n + shift
    return f"{m}{_ordinal_suffix(m)}" if ordinal else str(m)


def _entities(text: str) -> list[str]:
    """Capitalised phrases (``Charlotte Bronte``, ``James A. Garfield``), in order of appearance.

    A sentence's first word is capitalised anyway, so a phrase opening a sentence loses its
    leading function words and is kept only if more than one word remains.
    """
    found: dict[str, None] = {}
    for match in _PHRASE.finditer(text):
        words = match.group(0).split()
        if _SENTENCE_START.search(text[: match.start()]):
            while words and (words[0].lower() in _STOPWORDS or words[0].lower() in _STARTERS):
                words.pop(0)
            if len(words) < 2:
                continue
        phrase = " ".join(words)
        if phrase and phrase.lower() not in _STOPWORDS:
            found.setdefault(phrase, None)
    return list(found)


def plausible_wrong(task: Task, rng: np.random.Generator) -> str:
    """A deterministic wrong answer of the gold answer's kind (letter, number, date, name).

    It shares no number and no word with the gold answer, so lenient judges (F1, containment)
    also see it as wrong.
    """
    gold = task.answer.strip()
    if task.answer_type == "multipleChoice":
        letters = [c for c in "ABCDE" if c != gold.strip("()").upper()]
        return str(rng.choice(letters))
    match = re.search(r"\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th)?", gold)
    if match:
        # The number alone, not the gold sentence with one number changed: token-overlap judges
        # (F1) would count a sentence that differs in one token as right.
        wrong = _perturb_number(match.group(0), rng)
        if normalize(wrong) not in normalize(gold).split():
            return wrong
    if normalize(gold) in ("yes", "no"):
        return "No" if normalize(gold) == "yes" else "Yes"
    gold_words = set(normalize(gold).split())
    others = [e for e in _entities(task.question) if not gold_words & set(normalize(e).split())]
    if others:
        return str(rng.choice(others))
    return "unknown"


def plan_steps(task: Task) -> list[dict[str, Any]]:
    """The task's reference plan as tool calls (``{"tool", "arguments"}``), in order.

    ``metadata["plan"]`` when the env provides one (tau2: its gold actions, the user's as
    requests to the user, then what to tell them); else ToolScale's gold calls
    (``metadata["actions"]``) followed by a ``respond`` that tells the required information.
    """
    if task.metadata.get("plan"):
        return [dict(step) for step in task.metadata["plan"]]
    steps = [{"tool": a["name"], "arguments": dict(a.get("arguments") or {})}
             for a in task.metadata.get("actions") or ()]
    required = [str(r) for r in task.metadata.get("required") or ()]
    if required:
        steps.append({"tool": "respond", "arguments": {"content": " ".join(required)}})
    return steps


def _steps_done(steps: Sequence[Mapping[str, Any]], prompt: str) -> int:
    """How many leading steps the conversation shows done: the context an expert is shown
    renders each call as ``[agent calls name(...)]`` (or, in a bare transcript, tags its output
    ``[name]``), so the k-th call of a tool is done when the tool appears k times. A ``respond``
    step is never counted done (what was said is not tagged)."""
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        name = step["tool"]
        seen[name] = seen.get(name, 0) + 1
        done = len(re.findall(rf"\[{re.escape(name)}\]|calls {re.escape(name)}\(", prompt))
        if name == "respond" or done < seen[name]:
            return i
    return len(steps)


ADVICE = re.compile(r"Next step:\s*(\{.*\})", re.S)  # what ``advise`` writes when it names a step


def read_advice(text: str) -> dict[str, Any] | None:
    """The ``{"tool", "arguments"}`` step an adviser's reply names (``advise``'s format), or None
    when it names none (unsure) or the step is malformed."""
    step = first_json(text, ADVICE, group=1)
    return step if isinstance(step, dict) and isinstance(step.get("tool"), str) else None


def advise(task: Task, prompt: str, right: bool, rng: np.random.Generator) -> str:
    """An expert's advice on an agentic task: one step, never the whole plan.

    Right: the next step of the plan not yet done, as one tool call. Wrong (the draw said so):
    half the time an incomplete answer (no step), otherwise the next step with an argument
    changed (a wrong write is what sinks a weak agent on tau2: the DB ends up wrong). Advice
    never lists more than one step, so the full gold action list cannot reach the policy by
    construction.
    """
    steps = plan_steps(task)
    if not steps:
        return "Nothing needs to change for this request; answer the user from what you can look up."
    k = min(_steps_done(steps, prompt), len(steps) - 1)
    if right:
        step = steps[k]
    elif rng.random() < 0.5:
        return "I am not sure what the next step is; check the policy and ask the user for any missing detail."
    else:
        step = _perturb_step(steps[k], rng)
    return "Next step: " + json.dumps(step, ensure_ascii=False, default=str)


def next_step_index(task: Task, prompt: str) -> int:
    """Index of the plan step an adviser shown ``prompt`` would advise on."""
    steps = plan_steps(task)
    return min(_steps_done(steps, prompt), max(len(steps) - 1, 0))


def _perturb_step(step: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """The step with one argument changed (a number shifted, a string's last character altered)."""
    arguments = dict(step.get("arguments") or {})
    if not arguments:
        return {"tool": step["tool"], "arguments": {"note": "unsure"}}
    key = sorted(arguments)[int(rng.integers(len(arguments)))]
    value = arguments[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        arguments[key] = value + int(rng.integers(1, 4))
    else:
        text = str(value)
        arguments[key] = text[:-1] + ("X" if not text.endswith("X") else "Y")
    return {"tool": step["tool"], "arguments": arguments}


def keywords(question: str, limit: int = 8) -> list[str]:
    """Informative terms of a question: entities, then numbers, then rare-looking words."""
    ents = _entities(question)
    ent_words = {w.lower() for e in ents for w in e.split()}
    numbers = [n for n in _NUMBER.findall(question) if n not in " ".join(ents)]
    words = [
        w
        for w in re.findall(r"[a-zA-Z][a-zA-Z'-]{3,}", question)
        if w.lower() not in _STOPWORDS and w.lower() not in ent_words
    ]
    ordered = list(dict.fromkeys(ents + numbers + words))
    return ordered[:limit]


# --------------------------------------------------------------------------------------------
# The simulator
# --------------------------------------------------------------------------------------------

# Labels of the reference and the prediction in judge prompts: "Reference answer: ...",
# "[correct_answer]: ...", "Student answer: ...", "[response]: ...", "Prediction: ...". A field
# ends at a blank line, at the next label, or at the end of the prompt.
_REF_LABEL = r"reference(?:[ _]answer)?|correct[ _]answer|gold(?:[ _]answer)?"
_PRED_LABEL = r"prediction|predicted[ _]answer|student[ _]answer|response|answer"
_FIELD_END = rf"(?=\n[ \t]*\n|\n\W*(?:{_REF_LABEL}|{_PRED_LABEL}|question)\W*:|\Z)"
_JUDGE_REF = re.compile(rf"^\W*(?:{_REF_LABEL})\W*:[ \t]*(.*?){_FIELD_END}", re.I | re.M | re.S)
_JUDGE_PRED = re.compile(rf"^\W*(?:{_PRED_LABEL})\W*:[ \t]*(.*?){_FIELD_END}", re.I | re.M | re.S)


class SimulatedExpert:
    """Calibrated stand-in for every model of the pool (see the module docstring).

    ``request.model`` may be a real model name (``gpt-5``) or a catalogue alias (``answer-1``).
    With no task bound (a call from outside the env's step, e.g. by a policy) the simulator
    cannot know the answer: answer calls return a
    hedge (never right), reasoner calls state no fact, search calls use the prompt's keywords.
    """

    def __init__(self, calibration: Calibration | None = None, catalogue: Catalogue | None = None):
        self.calibration = calibration or Calibration.load()
        self.catalogue = catalogue or Catalogue.default()
        self._writers: dict[str, Callable[[ExpertRequest, ModelCard, np.random.Generator], str]] = {
            "answer": self._answer,
            "expert": self._advise,
            "reasoner": self._reason,
            "search": self._query,
            "judge": self._judge,
            "orchestrator": self._orchestrate,
        }

    def __repr__(self) -> str:
        return f"SimulatedExpert(models={sorted(self.calibration.cards)})"

    # -- public -------------------------------------------------------------------------------

    def complete(self, request: ExpertRequest) -> ExpertResponse:
        model = self._model_name(request.model)
        card = self.calibration.card(model)
        if request.role not in self._writers:
            raise ValueError(f"unknown role {request.role!r}; choose one of {sorted(self._writers)}")
        rng = np.random.default_rng(self._seed(request, model))
        text = self._writers[request.role](request, card, rng)
        thinking, mean_latency = self._billing(request, card)
        tokens_out = self._tokens_out(request, card, rng, text, thinking)
        latency = self._latency(mean_latency, rng)
        return ExpertResponse(text, approx_tokens(request.prompt_text), tokens_out, latency)

    def p_correct(self, request: ExpertRequest) -> float:
        """Probability that an answer/expert/reasoner call with this prompt is right."""
        task = current_task()
        if task is None:
            return 0.0
        model = self._model_name(request.model)
        p = self.calibration.skill(model, task.benchmark, task.categories)
        if contains_answer(_evidence_text(request, task), task):
            p += (1.0 - p) * self.calibration.evidence_boost
        return p

    # -- role writers -------------------------------------------------------------------------

    def _answer(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator) -> str:
        task = current_task()
        if task is None:
            return "I cannot determine the answer from the information given."
        if not task.answer.strip():
            return "I have no specific answer."
        if rng.random() < self.p_correct(request):
            return task.answer.strip()
        return plausible_wrong(task, rng)

    def _advise(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator) -> str:
        task = current_task()
        if task is None:
            return "I have no specific advice beyond following the policy."
        # The verdict on a step is kept for the episode: asking the same model about the same
        # step again gets the same advice (a model that cannot do a step does not learn it by
        # being asked twice; another model is a fresh chance).
        step = next_step_index(task, request.prompt_text)
        verdict = np.random.default_rng(derive_seed(current_episode_seed() or 0, task.task_id, card.name, "advice", step))
        return advise(task, request.prompt_text, verdict.random() < self.p_correct(request), verdict)

    def _orchestrate(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator) -> str:
        from orchestra_env.experts.simulated_orchestrator import next_action

        return next_action(request, self._model_name(request.model), self.calibration, self.catalogue)

    def _reason(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator) -> str:
        task = current_task()
        question = task.question if task else _last_user(request)
        terms = ", ".join(keywords(question, 4)) or "the question"
        lines = [f"The question turns on {terms}. Break it into steps, find each fact, then combine."]
        if task is None:
            lines.append("Without more evidence I cannot pin down the final value.")
            return "\n".join(lines)
        right = rng.random() < self.p_correct(request)
        if not right and rng.random() < 0.5:
            lines.append("I could not pin down the final value; more evidence is needed.")
            return "\n".join(lines)
        claim = task.answer.strip() if right else plausible_wrong(task, rng)
        lines.append(f"Derived fact: the answer is {claim}.")
        if rng.random() < 0.5:
            lines.append(_python_block(claim, rng))
        return "\n".join(lines)

    def _query(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator) -> str:
        task = current_task()
        question = task.question if task else _last_user(request)
        if rng.random() >= card.query_skill:  # weak query: the question's first words, verbatim
            return " ".join(question.split()[:10])
        terms = keywords(question)
        titles = task.metadata.get("evidence_titles", ()) if task else ()
        terms += [t for t in titles if rng.random() < card.query_skill]
        return " ".join(dict.fromkeys(terms))

    def _judge(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator) -> str:
        text = request.prompt_text
        ref = _JUDGE_REF.search(text)
        pred = _JUDGE_PRED.search(text)
        task = current_task()
        reference = ref.group(1) if ref else (task.answer if task else "")
        prediction = pred.group(1) if pred else text.strip().splitlines()[-1] if text.strip() else ""
        return "yes" if same_answer(reference, prediction) else "no"

    # -- accounting ---------------------------------------------------------------------------

    def _tokens_out(self, request: ExpertRequest, card: ModelCard, rng: np.random.Generator, text: str,
                    thinking: float) -> int:
        """Visible tokens (capped by ``max_tokens``) plus hidden thinking tokens, which share the
        call's log-normal factor (no extra draw: a thinking knob changes the bill, not the run)."""
        role = request.role
        mean = float(self.calibration.tokens_out.get(role, 200)) * card.verbosity
        sigma = self.calibration.tokens_sigma
        factor = float(rng.lognormal(-sigma**2 / 2, sigma))
        visible = max(1, min(request.max_tokens, max(int(round(mean * factor)), approx_tokens(text))))
        return visible + int(round(thinking * factor))

    def _billing(self, request: ExpertRequest, card: ModelCard) -> tuple[float, float]:
        """Hidden tokens and mean latency of one call: the card's, or for an orchestrator turn
        its orchestrator card's (read once from the prompt's tool list and task set)."""
        mean = self.mean_latency(card.name, request.role)
        if request.role != "orchestrator":
            task = current_task()
            thinking, latency = card.call_effort(request.role, task.benchmark if task else None)
            return card.thinking_tokens * thinking, mean * latency
        from orchestra_env.experts.simulated_orchestrator import turn_billing

        tokens, latency = turn_billing(request, card.name, self.calibration)
        return tokens, latency or mean

    def _latency(self, mean: float, rng: np.random.Generator) -> float:
        sigma = self.calibration.latency_sigma
        return float(mean * rng.lognormal(-(sigma**2) / 2, sigma))

    def mean_latency(self, model: str, role: str) -> float:
        """The catalogue's latency for (model, role), else the model's mean, else the card's."""
        role = "answer" if role == "judge" else role
        aliases = [a for a in self.catalogue.aliases.values() if a.model == model]
        same_role = [a.latency_s for a in aliases if a.role == role]
        if same_role or aliases:
            return float(np.mean(same_role or [a.latency_s for a in aliases]))
        return self.calibration.card(model).latency_s

    def _model_name(self, name: str) -> str:
        alias = self.catalogue.aliases.get(name)
        return alias.model if alias else name

    @staticmethod
    def _seed(request: ExpertRequest, model: str) -> int:
        prompt_hash = hashlib.sha256(request.prompt_text.encode("utf-8")).hexdigest()[:16]
        task = current_task()
        task_id = task.task_id if task else ""
        return derive_seed(request.seed, model, task_id, request.role, prompt_hash)


def same_answer(reference: str, prediction: str) -> bool:
    """Lenient normalised match, as a simple judge would do it.

    A one-letter reference (multiple choice) must be the prediction's letter; otherwise every
    number of the reference must appear among the prediction's numbers and every other word of
    the reference among its words ("Jane Ballou" matches "Her name is Jane Ballou.").
    """
    letter = re.fullmatch(r"\(?([A-Ea-e])\)?\.?", reference.strip())
    if letter:
        found = re.fullmatch(r"\W*\(?([A-Ea-e])\)?\W*", prediction) or re.search(
            r"answer\s*(?:is|:)\s*\(?([A-Ea-e])\b", prediction, re.I
        )
        return bool(found) and found.group(1).upper() == letter.group(1).upper()
    ref, pred = normalize(reference), normalize(prediction)
    if not ref or not pred:
        return False
    if ref == pred:
        return True
    pred_nums = [float(n) for n in _NUMBER.findall(pred)]
    numbers_ok = all(
        any(math.isclose(float(a), b, rel_tol=1e-6) for b in pred_nums) for a in _NUMBER.findall(ref)
    )
    words = [w for w in ref.split() if not any(c.isdigit() for c in w)]
    return numbers_ok and set(words) <= set(pred.split())


def _last_user(request: ExpertRequest) -> str:
    users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
    return users[-1] if users else request.prompt_text


def _python_block(claim: str, rng: np.random.Generator) -> str:
    """Small, safe code that prints the claim: a sum for numbers, a literal otherwise."""
    number = re.fullmatch(r"-?\d+", claim.replace(",", ""))
    if number:
        total = int(number.group(0))
        part = int(rng.integers(0, abs(total) + 1))
        body = f"part_a = {part}\npart_b = {total - part}\nprint(part_a + part_b)"
    else:
        body = f"facts = [{claim!r}]\nprint(facts[-1])"
    return f"```python\n{body}\n```"
