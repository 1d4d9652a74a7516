"""The shared reader of JSON inside model replies: the value when the pattern's group parses,
None when nothing matches or the match is not JSON (the callers then fall back)."""
from __future__ import annotations

import re

from orchestra_env.experts.simulated import read_advice
from orchestra_env.judges import _json_fields
from orchestra_env.model_json import first_json

OBJECT = re.compile(r"\{.*\}", re.S)


def test_first_json_reads_the_matched_group_or_none() -> None:
    assert first_json('Sure. {"a": [1, 2]} done', OBJECT) == {"a": [1, 2]}
    assert first_json("Next step: [3]", re.compile(r"Next step:\s*(\[.*\])"), group=1) == [3]
    assert first_json("no json here", OBJECT) is None
    assert first_json("{not: json}", OBJECT) is None
    assert first_json(None, OBJECT) is None


def test_callers_keep_their_shape_checks() -> None:
    assert read_advice('Next step: {"tool": "get_card", "arguments": {}}') == {"tool": "get_card", "arguments": {}}
    assert read_advice('Next step: {"arguments": {}}') is None  # no tool name
    assert read_advice("Next step: {broken") is None
    assert _json_fields('Verdict: {"correct": true}') == {"correct": True}
    assert _json_fields('{"score": 1}') is None  # no "correct" field
