"""Reference data: the organisation a case moves through.

Street (街道) → service stations (社区公共服务站, 一站多居) → communities (社区) →
grids (网格), each grid with its team (一长五员); departments (职能部门) that
handle cases; the service list (服务事项清单) that names the categories a
complaint can have. Everything here is public: team members' names and *work*
phone numbers are published on every grid bulletin (定格、定人、定责).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from gridportal.domain.model import Priority


class TeamRole(StrEnum):
    """一长五员: one chief and five members."""

    CHIEF = "chief"  # 网格长
    WORKER = "worker"  # 网格员
    SUPERVISOR = "supervisor"  # 督查员
    INFORMATION = "information"  # 信息员
    PATROL = "patrol"  # 巡查员
    LIAISON = "liaison"  # 联络员


TEAM_ROLE_LABELS: Mapping[TeamRole, str] = {
    TeamRole.CHIEF: "网格长",
    TeamRole.WORKER: "网格员",
    TeamRole.SUPERVISOR: "督查员",
    TeamRole.INFORMATION: "信息员",
    TeamRole.PATROL: "巡查员",
    TeamRole.LIAISON: "联络员",
}


@dataclass(frozen=True)
class TeamMember:
    role: TeamRole
    name: str
    work_phone: str
    duties: str


# A boundary names a place on each side: "东至中山中路，南至吴山广场北侧，…".
_BOUNDARY_EDGE = re.compile(r"([东南西北])至([^,，。;；、]+)")
_EDGE_PART = re.compile(r"(东段|西段|南段|北段|东侧|西侧|南侧|北侧)$")


@dataclass(frozen=True)
class Grid:
    id: str  # e.g. "QB-LCJX-01"
    name: str  # e.g. "柳翠井巷社区第1网格"
    community: str  # community id
    level: int  # grids are numbered in levels; bulletins are for the finest level
    boundary: str  # public description of the boundary
    households: int
    population: int
    team: tuple[TeamMember, ...] = ()

    def edges(self) -> list[tuple[str, str]]:
        """The places the boundary names, each with its side (东, 南, 西, 北), without
        the part of it meant (吴山广场北侧 → 吴山广场; 吴山北麓 stays whole)."""
        return [
            (side, _EDGE_PART.sub("", place.strip()))
            for side, place in _BOUNDARY_EDGE.findall(self.boundary)
        ]


@dataclass(frozen=True)
class Community:
    id: str
    name: str
    station: str  # service station id


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    address: str  # the station's public office address
    phone: str  # the station's public phone


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    kind: str  # "street_office" (街道内设部门) or "city_department" (职能部门)


@dataclass(frozen=True)
class ServiceItem:
    """A category a complaint can be filed under (服务事项 / 巡查事项)."""

    code: str
    name: str
    group: str  # e.g. 市容环境, 安全隐患, 民生服务
    department: str  # default handling department id
    priority: Priority  # default priority at assessment
    difficulty: str  # "easy" | "hard": published so metrics show the mix (see DOMAIN.md)
    answer: str = ""  # knowledge-base answer for direct answers (直接解答), if any


@dataclass(frozen=True)
class District:
    """The whole reference set for one street (街道)."""

    id: str
    name: str
    city: str
    stations: tuple[Station, ...]
    communities: tuple[Community, ...]
    grids: tuple[Grid, ...]
    departments: tuple[Department, ...]
    services: tuple[ServiceItem, ...]
    lists: Mapping[str, Sequence[str]] = field(default_factory=dict)  # 权力清单 etc.

    # Lookups are by id; the indexes are built once per District (cached_property
    # writes to the instance dict, which a frozen dataclass allows).
    @cached_property
    def _by_id(self) -> dict[str, dict[str, Any]]:
        return {
            "grid": {g.id: g for g in self.grids},
            "community": {c.id: c for c in self.communities},
            "station": {s.id: s for s in self.stations},
            "department": {d.id: d for d in self.departments},
            "service": {s.code: s for s in self.services},
        }

    def grid(self, grid_id: str) -> Grid | None:
        return self._by_id["grid"].get(grid_id)

    def community(self, community_id: str) -> Community | None:
        return self._by_id["community"].get(community_id)

    def station(self, station_id: str) -> Station | None:
        return self._by_id["station"].get(station_id)

    def department(self, department_id: str) -> Department | None:
        return self._by_id["department"].get(department_id)

    def service(self, code: str) -> ServiceItem | None:
        return self._by_id["service"].get(code)


class ReferenceError(ValueError):
    """The reference data is malformed or inconsistent."""


def parse_district(data: Mapping[str, Any]) -> District:
    """Build a District from its JSON shape (see docs/data.md) and check references."""
    try:
        district = District(
            id=data["id"],
            name=data["name"],
            city=data["city"],
            stations=tuple(Station(**s) for s in data["stations"]),
            communities=tuple(Community(**c) for c in data["communities"]),
            grids=tuple(
                Grid(
                    **{k: v for k, v in g.items() if k != "team"},
                    team=tuple(
                        TeamMember(
                            role=TeamRole(m["role"]),
                            name=m["name"],
                            work_phone=m["work_phone"],
                            duties=m["duties"],
                        )
                        for m in g.get("team", ())
                    ),
                )
                for g in data["grids"]
            ),
            departments=tuple(Department(**d) for d in data["departments"]),
            services=tuple(
                ServiceItem(**{**s, "priority": Priority(s["priority"])}) for s in data["services"]
            ),
            lists={k: tuple(v) for k, v in data.get("lists", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReferenceError(f"malformed reference data: {exc!r}") from exc
    _check_links(district)
    return district


def _check_links(district: District) -> None:
    stations = {s.id for s in district.stations}
    communities = {c.id for c in district.communities}
    departments = {d.id for d in district.departments}
    for c in district.communities:
        if c.station not in stations:
            raise ReferenceError(f"community {c.id} names unknown station {c.station}")
    for g in district.grids:
        if g.community not in communities:
            raise ReferenceError(f"grid {g.id} names unknown community {g.community}")
    for s in district.services:
        if s.department not in departments:
            raise ReferenceError(f"service {s.code} names unknown department {s.department}")
    for kind, items in (
        ("grid", district.grids),
        ("community", district.communities),
        ("department", district.departments),
    ):
        ids = [i.id for i in items]
        if len(ids) != len(set(ids)):
            raise ReferenceError(f"duplicate {kind} id")
