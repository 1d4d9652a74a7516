"""Where heavy, rebuildable artefacts (search indices, embeddings) live on disk.

One folder for the whole package so users can find and delete it: ``$ORCHESTRA_CACHE`` when
set, otherwise ``~/.cache/orchestra-env`` (``$XDG_CACHE_HOME/orchestra-env`` if that is set).
Everything in it can be deleted at any time; it is rebuilt on demand. The folder is made
0700: a sandboxed program running as another user (``nobody``) cannot enter it, and every
entry carries a manifest of checksums, so a damaged one is rebuilt, not trusted.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ORCHESTRA_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder (or a sub-folder of it, given ``parts``), created if missing."""
    root = os.environ.get(ENV_VAR)
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "orchestra-env"
    path = base.joinpath(*parts)
    if not base.exists():
        base.mkdir(parents=True, mode=0o700)
    else:
        _tighten(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tighten(base: Path) -> None:
    """A cache folder made by an older version (or by hand) may let other users in: make it 0700
    when it is ours, so that a world-writable file inside cannot be reached from the sandbox."""
    st = base.stat()
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        base.chmod(0o700)
