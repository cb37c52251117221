"""Printable posters (公示牌海报): one A4 PDF per grid and one per community with all its grids.

The grid bulletin (网格公示牌) is posted in stairwells: the grid's name and boundary, the
team "one chief, five members" (一长五员) with their work phones and duties, how to report,
and a QR code to the grid's report page, in large type for a hallway. WeasyPrint lays it
out with Noto CJK (the Debian package ``fonts-noto-cjk``); the QR code is a PNG made by
segno at print resolution, so any phone camera reads it from the paper.

A poster is remade only when what it shows changed: each grid's poster source (the
values above plus this module's layout) is hashed, and the hashes of the posters online
are kept in the site state ``_state/posters.json``. A night without a change to any
bulletin renders no PDF. Posters are written straight to the site target after the
night's plan is applied (``site_extras.after_publish``): they are leaves that only the
bulletins link to, and they are not part of any shard.

WeasyPrint is imported here only: the API's functions never import this module.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import segno

from gridportal.adapters.infra_template import STATE_PREFIX
from gridportal.domain.reference import TEAM_ROLE_LABELS, District, TeamRole

logger = logging.getLogger(__name__)

STATE_KEY = f"{STATE_PREFIX}posters.json"
STATE_VERSION = 1


def grid_poster_key(grid: str) -> str:
    return f"grids/{grid}/poster.pdf"


def community_poster_key(community: str) -> str:
    return f"grids/posters/{community}.pdf"


def available() -> bool:
    """Whether WeasyPrint (and the Pango it needs) can be loaded here."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def enabled(site_url: str) -> bool:
    """Posters are made when WeasyPrint is here and the site's absolute address is known:
    a QR code on paper must hold the whole address (a build without ``GRIDPORTAL_SITE_URL``,
    as in most tests, makes none, and the bulletins then do not link to any)."""
    return site_url.startswith(("https://", "http://")) and available()


# One page of A4 for a hallway: headings read from two metres, the QR code 62 mm wide.
POSTER_CSS = """
@page { size: A4; margin: 12mm 13mm 10mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif; color: #111;
       font-size: 13pt; line-height: 1.4; margin: 0; }
.poster { page-break-after: always; }
.poster:last-child { page-break-after: auto; }
.kicker { color: #b3261e; font-size: 16pt; font-weight: 700; margin: 0; letter-spacing: 2pt; }
h1 { font-size: 28pt; line-height: 1.2; margin: 1mm 0 1mm; }
.where { font-size: 14pt; margin: 0 0 4mm; color: #333; }
.top { display: flex; gap: 7mm; border-top: 2.5pt solid #b3261e; padding-top: 4mm; }
.qr { width: 64mm; text-align: center; flex: none; }
.qr img { width: 62mm; height: 62mm; }
.qr p { margin: 1mm 0 0; font-size: 15pt; font-weight: 700; }
.qr .url { font-size: 9pt; font-weight: 400; word-break: break-all; }
.how { flex: 1; }
h2 { font-size: 19pt; margin: 0 0 2mm; }
.how ol { margin: 0; padding-left: 6mm; font-size: 14pt; }
.facts { margin: 2mm 0 0; font-size: 12pt; }
table { width: 100%; border-collapse: collapse; margin-top: 3mm; }
th, td { border-bottom: 0.8pt solid #999; padding: 1.4mm 1.2mm; text-align: left;
         vertical-align: top; }
thead th { border-bottom: 1.6pt solid #111; font-size: 13pt; }
td.role { font-weight: 700; white-space: nowrap; font-size: 14pt; }
td.name { font-size: 14pt; white-space: nowrap; }
td.phone { font-size: 16pt; font-weight: 700; white-space: nowrap; }
td.duties { font-size: 10.5pt; line-height: 1.35; }
.foot { margin-top: 3mm; font-size: 11pt; color: #333; }
"""


