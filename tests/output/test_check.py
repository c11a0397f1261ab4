"""check_tree: drift between a rendered tree and out/, reported as lists and a git-style diff, writing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito_compile.output import LOCK_FILE, check_tree, write_tree
from tests.output.helpers import falcon, phi3, render, snapshot

DEPLOYMENT = "default/phi-3/deployment-phi-3.yaml"


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_tree(render(phi3(), falcon()), Path("out"))
    return Path("out")


def test_an_up_to_date_tree_checks_clean(out: Path):
    result = check_tree(render(phi3(), falcon()), out)
    assert result.ok and result.diff == "" and not (result.stale or result.missing or result.orphans)


def test_a_changed_object_is_stale_with_a_unified_diff(out: Path):
    result = check_tree(render(phi3(image_tag="0.0.9"), falcon()), out)
    assert result.stale == [LOCK_FILE, DEPLOYMENT] and not result.ok
    assert f"--- a/out/{DEPLOYMENT}\n+++ b/out/{DEPLOYMENT}\n" in result.diff
    assert "-        image: mcr.microsoft.com/aks/kaito/kaito-base:0.0.8\n" in result.diff
    assert "+        image: mcr.microsoft.com/aks/kaito/kaito-base:0.0.9\n" in result.diff


def test_a_deleted_file_is_missing_and_diffs_from_dev_null(out: Path):
    (out / DEPLOYMENT).unlink()
    result = check_tree(render(phi3(), falcon()), out)
    assert result.missing == [DEPLOYMENT] and result.stale == []
    assert f"--- /dev/null\n+++ b/out/{DEPLOYMENT}\n@@ -0,0 +1," in result.diff


def test_files_the_lock_lists_but_the_tree_dropped_are_orphans(out: Path):
    result = check_tree(render(phi3()), out)
    assert result.orphans == [
        "team-a/falcon-7b/deployment-falcon-7b.yaml",
        "team-a/falcon-7b/kustomization.yaml",
        "team-a/falcon-7b/service-falcon-7b.yaml",
    ]
    assert "--- a/out/team-a/falcon-7b/kustomization.yaml\n+++ /dev/null\n" in result.diff


def test_without_a_lock_generated_files_are_recognised_by_their_header_and_user_files_are_not(out: Path):
    (out / LOCK_FILE).unlink()
    (out / "team-a" / "NOTES.md").write_text("# notes\n")
    result = check_tree(render(phi3()), out)
    assert result.missing == [LOCK_FILE]
    assert result.orphans == [
        "team-a/falcon-7b/deployment-falcon-7b.yaml",
        "team-a/falcon-7b/kustomization.yaml",
        "team-a/falcon-7b/service-falcon-7b.yaml",
    ]


def test_a_file_without_a_final_newline_is_marked_in_the_diff(out: Path):
    (out / DEPLOYMENT).write_bytes((out / DEPLOYMENT).read_bytes().rstrip(b"\n"))
    result = check_tree(render(phi3(), falcon()), out)
    assert "\n\\ No newline at end of file\n" in result.diff


def test_checking_writes_nothing_and_an_absent_out_is_all_missing(out: Path, tmp_path: Path):
    before = snapshot(out)
    check_tree(render(phi3(image_tag="0.0.9")), out)
    assert snapshot(out) == before
    result = check_tree(render(phi3()), tmp_path / "nowhere")
    assert result.missing == sorted(render(phi3())) and result.orphans == []
    assert "+++ b/nowhere/default/phi-3/service-phi-3.yaml" in result.diff
