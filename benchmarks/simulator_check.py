"""The simulator inside the FRAMES env: fixed plans vs the model cards they call.

Each plan is a fixed list of tool calls (no policy): one answer call, a search or a reasoner
call before it. The answer model's card gives its accuracy without evidence; a plan that
gathers first can only beat the card through evidence the env's tools produced (a retrieved
passage stating the gold answer, a reasoner's derived fact), which is what this checks.

    python -m benchmarks.simulator_check            # FRAMES test split, every task
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from benchmarks.common import BenchConfig, parse_config, progress, run_recorded
from benchmarks.stats import wilson

PLANS: dict[str, tuple[dict[str, Any], ...]] = {
    "answer-4": ({"tool": "answer", "arguments": {"model": "answer-4"}},),
    "answer-1": ({"tool": "answer", "arguments": {"model": "answer-1"}},),
    "search-1 then answer-4": ({"tool": "search", "arguments": {"model": "search-1"}},
                               {"tool": "answer", "arguments": {"model": "answer-4"}}),
    "search-3 then answer-4": ({"tool": "search", "arguments": {"model": "search-3"}},
                               {"tool": "answer", "arguments": {"model": "answer-4"}}),
    "reasoner-1 then answer-4": ({"tool": "enhance_reasoning", "arguments": {"model": "reasoner-1"}},
                                 {"tool": "answer", "arguments": {"model": "answer-4"}}),
}


@dataclass
class SimulatorCheckConfig(BenchConfig):
    n: int = 100_000  # FRAMES test tasks (capped at the split: 168)
    plans: list[str] = field(default_factory=lambda: list(PLANS))
    out: str = "results/simulator_check"


class FixedPlan:
    """Plays ``steps`` in order, whatever the observations say."""

    def __init__(self, steps: Sequence[Mapping[str, Any]]):
        self.steps, self.i = list(steps), 0

    def begin(self, env: Any, obs: Any, info: Any) -> None:
        self.i = 0

    def act(self, obs: Any, info: Any) -> Any:
        step = self.steps[min(self.i, len(self.steps) - 1)]
        self.i += 1
        return dict(step)


def run(config: SimulatorCheckConfig) -> list[dict[str, Any]]:
    import gymnasium as gym

    import orchestra_env  # noqa: F401 - registers the ids
    from agents.baselines import evaluate
    from orchestra_env.experts.simulated import Calibration

    unknown = set(config.plans) - set(PLANS)
    if unknown:
        raise ValueError(f"unknown plans {sorted(unknown)}; choose from {sorted(PLANS)}")
    calibration = Calibration.load()
    rows = []
    for name in progress(config.plans, "simulator_check", config.progress):
        env = gym.make("Orchestra/FRAMES-v0", split="test", experts=config.experts)
        try:
            answer_alias = PLANS[name][-1]["arguments"]["model"]
            model = env.unwrapped.catalogue.aliases[answer_alias].model
            n = min(config.n, len(env.unwrapped.tasks))
            result = evaluate(FixedPlan(PLANS[name]), env, n_tasks=n, seed=config.seed)
        finally:
            env.close()
        correct = result["episodes"]["correct"]
        rows.append({"plan": name, "answer_model": model, "n": len(correct),
                     **wilson(sum(correct), len(correct)).as_dict("accuracy"),
                     "card_skill": calibration.skill(model, "frames")})
    return rows


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| plan | answer model | n | accuracy % [95% CI] | card skill, no evidence % |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| `{r['plan']}` | {r['answer_model']} | {r['n']} | {100 * r['accuracy']:.1f} "
                     f"[{100 * r['accuracy_lo']:.1f}, {100 * r['accuracy_hi']:.1f}] | {100 * r['card_skill']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, config: SimulatorCheckConfig | None = None) -> list[dict[str, Any]]:
    config = config or parse_config(argv, SimulatorCheckConfig(), __doc__)
    rows, record, paths = run_recorded("simulator_check", config, run, markdown=markdown)
    print(markdown(rows))
    print(f"wrote {', '.join(map(str, paths))} ({record.duration_s:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
