"""LLM policy, rollouts, GRPO and PPO on the tiny random-weight model (CPU, offline)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from agents.grpo import GRPO, GRPOConfig  # noqa: E402
from agents.llm_agent import LLMAgent  # noqa: E402
from agents.losses import Minibatch, clipped_policy_loss, clipped_ratio_update  # noqa: E402
from agents.policy import LLMPolicy, PolicyConfig  # noqa: E402
from agents.ppo import PPO, PPOConfig, gae  # noqa: E402
from agents.rollout import collect  # noqa: E402
from agents.toy_env import OneRightModelEnv  # noqa: E402

torch.set_num_threads(1)
THREE = ("answer-3", "answer-4", "answer-1")


def policy(**kw) -> LLMPolicy:
    kw.setdefault("max_new_tokens", 8)
    kw.setdefault("max_context_tokens", 2048)
    return LLMPolicy(PolicyConfig(**kw))


def toy_envs(n: int, **kw) -> list[OneRightModelEnv]:
    return [OneRightModelEnv(**kw) for _ in range(n)]


def test_only_the_policys_own_tokens_are_marked_for_training():
    p = policy()
    trajs = collect(p, toy_envs(3, max_turns=3), [{"seed": i} for i in range(3)])
    for t in trajs:
        assert len(t.turn_ends) == 3 and not t.correct  # garbage text: format errors until truncation
        ids = np.array(t.token_ids)
        mask = np.array(t.policy_mask, dtype=bool)
        assert t.info["turn"] == 3 and t.step_rewards == [-0.1] * 3
        own, rest = p.tokenizer.decode(ids[mask]), p.tokenizer.decode(ids[~mask])
        assert "Invalid action" in rest and "Invalid action" not in own  # tool outputs are not trained
        assert "What is" in rest  # nor is the task
        assert all(mask[e] for e in t.turn_ends)


def test_lora_trains_only_the_adapter_which_saves_and_loads_alone(tmp_path):
    p = policy(lora_rank=4)
    names = [n for n, q in p.model.named_parameters() if q.requires_grad]
    assert names and all("lora_" in n for n in names)
    base_before = {n: q.detach().clone() for n, q in p.model.named_parameters() if not q.requires_grad}
    envs = toy_envs(4, lenient=True, models=THREE)
    cfg = GRPOConfig(tasks_per_update=2, group_size=2, updates=1, learning_rate=1e-2, min_group_std=0.0,
                     log_dir=str(tmp_path / "run"), quiet=True, checkpoint_every=0)
    trainer = GRPO(p, cfg, envs)
    trajs = collect(p, envs, [{"seed": i} for i in range(4)])
    trainer.learn(trajs, np.array([1.0, -1.0, 1.0, -1.0]))
    for n, q in p.model.named_parameters():
        if not q.requires_grad:
            assert torch.equal(q, base_before[n]), n
    path = trainer.save_checkpoint()
    assert (path / "adapter_model.safetensors").is_file() and not (path / "model.safetensors").exists()
    fresh = policy(lora_rank=4)
    batch_ids = torch.tensor([trajs[0].token_ids])
    mask = torch.ones_like(batch_ids)
    before = fresh.token_logprobs(batch_ids, mask)["logprobs"]
    fresh.load(path)
    after = fresh.token_logprobs(batch_ids, mask)["logprobs"]
    assert torch.allclose(after, p.token_logprobs(batch_ids, mask)["logprobs"], atol=1e-5)
    assert not torch.allclose(after, before)
    with fresh.reference() as ref:  # the adapter disabled = the untouched base model
        assert torch.allclose(fresh.token_logprobs(batch_ids, mask, model=ref)["logprobs"], before, atol=1e-6)


def test_clipped_loss_stops_the_gradient_outside_the_asymmetric_range():
    old = torch.zeros(1, 2)
    logp = torch.log(torch.tensor([[1.27, 1.29]])).requires_grad_()
    loss, clipfrac = clipped_policy_loss(logp, old, torch.ones(1, 1), torch.ones(1, 2), 0.2, 0.28)
    loss.backward()
    assert logp.grad[0, 0] != 0 and logp.grad[0, 1] == 0  # 1.29 > 1 + 0.28: clipped
    assert clipfrac.item() == pytest.approx(0.5)


def test_gae_skips_masked_tokens_and_matches_monte_carlo_at_lambda_one():
    rewards = np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32)
    values = np.array([0.2, 9.0, 0.5, 0.1], dtype=np.float32)
    mask = np.array([1, 0, 1, 1], dtype=np.float32)  # position 1 is a tool output
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    assert adv[1] == 0
    assert np.allclose(ret[mask > 0], 1.0)  # the return from every policy token is the final reward
    assert np.allclose(adv[mask > 0], 1.0 - values[mask > 0])


def _learning_curve(history):
    r = [m["reward/mean"] for m in history]
    return float(np.mean(r[:4])), float(np.mean(r[-6:]))


@pytest.fixture(scope="module")
def peaked_lm(tmp_path_factory) -> str:
    """The tiny model with a trained LM's logit spread: its final RMS norm scaled by 8.

    The stock tiny model's logits are flat (std 0.16 over 1024 tokens, entropy = ln 1024): its
    final norm fixes |h| = sqrt(64) and its tied embeddings have std 0.02, so no hidden state puts
    more than ~26% on one model's tokens. LoRA leaves that norm and the embedding frozen, so it
    cannot learn there (full fine-tuning can: it grows the embeddings). Scaled by 8, logits have
    std 1.3 and a hidden state can reach ~95%: what LoRA must find is a hidden state, as on a real LM.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from orchestra_env.tiny_lm import build_tiny_lm

    source, target = build_tiny_lm(), tmp_path_factory.mktemp("peaked_lm")
    model = AutoModelForCausalLM.from_pretrained(source)
    with torch.no_grad():
        model.model.norm.weight.mul_(8.0)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return str(target)


