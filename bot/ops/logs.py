"""Size-based rotation of the servers' log files in ``<var_dir>/logs``.

The runtime opens each log in append mode when it starts a server, so rotation at start-up
(:func:`rotate_logs` before the servers start: ``serve``, ``run``) simply renames. The nightly
job rotates with ``copytruncate=True``: the file is copied to ``name.log.1`` and then truncated
in place, because a running server keeps writing to the file it opened; opened with O_APPEND,
it continues at the new end of the file. Lines written between the copy and the truncation are
lost, a second's worth at most (logrotate's copytruncate has the same window).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def _generation(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def rotate_logs(directory: Path | str, max_bytes: int, keep: int, copytruncate: bool = False) -> list[Path]:
    """Rotate every ``*.log`` in ``directory`` larger than ``max_bytes``: ``name.log.{keep-1}``
    → ``name.log.{keep}`` … ``name.log`` → ``name.log.1``; generations beyond ``keep`` are
    deleted (``keep`` 0: the log is only emptied). Returns the logs that were rotated. A missing
    folder is nothing to do."""
    directory = Path(directory)
    if not directory.is_dir() or max_bytes <= 0:
        return []
    rotated = []
    for log in sorted(directory.glob("*.log")):
        try:
            if not log.is_file() or log.stat().st_size <= max_bytes:
                continue
        except OSError:
            continue
        for n in range(max(keep, 0) + 1, 20):  # stale generations from a larger `keep`
            old = _generation(log, n)
            if old.exists():
                old.unlink()
        for n in range(keep - 1, 0, -1):
            older = _generation(log, n)
            if older.exists():
                os.replace(older, _generation(log, n + 1))
        if keep > 0 and copytruncate:
            shutil.copyfile(log, _generation(log, 1))
        if keep > 0 and not copytruncate:
            os.replace(log, _generation(log, 1))
        else:
            with open(log, "r+b") as handle:
                handle.truncate(0)
        rotated.append(log)
    return rotated
