"""Tidy numba's on-disk cache of the gridding kernels.

numba names a kernel's cache files after the function and the line it starts on
(`compiled.grow-412.py311.nbi` and its `.N.nbc` data files), so every edit that moves a kernel leaves
its old files behind; `var/numba-cache` only grows. `prune` removes the files of the given modules that
no kernel of theirs uses any more. Run it after the kernels are loaded or compiled
(`scripts/bootstrap.sh`): what it keeps is exactly what the next process loads.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from numba.core.registry import CPUDispatcher


def _kernels(module: ModuleType) -> list[CPUDispatcher]:
    """The module's numba kernels that cache on disk (module-level functions)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, CPUDispatcher) and hasattr(getattr(value, "_cache", None), "_cache_file")
    ]


def prune(modules: list[ModuleType]) -> list[Path]:
    """Delete the cache files of `modules` that none of their kernels names now; returns what was
    deleted. Files of other modules, and kernels not cached on disk, are left alone."""
    keep: set[str] = set()
    folders: set[Path] = set()
    names = {module.__name__.rsplit(".", 1)[-1] for module in modules}
    for module in modules:
        for kernel in _kernels(module):
            index = kernel._cache._cache_file._index_name  # e.g. compiled.grow-412.py311.nbi
            keep.add(index[: -len(".nbi")])
            folders.add(Path(kernel._cache._cache_path))
    gone = []
    for folder in folders:
        for path in folder.glob("*.nb[ic]"):
            if path.name.split(".", 1)[0] not in names:
                continue
            stem = path.name[: -len(".nbi")] if path.suffix == ".nbi" else path.name.rsplit(".", 2)[0]
            if stem not in keep:
                path.unlink(missing_ok=True)
                gone.append(path)
    return gone
