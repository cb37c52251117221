"""Published metrics (三率 and more), early warnings (信息预警), vote flags and the risk map.

Everything here is computed from the *published* case records (the dicts of
``publication.PUBLIC_FIELDS``) and nothing else, so anyone can download the open
data and recompute every number. ``DEFINITIONS`` is the single source of what a
number means: the counting rules are code (``Definition.counts``, ``Definition.value``)
and their Chinese text is published beside the numbers. docs/metrics.md explains
each one.

Two steps, so that no step holds every record: ``tally_months`` makes one pass over
records, turning each into a short tally of 0/1 counters that is added to the sums of
its month and groups (department, grid, community, category); a month's
``MonthTally`` is kept with its month shard. ``combine_metrics`` adds the months'
sums into the report. ``compute_metrics`` is the two in a row. Rows are column sums,
so the cost grows linearly with the number of records.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo

from gridportal.domain.model import OPEN_STATUSES, Outcome, Rating, Source, Status
from gridportal.domain.reference import District

BEIJING = ZoneInfo("Asia/Shanghai")

Record = Mapping[str, Any]
Row = dict[str, Any]
Kind = Literal[
    "count", "total", "rate", "score", "mix", "month", "ranking", "warning", "risk", "vote_flag"
]

# Scoring: 基本满意 counts as 0.9 of 满意 (the Beijing 12345 scale). The score weighs
# the 三率 together with on-time completion, overdue open cases and reopens, so that
# leaving late cases open or closing cases that come back never pays. A term marked
# "lower" is a rate where less is better: it enters as (1 − rate).
BASIC_SATISFIED_TENTHS = 9  # 0.9, kept in tenths so the satisfaction sum stays exact
SCORE_TERMS: tuple[tuple[str, int, Literal["higher", "lower"]], ...] = (
    ("response_rate", 10, "higher"),
    ("resolution_rate", 30, "higher"),
    ("satisfaction_rate", 30, "higher"),
    ("on_time_rate", 15, "higher"),
    ("overdue_rate", 5, "lower"),
    ("reopen_rate", 10, "lower"),
)
SCORE_WEIGHTS = {key: weight for key, weight, _ in SCORE_TERMS}
assert sum(SCORE_WEIGHTS.values()) == 100, "the score is out of 100"
# Rates are exact fractions of counts, rounded once, half up (四舍五入), to what the
# page shows: a percentage with one decimal (0.001 of a fraction); the score to 0.1.
RATE_PLACES = 3
SCORE_PLACES = 1

# 红黑榜: best and worst departments of the latest final month (else the latest complete one).
RANKING_SIZE = 5
RANKING_MIN_CASES = 5

# 信息预警
RECENT_DAYS = 30
RECURRING_MIN_CASES = 3
SPREADING_MIN_GRIDS = 3
RISING_BASELINE_MONTHS = 3
RISING_FACTOR = 1.5
RISING_MIN_CASES = 5

# 风险评估图: points per item, and the levels they lead to. One overdue open case makes
# a grid medium and two make it high; an ordinary month of an ordinary grid (about 12
# cases, 2–3 of them hard) stays low.
RISK_WEIGHTS = {"overdue_open": 8, "hard_recent": 1, "recurring": 3, "spreading": 1}
RISK_MEDIUM = 8
RISK_HIGH = 16

# Vote flags: flagged for review, never dropped from the numbers.
FAST_VOTE_SECONDS = 60
BURST_VOTES = 5
BURST_WINDOW = timedelta(minutes=10)


# --- Which cases count: one predicate per counter ------------------------------------


def is_merged(record: Record) -> bool:
    """A duplicate merged into its original (合并件): counted once, as ``merged`` only."""
    return record.get("status") == Status.MERGED or record.get("outcome") == Outcome.MERGED


def _deadline(record: Record, key: str) -> Any:
    deadlines = record.get("deadlines")
    return deadlines.get(key) if deadlines else None


def _direct_answer(record: Record) -> bool:
    # 直接解答 is a response and a resolution at the moment of answering.
    return record.get("outcome") == Outcome.ANSWERED


def _closed(record: Record) -> bool:
    return record.get("outcome") is not None


def _open(record: Record) -> bool:
    return record.get("status") in OPEN_STATUSES


def _response_due(record: Record) -> bool:
    return _direct_answer(record) or _deadline(record, "contact_met") is not None


def _responded_on_time(record: Record) -> bool:
    return _direct_answer(record) or _deadline(record, "contact_met") is True


def counted_rating(record: Record) -> str | None:
    """The rating that counts (计入统计的评价): the latest rating of the latest round.

    A reopen (重办) starts a new round that the resident may rate again; until they do,
    the new round is unrated, and the earlier round's rating stays in the public record
    but no longer counts.
    """
    # The published view of ``lifecycle.counted_rating``: records published since rating
    # rounds carry only the current round's rating; older ones may still hold the rating
    # of a round a later reopen closed, which the timeline shows.
    rating = record.get("rating")
    rated_at = record.get("rated_at")
    if rating is None or not rated_at:
        return rating
    rated = _at(rated_at)
    for step in record.get("timeline") or ():
        if step.get("action") == "reopen" and step.get("at") and _at(step["at"]) > rated:
            return None
    return rating


def _resolution_base(record: Record) -> bool:
    # Open cases past their deadline count too (as unresolved): leaving a late case
    # open must never look better than closing it late.
    return record.get("outcome") in (Outcome.RESOLVED, Outcome.ANSWERED) or _overdue_open(record)


def _resolved(record: Record) -> bool:
    return record.get("outcome") in (Outcome.RESOLVED, Outcome.ANSWERED) and (
        counted_rating(record) != Rating.UNSATISFIED
    )


def _deadline_judged(record: Record) -> bool:
    return _closed(record) and _deadline(record, "met") is not None


def _closed_on_time(record: Record) -> bool:
    return _closed(record) and _deadline(record, "met") is True


def _reopened(record: Record) -> bool:
    return (record.get("reopen_count") or 0) > 0


def _overdue_open(record: Record) -> bool:
    return _open(record) and _deadline(record, "met") is False


def round_half_up(value: Fraction, places: int) -> float:
    """``value`` rounded once, half away from zero (四舍五入), to ``places`` decimals.

    Exact: the fraction is scaled and rounded as integers, then given as the float whose
    shortest form is the rounded decimal (``0.313``, never ``0.31299999``).
    """
    scaled = abs(value) * 10**places
    whole = int(scaled + Fraction(1, 2))  # floor, the value being non-negative
    rounded = Decimal(whole).scaleb(-places)
    return float(-rounded if value < 0 else rounded)


# (numerator, denominator) of each rate, from a row's counters. Satisfaction is counted
# in tenths of a case, so that 基本满意 at 0.9 stays an integer.
RATE_PARTS: Mapping[str, Callable[[Mapping[str, int]], tuple[int, int]]] = {
    "hard_share": lambda c: (c["hard_cases"], c["cases"]),
    "response_rate": lambda c: (c["responded_on_time"], c["response_due"]),
    "resolution_rate": lambda c: (c["resolved"], c["resolution_base"]),
    "satisfaction_rate": lambda c: (
        10 * c["satisfied"] + BASIC_SATISFIED_TENTHS * c["basically_satisfied"],
        10 * c["rated"],
    ),
    "on_time_rate": lambda c: (c["closed_on_time"], c["on_time_base"]),
    "overdue_rate": lambda c: (c["overdue_open"], c["on_time_base"]),
    "reopen_rate": lambda c: (c["reopened"], c["ever_closed"]),
}


def exact_rate(counts: Mapping[str, int], key: str) -> Fraction | None:
    numerator, denominator = RATE_PARTS[key](counts)
    return Fraction(numerator, denominator) if denominator else None


def _rate_value(key: str) -> Callable[[Mapping[str, int]], float | None]:
    def value(counts: Mapping[str, int]) -> float | None:
        exact = exact_rate(counts, key)
        return None if exact is None else round_half_up(exact, RATE_PLACES)

    return value


def exact_score(counts: Mapping[str, int]) -> Fraction | None:
    """The score as an exact fraction, from the exact (unrounded) rates; None when any
    term's denominator is 0."""
    total = Fraction(0)
    for key, weight, direction in SCORE_TERMS:
        rate = exact_rate(counts, key)
        if rate is None:
            return None
        total += weight * (rate if direction == "higher" else 1 - rate)
    return total


