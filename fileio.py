"""Writing personal data safely: owner-only files, replaced atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only (0o600).

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same
    folder, are flushed to disk, and the file is renamed over ``path``, so a
    crash never leaves a half-written file under the final name (the batch
    removes stray ``.*.tmp`` files on its next run).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