@dataclass(frozen=True)
class PosterSource:
    """Everything one grid's poster shows; its hash decides whether the PDF is remade."""

    grid: str
    grid_name: str
    community: str
    community_name: str
    station_name: str
    station_address: str
    station_phone: str
    boundary: str
    households: int
    population: int
    team: tuple[tuple[str, str, str, str], ...]  # (role label, name, work phone, duties)
    report_url: str
    district_name: str

    @property
    def digest(self) -> str:
        values = json.dumps(self.__dict__, ensure_ascii=False, sort_keys=True, default=list)
        layout = POSTER_CSS + _POSTER_HTML
        return hashlib.sha256((values + "\0" + layout).encode()).hexdigest()[:16]


def sources(district: District, site_url: str) -> list[PosterSource]:
    """Every grid's poster source, in the reference data's order."""
    from gridportal.adapters.theme import report_url

    order = {role: i for i, role in enumerate(TeamRole)}
    out = []
    for grid in district.grids:
        community = district.community(grid.community)
        station = district.station(community.station) if community else None
        out.append(
            PosterSource(
                grid=grid.id,
                grid_name=grid.name,
                community=grid.community,
                community_name=community.name if community else "",
                station_name=station.name if station else "",
                station_address=station.address if station else "",
                station_phone=station.phone if station else "",
                boundary=grid.boundary,
                households=grid.households,
                population=grid.population,
                team=tuple(
                    (TEAM_ROLE_LABELS[m.role], m.name, m.work_phone, m.duties)
                    for m in sorted(grid.team, key=lambda m: order[m.role])
                ),
                report_url=report_url(site_url, grid.id),
                district_name=district.name,
            )
        )
    return out


_POSTER_HTML = """<section class="poster">
<p class="kicker">网格公示牌 · 定格 定人 定责</p>
<h1>{grid_name}</h1>
<p class="where">{district_name} · {community_name} · {station_name}</p>
<div class="top">
  <div class="qr"><img src="{qr}" alt="二维码"><p>扫码反映问题</p>
    <p class="url">{report_url}</p></div>
  <div class="how">
    <h2>如何反映问题</h2>
    <ol>
      <li>用手机扫描左侧二维码，在网上投诉，可随时查询办理进度；</li>
      <li>直接打电话给本网格的网格员或网格长（见下表）；</li>
      <li>到{station_name}办理：{station_address}，电话 {station_phone}。</li>
    </ol>
    <p class="facts">网格范围：{boundary}<br>户数 {households} 户 · 人口 {population} 人</p>
  </div>
</div>
<table>
  <thead><tr><th>职务</th><th>姓名</th><th>工作电话</th><th>职责</th></tr></thead>
  <tbody>{rows}</tbody>
</table>
<p class="foot">以上为工作电话。办理过程和结果在网站上公开，欢迎监督。</p>
</section>"""


def qr_data_uri(url: str) -> str:
    """The QR code as a PNG data URI, 10 pixels a module (sharp at 62 mm)."""
    return str(segno.make_qr(url, error="m").png_data_uri(scale=10, border=4))


def poster_html(source: PosterSource) -> str:
    """One grid's poster as an HTML fragment (one page); every value escaped."""
    e = html.escape
    rows = (
        "".join(
            f'<tr><td class="role">{e(role)}</td><td class="name">{e(name)}</td>'
            f'<td class="phone">{e(phone)}</td><td class="duties">{e(duties)}</td></tr>'
            for role, name, phone, duties in source.team
        )
        or '<tr><td colspan="4">本网格人员信息待公布。</td></tr>'
    )
    return _POSTER_HTML.format(
        grid_name=e(source.grid_name),
        district_name=e(source.district_name),
        community_name=e(source.community_name),
        station_name=e(source.station_name),
        station_address=e(source.station_address),
        station_phone=e(source.station_phone),
        boundary=e(source.boundary),
        households=source.households,
        population=source.population,
        report_url=e(source.report_url),
        qr=qr_data_uri(source.report_url),
        rows=rows,
    )


