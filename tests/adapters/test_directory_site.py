"""Publishing to a local directory: atomic writes, deletions, keys stay inside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gridportal.adapters.directory_site import DirectorySite


def test_put_read_and_delete(tmp_path: Path) -> None:
    staged, online = tmp_path / "staged", tmp_path / "online"
    staged.mkdir()
    site = DirectorySite(online)
    site.ensure_bucket()
    (staged / "a.html").write_text("一", encoding="utf-8")
    (staged / "b.html").write_text("二", encoding="utf-8")
    site.put_many([("a.html", staged / "a.html"), ("cases/x1/index.html", staged / "b.html")])
    assert site.read("cases/x1/index.html") == "二".encode()
    assert oct((online / "a.html").stat().st_mode & 0o777) == "0o644"  # the origin reads it
    site.delete("cases/x1/index.html")
    assert site.read("cases/x1/index.html") is None
    assert not (online / "cases").exists()  # no empty directory is left behind
    # No temporary file is left behind either.
    assert sorted(p.name for p in online.rglob("*")) == ["a.html"]


def test_a_failed_copy_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    site = DirectorySite(tmp_path / "site")
    site.write("page.html", b"old")
    with pytest.raises(IsADirectoryError):
        site.put("page.html", tmp_path)  # the source cannot be read
    assert site.read("page.html") == b"old"
    assert os.listdir(tmp_path / "site") == ["page.html"]


def test_missing_key_reads_none_and_keys_cannot_escape(tmp_path: Path) -> None:
    site = DirectorySite(tmp_path / "site")
    site.ensure_bucket()
    assert site.read("nope.html") is None
    with pytest.raises(ValueError):
        site.read("../outside")
    with pytest.raises(ValueError):
        site.delete("")


def test_staged_files_are_taken_by_rename(tmp_path: Path) -> None:
    staged, online = tmp_path / "staged", tmp_path / "online"
    (staged / "cases").mkdir(parents=True)
    site = DirectorySite(online)
    site.write("cases/x1/index.html", b"old")
    (staged / "a.html").write_bytes(b"a")
    (staged / "cases" / "x1.html").write_bytes(b"new")
    (staged / "a.html").chmod(0o600)  # as a build under a strict umask writes it
    inode = (staged / "cases" / "x1.html").stat().st_ino
    site.put_many(
        [("a.html", staged / "a.html"), ("cases/x1/index.html", staged / "cases" / "x1.html")],
        move=True,
    )
    assert site.read("a.html") == b"a"
    assert oct((online / "a.html").stat().st_mode & 0o777) == "0o644"  # the origin reads it
    assert site.read("cases/x1/index.html") == b"new"
    assert (online / "cases" / "x1" / "index.html").stat().st_ino == inode  # not a copy
    assert sorted(p.name for p in staged.rglob("*")) == ["cases"]  # taken, not left
    # A directory made for a new case, and one whose parents are missing too.
    (staged / "cases" / "y2.html").write_bytes(b"y2")
    (staged / "m.csv").write_bytes(b"m")
    site.put_many(
        [("cases/y2/index.html", staged / "cases" / "y2.html"), ("data/e/m.csv", staged / "m.csv")],
        move=True,
    )
    assert (site.read("cases/y2/index.html"), site.read("data/e/m.csv")) == (b"y2", b"m")
    (staged / "b.html").write_bytes(b"b")
    with pytest.raises(ValueError):
        site.put_many([("../b.html", staged / "b.html")], move=True)
    assert (staged / "b.html").is_file()
