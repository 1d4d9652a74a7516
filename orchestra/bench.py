"""``orchestra bench [NAME] [options]``: run one benchmark of the installed ``benchmarks``
package (or the default set) into ``results/``.

Each benchmark is one line of :data:`BENCHMARKS`: its name, the module whose
``main(argv)`` runs it, whether plain ``orchestra bench`` (all) runs it, and a line of help.
Every one writes ``results/<name>.{csv,json}`` (with the run record: seed, version, commit,
config, backends, installed extras) and a ``.md`` table the docs include.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Benchmark:
    module: str
    help: str
    in_all: bool = False  # run by plain `orchestra bench` (the cheap, default set)


BENCHMARKS: dict[str, Benchmark] = {
    "table1": Benchmark("benchmarks.table1", "accuracy, $ and minutes per task, per env and agent (Table 1)", True),
    "budget": Benchmark("benchmarks.budget_curves", "accuracy vs cost under turn budgets 10/20/50/100", True),
    "tool-use": Benchmark("benchmarks.tool_use", "share of calls per tool and per model, per agent", True),
    "throughput": Benchmark("benchmarks.env_throughput", "FRAMES-v0 steps/s and where step time goes", True),
    "domain-throughput": Benchmark("benchmarks.domain_throughput", "reset and tool-step latency of tau2 and ToolScale"),
    "tau2-baselines": Benchmark("benchmarks.tau2_baselines", "gold / do-nothing / random-tool rewards per tau2 domain"),
    "toolscale-baselines": Benchmark("benchmarks.toolscale_baselines", "gold / do-nothing / random-tool rewards per ToolScale domain"),
    "fault-timings": Benchmark("benchmarks.fault_timings", "requests, wall time and billing of an env step under backend faults"),
    "retrieval": Benchmark("benchmarks.retrieval", "recall@k and speed of BM25, dense and hybrid search on FRAMES"),
    "sandbox": Benchmark("benchmarks.sandbox_limits", "hostile programs vs the Python sandbox"),
    "routing": Benchmark("benchmarks.routing", "Bayes router, oracle, baselines and trained routers (3 seeds) per preset (minutes)"),
    "routing-dominance": Benchmark("benchmarks.routing_dominance", "trained routers (results/routing.json) vs Table 1's all_tools orchestrators on FRAMES, intervals"),
    "routing-limits": Benchmark("benchmarks.routing_limits", "why learners fall short of the Bayes router: category-blind Bayes, plan gaps, episodes needed"),
    "routing-validation": Benchmark("benchmarks.routing_validation", "learner variants scored on a held-out train slice beside the Bayes router (minutes)"),
    "grpo-throughput": Benchmark("benchmarks.grpo_throughput", "one GRPO step, ours vs TRL: tokens/s, peak memory"),
    "threshold-routing": Benchmark("benchmarks.threshold_routing", "the confidence-threshold router's accuracy-cost sweep"),
    "outages": Benchmark("benchmarks.outages", "routers trained with / without provider outages, 3 seeds (minutes)"),
    "rollout-scaling": Benchmark("benchmarks.rollout_scaling", "episodes/s with 1 and 2 Ray workers, and a simulation to 512"),
    "generation-backends": Benchmark("benchmarks.generation_backends", "HF generate vs a vLLM server: tokens/s, GRPO iteration"),
    "alpha-umi": Benchmark("benchmarks.alpha_umi", "alpha-UMi (GLPFT) vs a single LLM vs the untrained base, 3 seeds (minutes)"),
    "moat": Benchmark("benchmarks.moat", "MOAT vs independent planner/executor training vs a single agent, 3 seeds (minutes)"),
    "bayes-frontier": Benchmark("benchmarks.bayes_frontier", "the Bayes router's accuracy-cost frontier vs Orchestrator-8B's row"),
    "tau2-frontier": Benchmark("benchmarks.tau2_frontier", "adviser policies on tau2 vs Orchestrator-8B's tau2 row"),
    "preference-adherence": Benchmark("benchmarks.preference_adherence", "how call shares and $ follow the preference, per policy"),
    "unseen-tools": Benchmark("benchmarks.unseen_tools", "the description router on a catalogue with unseen models and prices"),
    "reproduce": Benchmark("benchmarks.reproduce_table1", "ToolOrchestra's Table 1, published vs the simulated world"),
    "simulator-check": Benchmark("benchmarks.simulator_check", "fixed plans in FRAMES-v0 vs the model cards they call"),
    "expert-context": Benchmark("benchmarks.expert_context", "what QA experts are shown (evidence vs the harness's documents) and its effect on Table 1's FRAMES cells"),
    "calibration-table": Benchmark("benchmarks.calibration_table", "the calibration in force: every model card with the source of each figure"),
    "trl-throughput": Benchmark("benchmarks.trl_env_throughput", "TRL's GRPOTrainer on an env vs our GRPO"),
    "train-llm-policy": Benchmark("benchmarks.train_llm_policy", "LLM policy: base vs SFT vs SFT+GRPO on the tiny model, 3 seeds (minutes)"),
    "tau2-parity": Benchmark("benchmarks.tau2_parity", "our tau2 envs vs tau2-bench itself on action sequences (needs its venv)"),
}


def usage() -> str:
    width = max(map(len, BENCHMARKS))
    lines = [f"  {name:{width}s}  {b.help}{'' if not b.in_all else '  [all]'}" for name, b in BENCHMARKS.items()]
    return (f"usage: orchestra bench [{'|'.join(BENCHMARKS)}|all] [options]\n\n"
            "Runs a benchmark of the `benchmarks` package and writes results/<name>.csv/.json (with the\n"
            "seed, package version, git commit, config, expert backends and installed extras) and a\n"
            "Markdown table (and a plot where there is one). Without a name, runs the ones marked [all]\n"
            "with their defaults (a few minutes on a laptop).\n\n" + "\n".join(lines) +
            "\n\nOptions differ per benchmark: `orchestra bench NAME --help`. The [all] ones share\n"
            "--n --seed --envs --policies --experts --out --quiet.")


def main(argv: Sequence[str] | None = None) -> int:
    rest = [a for a in (argv or []) if a != "--"]
    if rest in (["-h"], ["--help"]):
        print(usage())
        return 0
    name = next((a for a in rest if a in BENCHMARKS or a == "all"), "all")
    if name in rest:
        rest.remove(name)
    if name == "all" and "--out" in rest:
        raise SystemExit("`orchestra bench` (all) writes each result to its default results/<name>; "
                         "drop --out or run one benchmark: orchestra bench table1 --out ...")
    chosen = [n for n, b in BENCHMARKS.items() if b.in_all] if name == "all" else [name]
    for bench in chosen:
        if name == "all":
            print(f"== orchestra bench {bench}")
        try:
            importlib.import_module(BENCHMARKS[bench].module).main(rest)
        except (ValueError, FileNotFoundError) as exc:  # a bad option: say which, without a traceback
            raise SystemExit(f"orchestra bench {bench}: {exc}") from exc
    return 0