def _document(fragments: Sequence[str], title: str) -> str:
    body = "\n".join(fragments)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{POSTER_CSS}</style></head>"
        f"<body>{body}</body></html>"
    )


def render_document(sources_: Sequence[PosterSource], title: str) -> Any:
    """The laid-out pages (a WeasyPrint ``Document``) of the posters of ``sources_``."""
    from weasyprint import HTML

    return HTML(string=_document([poster_html(s) for s in sources_], title)).render()


def render_pdf(sources_: Sequence[PosterSource], title: str) -> bytes:
    """The posters of ``sources_`` as one PDF, a page each."""
    return _pdf(render_document(sources_, title))


def _pdf(document: Any) -> bytes:
    pdf = document.write_pdf()
    assert pdf is not None
    return bytes(pdf)


class PosterSite(Protocol):
    def read(self, key: str) -> bytes | None: ...

    def put(self, key: str, source: Path) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass
class PosterResult:
    written: list[str]
    deleted: list[str]


def build_posters(site: PosterSite, district: District, site_url: str) -> PosterResult:
    """Remake the posters whose source changed since the site state, write them to ``site``,
    delete those of grids and communities no longer in the district, update the state."""
    state = _read_state(site)
    known_grids: Mapping[str, str] = state.get("grids", {})
    known_communities: Mapping[str, str] = state.get("communities", {})
    all_sources = sources(district, site_url)
    by_community: dict[str, list[PosterSource]] = {}
    for source in all_sources:
        by_community.setdefault(source.community, []).append(source)
    grids = {s.grid: s.digest for s in all_sources}
    communities = {
        community: hashlib.sha256("".join(s.digest for s in members).encode()).hexdigest()[:16]
        for community, members in by_community.items()
    }
    result = PosterResult([], [])
    with tempfile.TemporaryDirectory(prefix="posters-") as scratch:
        out = Path(scratch)

        def put(key: str, data: bytes) -> None:
            path = out / key.replace("/", "_")
            path.write_bytes(data)
            site.put(key, path)
            result.written.append(key)

        # Each grid is laid out once: a community's PDF reuses its grids' pages.
        laid_out: dict[str, Any] = {}

        def document(source: PosterSource) -> Any:
            if source.grid not in laid_out:
                laid_out[source.grid] = render_document([source], source.grid_name)
            return laid_out[source.grid]

        for source in all_sources:
            if known_grids.get(source.grid) != grids[source.grid]:
                put(grid_poster_key(source.grid), _pdf(document(source)))
        for community, members in by_community.items():
            if known_communities.get(community) != communities[community]:
                documents = [document(member) for member in members]
                pages = [page for each in documents for page in each.pages]
                combined = documents[0].copy(pages)
                combined.metadata.title = f"{members[0].community_name}网格公示牌"
                put(community_poster_key(community), _pdf(combined))
        for grid in sorted(set(known_grids) - set(grids)):
            site.delete(grid_poster_key(grid))
            result.deleted.append(grid_poster_key(grid))
        for community in sorted(set(known_communities) - set(communities)):
            site.delete(community_poster_key(community))
            result.deleted.append(community_poster_key(community))
        new_state = {"version": STATE_VERSION, "grids": grids, "communities": communities}
        if new_state != state:
            path = out / "state.json"
            path.write_text(json.dumps(new_state, sort_keys=True), encoding="utf-8")
            site.put(STATE_KEY, path)
    return result


def _read_state(site: PosterSite) -> dict[str, Any]:
    data = site.read(STATE_KEY)
    state: dict[str, Any] = json.loads(data) if data else {}
    return state if state.get("version") == STATE_VERSION else {}


def poster_keys(district: District) -> Iterable[str]:
    for grid in district.grids:
        yield grid_poster_key(grid.id)
    for community in {g.community for g in district.grids}:
        yield community_poster_key(community)
