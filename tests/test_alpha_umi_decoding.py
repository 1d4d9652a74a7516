"""The constrained call decoder: which slots it opens, what it allows there, and that a model
which garbles a tool name and an id still sends a tool of the env and a span of the history.

A scripted stand-in for the LM (it always wants the next character of a fixed text, whatever
came before) makes the test exact and fast; the decoder only ever sees logits.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from agents.multi_agent.decoding import (  # noqa: E402
    allowed_tokens, best_option, constrained_generate, slot_options, value_candidates,
)
from agents.multi_agent.glpft import load_base  # noqa: E402
from agents.multi_agent.roles import parse_call  # noqa: E402

PROMPT = 'user: my client id is RNRB4WO3, please remove card 6985JD43.\nobservation: {"status": "expired"}\ncaller: '
TOOLS = ["get_card", "delete_card", "find_clients"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_base("tiny")[1]


class ScriptedLM:
    """Logits that favour, at each generated position, the next character of ``script``
    (position-based: it does not notice when the decoder has written something else)."""

    def __init__(self, tokenizer, prompt_len: int, script: str) -> None:
        self.tok, self.prompt_len, self.script = tokenizer, prompt_len, script
        self.char_token = {}
        for i in range(len(tokenizer)):
            piece = tokenizer.decode([i])
            if len(piece) == 1:
                self.char_token.setdefault(piece, i)

    def __call__(self, input_ids, attention_mask=None, past_key_values=None, use_cache=False):
        ids = input_ids if past_key_values is None else torch.cat([past_key_values, input_ids], 1)
        logits = torch.zeros(ids.shape[0], ids.shape[1], len(self.tok))
        for b in range(ids.shape[0]):
            for t in range(self.prompt_len - 1, ids.shape[1]):
                done = len(self.tok.decode(ids[b, self.prompt_len:t + 1].tolist()))
                if done < len(self.script) and self.script[done] in self.char_token:
                    logits[b, t, self.char_token[self.script[done]]] = 10.0
        out = logits if past_key_values is None else logits[:, -input_ids.shape[1]:]
        return SimpleNamespace(logits=out, past_key_values=ids)


def test_value_candidates_are_the_entity_spans_and_json_values_of_the_prompt() -> None:
    assert value_candidates(PROMPT) == ["RNRB4WO3", "6985JD43", "expired"]  # "my", "client" are no entities
    # an id without a digit (ToolScale's test split has some) is an all-capitals code; "I", "OK" are too short
    assert value_candidates("user: I am OK. Please remove my account ACC-CTG-ESC, client TFABADV.") == [
        "ACC-CTG-ESC", "TFABADV"]


def test_a_string_slot_is_never_left_to_free_decoding() -> None:
    """Once every span is spent the spans may repeat, and with none a value is "": a trained model
    that wants a second id the request lacks must not write one of its own."""
    params = {"get_account": ["account_id", "client_id"]}
    line = 'Action: get_account\nAction Input: {"account_id": "5BQGUCC", "client_id":'
    assert slot_options(line, ' "', params, ["5BQGUCC"]) == [' "5BQGUCC"']
    assert slot_options('Action: get_account\nAction Input: {"account_id":', ' "', params, []) == [' ""']


def test_slots_open_after_action_and_after_a_key_that_starts_a_string() -> None:
    assert slot_options("I should.\nAction:", "x", TOOLS, ["A1"]) == [" get_card\n", " delete_card\n", " find_clients\n"]
    assert slot_options('Action: get_card\nAction Input: {"card_id": ', ' "', TOOLS, ["A1"]) == ['"A1"']
    assert slot_options('Action: get_card\nAction Input: {"a": "A1", "b":', ' "', TOOLS, ["A1", "B2"]) == [' "B2"']
    assert slot_options('Action: get_card\nAction Input: {"n": ', "3", TOOLS, ["A1"]) is None  # a number stays free
    assert slot_options("I should look up the card", " by", TOOLS, ["A1"]) is None


def test_with_parameter_names_the_call_grammar_holds_keys_and_punctuation() -> None:
    params = {"get_card": ["card_id", "client_id"], "find_clients": ["contact.email"]}
    assert slot_options("", "x", params, ["A1"], role="caller") == ["Action:"]
    assert slot_options("I should.\n", "x", params, ["A1"], role="backbone") == ["Action:", "conclusion:"]
    assert slot_options("Action: get_card\n", "x", params, ["A1"]) == ["Action Input: {"]
    assert slot_options('Action: get_card\nAction Input: {', "x", params, ["A1"]) == ['"card_id":', '"client_id":', "}"]
    line = 'Action: get_card\nAction Input: {"card_id": "A1"'
    assert slot_options(line, "x", params, ["A1", "B2"]) == [",", "}"]
    assert slot_options(line + ",", ' "', params, ["A1", "B2"]) == [' "client_id":']  # a used key is not offered
    assert slot_options(line + ', "client_id":', ' "', params, ["A1", "B2"]) == [' "B2"']  # nor a used value
    assert slot_options(line + "}", "x", params, ["A1"]) == ["\n<end>"]
    assert slot_options('Action: get_card\nAction Input: {"card_id": ', "3", params, ["A1"]) is None  # numbers free


def test_an_executor_writes_a_hermes_call_through_the_same_slots() -> None:
    params = {"get_card": ["card_id", "client_id"], "respond": ["content"]}
    assert slot_options("", "x", params, ["A1"], role="executor") == ['<tool_call>\n{"name":']
    assert slot_options('<tool_call>\n{"name":', ' "', params, ["A1"]) == [' "get_card"', ' "respond"']
    assert slot_options('<tool_call>\n{"name": "get_card"', ":", params, ["A1"]) == [', "arguments": {']
    call = '<tool_call>\n{"name": "get_card", "arguments": {'
    assert slot_options(call, '"', params, ["A1"]) == ['"card_id":', '"client_id":', "}"]
    assert slot_options(call + '"card_id":', ' "', params, ["A1", "B2"]) == [' "A1"', ' "B2"']
    assert slot_options(call + '"card_id": "A1"}', "x", params, ["A1"]) == ["}\n</tool_call>"]
    talk = '<tool_call>\n{"name": "respond", "arguments": {"content":'
    assert slot_options(talk, ' "', params, ["A1"]) is None  # a message's body stays free


def test_allowed_tokens_keep_a_prefix_of_some_option() -> None:
    pieces = ["g", "get", "_card", "x", "delete", "\n", "get_card\n,"]
    assert allowed_tokens("", ["get_card\n", "delete_card\n"], pieces) == [0, 1, 4, 6]
    assert allowed_tokens("get", ["get_card\n", "delete_card\n"], pieces) == [2]


def test_garbled_tool_and_id_become_a_real_tool_and_a_real_span(tokenizer) -> None:
    script = 'Action: get_crad\nAction Input: {"card_id": "6985JD4X", "client_id": "RNRB4WO3"}\n<end>'
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    lm = ScriptedLM(tokenizer, len(ids), script)
    text = constrained_generate(lm, tokenizer, PROMPT, ids, TOOLS, max_new_tokens=120)
    call = parse_call(text)
    assert call.tool == "get_card"  # "get_crad" is no tool; its longest valid prefix leads to get_card
    assert call.arguments == {"card_id": "6985JD43", "client_id": "RNRB4WO3"}  # the nearest span, copied whole


def test_a_call_that_drifts_out_of_the_format_is_sent_well_formed(tokenizer) -> None:
    script = 'Action: get_card\nAction Input: {"cxrd_id": "6985JD43", "clixnt_id": "RNRB4WO3"}} and more'
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    lm = ScriptedLM(tokenizer, len(ids), script)
    params = {"get_card": ["card_id", "client_id"], "delete_card": ["card_id", "client_id"]}
    free = parse_call(constrained_generate(lm, tokenizer, PROMPT, ids, TOOLS, max_new_tokens=120, role="caller"))
    call = parse_call(constrained_generate(lm, tokenizer, PROMPT, ids, params, max_new_tokens=120, role="caller"))
    assert not hasattr(free, "arguments")  # misspelt keys and text after the call: not a call
    assert call.tool == "get_card" and call.arguments == {"card_id": "6985JD43", "client_id": "RNRB4WO3"}


def test_best_option_ranks_options_by_the_model_likelihood(tokenizer) -> None:
    ids = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    lm = ScriptedLM(tokenizer, len(ids), '"6985JD4X"')
    assert best_option(lm, tokenizer, ids, ['"RNRB4WO3"', '"6985JD43"', '"expired"']) == 1


# ----------------------------------------------------------------------------- in the env


def _garble(call: dict) -> str:
    """The call as a weak model writes it: a misspelt tool, the last character of every id wrong."""
    name = call["name"][:-2] + call["name"][-1] + call["name"][-2]
    args = {k: (v[:-1] + ("X" if v[-1] != "X" else "Y")) if isinstance(v, str) else v for k, v in call["arguments"].items()}
    import json

    return f"Action: {name}\nAction Input: {json.dumps(args)}\n<end>"


class GarblingTeam:
    """A stand-in team: the planner names the next gold step, the caller (a ScriptedLM) wants
    to write that step's call garbled, the summarizer says goodbye. Decoding is the real one."""

    def __init__(self, tokenizer, calls: list[dict], conclusion: str) -> None:
        self.tok, self.calls, self.conclusion, self.k = tokenizer, calls, conclusion, 0

    def generate(self, role, prompt, max_new_tokens=96, max_length=1024, tools=None, prompt_tokens=0):
        if role == "planner":
            return "next step\nNext: caller" if self.k < len(self.calls) else "done\nNext: conclusion"
        if role == "summarizer":
            return self.conclusion
        script = _garble(self.calls[self.k])
        self.k += 1
        if tools is None:
            return script  # free decoding: the garbled text as the model wants it
        ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        return constrained_generate(ScriptedLM(self.tok, len(ids), script), self.tok, prompt, ids, tools, 120)


def test_constrained_agent_completes_a_toolscale_task_that_free_decoding_fails(tokenizer) -> None:
    from agents.multi_agent.alpha_umi import AlphaUMiAgent
    from agents.multi_agent.data import toolscale_conclusion
    from agents.multi_agent.metrics import end_to_end
    from agents.multi_agent.roles import PromptConfig
    from orchestra_env.envs.toolscale import ToolScaleEnv

    env = ToolScaleEnv("bank", split="test", num_tasks=200, max_turns=6)
    # a task whose ids are all in the request (gold: get_card, delete_card)
    index = next(i for i, t in enumerate(env.tasks)
                 if [a["name"] for a in t.metadata["actions"]] == ["get_card", "delete_card"])
    task = env.tasks[index]
    rates = {}
    for constrained in (False, True):
        team = GarblingTeam(tokenizer, task.metadata["actions"], toolscale_conclusion(task))
        agent = AlphaUMiAgent(team, PromptConfig.tiny(), constrained=constrained, max_new_tokens=120, max_length=400)
        rates[constrained] = end_to_end(agent, env, [index])["success"]
    assert rates == {False: 0.0, True: 1.0}, rates
