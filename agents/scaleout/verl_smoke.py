"""Drive :class:`~agents.scaleout.verl_agent_loop.OrchestraAgentLoop` through verl's real
``AgentLoopBase`` on CPU, with a scripted ``server_manager`` (verl's ``TokenOutput`` contract),
and print the ``AgentLoopOutput`` as JSON. Run in verl's venv with this repository on
``PYTHONPATH``; ``tests/test_scaleout_verl.py`` does when it finds one.

    PYTHONPATH=. VENV_VERL/bin/python -m agents.scaleout.verl_smoke TOKENIZER_DIR
"""
from __future__ import annotations

import asyncio
import json
import sys
from typing import Any


class ScriptedServer:
    """Turn 1: text that is no tool call (closed by the loop); turn 2: a valid ``answer`` call."""

    def __init__(self, tokenizer: Any) -> None:
        encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
        call = '<tool_call>\n{"name": "answer", "arguments": {"model": "answer-4"}}\n</tool_call>'
        self.script = [encode("hello there"), encode(call) + [eos]]
        self.requests: list[dict[str, Any]] = []

    async def generate(self, request_id: str, prompt_ids: list[int], sampling_params: dict[str, Any], **_: Any) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        ids = self.script[len(self.requests)]
        self.requests.append({"request_id": request_id, "prompt_len": len(prompt_ids)})
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


def main(argv: list[str] | None = None) -> int:
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap

    from agents.scaleout.verl_agent_loop import OrchestraAgentLoop

    (model_dir,) = argv if argv is not None else sys.argv[1:]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": 2048, "response_length": 512,
                                                                  "agent": {}}}, "data": {}})
    server = ScriptedServer(tokenizer)
    loop = OrchestraAgentLoop(trainer_config=DictConfigWrap(config), server_manager=server, tokenizer=tokenizer,
                              processor=None, dataset_cls=None, data_config=DictConfigWrap(config.data),
                              env_id="agents.toy_env:OneRightModelEnv",
                              env_kwargs=OmegaConf.create({"models": ["answer-3", "answer-4"], "max_turns": 3}),
                              max_turns=3)
    out = asyncio.run(loop.run({"temperature": 1.0}, extra_info={"seed": 3, "task_index": 2},
                               raw_prompt=[{"role": "user", "content": "unused"}]))
    print(json.dumps({"prompt_ids": out.prompt_ids, "response_ids": out.response_ids,
                      "response_mask": out.response_mask, "response_logprobs": out.response_logprobs,
                      "reward_score": out.reward_score, "num_turns": out.num_turns,
                      "sampled": server.script, "requests": server.requests,
                      "tensors": sorted(out.as_dict()) if hasattr(out, "as_dict") else []}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
