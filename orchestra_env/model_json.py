"""Read the JSON a model wrote inside free text.

Advisers, judges and graders are asked for JSON but answer in prose around it. Each caller says
where its JSON sits (a regular expression) and what shape it must have; a reply without that
JSON, or with JSON that does not parse, reads as None so the caller can fall back instead of
crashing on model output.
"""
from __future__ import annotations

import json
import re
from typing import Any


def first_json(text: str | None, pattern: re.Pattern[str], group: int = 0) -> Any | None:
    """The JSON value in ``group`` of ``pattern``'s first match in ``text``, or None when nothing
    matches or the matched text is not JSON. The caller checks the value's shape."""
    match = pattern.search(text or "")
    if not match:
        return None
    try:
        return json.loads(match.group(group))
    except json.JSONDecodeError:
        return None