def _score(counts: Mapping[str, int]) -> float | None:
    exact = exact_score(counts)
    return None if exact is None else round_half_up(exact, SCORE_PLACES)


# --- The definitions ----------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    """One published number: its Chinese name and formula, and the code that makes it.

    A counter has ``counts``: the test a (non-merged) case passes to be counted. A
    rate or score has ``value``: how it follows from a row's counters. Warnings, flags,
    rankings and the risk map are defined by the module's constants, which their
    formulas quote.
    """

    key: str
    name: str
    formula: str
    description: str
    kind: Kind
    counts: Callable[[Record], bool] | None = None
    value: Callable[[Mapping[str, int]], float | None] | None = None

    def public(self) -> dict[str, str]:
        return {
            "key": self.key,
            "name": self.name,
            "formula": self.formula,
            "description": self.description,
        }


def _count(
    key: str, name: str, formula: str, description: str, test: Callable[[Record], bool]
) -> Definition:
    return Definition(key, name, formula, description, "count", counts=test)


def _rate(key: str, name: str, formula: str, description: str) -> Definition:
    return Definition(key, name, formula, description, "rate", value=_rate_value(key))


_MERGED_NOTE = "合并件不计入。"
_RATE_NAMES = {
    "response_rate": "响应率",
    "resolution_rate": "解决率",
    "satisfaction_rate": "满意率",
    "on_time_rate": "按期办结率",
    "overdue_rate": "超期未办结率",
    "reopen_rate": "重办率",
}

DEFINITIONS: tuple[Definition, ...] = (
    # Counters, in the order of each case's count vector.
    _count(
        "cases",
        "案件数",
        "按受理月份统计的案件数（不含合并件）",
        "每件反映计一件，按受理时间（北京时间）所在月份归月。重复反映被合并到原件后只计入“合并件数”。",
        lambda r: True,
    ),
    _count(
        "resident_cases",
        "群众反映件数",
        "来源为“群众反映”的案件数",
        "通过网上投诉、热线、微信等渠道由群众提出的案件。与巡查发现件数并列公布，"
        "以免只看总量掩盖来源结构。" + _MERGED_NOTE,
        lambda r: r.get("source") == Source.RESIDENT,
    ),
    _count(
        "patrol_cases",
        "巡查发现件数",
        "来源为“巡查发现”的案件数",
        "网格员巡查时主动上报的案件。" + _MERGED_NOTE,
        lambda r: r.get("source") == Source.PATROL,
    ),
    _count(
        "hard_cases",
        "疑难件数",
        "所属类别在服务事项清单中标为“疑难”的案件数",
        "如消防隐患、违法建设、群租房等难办事项。" + _MERGED_NOTE,
        lambda r: r.get("difficulty") == "hard",
    ),
    _count(
        "response_due",
        "应响应件数",
        "已联系反映人或联系时限已到的案件数 + 直接解答件数",
        "联系时限：一般、复杂件为受理后1个工作日，紧急件为2小时。"
        "联系时限未到且尚未联系的案件，以及因工作日历未覆盖而无法计算时限的案件"
        "（直接解答除外）不计入。" + _MERGED_NOTE,
        _response_due,
    ),
    _count(
        "responded_on_time",
        "按时响应件数",
        "在联系时限内联系反映人的案件数 + 直接解答件数",
        "办结时告知反映人也视为联系；直接解答视为当即响应。",
        _responded_on_time,
    ),
    _count(
        "closed",
        "办结件数",
        "已有办理结果的案件数（已解决、直接解答、不予办理）",
        "重办中的案件不计入，重新办结后再计入。" + _MERGED_NOTE,
        _closed,
    ),
    _count(
        "refused",
        "不予办理件数",
        "办理结果为“不予办理（已说明理由）”的案件数",
        "超出法律政策范围、已向反映人说明理由的案件。不计入解决率的分子和分母，单独公布。",
        lambda r: r.get("outcome") == Outcome.REFUSED,
    ),
    _count(
        "resolution_base",
        "应解决件数",
        "办理结果为“已解决”或“直接解答”的案件数 + 超期未办结件数",
        "解决率的分母。已超过办理时限仍未办结的案件计入分母、不计入分子，"
        "因此拖着不办不会比超期办结更好看。不予办理件与合并件不计入。",
        _resolution_base,
    ),
    _count(
        "resolved",
        "已解决件数",
        "办理结果为“已解决”或“直接解答”、且计入统计的评价不是“不满意”的案件数",
        "未评价的视为已解决；评价“不满意”的不算已解决。重办开启新一轮办理，"
        "重新办结后未评价前视为已解决，反映人可对新一轮重新评价。",
        _resolved,
    ),
    _count(
        "rated",
        "评价件数",
        "计入统计的评价不为空的案件数",
        "每件只计最新一轮办理的最新评价（重办开启新一轮，之前各轮的评价仍在办理记录中公开，"
        "但不再计入）。评价不会因异常标记而被删除。" + _MERGED_NOTE,
        lambda r: counted_rating(r) is not None,
    ),
    _count(
        "satisfied",
        "满意件数",
        "计入统计的评价为“满意”的案件数",
        "满意率按1个满意计。",
        lambda r: counted_rating(r) == Rating.SATISFIED,
    ),
    _count(
        "basically_satisfied",
        "基本满意件数",
        "计入统计的评价为“基本满意”的案件数",
        f"满意率按0.{BASIC_SATISFIED_TENTHS}个满意计。",
        lambda r: counted_rating(r) == Rating.BASICALLY_SATISFIED,
    ),
    _count(
        "unsatisfied",
        "不满意件数",
        "计入统计的评价为“不满意”的案件数",
        "满意率按0计；已解决或直接解答的案件评价为不满意时，不算已解决。",
        lambda r: counted_rating(r) == Rating.UNSATISFIED,
    ),
    _count(
        "deadline_judged",
        "有期限的办结件数",
        "办结件中能计算办理时限的案件数",
        "因工作日历未覆盖等原因无法计算时限的案件不计入按期办结率。",
        _deadline_judged,
    ),
    _count(
        "closed_on_time",
        "按期办结件数",
        "在办理时限（含批准的延期）内办结的案件数",
        "时限：一般件5个工作日，复杂件15个工作日，紧急件24小时；延期后以新期限为准。",
        _closed_on_time,
    ),
    _count(
        "on_time_base",
        "应按期办结件数",
        "有期限的办结件数 + 超期未办结件数",
        "按期办结率和超期未办结率的分母。已过办理时限仍未办结的案件也计入，"
        "不能靠拖着不办结来保住按期办结率。",
        lambda r: _deadline_judged(r) or _overdue_open(r),
    ),
    _count(
        "ever_closed",
        "曾办结件数",
        "办结件数 + 重办中的案件数",
        "重办率的分母：办结过至少一次的案件。",
        lambda r: _closed(r) or _reopened(r),
    ),
    _count(
        "reopened",
        "重办件数",
        "重办次数大于0的案件数",
        "因不满意或回访未通过而重新办理过的案件，无论现在是否再次办结。",
        _reopened,
    ),
    _count(
        "open",
        "在办件数",
        "状态为已受理、已研判、已转办、办理中或专报待批的案件数",
        _MERGED_NOTE,
        _open,
    ),
    _count(
        "overdue_open",
        "超期未办结件数",
        "在办件中已超过办理时限的案件数",
        "统计时点为数据生成时间；延期后以新期限为准。",
        _overdue_open,
    ),
    # The merged counter is not a test on non-merged cases: see ``tally``.
    Definition(
        "merged",
        "合并件数",
        "状态为“已合并”的案件数",
        "同一问题的重复反映合并到原件后，只在此计数，不计入其他任何指标。",
        "count",
    ),
    # Not a counter of rows: the site's count of published records (home page).
    Definition(
        "records",
        "公开记录数",
        "案件数 + 合并件数",
        "网站公开的全部办理记录，包括合并到原件的重复反映（合并件）。各项指标只按案件数"
        "（不含合并件）计算，因此案件数小于公开记录数。",
        "total",
    ),
    # Shares, rates and the score.
    _rate(
        "hard_share",
        "疑难占比",
        "疑难件数 ÷ 案件数",
        "与类别构成、来源结构一起公布，防止只报易办事项、回避难办事项。",
    ),
    _rate(
        "response_rate",
        "响应率",
        "按时响应件数 ÷ 应响应件数",
        "在联系时限内联系反映人的比例；直接解答视为按时响应。",
    ),
    _rate(
        "resolution_rate",
        "解决率",
        "已解决件数 ÷ 应解决件数",
        "办理结果为已解决或直接解答、且计入统计的评价不是“不满意”的比例；"
        "已超期仍未办结的案件计入分母。不予办理件（超出法律政策范围并已说明理由）"
        "不计入分子分母，其件数单独公布。",
    ),
    _rate(
        "satisfaction_rate",
        "满意率",
        f"（满意件数 + 0.{BASIC_SATISFIED_TENTHS} × 基本满意件数） ÷ 评价件数",
        f"基本满意按0.{BASIC_SATISFIED_TENTHS}个满意计算；没有评价时不计算。"
        "开放数据中分子分母以十分之一件为单位（满意10、基本满意9）。",
    ),
    _rate(
        "on_time_rate",
        "按期办结率",
        "按期办结件数 ÷ 应按期办结件数",
        "办结件包括已解决、直接解答和不予办理；已超期仍未办结的案件计入分母。",
    ),
    _rate(
        "overdue_rate",
        "超期未办结率",
        "超期未办结件数 ÷ 应按期办结件数",
        "已过办理时限仍未办结的比例，越低越好。",
    ),
    _rate(
        "reopen_rate",
        "重办率",
        "重办件数 ÷ 曾办结件数",
        "办结后因不满意或回访未通过而重新办理的比例，越低越好，反映“办结”是否真正解决问题。",
    ),
    Definition(
        "score",
        "综合得分",
        " + ".join(
            f"{weight} × " + (name if way == "higher" else f"（1 − {name}）")
            for key, weight, way in SCORE_TERMS
            for name in [_RATE_NAMES[key]]
        )
        + "（满分100）",
        "三率（响应率、解决率、满意率）参照北京市12345市民服务热线“接诉即办”考核，"
        "并计入按期办结率、超期未办结率和重办率：拖着超期案件不办结、办结后又被重办都会失分。"
        "由未经四舍五入的精确比值计算，最后四舍五入到0.1分；任一项分母为0时不计算得分。",
        "score",
        value=_score,
    ),
    Definition(
        "mix",
        "类别构成",
        "按服务事项大类统计的案件数",
        "与疑难占比、来源结构一起看，可以发现只报易办事项的情况。" + _MERGED_NOTE,
        "mix",
    ),
    Definition(
        "hard_mix",
        "疑难类别构成",
        "按类别统计的疑难件数",
        "每个网格、部门的疑难事项（消防隐患、违法建设、群租房等）各有多少件，"
        "看清谁在办难事、哪里的难事没有上报。" + _MERGED_NOTE,
        "mix",
    ),
    Definition(
        "month_final",
        "月度数字定稿",
        "某月受理的案件全部过了办理时限（含联系时限、延期后的时限），且该月已结束",
        "定稿之前为暂定数字，会随办理进展变化；页面注明每个月是否定稿及定稿时间。"
        "时限无法计算的在办案件使该月暂不定稿。",
        "month",
    ),
    Definition(
        "ranking",
        "红黑榜",
        f"最近一个已定稿月份（没有时取最近一个完整月份，并注明为暂定）中，"
        f"案件数不少于{RANKING_MIN_CASES}件且有综合得分的部门，"
        f"按得分取前{RANKING_SIZE}名（红榜）和后{RANKING_SIZE}名（黑榜）",
        "按公布的得分（四舍五入到0.1分）排名，得分相同即名次相同（并列），并列者一同上榜，"
        "因此一榜可能多于五个部门。符合条件的部门少于"
        f"{2 * RANKING_SIZE}个时，每榜取一半（向下取整）；跨越两榜的并列组两榜都不上，"
        "同一部门不会同时上两榜。",
        "ranking",
    ),
    Definition(
        "warning_recurring",
        "反复发生预警",
        f"近{RECENT_DAYS}天同一网格同一类别案件 ≥ {RECURRING_MIN_CASES}件",
        "按受理时间统计；合并件不计入。",
        "warning",
    ),
    Definition(
        "warning_spreading",
        "扩散预警",
        f"近{RECENT_DAYS}天同一社区有 ≥ {SPREADING_MIN_GRIDS}个网格出现同一类别案件",
        "按受理时间统计；合并件不计入。",
        "warning",
    ),
    Definition(
        "warning_rising",
        "上升预警",
        f"最近一个完整月份某类别案件数 ≥ {RISING_FACTOR} × 前{RISING_BASELINE_MONTHS}个月"
        f"月均件数，且 ≥ {RISING_MIN_CASES}件",
        f"数据须覆盖前{RISING_BASELINE_MONTHS}个月，否则不作判断；合并件不计入。",
        "warning",
    ),
    Definition(
        "risk_score",
        "风险分值",
        f"{RISK_WEIGHTS['overdue_open']} × 超期未办结件数 + "
        f"{RISK_WEIGHTS['hard_recent']} × 近{RECENT_DAYS}天疑难件数 + "
        f"{RISK_WEIGHTS['recurring']} × 本网格反复发生预警数 + "
        f"{RISK_WEIGHTS['spreading']} × 涉及本网格的扩散预警数",
        f"低于{RISK_MEDIUM}分为低风险，{RISK_MEDIUM}至{RISK_HIGH - 1}分为中风险，"
        f"{RISK_HIGH}分及以上为高风险。",
        "risk",
    ),
    Definition(
        "vote_fast_after_resolution",
        "办结即评价",
        f"评价时间在办结后{FAST_VOTE_SECONDS}秒以内",
        "可能是办理人员代为评价。仅作标记供核查，评价照常计入满意率。",
        "vote_flag",
    ),
    Definition(
        "vote_burst",
        "集中评价",
        f"同一网格或同一部门在{int(BURST_WINDOW.total_seconds() // 60)}分钟内"
        f"收到 ≥ {BURST_VOTES}条评价",
        "可能是集中刷评。仅作标记供核查，评价照常计入满意率。",
        "vote_flag",
    ),
)

DEFINITIONS_BY_KEY: Mapping[str, Definition] = {d.key: d for d in DEFINITIONS}
COUNTERS: tuple[Definition, ...] = tuple(d for d in DEFINITIONS if d.kind == "count")
COUNT_KEYS: tuple[str, ...] = tuple(d.key for d in COUNTERS)
_TESTS = tuple(d.counts for d in COUNTERS if d.counts is not None)
_VALUES = tuple((d.key, d.value) for d in DEFINITIONS if d.value is not None)
_MERGED_TALLY = (*(int(key == "merged") for key in COUNT_KEYS), None, None)
assert COUNT_KEYS[len(_TESTS)] == "merged" == COUNT_KEYS[-1], "merged must be the last counter"

# The keys of every row, in order; ``counts`` holds all counters.
ROW_KEYS = (
    "id",
    "name",
    "cases",
    "resident_cases",
    "patrol_cases",
    "hard_cases",
    "hard_share",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "score",
    "on_time_rate",
    "overdue_rate",
    "reopen_rate",
    "overdue_open",
    "rated",
    "closed",
    "refused",
    "merged",
    "mix",
    "hard_mix",
    "counts",
    "fractions",
)
_DIMENSIONS = (
    # (report key, record key, record name key)
    ("by_department", "unit", "unit_name"),
    ("by_grid", "grid", "grid_name"),
    ("by_community", "community", "community_name"),
    ("by_category", "category", "category_name"),
)


# A case's tally: its counters (0/1, in ``COUNT_KEYS`` order), then its category group
# (None for a merged case) for ``mix`` and its category when hard (else None) for
# ``hard_mix``. Rows sum tallies column by column.
Tally = tuple[Any, ...]


def tally(record: Record) -> Tally:
    if is_merged(record):
        return _MERGED_TALLY
    counters = (1 if test(record) else 0 for test in _TESTS)
    hard = (record.get("category") or "") if record.get("difficulty") == "hard" else None
    return (*counters, 0, record.get("category_group") or "", hard)  # 0: not merged


# --- The report ---------------------------------------------------------------------


def compute_metrics(
    records: Iterable[Record], district: District, *, now: datetime
) -> dict[str, Any]:
    """The metrics report of docs/metrics.md, as of ``now`` (a timezone-aware time).

    The same as ``combine_metrics`` over the ``tally_months`` of the records: the nightly
    build keeps each month's tally in its shard and never holds every record at once.
    """
    months = tally_months(records)
    return combine_metrics((months[m] for m in sorted(months)), district, now=now)


# --- Month tallies: what a month shard keeps, and how tallies combine ---------------

# A group's running sum: the counters in ``COUNT_KEYS`` order, the mix by group and the
# hard cases by category.
Sums = tuple[list[int], dict[str, int], dict[str, int]]


class MonthTally(TypedDict):
    """The metrics' inputs of one month of receipt: sums and small signals, not records.

    ``overall`` and ``dims`` hold ``[counters, mix]`` (see ``Sums``); ``names`` the name
    each group id was first published under; ``categories`` the non-merged cases by
    category (the rising warning); ``points`` one ``[received_at, grid, category,
    community, hard]`` per non-merged case (the 30-day warnings and the risk map, read
    only for months that can fall in the window); ``votes`` one ``[rated_at, case, grid,
    unit, seconds after resolution or None]`` per rated, non-merged case (vote flags);
    ``last_due`` the latest deadline of its non-merged cases and ``undated_open`` its open
    cases with no computable deadline (when the month's figures become final);
    ``counters`` the ``COUNT_KEYS`` the sums follow. Plain JSON values, so a shard stores
    it beside its files.
    """

    month: str
    cases: int
    counters: list[str]
    last_due: str | None
    undated_open: int
    overall: list[Any]
    dims: dict[str, dict[str, list[Any]]]
    names: dict[str, dict[str, str]]
    categories: dict[str, int]
    points: list[list[Any]]
    votes: list[list[Any]]


def _empty_sums() -> list[Any]:
    return [[0] * len(COUNT_KEYS), {}, {}]


def _add_line(sums: list[Any], line: Tally) -> None:
    counts = sums[0]
    for i, value in enumerate(line[:-2]):
        counts[i] += value
    for place, key in ((1, line[-2]), (2, line[-1])):
        if key is not None:
            sums[place][key] = sums[place].get(key, 0) + 1


def _add_sums(sums: list[Any], other: Sequence[Any]) -> None:
    counts = sums[0]
    if len(other[0]) != len(counts):
        raise ValueError("a month tally of another counter set: rebuild the month")
    for i, value in enumerate(other[0]):
        counts[i] += value
    for place in (1, 2):
        for key, n in (other[place] if len(other) > place else {}).items():
            sums[place][key] = sums[place].get(key, 0) + n


def tally_months(records: Iterable[Record]) -> dict[str, MonthTally]:
    """One pass over published records → their months' tallies (any record order)."""
    out: dict[str, MonthTally] = {}
    for record in records:
        month = record.get("month") or str(record["received_at"])[:7]
        entry = out.get(month)
        if entry is None:
            entry = out[month] = MonthTally(
                month=month,
                cases=0,
                counters=list(COUNT_KEYS),
                last_due=None,
                undated_open=0,
                overall=_empty_sums(),
                dims={dim: {} for dim, _, _ in _DIMENSIONS},
                names={dim: {} for dim, _, _ in _DIMENSIONS},
                categories={},
                points=[],
                votes=[],
            )
        add_to_tally(entry, record)
    return out


def add_to_tally(entry: MonthTally, record: Record) -> None:
    """File one published record of ``entry``'s month into its tally."""
    line = tally(record)
    entry["cases"] += 1
    _add_line(entry["overall"], line)
    for dim, key_field, name_field in _DIMENSIONS:
        key = record.get(key_field)
        if key:
            groups = entry["dims"][dim]
            if key not in groups:
                groups[key] = _empty_sums()
            _add_line(groups[key], line)
            if key not in entry["names"][dim]:
                entry["names"][dim][key] = record.get(name_field) or key
    if line[-2] is None:
        return  # merged: counted once, as merged, and nowhere else
    for key in ("contact_due", "due"):
        due = _deadline(record, key)
        if due and (entry["last_due"] is None or _at(due) > _at(entry["last_due"])):
            entry["last_due"] = due
    if _open(record) and not _deadline(record, "due"):
        entry["undated_open"] += 1
    category = record.get("category") or ""
    grid = record.get("grid") or ""
    entry["categories"][category] = entry["categories"].get(category, 0) + 1
    entry["points"].append(
        [
            record["received_at"],
            grid,
            category,
            record.get("community") or "",
            record.get("difficulty") == "hard",
        ]
    )
    rated_at = _parse(record.get("rated_at"))
    if record.get("rating") is None or rated_at is None:
        return
    resolved_at = _parse(record.get("resolved_at"))
    gap = (rated_at - resolved_at).total_seconds() if resolved_at is not None else None
    fast = int(gap) if gap is not None and 0 <= gap <= FAST_VOTE_SECONDS else None
    entry["votes"].append([record["rated_at"], record["id"], grid, record.get("unit"), fast])


def combine_metrics(
    tallies: Iterable[MonthTally], district: District, *, now: datetime
) -> dict[str, Any]:
    """The metrics report from month tallies given oldest month first.

    Memory holds sums per month and group, the points of the months that reach into
    the recent window, and the votes; never a record.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(BEIJING)
    recent_since = now - timedelta(days=RECENT_DAYS)
    latest_complete = _add_months(now.strftime("%Y-%m"), -1)

    overall = _empty_sums()
    by: dict[str, dict[str, list[Any]]] = {dim: {} for dim, _, _ in _DIMENSIONS}
    by_month: dict[str, list[Any]] = {}
    by_month_dim: dict[tuple[str, str], dict[str, list[Any]]] = {}
    names: dict[str, dict[str, str]] = {dim: {} for dim, _, _ in _DIMENSIONS}
    signals = _Signals(recent_since, now)

    last_due: dict[str, str | None] = {}
    undated: dict[str, int] = {}
    for entry in tallies:
        month = entry["month"]
        if entry["cases"] == 0:
            continue
        if entry.get("counters", list(COUNT_KEYS)) != list(COUNT_KEYS):
            raise ValueError(f"the tally of {month} has other counters: rebuild the month")
        # A tally from before deadlines were kept: no date, so the month stays provisional.
        last_due[month] = entry.get("last_due")
        undated[month] = entry.get("undated_open", 1 if "last_due" not in entry else 0)
        _add_sums(overall, entry["overall"])
        month_sums = by_month.setdefault(month, _empty_sums())
        _add_sums(month_sums, entry["overall"])
        for dim, _, _ in _DIMENSIONS:
            month_dim = by_month_dim.setdefault((month, dim), {})
            for key, sums in entry["dims"][dim].items():
                _add_sums(by[dim].setdefault(key, _empty_sums()), sums)
                _add_sums(month_dim.setdefault(key, _empty_sums()), sums)
            for key, name in entry["names"][dim].items():
                names[dim].setdefault(key, name)
        signals.add_month(entry)

    reference = _reference_names(district)
    for dim in names:
        names[dim].update(reference[dim])

    def rows(dim: str, grouped: Mapping[str, Sequence[Any]], everyone: bool) -> list[Row]:
        # Reference order first (every known unit when ``everyone``), then unknown ids.
        keys = [k for k in reference[dim] if everyone or k in grouped]
        keys += sorted(k for k in grouped if k not in reference[dim])
        return [_row(k, names[dim][k], grouped.get(k) or _empty_sums()) for k in keys]

    months = _month_range(min(by_month), max(by_month)) if by_month else []
    monthly: dict[str, dict[str, Any]] = {}
    for month in months:
        entry_rows: dict[str, Any] = {
            "overall": _row("all", "全部", by_month.get(month) or _empty_sums())
        }
        for dim, _, _ in _DIMENSIONS:
            entry_rows[dim] = rows(dim, by_month_dim.get((month, dim), {}), everyone=False)
        monthly[month] = entry_rows

    status = {
        month: _month_status(month, last_due.get(month), undated.get(month, 0), now)
        for month in months
    }
    final_months = [m for m in by_month if m <= latest_complete and status[m]["final"]]
    ranking_month = max(final_months or [m for m in by_month if m <= latest_complete], default=None)
    red, black = rankings(monthly[ranking_month]["by_department"] if ranking_month else [])
    by_grid = rows("by_grid", by["by_grid"], everyone=True)
    warnings = signals.warnings(names, latest_complete, min(by_month, default=None))

    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "period": {
            "first_month": months[0] if months else None,
            "last_month": months[-1] if months else None,
        },
        "months": months,
        "recent_since": recent_since.isoformat(timespec="seconds"),
        "ranking_month": ranking_month,
        "ranking_final": bool(ranking_month and status[ranking_month]["final"]),
        "month_status": status,
        "methodology": methodology(),
        "definitions": [d.public() for d in DEFINITIONS],
        "overall": _row("all", "全部", overall),
        "by_department": rows("by_department", by["by_department"], everyone=True),
        "by_grid": by_grid,
        "by_community": rows("by_community", by["by_community"], everyone=True),
        "by_category": rows("by_category", by["by_category"], everyone=True),
        "monthly": monthly,
        "red_list": red,
        "black_list": black,
        "warnings": warnings,
        "vote_flags": signals.vote_flags(names),
        "risk_map": _risk_map(by_grid, signals, warnings),
    }


def _row(key: str, name: str, sums: Sequence[Any]) -> Row:
    counts = dict(zip(COUNT_KEYS, sums[0], strict=True))
    values = {k: value(counts) for k, value in _VALUES}
    row: Row = {"id": key, "name": name}
    for field in ROW_KEYS[2:]:
        if field == "mix":
            row["mix"] = dict(sorted(sums[1].items()))
        elif field == "hard_mix":
            hard = sums[2] if len(sums) > 2 else {}
            row["hard_mix"] = dict(sorted(hard.items(), key=lambda kv: (-kv[1], kv[0])))
        elif field == "counts":
            row["counts"] = counts
        elif field == "fractions":
            row["fractions"] = {k: list(parts(counts)) for k, parts in RATE_PARTS.items()}
        else:
            row[field] = values[field] if field in values else counts[field]
    return row


def methodology() -> dict[str, Any]:
    """How every published rate and the score are made, as data (the methodology page
    says the same in words): enough to recompute them from the open data alone."""
    return {
        "rounding": "half_up",
        "rate_places": RATE_PLACES,
        "score_places": SCORE_PLACES,
        "basic_satisfied": f"0.{BASIC_SATISFIED_TENTHS}",
        "score_terms": [
            {"rate": key, "weight": weight, "better": direction}
            for key, weight, direction in SCORE_TERMS
        ],
        "ranking_size": RANKING_SIZE,
        "ranking_min_cases": RANKING_MIN_CASES,
    }


def _month_status(
    month: str, last_due: str | None, undated_open: int, now: datetime
) -> dict[str, Any]:
    # Final once the month has ended and every deadline of its cases has passed.
    end = datetime.fromisoformat(f"{_add_months(month, 1)}-01T00:00:00").replace(tzinfo=BEIJING)
    final_at = max(end, _at(last_due)) if last_due else end
    return {
        "final": undated_open == 0 and final_at <= now,
        "final_at": None if undated_open else final_at.isoformat(timespec="seconds"),
        "undated_open": undated_open,
    }


def _reference_names(district: District) -> dict[str, dict[str, str]]:
    return {
        "by_department": {d.id: d.name for d in district.departments},
        "by_grid": {g.id: g.name for g in district.grids},
        "by_community": {c.id: c.name for c in district.communities},
        "by_category": {s.code: s.name for s in district.services},
    }


def ranked(rows: Iterable[Row]) -> list[Row]:
    """Rows with a score, best first, each with its ``rank``: equal published scores
    share a rank (1, 1, 3 …); within a tie, more cases first, then id (order only)."""
    scored = sorted(
        (r for r in rows if r["score"] is not None),
        key=lambda r: (-r["score"], -r["cases"], r["id"]),
    )
    out: list[Row] = []
    for place, row in enumerate(scored, start=1):
        tied = out and out[-1]["score"] == row["score"]
        out.append({**row, "rank": out[-1]["rank"] if tied else place})
    return out


def rankings(rows: Iterable[Row]) -> tuple[list[Row], list[Row]]:
    """The red list (best) and black list (worst, worst first) of ``ranking``.

    Ties are whole: a group of equal scores enters a list together or not at all, and a
    group that would reach both lists enters neither, so no unit is on both.
    """
    eligible = ranked(r for r in rows if r["cases"] >= RANKING_MIN_CASES)
    size = min(RANKING_SIZE, len(eligible) // 2)
    red: list[Row] = []
    black: list[Row] = []
    start = 0
    while start < len(eligible):
        end = start  # the tie group is eligible[start : end + 1], places start+1 … end+1
        while end + 1 < len(eligible) and eligible[end + 1]["score"] == eligible[start]["score"]:
            end += 1
        if start < size and end < len(eligible) - size:
            red.extend(
                eligible[start : end + 1]
            )  # starts in the top places, stops short of the bottom ones
        elif end >= len(eligible) - size and start >= size:
            black[:0] = eligible[start : end + 1]
        start = end + 1
    black.sort(key=lambda r: (r["score"], -r["cases"], r["id"]))
    return red, black


# --- Warnings, vote flags, risk -----------------------------------------------------


@dataclass(frozen=True)
class _Vote:
    at: datetime
    case: str
    grid: str
    unit: str | None


class _Signals:
    """What the single pass collects for warnings, vote flags and the risk map."""

    def __init__(self, since: datetime, now: datetime) -> None:
        self.since, self.now = since, now
        self.since_month = since.strftime("%Y-%m")
        self.recent: Counter[tuple[str, str]] = Counter()  # (grid, category)
        self.community_of: dict[str, str] = {}  # grid → community, as published
        self.recent_grids: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        self.hard_recent: Counter[str] = Counter()  # grid
        self.monthly: Counter[tuple[str, str]] = Counter()  # (month, category)
        self.votes: list[_Vote] = []
        self.fast: list[tuple[_Vote, int]] = []

    def add_month(self, entry: MonthTally) -> None:
        month = entry["month"]
        for category, count in entry["categories"].items():
            self.monthly[month, category] += count
        # Parsing times is the costly part; the month string rules most months out.
        if month >= self.since_month:
            for received_at, grid, category, community, hard in entry["points"]:
                if not self.since < _at(received_at) <= self.now:
                    continue
                self.recent[grid, category] += 1
                if community:
                    self.community_of[grid] = community
                    self.recent_grids[community, category].add(grid)
                if hard:
                    self.hard_recent[grid] += 1
        for rated_at, case, grid, unit, fast in entry["votes"]:
            vote = _Vote(_at(rated_at), case, grid, unit)
            self.votes.append(vote)
            if fast is not None:
                self.fast.append((vote, fast))

    def warnings(
        self, names: Mapping[str, Mapping[str, str]], latest_month: str, first_month: str | None
    ) -> list[dict[str, Any]]:
        return [
            *self._recurring(names),
            *self._spreading(names),
            *self._rising(names, latest_month, first_month),
        ]

    def _recurring(self, names: Mapping[str, Mapping[str, str]]) -> Iterable[dict[str, Any]]:
        found = [(n, g, c) for (g, c), n in self.recent.items() if n >= RECURRING_MIN_CASES]
        for count, grid, category in sorted(found, key=lambda t: (-t[0], t[1], t[2])):
            grid_name = names["by_grid"].get(grid, grid)
            name = names["by_category"].get(category, category)
            yield _warning(
                "recurring",
                f"{grid_name} · {name}",
                f"近{RECENT_DAYS}天{grid_name}共有{count}件“{name}”，同一问题反复发生，"
                "请关注根源治理。",
                grid=grid,
                category=category,
                community=self.community_of.get(grid),
                count=count,
                grids=[grid],
            )

    def _spreading(self, names: Mapping[str, Mapping[str, str]]) -> Iterable[dict[str, Any]]:
        found = [
            (len(grids), community, category, sorted(grids))
            for (community, category), grids in self.recent_grids.items()
            if len(grids) >= SPREADING_MIN_GRIDS
        ]
        for count, community, category, grids in sorted(found, key=lambda t: (-t[0], *t[1:3])):
            community_name = names["by_community"].get(community, community)
            name = names["by_category"].get(category, category)
            listed = "、".join(names["by_grid"].get(g, g) for g in grids)
            yield _warning(
                "spreading",
                f"{community_name} · {name}",
                f"近{RECENT_DAYS}天{community_name}有{count}个网格出现“{name}”（{listed}），"
                "问题呈扩散趋势。",
                grid=None,
                category=category,
                community=community,
                count=count,
                grids=grids,
            )

    def _rising(
        self, names: Mapping[str, Mapping[str, str]], month: str, first_month: str | None
    ) -> Iterable[dict[str, Any]]:
        baseline_months = [_add_months(month, -k) for k in range(1, RISING_BASELINE_MONTHS + 1)]
        if first_month is None or first_month > baseline_months[-1]:
            return  # the data does not reach back over the baseline
        found = []
        for (when, category), count in self.monthly.items():
            if when == month and count >= RISING_MIN_CASES:
                baseline = sum(self.monthly.get((m, category), 0) for m in baseline_months)
                if count * RISING_BASELINE_MONTHS >= RISING_FACTOR * baseline:
                    found.append((count, category, baseline))
        for count, category, baseline in sorted(found, key=lambda t: (-t[0], t[1])):
            name = names["by_category"].get(category, category)
            average = baseline / RISING_BASELINE_MONTHS
            compared = (
                f"是前{RISING_BASELINE_MONTHS}个月月均（{average:.1f}件）的{count / average:.1f}倍"
                if baseline
                else f"前{RISING_BASELINE_MONTHS}个月没有此类案件"
            )
            yield _warning(
                "rising",
                name,
                f"{_month_zh(month)}“{name}”共{count}件，{compared}，呈上升趋势。",
                grid=None,
                category=category,
                community=None,
                count=count,
                grids=[],
            )

    def vote_flags(self, names: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
        flags = [
            _flag(
                "fast_after_resolution",
                "case",
                vote.case,
                vote.case,
                f"案件{vote.case}在办结后{gap}秒即收到评价，请核实是否为反映人本人评价。",
                [vote],
            )
            for vote, gap in self.fast
        ]
        scopes: tuple[tuple[str, str, Callable[[_Vote], str | None]], ...] = (
            ("grid", "by_grid", lambda v: v.grid),
            ("department", "by_department", lambda v: v.unit),
        )
        for scope, dim, key_of in scopes:
            grouped: defaultdict[str, list[_Vote]] = defaultdict(list)
            for vote in self.votes:
                key = key_of(vote)
                if key:
                    grouped[key].append(vote)
            for key, votes in grouped.items():
                votes.sort(key=lambda v: (v.at, v.case))
                name = names[dim].get(key, key)
                for burst in _bursts(votes):
                    first, last = burst[0].at, burst[-1].at
                    message = (
                        f"{name}在{first:%Y-%m-%d %H:%M}至{last:%H:%M}集中收到{len(burst)}条评价，"
                        "请核实是否存在刷评。"
                    )
                    flags.append(_flag("burst", scope, key, name, message, burst))
        # Newest first: the page lists what needs checking now at the top.
        flags.sort(key=lambda f: (f["first_at"], f["kind"], f["subject"]), reverse=True)
        return flags


def _flag(
    kind: str, scope: str, subject: str, name: str, message: str, votes: Sequence[_Vote]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "scope": scope,
        "subject": subject,
        "subject_name": name,
        "message": message + "评价已照常计入统计。",
        "case_ids": [v.case for v in votes],
        "first_at": votes[0].at.isoformat(timespec="seconds"),
        "last_at": votes[-1].at.isoformat(timespec="seconds"),
    }


def _bursts(votes: Sequence[_Vote]) -> list[list[_Vote]]:
    """Maximal runs of time-sorted votes covered by windows holding ≥ BURST_VOTES votes."""
    runs: list[list[int]] = []
    end = 0
    for start in range(len(votes)):
        end = max(end, start)
        while end + 1 < len(votes) and votes[end + 1].at - votes[start].at <= BURST_WINDOW:
            end += 1
        if end - start + 1 >= BURST_VOTES:
            if runs and start <= runs[-1][1]:
                runs[-1][1] = end
            else:
                runs.append([start, end])
    return [list(votes[a : b + 1]) for a, b in runs]


def _warning(
    kind: str,
    subject: str,
    message: str,
    *,
    grid: str | None,
    category: str | None,
    community: str | None,
    count: int,
    grids: list[str],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "subject": subject,
        "message": message,
        "grid": grid,
        "category": category,
        "community": community,
        "count": count,
        "grids": grids,
    }


def _risk_map(
    grid_rows: Sequence[Row], signals: _Signals, warnings: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    recurring: Counter[str] = Counter()
    spreading: Counter[str] = Counter()
    for warning in warnings:
        if warning["kind"] == "recurring":
            recurring[warning["grid"]] += 1
        elif warning["kind"] == "spreading":
            spreading.update(warning["grids"])
    result = []
    for row in grid_rows:
        grid = row["id"]
        parts = {
            "overdue_open": row["overdue_open"],
            "hard_recent": signals.hard_recent[grid],
            "recurring": recurring[grid],
            "spreading": spreading[grid],
        }
        score = float(sum(RISK_WEIGHTS[k] * n for k, n in parts.items()))
        result.append(
            {
                "grid": grid,
                "grid_name": row["name"],
                "level": risk_level(score),
                "score": score,
                "parts": parts,
            }
        )
    return result


def risk_level(score: float) -> str:
    if score >= RISK_HIGH:
        return "high"
    return "medium" if score >= RISK_MEDIUM else "low"


# --- Small helpers ------------------------------------------------------------------


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(BEIJING)


def _parse(value: Any) -> datetime | None:
    return _at(value) if value else None


def _month_zh(month: str) -> str:
    return f"{month[:4]}年{int(month[5:7])}月"


def _add_months(month: str, delta: int) -> str:
    year, number = int(month[:4]), int(month[5:7])
    total = year * 12 + number - 1 + delta
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def _month_range(first: str, last: str) -> list[str]:
    months = [first]
    while months[-1] < last:
        months.append(_add_months(months[-1], 1))
    return months
