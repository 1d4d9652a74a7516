"""Unseen tools and prices: train a description-reading router with one catalogue, test it with another.

* ``seen``: the shipped catalogue, each model with its measured capability description
  (:mod:`orchestra_env.experts.describe`, FRAMES train tasks, the same procedure for every model).
* ``unseen``: the same plus two models never seen in training, each with calibrated skills in a
  copy of the calibration (so the simulated pool can serve them), a price and the same measured
  description: ``Claude-Sonnet-4.5`` (a generalist, $3/$15, aliases ``search-4``, ``reasoner-4``,
  ``answer-5``) and ``DeepSeek-Math-V2`` (a maths specialist, $0.3/$1.2, ``answer-math-3``); and
  changed prices: gpt-5-mini x4, Qwen3-32B / 2.

The :class:`~agents.description_router.DescriptionRouter` is trained by our GRPO on the seen
catalogue (train split, ``accuracy-first`` by default: ``--preset``), then evaluated on the test split under both catalogues,
beside the Bayes router fitted to each world (the limit there) and the fixed baselines. A router
with one logit per alias (``MiniLMRouter``) cannot act on the unseen menu at all.

    python -m benchmarks.unseen_tools --out results/unseen_tools
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

import numpy as np

from benchmarks.common import RunConfig, parse_run_config, record_and_print
from benchmarks.routing import mean_sd
from benchmarks.stats import bootstrap_mean, wilson

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NEW_CARDS: dict[str, dict[str, Any]] = {  # guesses of ours, shaped like calibration.yaml's cards
    "Claude-Sonnet-4.5": {"skill": {"frames": 0.60, "hle": 0.15, "tau2": 0.70, "toolscale": 0.75},
                          "query_skill": 0.90, "verbosity": 1.2, "latency_s": 30},
    "DeepSeek-Math-V2": {"skill": {"frames": 0.15, "hle": 0.07, "tau2": 0.10, "toolscale": 0.15},
                         "query_skill": 0.40, "verbosity": 0.9, "latency_s": 12,
                         "category_offsets": {"frames": {"Numerical reasoning": 1.2}, "hle": {"Math": 1.0}}},
}
NEW_PRICES = {"Claude-Sonnet-4.5": {"price_in": 3.0, "price_out": 15.0},
              "DeepSeek-Math-V2": {"price_in": 0.3, "price_out": 1.2}}
NEW_ALIASES = {"search-4": {"role": "search", "model": "Claude-Sonnet-4.5", "latency_s": 14},
               "reasoner-4": {"role": "reasoner", "model": "Claude-Sonnet-4.5", "latency_s": 25},
               "answer-5": {"role": "answer", "model": "Claude-Sonnet-4.5", "latency_s": 30},
               "answer-math-3": {"role": "answer", "model": "DeepSeek-Math-V2", "latency_s": 12}}
PRICE_CHANGES = {"gpt-5-mini": 4.0, "Qwen3-32B": 0.5}
# Only the per-token prices change; a card's other entries (its context_tokens) stay as they are.
PRICE_KEYS = ("price_in", "price_out")


def _yaml(package: str, name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files(package).joinpath(name).read_text()) or {}


def repriced(card: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """A model card with its per-token prices (:data:`PRICE_KEYS`) times ``factor``, the rest kept."""
    return {**card, **{k: card[k] * factor for k in PRICE_KEYS if k in card}}


def vary_catalogue(cat: dict[str, Any], variant: int, seed: int) -> None:
    """A training variant of the seen catalogue, in place: every model's per-token prices times a
    factor drawn log-uniformly in [1/4, 4], and half of the reasoner and answer aliases dropped
    (at least one of each role kept). A router trained across variants cannot score an alias by
    who it is; it has to read what the description says (price, stated accuracy)."""
    rng = np.random.default_rng([seed, variant])
    for model, card in cat["models"].items():
        cat["models"][model] = repriced(card, float(np.exp(rng.uniform(np.log(0.25), np.log(4.0)))))
    aliases = dict(cat["aliases"])
    for role in ("reasoner", "answer"):
        names = sorted(a for a, v in aliases.items() if v.get("role") == role)
        drop = rng.choice(names, size=len(names) // 2, replace=False) if len(names) > 1 else []
        for name in drop:
            aliases.pop(str(name))
    cat["aliases"] = aliases


def write_world(directory: str | Path, unseen: bool, n_describe: int = 60, seed: int = 0,
                variant: int | None = None) -> dict[str, Any]:
    """Write one world's calibration and described catalogue (a training ``variant`` of the seen
    one: :func:`vary_catalogue`); return its ``gym.make`` kwargs."""
    from orchestra_env.data.frames import load_frames
    from orchestra_env.experts.describe import describe, measure, sample_tasks
    from orchestra_env.experts.simulated import Calibration, SimulatedExpert, deep_merge
    from orchestra_env.usage import Catalogue

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tag = ("unseen" if unseen else "seen") + ("" if variant is None else f"_variant{variant}")
    cal = deep_merge(_yaml("orchestra_env.experts", "calibration.yaml"), _yaml("orchestra_env.experts", "fitted.yaml"))
    cat = _yaml("orchestra_env", "data/catalogue.yaml")
    if unseen:
        cal["models"] = {**cal["models"], **NEW_CARDS}
        cat["models"] = {**cat["models"], **NEW_PRICES}
        for model, factor in PRICE_CHANGES.items():
            cat["models"][model] = repriced(cat["models"][model], factor)
        cat["aliases"] = {**cat["aliases"], **NEW_ALIASES}
    elif variant is not None:
        vary_catalogue(cat, variant, seed)
    cal_path, cat_path = directory / f"calibration_{tag}.yaml", directory / f"catalogue_{tag}.yaml"
    cal_path.write_text(yaml.safe_dump(cal, sort_keys=False))
    catalogue = Catalogue.from_dict(cat)
    sim = SimulatedExpert(Calibration.load(cal), catalogue)
    tasks = {"frames": sample_tasks(load_frames(split="train"), n_describe, seed, "frames")}
    reports = measure(sim, catalogue, tasks, seed=seed)
    for model, report in reports.items():
        text = describe(report)
        if text:
            cat["models"][model]["description"] = text
    cat_path.write_text(yaml.safe_dump(cat, sort_keys=False, width=1000))
    return {"catalogue": str(cat_path),
            "experts": {"default": {"backend": "simulated", "calibration": str(cal_path), "catalogue": str(cat_path)}}}


def make_env(split: str, world: Mapping[str, Any], max_turns: int = 4, preset: str = "cost-first") -> Any:
    import gymnasium as gym

    import orchestra_env  # noqa: F401
    from orchestra_env.wrappers import CostLatencyPenalty

    return CostLatencyPenalty.preset(gym.make("Orchestra/FRAMES-v0", split=split, max_turns=max_turns, **world), preset)


@dataclass
class UnseenConfig(RunConfig):
    n: int = field(default=0, metadata={"help": "test-split tasks per row (0: the whole split)"})
    preset: str = field(default="accuracy-first", metadata={
        "help": "CostLatencyPenalty preset of training and scoring (cost-first's best plan barely beats the "
                "cheapest answer, so a router that collapses onto it looks near-optimal there)"})
    steps: int = field(default=600, metadata={"help": "training env steps of each description-router run (600: a 3-seed run fits ~20 min on 2 loaded cores)"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "router seeds", "type": int})
    fit_tasks: int = field(default=20, metadata={"help": "train tasks of the Bayes routers' evidence estimates"})
    train_variants: int = field(default=0, metadata={
        "help": "catalogue variants the router trains on, round-robin in chunks of chunk_steps (vary_catalogue: "
                "prices x [1/4, 4], half the reasoner/answer aliases dropped); 0: the seen catalogue only"})
    chunk_steps: int = field(default=100, metadata={"help": "env steps per variant before the next (train_variants > 0)"})
    learning_rate: float = field(default=1e-3, metadata={
        "help": "Adam step size of the description router (RouterConfig's default, tuned for MiniLMRouter's head; "
                "the table's last column shows whether training moved the policy)"})
    item_text: bool = field(default=True, metadata={
        "help": "the router scores the description's text too (False: only the numbers it states, see DescriptionRouter)"})
    out: str = field(default="results/unseen_tools", metadata={"help": "output stem"})


def _row(policy: str, world: str, ep: Mapping[str, Sequence[float]], **extra: Any) -> dict[str, Any]:
    r, a, c = bootstrap_mean(ep["reward"]), wilson(sum(ep["correct"]), len(ep["correct"])), bootstrap_mean(ep["cost_usd"])
    return {"policy": policy, "world": world, "n": len(ep["reward"]), "reward": r.value, "reward_lo": r.low,
            "reward_hi": r.high, "accuracy": 100 * a.value, "acc_lo": 100 * a.low, "acc_hi": 100 * a.high,
            "cost_usd": c.value, **extra}


def run(config: UnseenConfig) -> list[dict[str, Any]]:
    import torch

    from agents.baselines import evaluate
    from agents.bayes_router import BayesRouter, fit_world
    from agents.routing_view import RoutingView, routing_policy
    from benchmarks.routing import view_episodes

    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        worlds = {"seen": write_world(tmp, False, seed=config.seed), "unseen": write_world(tmp, True, seed=config.seed)}
        tests = {name: RoutingView(make_env("test", w, preset=config.preset)) for name, w in worlds.items()}
        n = config.n or len(tests["seen"].unwrapped.tasks)
        for name, w in worlds.items():
            fit_env = make_env("train", w, preset=config.preset)
            bayes = BayesRouter(fit_world(fit_env, config.fit_tasks, seed=10_000))
            fit_env.close()
            for policy in (bayes, "strongest", "heuristic", "cheapest"):
                res = evaluate(policy, tests[name].env, n_tasks=n, seed=config.seed)
                label = policy if isinstance(policy, str) else "bayes"
                extra = {"stated": stated_figures(tests[name])} if label == "bayes" else {}
                rows.append(_row(label, name, res["episodes"], model_use=res["model_use"], **extra))
        variants = [write_world(tmp, False, seed=config.seed, variant=k) for k in range(config.train_variants)]
        for seed in config.seeds:
            router, entropy, train_menu = train_description_router(config, seed, variants or [worlds["seen"]])
            for name, view in tests.items():
                router.bind(view)
                picks: dict[str, int] = {}
                act = routing_policy(router, view=view)

                def counted(obs: Any, _act: Any = act, _view: Any = view, _picks: dict = picks) -> int:
                    a = _act(obs)
                    label = _view.menu.items[a].label
                    _picks[label] = _picks.get(label, 0) + 1
                    return a

                ep = view_episodes(view, counted, n, config.seed)
                new = sum(v for k, v in picks.items() if k.split(":")[-1] in NEW_ALIASES)
                rows.append(_row("description_router", name, ep, seed=seed, picks=picks, train_entropy=entropy,
                                 train_menu=train_menu, new_alias_share=new / max(1, sum(picks.values()))))
    return rows


def stated_figures(view: Any) -> dict[str, list[float | None]]:
    """Each answer call's [accuracy, $ per call] as its description states them for FRAMES (what
    the description router reads; None where a description states none)."""
    from agents.description_router import item_text, stated_accuracy, stated_cost

    catalogue = view.unwrapped.catalogue
    out = {}
    for item in view.menu.items:
        if item.tool == "answer" and item.alias is not None:
            text = item_text(item, catalogue)
            out[item.alias] = [stated_accuracy(text, "frames"), stated_cost(text, "frames")]
    return out


def train_description_router(config: UnseenConfig, seed: int, worlds: Sequence[Mapping[str, Any]]
                             ) -> tuple[Any, float, int]:
    """Our GRPO on the train split: on the one world for ``config.steps`` env steps, or round-robin
    over several, ``config.chunk_steps`` each (a fresh optimiser and task draw per chunk, the
    router's weights carried over), until ``config.steps`` in all. Returns the router, its
    policy's mean entropy over the last learning update's choices (nats) and the size of its
    menu: near ``ln |menu|`` the policy is still the uniform one it started as, and its greedy
    pick is an untrained tie-break."""
    from agents.description_router import DescriptionRouter
    from agents.routers import RouterConfig, train_router
    from agents.routing_view import RoutingView

    group = RouterConfig().group_size
    views = [[RoutingView(make_env("train", w, preset=config.preset)) for _ in range(group)] for w in worlds]
    router = DescriptionRouter(seed=seed, use_text=config.item_text)
    chunk = config.steps if len(worlds) == 1 else config.chunk_steps
    done, k, entropy = 0, 0, float("nan")
    while done < config.steps:
        envs = views[k % len(views)]
        rc = RouterConfig(seed=seed if len(views) == 1 else seed * 10_000 + k, updates=10**9,
                          max_env_steps=min(chunk, config.steps - done), learning_rate=config.learning_rate)
        router, history = train_router(envs, rc, router=router.bind(envs[0]))
        done += int(history[-1]["env_steps"]) if history else chunk
        # the last update that had a group to learn from (one whose groups all tied records none)
        entropy = next((float(h["loss/entropy"]) for h in reversed(history) if "loss/entropy" in h), entropy)
        k += 1
    return router, entropy, len(envs[0].menu.items)


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| policy | catalogue | n | mean reward [95% CI] | / bayes (same catalogue) | accuracy % [95% CI] | "
             "$ per task | share of calls to unseen aliases | policy entropy after training (nats) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    bayes = {r["world"]: r["reward"] for r in rows if r["policy"] == "bayes"}
    for r in rows:
        if "seed" in r:
            continue
        lines.append(f"| {r['policy']} | {r['world']} | {r['n']} | {r['reward']:.3f} [{r['reward_lo']:.3f}, "
                     f"{r['reward_hi']:.3f}] | {r['reward'] / bayes[r['world']]:.2f} | {r['accuracy']:.1f} "
                     f"[{r['acc_lo']:.1f}, {r['acc_hi']:.1f}] | {r['cost_usd']:.4f} | | |")
    for key in dict.fromkeys((r["policy"], r["world"]) for r in rows if "seed" in r):
        runs = [r for r in rows if "seed" in r and (r["policy"], r["world"]) == key]
        rew = [r["reward"] for r in runs]
        lines.append(f"| {key[0]} ({len(runs)} seeds) | {key[1]} | {runs[0]['n']} | {mean_sd(rew)} "
                     f"[{min(r['reward_lo'] for r in runs):.3f}, {max(r['reward_hi'] for r in runs):.3f}] | "
                     f"{np.mean(rew) / bayes[key[1]]:.2f} | {mean_sd([r['accuracy'] for r in runs], '.1f')} | "
                     f"{np.mean([r['cost_usd'] for r in runs]):.4f} | "
                     f"{mean_sd([100 * r['new_alias_share'] for r in runs], '.0f')}% | "
                     + (f"{mean_sd([r['train_entropy'] for r in runs], '.2f')} (uniform over the training menu: "
                        f"{math.log(runs[0]['train_menu']):.2f}) |" if "train_menu" in runs[0] else "|"))
    for r in rows:
        if r["policy"] == "bayes" and r.get("stated"):
            lines += ["", f"What the {r['world']} catalogue's descriptions state for each answer call (FRAMES, measured on "
                      "train tasks): " + "; ".join(
                          f"{alias} {'?' if acc is None else f'{100 * acc:.0f}%'} at "
                          f"{'?' if usd is None else f'${usd:.4f}'} per call" for alias, (acc, usd) in r["stated"].items())
                      + "."]
    return "\n".join(lines) + ("\n\nSeeded rows: mean ± std over seeds; the bracket spans the seeds' 95% "
                               "intervals (lowest low, highest high).\n")


def main(argv: Sequence[str] | None = None, config: UnseenConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_run_config(argv, UnseenConfig(), __doc__)
    return record_and_print("unseen_tools", config, run, lambda rows: (
        f"FRAMES-v0 test split, {config.preset}, max_turns 4; description router trained {config.steps} env steps "
        + ("per seed on the seen catalogue" if not config.train_variants else
           f"per seed on {config.train_variants} variants of the seen catalogue ({config.chunk_steps} steps each in turn)")
        + ("" if config.item_text else "; it scores only the numbers each description states (no text features)")
        + ".\n\n" + markdown(rows)))


if __name__ == "__main__":
    main()
