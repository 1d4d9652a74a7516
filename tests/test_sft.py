"""SFT warm start (agents.sft) and GRPO from it, on the tiny random-weight model (CPU, offline)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("trl")

from agents.policy import LLMPolicy, PolicyConfig  # noqa: E402
from agents.sft import SFTConfig, build_trainer, demonstrate, make_env, render_call, turn_end_id  # noqa: E402
from benchmarks.train_llm_policy import (TrainLLMConfig, eval_envs, policy_config, sft_config,  # noqa: E402
                                         train_seed)

torch.set_num_threads(1)
SEARCH = {"tool": "search", "arguments": {"model": "search-2"}}
ANSWER = {"tool": "answer", "arguments": {"model": "answer-1"}}


class Scripted:
    """A demonstrator that plays a fixed list of calls."""

    def __init__(self, calls):
        self.calls, self.i = calls, 0

    def begin(self, env, obs, info):
        self.i = 0

    def act(self, obs, info):
        self.i += 1
        return self.calls[self.i - 1]


def test_sft_labels_are_exactly_the_policys_own_tokens(tmp_path):
    config = TrainLLMConfig()
    policy = LLMPolicy(policy_config(config))
    sft = sft_config(config, 0, str(tmp_path / "adapter"))
    env = make_env(sft)
    reset = {"seed": 3, "options": {"task_index": 5}}
    [demo] = demonstrate(policy, env, Scripted([SEARCH, ANSWER]), [reset])

    # the expected sequence, built independently: prompt, call 1, the tool turn, call 2
    stop = turn_end_id(policy)
    call1, call2 = (policy.encode(render_call(c)) + [stop] for c in (SEARCH, ANSWER))
    obs, _ = env.reset(**reset)
    prompt = [{"role": "system", "content": obs["preference"]}, {"role": "user", "content": obs["task"]}]
    n_prompt = len(policy.encode(policy.render(prompt, None, add_generation_prompt=True)))
    n_between = len(demo.token_ids) - n_prompt - len(call1) - len(call2)
    expected = [-100] * n_prompt + call1 + [-100] * n_between + call2
    assert demo.token_ids[n_prompt:n_prompt + len(call1)] == call1 and demo.token_ids[-len(call2):] == call2

    trainer = build_trainer(policy, [demo], SFTConfig(), str(tmp_path / "trainer"))
    labels = trainer.train_dataset[0]["labels"]
    assert labels == expected  # exact: nothing of the prompt, tool output or glue carries loss
    between = policy.tokenizer.decode(demo.token_ids[n_prompt + len(call1):-len(call2)], skip_special_tokens=False)
    assert "<tool_response>" in between and "<|im_start|>assistant" in between  # the masked middle is the tool turn
    own = policy.tokenizer.decode([t for t in labels if t != -100])
    end = policy.tokenizer.convert_ids_to_tokens(stop)  # the turn-end token is trained too: the policy learns to stop
    assert own == render_call(SEARCH) + end + render_call(ANSWER) + end
    # the demonstrated episode is what the env made of the decoded text: a search, then the answer
    assert demo.correct in (True, False) and n_between > 10


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One seed of the benchmark's pipeline at test size: base, SFT, SFT+GRPO on 32 test tasks."""
    work = tmp_path_factory.mktemp("train_llm")
    # grpo_lr 2e-3: the margins below were set for it (the benchmark's default is now the 5e-4 chosen on validation)
    config = TrainLLMConfig(seeds=[0], sft_episodes=16, sft_batch=4, sft_epochs=10, grpo_updates=24, grpo_tasks=2, grpo_lr=2e-3,
                            eval_tasks=32, eval_batch=32, work_dir=str(work), progress=False)
    rows = train_seed(config, 0, eval_envs(config, config.eval_batch))
    return config, work, {r["policy"]: r for r in rows}


# The margins were picked AFTER one run of this exact configuration (held-out reward on the 32
# test tasks: base -0.200, SFT +0.087, SFT+GRPO +0.230; well-formed episodes 0%, 47%, 69%), at
# about half the gaps seen there. The benchmark (results/train_llm_policy.md) trains longer at
# a smaller GRPO step (its validation-chosen settings); this is the loop's test, not its numbers.
# After the Bayes demonstrator's cost fit changed (every fit task, not three) the same configuration gave base -0.200, SFT +0.059, SFT+GRPO +0.241; with three cost
# tasks under the new estimator it gave SFT +0.209, SFT+GRPO +0.075 and failed. A smaller SFT (16 episodes x 8 epochs at batch 8) did NOT leave GRPO
# room within 20 updates (SFT -0.108, SFT+GRPO -0.105), which is why the test trains this long.
SFT_OVER_BASE = 0.15
GRPO_OVER_SFT = 0.07


def test_sft_then_grpo_raise_held_out_reward(trained):
    _, _, rows = trained
    base, sft, grpo = rows["base"]["reward"], rows["sft"]["reward"], rows["sft+grpo"]["reward"]
    assert sft > base + SFT_OVER_BASE, (base, sft)
    assert grpo > sft + GRPO_OVER_SFT, (sft, grpo)
    assert rows["sft+grpo"]["valid_share"] > rows["sft"]["valid_share"] > rows["base"]["valid_share"]


def test_grpo_starts_from_the_merged_sft_policy(trained):
    config, work, _ = trained
    adapter = str(work / "seed0" / "sft")
    sft = LLMPolicy(policy_config(config))
    sft.load(adapter)
    merged = LLMPolicy(policy_config(config, start_from=adapter))
    ids = torch.tensor([sft.encode(render_call(ANSWER))])
    mask = torch.ones_like(ids)
    want = sft.token_logprobs(ids, mask)["logprobs"]
    assert torch.allclose(merged.token_logprobs(ids, mask)["logprobs"], want, atol=1e-4)  # fresh adapter: B = 0
    with merged.reference() as ref:  # the KL reference is the SFT policy, not the random base
        assert torch.allclose(merged.token_logprobs(ids, mask, model=ref)["logprobs"], want, atol=1e-4)
    with sft.reference() as ref:
        assert not np.allclose(sft.token_logprobs(ids, mask, model=ref)["logprobs"].detach().numpy(),
                               want.detach().numpy(), atol=1e-2)


def test_bad_demonstrator_names_fail_early():
    with pytest.raises(ValueError, match="comma list"):
        SFTConfig(demonstrators="bayes,gpt5")