def lora_policy(model: str, **kw) -> LLMPolicy:
    """The default LoRA configuration; asserts that only the adapter (and a value head) trains."""
    p = policy(model=model, max_new_tokens=2, **kw)
    trainable = [n for n, q in p.model.named_parameters() if q.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    head = sum(q.numel() for q in p.value_head.parameters()) if p.value_head is not None else 0
    assert p.n_trainable() == sum(q.numel() for q in p.model.parameters() if q.requires_grad) + head
    return p


# The peaked model picks "answer-1" ~95% of the time before training: "answer-3" starts near 0.
PEAKED_ENV = dict(lenient=True, models=THREE, right="answer-3")


def test_grpo_with_lora_learns_to_pick_the_right_model(tmp_path, peaked_lm):
    p = lora_policy(peaked_lm)
    cfg = GRPOConfig(tasks_per_update=2, group_size=8, updates=50, learning_rate=5e-3, kl_coef=0.0,
                     log_dir=str(tmp_path), quiet=True, checkpoint_every=0, seed=1)
    start, end = _learning_curve(GRPO(p, cfg, toy_envs(16, **PEAKED_ENV)).train())
    assert end > start + 0.3 and end > 0.8, (start, end)


def test_ppo_with_lora_learns_to_pick_the_right_model(tmp_path, peaked_lm):
    p = lora_policy(peaked_lm, value_head=True)
    cfg = PPOConfig(episodes_per_update=16, updates=30, learning_rate=5e-3, kl_coef=0.0,
                    log_dir=str(tmp_path), quiet=True, checkpoint_every=0, seed=1)
    start, end = _learning_curve(PPO(p, cfg, toy_envs(16, **PEAKED_ENV)).train())
    assert end > start + 0.3 and end > 0.8, (start, end)


def test_grpo_full_finetuning_learns_on_the_flat_tiny_model(tmp_path):
    """Full fine-tuning also trains the embeddings, so it learns even where LoRA cannot."""
    p = policy(max_new_tokens=2, full_finetune=True)
    cfg = GRPOConfig(tasks_per_update=2, group_size=8, updates=30, learning_rate=1e-2, kl_coef=0.0,
                     log_dir=str(tmp_path), quiet=True, checkpoint_every=0, seed=1)
    start, end = _learning_curve(GRPO(p, cfg, toy_envs(16, lenient=True, models=THREE)).train())
    assert end > start + 0.3 and end > 0.8, (start, end)


def test_resume_restores_update_count_optimizer_and_rng(tmp_path):
    def trainer(resume: bool) -> GRPO:
        cfg = GRPOConfig(tasks_per_update=1, group_size=2, updates=1, learning_rate=1e-3, min_group_std=-1.0,
                         log_dir=str(tmp_path), quiet=True, checkpoint_every=0, resume=resume)
        return GRPO(policy(max_new_tokens=2, lora_rank=2), cfg, toy_envs(2, lenient=True))

    first = trainer(False)
    first.train()
    second = trainer(True)
    assert second.step == 1
    assert second.optimizer.state_dict()["state"]  # Adam moments came back
    assert second.rng.integers(1 << 30) == first.rng.integers(1 << 30)


def _sequence_logprob(p: LLMPolicy, traj) -> float:
    """Sum of the policy's log-probs over the tokens it sampled in one trajectory."""
    ids = torch.tensor([traj.token_ids])
    with torch.no_grad():
        logp = p.token_logprobs(ids, torch.ones_like(ids))["logprobs"][0]
    return float((logp * torch.tensor(traj.policy_mask[1:], dtype=torch.float32)).sum())


def test_grpo_on_frames_bills_checkpoints_and_steps_towards_the_better_rollout(tmp_path):
    """GRPO on the real FRAMES env (simulated pool, BM25). The random-weight model writes no
    valid call, so every rollout earns the same and no reward can rise here (learning is asserted
    on the toy env above); what can fail here: billing, the checkpoint, and the direction of a
    step: given advantages +1 / -1 on two real FRAMES rollouts, one update must raise the first's
    log-likelihood relative to the second's."""
    import gymnasium as gym
    import orchestra_env  # noqa: F401

    envs = [gym.make("Orchestra/FRAMES-v0", max_turns=2) for _ in range(2)]
    cfg = GRPOConfig(tasks_per_update=1, group_size=2, updates=1, reward="env", min_group_std=-1.0,
                     learning_rate=1e-3, log_dir=str(tmp_path), quiet=True, checkpoint_every=0, kl_coef=0.01)
    p = policy(max_new_tokens=12)
    trainer = GRPO(p, cfg, envs)
    m = trainer.train()[0]
    assert m["task/cost_usd"] > 0  # the orchestrator's own tokens are billed
    assert m["loss/kl"] >= 0 and m["speed/tokens_per_s"] > 0
    assert (tmp_path / "checkpoints" / "latest.json").is_file()
    trajs = collect(p, envs, [{"seed": 5, "options": {"task_index": i}} for i in range(2)])
    before = [_sequence_logprob(p, t) for t in trajs]
    trainer.learn(trajs, np.array([1.0, -1.0]))
    after = [_sequence_logprob(p, t) for t in trajs]
    assert (after[0] - before[0]) - (after[1] - before[1]) > 0, (before, after)


def test_the_shared_update_refuses_a_stale_old_policy():
    """old_logprobs=None ("the first pass is the old policy") is only exact for one pass."""
    w = torch.zeros(3, requires_grad=True)
    mb = Minibatch(None, torch.ones(3), torch.tensor([3.0, 0.0, 0.0]))  # action 0 was good
    forward = lambda _: {"logprobs": torch.log_softmax(w, 0), "entropy": torch.zeros(3)}  # noqa: E731
    with pytest.raises(ValueError, match="one epoch"):
        clipped_ratio_update(torch.optim.SGD([w], lr=0.1), [mb], forward, epochs=2, clip_low=0.2, clip_high=0.28)
    with pytest.raises(ValueError, match="one minibatch"):
        clipped_ratio_update(torch.optim.SGD([w], lr=0.1), [mb, mb], forward, epochs=1, clip_low=0.2, clip_high=0.28)
    logs = clipped_ratio_update(torch.optim.SGD([w], lr=0.1), [mb], forward, epochs=1, clip_low=0.2, clip_high=0.28)
    assert logs["loss/clipfrac"] == 0.0 and logs["loss/grad_norm"] > 0  # ratio 1 on the first pass: nothing clipped
    assert w[0] > 0 > w[1] == w[2]  # the step raised the good action's logit


def test_llm_agent_plays_evaluate_episodes_with_the_training_prompt():
    """The policy holds no episode; LLMAgent does, building the same token sequence as collect()."""
    from agents.baselines import evaluate

    p = policy()
    assert not hasattr(p, "begin") and not hasattr(p, "act")  # the stateless half
    agent = LLMAgent(p, greedy=True)
    with pytest.raises(RuntimeError, match="begin"):
        agent.act({}, {})
    env = OneRightModelEnv(max_turns=2)
    result = evaluate(agent, env, n_tasks=2, seed=0)
    assert result["n_tasks"] == 2 and result["mean_turns"] == 2 and result["accuracy"] == 0.0
    seq = agent.tokens
    ids, mask = np.array(seq.token_ids), np.array(seq.policy_mask, dtype=bool)
    assert seq.turns == 2 and "Invalid action" in p.tokenizer.decode(ids[~mask])  # the first output, as a tool turn
    first = list(seq.token_ids)
    evaluate(agent, env, n_tasks=2, seed=0)
    assert agent.tokens.token_ids == first  # greedy: the same episode again


def test_every_config_field_has_a_docstring_that_the_cli_shows():
    import dataclasses

    from agents.train import build_parser, field_docs

    for cls in (GRPOConfig, PPOConfig, PolicyConfig):
        docs = field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, (cls.__name__, missing)
    text = " ".join(build_parser("ppo").format_help().split())
    assert "GAE's lambda per policy token" in text and "Rank of the LoRA adapter" in text
    with pytest.raises(ValueError, match="preference"):
        GRPOConfig(reward="prefs")


def test_cli_builds_configs_from_flags():
    from agents.train import parse

    algo, pc, cfg = parse(["--algo", "ppo", "--env", "Orchestra/HLE-v0", "--lora-rank", "4",
                           "--env-kwargs", '{"max_turns": 2}', "--no-whiten-advantages", "--penalty", "cost-first"])
    assert algo == "ppo" and pc.lora_rank == 4 and pc.value_head
    assert cfg.env_id == "Orchestra/HLE-v0" and cfg.env_kwargs == {"max_turns": 2}
    assert cfg.whiten_advantages is False and cfg.penalty == "cost-first"
    with pytest.raises(SystemExit):
        parse(["--algo", "dqn"])
