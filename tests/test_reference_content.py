"""The shipped reference data (content/district.json) parses and hangs together."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from gridportal.domain.reference import District, Grid, TeamRole, parse_district

DISTRICT_FILE = Path(__file__).resolve().parents[1] / "content" / "district.json"

# Work phones on the demo bulletins are in an obviously fictional range.
DEMO_PHONE = re.compile(r"0571-5555\d{4}")


@pytest.fixture(scope="module")
def raw() -> dict[str, object]:
    data = json.loads(DISTRICT_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def district(raw: dict[str, object]) -> District:
    return parse_district(raw)


def test_parses_as_qingbo_street(district: District) -> None:
    assert district.name == "清波街道"
    assert "杭州" in district.city


def test_two_stations_serve_five_communities(district: District) -> None:
    assert len(district.stations) == 2
    assert len(district.communities) == 5
    served: dict[str, set[str]] = {}
    for community in district.communities:
        station = district.station(community.station)
        assert station is not None
        served.setdefault(station.name, set()).add(community.name)
    east = next(names for station, names in served.items() if "东片" in station)
    west = next(names for station, names in served.items() if "西片" in station)
    assert east == {"柳翠井巷社区", "定安路社区", "清河坊社区"}
    assert west == {"清波门社区", "劳动路社区"}


def test_grids_are_third_level_and_sized_like_real_ones(district: District) -> None:
    per_community = Counter(grid.community for grid in district.grids)
    assert set(per_community) == {c.id for c in district.communities}
    assert all(3 <= count <= 5 for count in per_community.values())
    assert 18 <= len(district.grids) <= 22
    for grid in district.grids:
        assert grid.level == 3
        assert 200 <= grid.households <= 300, grid.id
        assert 600 <= grid.population <= 900, grid.id
        assert grid.boundary.startswith("东至"), grid.id
        community = district.community(grid.community)
        assert community is not None and grid.name.startswith(community.name)


def test_every_grid_has_the_full_team(district: District) -> None:
    phones = []
    for grid in district.grids:
        roles = [member.role for member in grid.team]
        assert sorted(roles) == sorted(TeamRole), grid.id
        for member in grid.team:
            assert member.name and member.duties, grid.id
            assert DEMO_PHONE.fullmatch(member.work_phone), member.work_phone
            phones.append(member.work_phone)
    assert len(phones) == len(set(phones))
    for station in district.stations:
        assert DEMO_PHONE.fullmatch(station.phone)


def test_departments_cover_the_street_office_and_city(district: District) -> None:
    kinds = Counter(department.kind for department in district.departments)
    assert set(kinds) == {"street_office", "city_department"}
    assert kinds["street_office"] == 7
    assert kinds["city_department"] == 10
    names = {department.name for department in district.departments}
    for office in ("党政工作部", "城市管理部", "平安建设部", "民生事业部", "经济服务部"):
        assert any(office in name for name in names), office
    assert all(re.fullmatch(r"[a-z]+-[a-z]+", d.id) for d in district.departments)


def test_services_name_known_departments_and_difficulty(district: District) -> None:
    codes = [service.code for service in district.services]
    assert len(codes) == len(set(codes))
    assert 35 <= len(codes) <= 50
    for service in district.services:
        assert district.department(service.department) is not None, service.code
        assert service.difficulty in {"easy", "hard"}, service.code
        assert re.fullmatch(r"[a-z]+-[a-z-]+", service.code), service.code
    groups = {service.group for service in district.services}
    assert groups == {
        "市容环境",
        "安全隐患",
        "民生服务",
        "邻里纠纷",
        "政策咨询",
        "违法建设",
        "出租房管理",
        "食品安全",
        "交通出行",
    }


def test_hard_and_easy_categories_follow_the_domain(district: District) -> None:
    by_code = {service.code: service for service in district.services}
    for code in ("safe-fire", "safe-gas", "safe-structure", "build-illegal", "rent-crowded"):
        assert by_code[code].difficulty == "hard", code
    for code in ("env-litter", "traffic-parking", "env-noise"):
        assert by_code[code].difficulty == "easy", code


def test_policy_questions_have_direct_answers(district: District) -> None:
    policy = [service for service in district.services if service.group == "政策咨询"]
    assert policy
    assert all(service.answer for service in policy)
    # Answers belong to policy questions; other categories are handled, not answered.
    assert all(not s.answer for s in district.services if s.group != "政策咨询")


def test_lists_are_published(district: District) -> None:
    lists = district.lists
    assert len(lists["权力清单"]) == 40
    assert len(lists["服务事项清单"]) == 150
    assert 25 <= len(lists["日常巡查类事项清单"]) <= 35
    for items in lists.values():
        assert len(items) == len(set(items))
        assert all(item.strip() for item in items)


def test_a_boundary_names_the_places_on_each_side(district: District) -> None:
    boundary = "东至中山中路，南至吴山广场北侧，西至大井巷东段，北至吴山北麓。"
    edges = Grid("G", "某网格", "c", 3, boundary, 1, 1).edges()
    assert edges == [("东", "中山中路"), ("南", "吴山广场"), ("西", "大井巷"), ("北", "吴山北麓")]
    for real in district.grids:  # every bulletin's boundary names its four sides
        assert [side for side, _ in real.edges()] == ["东", "南", "西", "北"], real.id
        assert all(len(place) >= 2 for _, place in real.edges()), real.id
