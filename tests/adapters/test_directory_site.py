"""Publishing to a local directory: atomic writes, deletions, keys stay inside, and the
layout that stores a page directly under cases/ as a file of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.adapters.directory_site import (
    DirectorySite,
    key_of,
    move_to_flat_layout,
    stored_name,
)
from support.builds import files


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


def test_a_range_of_a_file_is_read_as_stored(tmp_path: Path) -> None:
    site = DirectorySite(tmp_path / "site")
    site.write("data/cases.csv.gz", b"0123456789")
    assert site.read_range("data/cases.csv.gz", 3, 4) == b"3456"
    assert site.read_range("data/cases.csv.gz", 8, 4) == b"89"  # as far as it goes
    assert site.read_range("never-there.gz", 0, 5) is None


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
    assert (online / "cases" / "x1.html").stat().st_ino == inode  # not a copy, no directory
    assert sorted(p.name for p in staged.rglob("*")) == ["cases"]  # taken, not left
    # A new case, and a file whose directory and its parents are missing.
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


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("cases/a1b2c3d4e5f6/index.html", "cases/a1b2c3d4e5f6.html"),
        ("cases/a1b2c3d4e5f6/index.html.br", "cases/a1b2c3d4e5f6.html.br"),
        ("cases/2026-11/index.html", "cases/2026-11.html"),  # a month's first page
        ("cases/2026-11/2/index.html", "cases/2026-11/2/index.html"),
        ("cases/index.html", "cases/index.html"),
        ("cases/by/grid/QB-1/index.html", "cases/by/grid/QB-1/index.html"),
        ("grids/QB-1/index.html", "grids/QB-1/index.html"),
        ("cases/x/qr.svg", "cases/x/qr.svg"),
    ],
)
def test_a_page_directly_under_cases_is_stored_as_a_file(key: str, name: str) -> None:
    assert stored_name(key) == name
    assert key_of(name) == key


_segment = st.one_of(
    st.sampled_from(["cases", "index", "index.html", "index.html.br", "x.html", "x.html.gz"]),
    st.text(st.sampled_from("abcx19-_."), min_size=1, max_size=8).filter(
        lambda s: s not in (".", "..")
    ),
)


@settings(max_examples=500)
@given(st.lists(_segment, min_size=1, max_size=4))
def test_no_two_keys_share_a_file(segments: list[str]) -> None:
    """A key whose file would be another key's (``cases/<x>.html`` is the file of
    ``cases/<x>/index.html``) is refused, so each file a site holds has one key."""
    key = "/".join(segments)
    site = DirectorySite(Path("/nonexistent/site"))
    if key_of(stored_name(key)) == key:
        assert site._file(key).endswith("/" + stored_name(key))
    else:
        assert stored_name(key_of(key)) == key  # cases/<x>.html: the file of a page
        with pytest.raises(ValueError):
            site._file(key)


def test_a_site_written_in_the_old_layout_is_moved(tmp_path: Path) -> None:
    root = tmp_path / "site"
    old = {
        "cases/a1/index.html": b"a1",
        "cases/a1/index.html.br": b"a1br",
        "cases/b2/index.html": b"b2 old",
        "cases/2026-11/index.html": b"m",
        "cases/2026-11/2/index.html": b"m2",
        "cases/by/index.html": b"by",
        "cases/by/grid/G/index.html": b"g",
        "cases/index.html": b"i",
    }
    for key, data in old.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    # A move broken off after a page, before its sibling; and a page already written
    # in its new place, which is the newer one.
    os.replace(root / "cases/a1/index.html", root / "cases/a1.html")
    (root / "cases/b2.html").write_bytes(b"b2 new")

    site = DirectorySite(root)
    site.ensure_bucket()
    assert files(root) == {**old, "cases/b2/index.html": b"b2 new"}
    assert sorted(p.name for p in (root / "cases").iterdir()) == [
        "2026-11",
        "2026-11.html",
        "a1.html",
        "a1.html.br",
        "b2.html",
        "by",
        "by.html",
        "index.html",
    ]
    assert site.read("cases/a1/index.html") == b"a1"
    assert move_to_flat_layout(root) == 0  # nothing left to move
