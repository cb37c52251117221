"""Publishing to a local directory: only what changed, atomic writes, keys stay inside."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridportal.adapters.directory_site import MANIFEST, DirectorySite


def test_only_changed_files_are_copied(tmp_path: Path) -> None:
    built, online = tmp_path / "built", tmp_path / "online"
    built.mkdir()
    site = DirectorySite(online)
    site.ensure_bucket()
    (built / "a.html").write_text("一", encoding="utf-8")
    (built / "cases").mkdir()
    (built / "cases" / "b.html").write_text("二", encoding="utf-8")
    assert set(site.publish(built).uploaded) == {"a.html", "cases/b.html"}
    (built / "cases" / "b.html").write_text("三", encoding="utf-8")
    result = site.publish(built)
    assert result.uploaded == ("cases/b.html",) and result.unchanged == 1
    assert site.read("cases/b.html") == "三".encode()
    assert set(site.manifest()) == {"a.html", "cases/b.html"}
    assert site.read(MANIFEST) is not None
    # No temporary file is left behind.
    assert sorted(p.name for p in online.rglob("*") if p.is_file()) == [
        MANIFEST,
        "a.html",
        "b.html",
    ]


def test_missing_key_reads_none_and_keys_cannot_escape(tmp_path: Path) -> None:
    site = DirectorySite(tmp_path / "site")
    site.ensure_bucket()
    assert site.read("nope.html") is None
    with pytest.raises(ValueError):
        site.read("../outside")
