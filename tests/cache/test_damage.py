"""A damaged cache is detected, ignored where damaged, rebuilt, and never changes the output."""

from __future__ import annotations

import json
from pathlib import Path

from kaito_compile.cache import BuildCache


def lines(cache_file: Path) -> list[bytes]:
    return cache_file.read_bytes().split(b"\n")


def entry_index(cache_file: Path, kind: str, needle: bytes) -> int:
    (index,) = [i for i, line in enumerate(lines(cache_file))
                if line.startswith(kind.encode() + b" ") and needle in line]
    return index


def rewrite_line(cache_file: Path, index: int, line: bytes) -> None:
    content = lines(cache_file)
    content[index] = line
    cache_file.write_bytes(b"\n".join(content))


def seal(compile_repo, kind: bytes, key: bytes, body: bytes) -> bytes:
    """The MAC the test's cache key gives an entry: a forged entry that still authenticates."""
    return BuildCache(compile_repo.cache_file, compile_repo.key).seal(kind.decode(), key.decode(), body).encode()


def test_a_flipped_byte_in_one_entry_recomputes_that_workspace_only(compile_repo):
    clean = compile_repo()
    index = entry_index(compile_repo.cache_file, "workspace", b'"workspace":"phi","source_file":"repo/vllm/phi.yaml"')
    line = lines(compile_repo.cache_file)[index]
    rewrite_line(compile_repo.cache_file, index, line[:-40] + bytes([line[-40] ^ 0x01]) + line[-39:])
    damaged = compile_repo()
    assert (damaged.parsed, damaged.emitted) == (["repo/vllm/phi.yaml"], ["team/phi"])
    assert damaged.tree == clean.tree
    warm = compile_repo()
    assert (warm.parsed, warm.emitted) == ([], [])  # the rebuilt entry was saved


def test_an_entry_with_a_matching_checksum_but_the_wrong_shape_is_a_miss(compile_repo):
    clean = compile_repo()
    index = entry_index(compile_repo.cache_file, "workspace", b'"workspace":"gemma"')
    kind, key, _, _ = lines(compile_repo.cache_file)[index].split(b" ", 3)
    body = json.dumps({"files": 3}).encode()
    rewrite_line(compile_repo.cache_file, index, b" ".join([kind, key, seal(compile_repo, kind, key, body), body]))
    damaged = compile_repo()
    assert damaged.emitted == ["t/gemma"] and damaged.tree == clean.tree


def test_a_cache_file_of_garbage_is_ignored_and_replaced(compile_repo):
    clean = compile_repo()
    compile_repo.cache_file.write_bytes(bytes(range(256)) * 64)
    damaged = compile_repo()
    assert len(damaged.parsed) == 7 and len(damaged.emitted) == 6
    assert damaged.tree == clean.tree
    warm = compile_repo()
    assert (warm.parsed, warm.emitted) == ([], [])


def test_a_truncated_cache_keeps_its_intact_entries(compile_repo):
    clean = compile_repo()
    data = compile_repo.cache_file.read_bytes()
    compile_repo.cache_file.write_bytes(data[:-100])  # the last entry (a workspace's files) loses its end
    damaged = compile_repo()
    assert len(damaged.emitted) == 1 and len(damaged.parsed) == 1
    assert damaged.tree == clean.tree


def test_damaged_catalog_entries_are_loaded_again(compile_repo, repo: Path):
    clean = compile_repo()
    body = json.dumps({"entries": "bm90IGEgY2F0YWxvZw"}).encode()  # sealed with the right key, not a catalog
    for index, line in enumerate(lines(compile_repo.cache_file)):
        if line.startswith(b"catalog "):
            kind, key, _, _ = line.split(b" ", 3)
            rewrite_line(compile_repo.cache_file, index, b" ".join([kind, key, seal(compile_repo, kind, key, body),
                                                                    body]))
    spec = repo / "vllm" / "mistral.yaml"
    spec.write_text(spec.read_text() + "# touched\n")
    touched = compile_repo()
    assert touched.parsed == ["repo/vllm/mistral.yaml"] and touched.tree == clean.tree
    # the vllm config's catalog was loaded and stored again; the other config's entry waits for a spec that needs it
    assert compile_repo.cache_file.read_bytes().count(b"bm90IGEgY2F0YWxvZw") == 1


def test_a_cache_that_cannot_be_written_does_not_fail_the_build(compile_repo, tmp_path: Path):
    clean = compile_repo(cache=False)
    compile_repo.cache_file.mkdir()  # a directory where the cache file should be
    assert compile_repo().tree == clean.tree
    assert BuildCache(compile_repo.cache_file, compile_repo.key).save(keep_unused=False) is False


def test_a_catalog_read_back_from_json_equals_the_loaded_one(repo: Path):
    from kaito_compile.cache import catalog_from_payload, catalog_payload
    from kaito_compile.catalog import load_catalog
    from kaito_compile.config import load_config

    loaded = load_catalog(load_config(str(repo / "vllm" / "kaito-compile.yaml")))
    assert catalog_from_payload(json.loads(json.dumps(catalog_payload(loaded)))) == loaded
    assert catalog_from_payload({"entries": {"x": {"hfId": 3}}}) is None
    payload = json.loads(json.dumps(catalog_payload(loaded)))
    next(iter(payload["skus"]["clouds"].values()))[0]["memoryGiB"] += 1  # no longer gpus × perGpuGiB
    assert catalog_from_payload(payload) is None
