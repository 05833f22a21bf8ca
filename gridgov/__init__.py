"""gridgov: grid-based community governance GIS service (网格化管理)."""

import os
from pathlib import Path


def _numba_cache_dir(root: Path) -> None:
    """Point numba's compiled-code cache (the gridding partition's kernels) at `root`/var/numba-cache
    unless NUMBA_CACHE_DIR is set; where that cannot be written, numba keeps its own choice (next to
    the source, else the user's cache directory). Here, not in the settings: numba reads the variable
    when first imported, and the engine also runs without Django (`bench/gridding.py`)."""
    path = root / "var" / "numba-cache"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    if os.access(path, os.W_OK):
        os.environ.setdefault("NUMBA_CACHE_DIR", str(path))


_numba_cache_dir(Path(__file__).resolve().parent.parent)

# Load the Celery app with Django so `shared_task` binds to it and `.delay()` reaches the broker.
from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
