from pathlib import Path

from gridgov.gridding.algorithm import compiled, kernel_cache, tessellate


def _folder() -> Path:
    return Path(kernel_cache._kernels(compiled)[0]._cache._cache_path)


def test_prune_deletes_only_files_no_kernel_names():
    compiled.warm()
    tessellate.warm()
    folder = _folder()
    stale = [folder / "compiled.gone-1.py311.nbi", folder / "compiled.gone-1.py311.1.nbc"]
    foreign = folder / "othermodule.kernel-1.py311.nbi"
    for path in [*stale, foreign]:
        path.write_bytes(b"x")
    current = {p.name for p in folder.glob("*.nb[ic]")} - {p.name for p in [*stale, foreign]}
    try:
        gone = kernel_cache.prune([compiled, tessellate])
        assert set(gone) >= set(stale)
        assert not any(p.exists() for p in stale)
        assert foreign.exists()
        # every index a current kernel names survives
        for kernel in kernel_cache._kernels(compiled) + kernel_cache._kernels(tessellate):
            index = kernel._cache._cache_file._index_name
            assert index not in {p.name for p in gone}
            if index in current:
                assert (folder / index).exists()
    finally:
        foreign.unlink(missing_ok=True)
