"""Posters: the QR code decodes from the rendered PDF, one page a grid, remade only on change."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pyzbar.pyzbar import decode

from gridportal import posters
from gridportal.adapters.theme import report_url
from gridportal.domain.reference import District

SITE_URL = "https://portal.example.cn"


class MemorySite:
    """A site target in memory: what build_posters reads, puts and deletes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.puts: list[str] = []

    def read(self, key: str) -> bytes | None:
        return self.files.get(key)

    def put(self, key: str, source: Path) -> None:
        self.files[key] = source.read_bytes()
        self.puts.append(key)

    def delete(self, key: str) -> None:
        self.files.pop(key, None)


@pytest.fixture(scope="module")
def small(district: District) -> District:
    """Two communities of the demo street, two grids each (posters take a second apiece)."""
    communities = district.communities[:2]
    grids = tuple(
        g for c in communities for g in [x for x in district.grids if x.community == c.id][:2]
    )
    return dataclasses.replace(district, communities=communities, grids=grids)


def qr_codes(pdf: bytes) -> list[list[str]]:
    """The QR codes read from each page, rendered at 150 dpi as a phone would see print."""
    document = pdfium.PdfDocument(io.BytesIO(pdf))
    pages = []
    for page in document:
        image = page.render(scale=150 / 72).to_pil()
        pages.append([symbol.data.decode() for symbol in decode(image)])
    return pages


@pytest.fixture(scope="module")
def built(small: District) -> MemorySite:
    site = MemorySite()
    posters.build_posters(site, small, SITE_URL)
    return site


def test_each_grid_poster_is_one_a4_page_whose_qr_code_opens_its_report_page(
    built: MemorySite, small: District
) -> None:
    for grid in small.grids:
        pdf = built.files[posters.grid_poster_key(grid.id)]
        assert pdf.startswith(b"%PDF")
        document = pdfium.PdfDocument(io.BytesIO(pdf))
        width, height = document[0].get_size()  # points: A4 is 595 x 842
        assert (round(width), round(height)) == (595, 842)
        assert qr_codes(pdf) == [[report_url(SITE_URL, grid.id)]]


def test_a_community_poster_has_every_grid_of_the_community(
    built: MemorySite, small: District
) -> None:
    for community in small.communities:
        pdf = built.files[posters.community_poster_key(community.id)]
        expected = [
            [report_url(SITE_URL, g.id)] for g in small.grids if g.community == community.id
        ]
        assert qr_codes(pdf) == expected


def test_the_poster_shows_the_team_with_work_phones_and_how_to_report(
    built: MemorySite, small: District
) -> None:
    grid = small.grids[0]
    document = pdfium.PdfDocument(io.BytesIO(built.files[posters.grid_poster_key(grid.id)]))
    text = document[0].get_textpage().get_text_range().replace("\r", "").replace("\n", "")
    assert grid.name in text and "如何反映问题" in text
    for member in grid.team:
        assert member.name in text and member.work_phone in text


def test_posters_are_remade_only_when_their_grid_changed(small: District) -> None:
    site = MemorySite()
    first = posters.build_posters(site, small, SITE_URL)
    assert len(first.written) == len(small.grids) + len(small.communities)
    state = json.loads(site.files[posters.STATE_KEY])
    assert set(state["grids"]) == {g.id for g in small.grids}

    site.puts.clear()
    again = posters.build_posters(site, small, SITE_URL)
    assert again.written == [] and site.puts == []  # nothing changed, nothing rendered

    grid = small.grids[0]
    member = dataclasses.replace(grid.team[0], work_phone="0571-55559999")
    changed = dataclasses.replace(grid, team=(member, *grid.team[1:]))
    edited = dataclasses.replace(
        small, grids=tuple(changed if g.id == grid.id else g for g in small.grids)
    )
    third = posters.build_posters(site, edited, SITE_URL)
    assert third.written == [
        posters.grid_poster_key(grid.id),
        posters.community_poster_key(grid.community),
    ]

    fewer = dataclasses.replace(edited, grids=edited.grids[1:])
    fourth = posters.build_posters(site, fewer, SITE_URL)
    assert fourth.deleted == [posters.grid_poster_key(grid.id)]
    assert posters.grid_poster_key(grid.id) not in site.files


def test_posters_need_an_absolute_site_url() -> None:
    assert not posters.enabled("")
    assert not posters.enabled("/relative")
    assert posters.enabled(SITE_URL) is posters.available()


def test_free_text_is_escaped_in_the_poster_html(small: District) -> None:
    (source, *_) = posters.sources(small, SITE_URL)
    hostile = dataclasses.replace(source, boundary='<img src="x">&')
    assert "&lt;img src=&quot;x&quot;&gt;&amp;" in posters.poster_html(hostile)
    assert hostile.digest != source.digest
