"""The git state recorded in a batch's provenance: commit, branch (`HEAD` when detached) and
whether tracked files have uncommitted changes; all None outside a checkout or before the first
commit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness import _git
from harness.cli import main
from harness.results.provenance import git_state

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program")

NONE = {"git_commit": None, "git_branch": None, "git_dirty": None}


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "trunk")
    (tmp_path / "tracked.txt").write_text("one\n")
    git(tmp_path, "add", "tracked.txt")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_clean_checkout_gives_its_commit_and_branch(repo: Path) -> None:
    state = git_state(repo)
    assert state == {
        "git_commit": git(repo, "rev-parse", "HEAD"),
        "git_branch": "trunk",
        "git_dirty": False,
    }


def test_untracked_files_do_not_make_it_dirty_changed_tracked_files_do(repo: Path) -> None:
    (repo / "reports").mkdir()
    (repo / "reports" / "new.json").write_text("{}")
    assert git_state(repo)["git_dirty"] is False
    (repo / "tracked.txt").write_text("two\n")
    assert git_state(repo)["git_dirty"] is True


def test_a_detached_head_is_named_head(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    state = git_state(repo)
    assert state["git_branch"] == "HEAD" and state["git_commit"] == git(repo, "rev-parse", "HEAD")


def test_a_subfolder_of_the_checkout_gives_the_same_state(repo: Path) -> None:
    (repo / "scenarios").mkdir()
    assert git_state(repo / "scenarios") == git_state(repo)


def test_no_checkout_or_no_commit_yet_gives_none(tmp_path: Path) -> None:
    inside = subprocess.run(["git", "rev-parse"], cwd=tmp_path, capture_output=True, check=False)
    if inside.returncode == 0:
        pytest.skip("the temporary folder is inside a git checkout here")
    assert git_state(tmp_path) == NONE
    git(tmp_path, "init", "-q")
    assert git_state(tmp_path) == NONE


def test_a_status_started_early_is_the_one_taken_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `harness run` starts git as the command starts and takes its answer for the batch.
    _git.start_status(repo)
    monkeypatch.setenv("PATH", "")  # git can no longer be started: only the early one answers
    assert git_state(repo)["git_branch"] == "trunk"
    assert git_state(repo) == NONE  # taken: asked again, without git


def test_a_run_that_stops_before_its_batch_leaves_no_git_behind(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "harness.toml").write_text("# the project root\n")
    (repo / "scenarios").mkdir()
    monkeypatch.chdir(repo)
    assert main(["run", "scenarios"]) == 2  # no scenario: the batch never begins
    assert "no scenario" in capsys.readouterr().err
    assert _git._pending == {}
