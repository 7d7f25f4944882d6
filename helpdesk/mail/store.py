"""Attachment bytes on disk under content-addressed names (sha256), never under the sender's name."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def stored_name(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def save(directory: Path, data: bytes) -> tuple[str, str]:
    """Write `data` once (atomic rename); returns (sha256, stored name relative to `directory`)."""
    digest = hashlib.sha256(data).hexdigest()
    name = stored_name(digest)
    target = directory / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, name


def load(directory: Path, name: str) -> bytes:
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents:
        raise ValueError("attachment path outside the attachments directory")
    return path.read_bytes()
