"""Redaction of Chinese personal data in free text before it is published.

Everything the portal publishes as free text (case descriptions, locations,
staff answers, public notes) passes through :func:`redact`. The private record
is never modified: ``redact`` returns a new string.

The redactor errs on the side of privacy: when a digit run or a phrase is
ambiguous it is masked, except for the few shapes the public needs to read
(dates, times, amounts, counts, grid numbers, grid-level places). What each
rule catches and misses is described in ``docs/privacy.md``.

Every rule is a precompiled regular expression plus a little Python for the
decisions a regex cannot make (checksums, span choice, name boundaries), so a
typical 200-character text is redacted in tens of microseconds.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from gridportal.domain.reference import District

__all__ = [
    "HOTLINES",
    "PLACEHOLDERS",
    "KnownPeople",
    "PublicData",
    "case_scrubber",
    "known_data_in",
    "mask_name",
    "mask_phone",
    "normalise",
    "public_data",
    "redact",
]

# --------------------------------------------------------------------------
# Placeholders: fixed, visible, in Chinese brackets so a reader sees that
# something was removed and what kind of thing it was.
# --------------------------------------------------------------------------
MOBILE: Final = "[手机号]"
LANDLINE: Final = "[电话]"
ID_NUMBER: Final = "[身份证号]"
BANK_CARD: Final = "[银行卡号]"
LONG_NUMBER: Final = "[号码]"
EMAIL: Final = "[邮箱]"
WECHAT: Final = "[微信号]"
QQ: Final = "[QQ号]"
PLATE: Final = "[车牌]"
ADDRESS: Final = "[详细地址]"
NAME: Final = "[姓名]"
LOOKUP_CODE: Final = "[查询码]"
TOKEN: Final = "[令牌]"

PLACEHOLDERS: Final[dict[str, str]] = {
    "mobile": MOBILE,
    "landline": LANDLINE,
    "id_number": ID_NUMBER,
    "bank_card": BANK_CARD,
    "long_number": LONG_NUMBER,
    "email": EMAIL,
    "wechat": WECHAT,
    "qq": QQ,
    "plate": PLATE,
    "address": ADDRESS,
    "name": NAME,
    "lookup_code": LOOKUP_CODE,
    "token": TOKEN,
}

# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------
_INVISIBLE_CHARS = (
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark (bidi)
    "\u180e"  # Mongolian vowel separator
    "\u200b\u200c\u200d"  # zero-width space, non-joiner, joiner
    "\u200e\u200f"  # left-to-right / right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2060\u2061\u2062\u2063\u2064"  # word joiner, invisible operators
    "\u2066\u2067\u2068\u2069"  # bidi isolates
    "\u206a\u206b\u206c\u206d\u206e\u206f"  # deprecated format characters
    "\ufeff"  # zero-width no-break space (BOM)
)
# C0/C1 control characters other than tab and line breaks carry no text.
_CONTROL_CHARS = "".join(
    chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r\x0b\x0c\x85"
)
_DELETE_RE = re.compile("[" + _INVISIBLE_CHARS + _CONTROL_CHARS + "]")

# Chinese full-width punctuation is proper typography, not an obfuscation:
# it is parked in the private use area while NFKC runs, then restored.
# (str.replace beats str.translate here, and parked text takes NFKC's fast path.)
_PARKED: Final = tuple((c, chr(0xE000 + i)) for i, c in enumerate("，：；！？（）"))

_LINE_BREAK_RE = re.compile(r"[\r\x0b\x0c\x85\u2028\u2029]")
_INLINE_SPACE_RE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE_RE = re.compile(r" ?\n ?")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    """Return ``text`` in the canonical form every rule is written against.

    Invisible characters are removed first so that NFKC can compose across
    them; NFKC then turns full-width digits, letters and symbols into ASCII
    (``１３８`` → ``138``, ``＋８６`` → ``+86``). The Chinese punctuation marks
    ``，：；！？（）`` are kept as written. Runs of spaces and tabs become one
    space; line breaks survive, with at most one blank line in a row.
    """
    text = _DELETE_RE.sub("", text)
    parked = [(c, p) for c, p in _PARKED if c in text]
    for c, p in parked:
        text = text.replace(c, p)
    text = unicodedata.normalize("NFKC", text)
    for c, p in parked:
        text = text.replace(p, c)
    if _LINE_BREAK_RE.search(text):
        text = _LINE_BREAK_RE.sub("\n", text.replace("\r\n", "\n"))
    text = _INLINE_SPACE_RE.sub(" ", text)
    if "\n" in text:
        text = _SPACE_AROUND_NEWLINE_RE.sub("\n", text)
        text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()


# --------------------------------------------------------------------------
# Digit classifiers (applied to digit strings with separators removed)
# --------------------------------------------------------------------------
_MOBILE_RE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
# Area codes: 010 and 02x have three digits, all others four; local numbers
# have 7 or 8 digits. With a country code the trunk 0 is dropped.
_LANDLINE_RE = re.compile(
    r"0(?:10|2\d)\d{8}|0[3-9]\d{2}\d{7,8}|(?:0086|86)(?:10|2\d)\d{8}|(?:0086|86)[3-9]\d{2}\d{7,8}"
)
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
# Shape only: the check digit is deliberately not verified, a mistyped ID
# is still somebody's ID.
_ID18_RE = re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}" + _DATE + r"\d{3}[\dX]")
_ID15_RE = re.compile(r"[1-9]\d{5}\d{2}" + _DATE + r"\d{3}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_grouping(lengths: Sequence[int]) -> bool:
    """Bank cards are written unbroken, in groups of four, or 4-6-5 / 4-6-4."""
    if len(lengths) == 1:
        return True
    if all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4:
        return True
    return list(lengths) in ([4, 6, 5], [4, 6, 4])


def _classify(digits: str, lengths: Sequence[int], *, grid_context: bool) -> str | None:
    """Placeholder for a digit span that is a known kind of number, else None."""
    n = len(digits)
    if n in (11, 13, 15) and _MOBILE_RE.fullmatch(digits):
        return MOBILE
    if 11 <= n <= 15 and _LANDLINE_RE.fullmatch(digits):
        return LANDLINE
    if n == 18 and _ID18_RE.fullmatch(digits):
        return ID_NUMBER
    if n == 18 and digits.endswith("X"):
        return ID_NUMBER
    # Grid codes (区划代码 + grid number) can have the shape of an old
    # 15-digit ID; in a grid context they are codes.
    if n == 15 and not grid_context and _ID15_RE.fullmatch(digits):
        return ID_NUMBER
    if 13 <= n <= 19 and digits.isdigit() and _card_grouping(lengths) and _luhn_ok(digits):
        return BANK_CARD
    return None


# --------------------------------------------------------------------------
# Digit runs: digits joined by separators, examined group by group
# --------------------------------------------------------------------------
# Dashes as residents type them between numbers (2-1802, 2–1802, 2—1802, 2─1802): what
# the rooms and the door numbers take in, as the inside of a character class (NFKC has
# already made ﹣ and － a hyphen). What keeps a match out (a date's 2026-11-03, a
# room's 1802-5) stays the hyphen's alone, and a digit run's separators leave out the
# minus sign and ─: each widening left numbers visible that are masked now (a run
# joined across them is read as another kind of number).
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500"
_SEPARATORS = " ./\\-\u2010\u2011\u2012\u2013\u2014\u2015"
# Chinese numerals count as digits: "一三八一二三四五六七八" (小写) and
# "壹叁捌壹贰叁肆伍陆柒捌" (大写, as on cheques) are common ways to slip a phone
# number past a filter. 十/百/千 are not digits of a number. The table agrees with
# cn2an's NUMBER_CN2AN (a test checks it); cn2an itself is not imported because
# it costs the API's cold start a sixth of a second.
_LOWER_DIGITS = "〇零一幺二三四五六七八九"
_UPPER_DIGITS = "壹贰叁肆伍陆柒捌玖"
_CN_DIGITS = _LOWER_DIGITS + _UPPER_DIGITS
_DIGIT = r"[\d" + _CN_DIGITS + r"]"
# The pattern starts with a character class so the regex engine can skip
# ahead fast; a "+86" or "(0571" prefix is picked up by _run_start.
_RUN_RE = re.compile(
    _DIGIT + r"+(?:(?:[" + _SEPARATORS + r"]{1,3}|[)）] ?)" + _DIGIT + r"+)*"
    r"(?:[" + _SEPARATORS + r"]{0,3}[Xx](?![A-Za-z]))?"
)
# Chinese numerals and digits form separate groups: in "李四13812345678" the
# 四 belongs to a name, not to the number.
_GROUP_RE = re.compile(r"\d+|[" + _CN_DIGITS + r"]+|[Xx]")
_CN_DIGIT_TABLE: Final = str.maketrans(_CN_DIGITS, "001123456789123456789")

_PHONE_CONTEXT_RE = re.compile(
    r"(?:电话|座机|固话|手机|联系方式|致电|拨打|(?<![A-Za-z])(?:tel|phone))"
    r"(?:号码|号)?\s?[:：是为]?\s?$",
    re.IGNORECASE,
)
# QQ in its disguises: Q号, 扣扣, 企鹅号, QQ群.
_QQ_WORDS = r"(?:(?<![A-Za-z])(?:qq|q(?=号|群))|扣扣|抠抠|蔻蔻|企鹅)"
_QQ_CONTEXT_RE = re.compile(_QQ_WORDS + r"(?:群号|群|号码|号)?[\s:：是为]{0,3}$", re.IGNORECASE)
# WeChat in its disguises: V信, 薇信, 威信, 微 信, vx, wx.
_WECHAT_WORDS = (
    r"(?:微 ?信|(?<![A-Za-z])[vV] ?信|薇信|威信|徽信|(?<![A-Za-z])(?:vx|wx|weixin|wechat))"
)
_WECHAT_CONTEXT_RE = re.compile(
    _WECHAT_WORDS + r"(?:号码|号|id)?[\s:：是为]{0,3}$",
    re.IGNORECASE,
)
# A resident may paste the lookup code (查询码) into a complaint or a vote.
_CODE_CONTEXT_RE = re.compile(
    r"(?:查询码|查询密码|验证码|密码|(?<![A-Za-z])(?:lookup code|code))\s?[:：是为]?\s?$",
    re.IGNORECASE,
)
_GRID_CONTEXT_RE = re.compile(r"(?:网格|区划)(?:编号|编码|代码|号)?\s?[:：为]?\s?$")
# A long number followed by a unit is a quantity, not an identifier.
_UNIT_CHARS = frozenset("元万亿件人户次个米吨斤%")
_CONTEXT_WINDOW = 16
_MAX_SPAN_DIGITS = 20  # longest specific kind: 19-digit card (+1 slack)


class _Group:
    __slots__ = ("chinese", "digits", "digits_end", "end", "start")

    def __init__(
        self, start: int, end: int, digits: str, chinese: bool, digits_end: int | None = None
    ) -> None:
        self.start = start
        self.end = end
        self.digits = digits  # ASCII digits, possibly ending in X
        self.chinese = chinese  # written in Chinese numerals
        self.digits_end = end if digits_end is None else digits_end  # end before the X


def _is_year(g: _Group) -> bool:
    return len(g.digits) == 4 and g.digits[:2] in ("19", "20")


def _is_small(g: _Group, hi: int) -> bool:
    return 1 <= len(g.digits) <= 2 and g.digits.isdigit() and 1 <= int(g.digits) <= hi


def _date_tokens(text: str, groups: Sequence[_Group]) -> set[int]:
    """Indexes of groups that form dates (2026-11-22, 2026.11) and stay visible."""
    dated: set[int] = set()
    k = 0
    while k < len(groups):
        g = groups[k]
        if _is_year(g) and k + 1 < len(groups) and _is_small(groups[k + 1], 12):
            sep = text[g.end : groups[k + 1].start]
            if sep in ("-", ".", "/"):
                if (
                    k + 2 < len(groups)
                    and _is_small(groups[k + 2], 31)
                    and text[groups[k + 1].end : groups[k + 2].start] == sep
                ):
                    dated.update((k, k + 1, k + 2))
                    k += 3
                    continue
                dated.update((k, k + 1))
                k += 2
                continue
        k += 1
    return dated


def _ascii_digits(raw: str) -> str:
    if raw.isascii():
        return raw
    # NFKC leaves Chinese numerals and other scripts' digits (٣, ३) alone.
    raw = raw.translate(_CN_DIGIT_TABLE)
    return "".join(c if c.isascii() else str(unicodedata.decimal(c, 0)) for c in raw)


def _run_groups(text: str, start: int, end: int) -> list[_Group]:
    groups: list[_Group] = []
    for gm in _GROUP_RE.finditer(text, start, end):
        raw = gm.group()
        if raw in "Xx":
            # A trailing X belongs to the last group (the ID check character).
            last = groups[-1]
            groups[-1] = _Group(last.start, gm.end(), last.digits + "X", last.chinese, last.end)
        else:
            chinese = raw[0] in _CN_DIGITS
            groups.append(_Group(gm.start(), gm.end(), _ascii_digits(raw), chinese))
    return groups


def _written_lengths(span: Sequence[_Group]) -> list[int]:
    """Lengths of the groups as written: "62〇〇" is one group of four, not two."""
    lengths = [len(span[0].digits)]
    for prev, g in pairwise(span):
        if g.start == prev.end:
            lengths[-1] += len(g.digits)
        else:
            lengths.append(len(g.digits))
    return lengths


def _context_before(text: str, pos: int) -> str:
    return text[max(0, pos - _CONTEXT_WINDOW) : pos]


def _mask_leftover(
    text: str, groups: Sequence[_Group], prefix_start: int, grid_context: bool
) -> tuple[int, int, str] | None:
    """Decide for groups no specific rule claimed: context numbers and long runs."""
    n_digits = sum(len(g.digits) for g in groups)
    start, end = prefix_start, groups[-1].end
    before = _context_before(text, start)
    if 5 <= n_digits <= 12 and _CODE_CONTEXT_RE.search(before):
        return start, end, LOOKUP_CODE
    if 5 <= n_digits <= 12 and _QQ_CONTEXT_RE.search(before):
        return start, end, QQ
    if 5 <= n_digits <= 20 and _WECHAT_CONTEXT_RE.search(before):
        return start, end, WECHAT
    if n_digits >= 11:
        if grid_context or (end < len(text) and text[end] in _UNIT_CHARS):
            return None
        return start, end, LONG_NUMBER
    if (
        7 <= n_digits <= 8
        and len(groups) <= 2
        and groups[0].digits[0] in "23456789"
        and _PHONE_CONTEXT_RE.search(before)
    ):
        return start, end, LANDLINE
    return None


def _mask_run(text: str, run_start: int, run_end: int) -> list[tuple[int, int, str]]:
    groups = _run_groups(text, run_start, run_end)
    total = sum(len(g.digits) for g in groups)
    if total < 5:
        return []
    # Only a number right after the label is a grid code; deciding per piece
    # (not per run) keeps redact idempotent once a neighbour has been masked.
    after_grid_label = bool(_GRID_CONTEXT_RE.search(_context_before(text, run_start)))
    found: list[tuple[int, int, str]] = []
    claimed = [False] * len(groups)

    # Specific kinds first: at each group, the longest span that classifies.
    i = 0
    while i < len(groups):
        j_max = i
        length = len(groups[i].digits)
        while j_max + 1 < len(groups) and length + len(groups[j_max + 1].digits) <= (
            _MAX_SPAN_DIGITS
        ):
            j_max += 1
            length += len(groups[j_max].digits)
        hit: tuple[int, str, int] | None = None
        for j in range(j_max, i - 1, -1):
            span = groups[i : j + 1]
            digits = "".join(g.digits for g in span)
            if len(digits) < 11:
                break
            grid_context = after_grid_label and i == 0
            kind = _classify(digits, _written_lengths(span), grid_context=grid_context)
            end = groups[j].end
            if kind is None and digits.endswith("X"):
                # "13812345678X…": the X was a guess at an ID check character.
                kind = _classify(digits[:-1], _written_lengths(span), grid_context=grid_context)
                end = groups[j].digits_end
            if kind:
                hit = (j, kind, end)
                break
        if hit is None:
            i += 1
            continue
        j, kind, end = hit
        start = groups[i].start
        # Keep "+86" and "(0571)" whole when the span starts the run.
        area_code = j > 0 and text[groups[0].end : groups[0].end + 1] in (")", "）")
        if i == 0 and (text[run_start] == "+" or area_code):
            start = run_start
        found.append((start, end, kind))
        for k in range(i, j + 1):
            claimed[k] = True
        i = j + 1

    # What is left: split at dates and where the script changes (digits vs
    # Chinese numerals), then apply context and length rules to each piece.
    dated = _date_tokens(text, groups)
    pieces: list[list[_Group]] = [[]]
    for k, g in enumerate(groups):
        if claimed[k] or k in dated:
            pieces.append([])
        elif pieces[-1] and pieces[-1][-1].chinese != g.chinese:
            pieces.append([g])
        else:
            pieces[-1].append(g)
    for piece in pieces:
        if not piece:
            continue
        start = piece[0].start
        if piece[0] is groups[0] and text[run_start] == "+":
            start = run_start
        grid_context = after_grid_label and piece[0] is groups[0]
        masked = _mask_leftover(text, piece, start, grid_context)
        if masked:
            found.append(masked)
    found.sort()
    return found


def _run_start(text: str, start: int) -> int:
    """Include a leading "+", "+ " or opening bracket in the run."""
    if start and text[start - 1] in "+(（":
        return start - 1
    if start > 1 and text[start - 2 : start] == "+ ":
        return start - 2
    return start


def _mask_digits(text: str, public: PublicData | None = None) -> str:
    out: list[str] = []
    last = 0
    for m in _RUN_RE.finditer(text):
        if m.end() - m.start() < 5:
            continue  # fewer than five digits: nothing to mask
        run_start = max(_run_start(text, m.start()), last)
        for start, end, placeholder in _mask_run(text, run_start, m.end()):
            if public and public.has_number(text[start:end]):
                continue
            out.append(text[last:start])
            out.append(placeholder)
            last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# --------------------------------------------------------------------------
# Email, WeChat ids, vehicle plates
# --------------------------------------------------------------------------
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# WeChat ids start with a letter; numeric ones are left to the digit rules,
# which know the WeChat context too.
_WECHAT_ID_RE = re.compile(
    r"(" + _WECHAT_WORDS + r"(?:号码|号|id)?[\s:：是为]{0,3})"
    r"[A-Za-z][A-Za-z0-9_\-]{5,19}(?![A-Za-z0-9_\-])",
    re.IGNORECASE,
)

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Ordinary plates have five characters after the city letter, new-energy
# plates six; special suffixes (学, 挂, 港, ...) replace the last one.
_PLATE_RE = re.compile(
    r"[" + _PROVINCES + r"] ?[A-Za-z][ ·•・.\-]?"
    r"(?:[A-Za-z0-9]{5,6}|[A-Za-z0-9]{4}[学挂警港澳领试超])(?![A-Za-z0-9])"
)


# Vote tokens, session tokens and API keys: long base64-like strings with
# mixed case. Words and URL paths are rarely mixed case and 20+ long.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]{20,}")


def _token_sub(m: re.Match[str]) -> str:
    s = m.group()
    if (
        any(c.isupper() for c in s)
        and any(c.islower() for c in s)
        and any(c.isdigit() or c in "_-" for c in s)
    ):
        return TOKEN
    return s


def _plate_sub(m: re.Match[str]) -> str:
    # Real plates carry at least three digits; this keeps words like 新ABCDE.
    return PLATE if sum(c.isdigit() for c in m.group()) >= 3 else m.group()


# --------------------------------------------------------------------------
# Addresses below community level (building, unit, floor, room, door number)
# --------------------------------------------------------------------------
_STRONG_MARKERS = ("号楼", "号院", "号房", "幢", "栋", "单元", "弄")
# The rules read the skeleton (``_skeleton``), where every numeral is a digit and only
# 十, 百 and 千 stay characters: 二十八号 is 2十8号, 一百零二室 is 1百02室. A number as
# it is spoken is read whole or not at all (十1802室 is 1802室 after a stray 十).
# 千 only with more after it: 三千栋 is a count, 一千零一室 a room.
_BELOW_HUNDRED = r"(?:0?[1-9]十[1-9]?|0?[1-9])"
_HUNDREDS = (
    r"(?:[1-9]?千(?:[1-9]百" + _BELOW_HUNDRED + r"?|" + _BELOW_HUNDRED + r")"
    r"|[1-9]?百" + _BELOW_HUNDRED + r"?)(?![\d十百千])"
)
_SPOKEN = r"(?:" + _HUNDREDS + r"|[1-9]?十[1-9]?(?![\d十百千]))"
_NUMBER = r"(?:\d{1,5}|" + _SPOKEN + r")"
# Residents space their numbers out (3 幢 2 单元 501 室, 5 0 1 室): one space may stand
# between a number and its marker, inside a two-character marker (3 号 楼), between
# parts, around the room's separator and between a room's digits. What follows 号 is
# read past a space too (3 号 窗口).
_NOT_AFTER_HAO = r"(?! ?(?:窗|口|线|门|柜|台|车位|岗|通道|网格|机|码|人|床|桌))"
_SPACED_ROOM = r"\d(?: \d){2,3}(?= ?[室房])"
_COMP = (
    r"(?:第 ?)?(?:" + _SPACED_ROOM + "|" + _NUMBER + r"|(?<![A-Za-z])[A-Za-z]\d{0,4}) ?"
    r"(?:号 ?楼|号 ?院|号 ?房|幢|栋|单元|室|弄|座|楼|层|房"
    r"|号" + _NOT_AFTER_HAO + r")"
)
# Where an address may start: not inside a word or number, and not after
# "digit-" where the digit rules may have seen a date (see _STEPS). After 月 a lone
# N号 is a day of the month (``_day_of_month``).
_ADDRESS_START = r"(?<![\dA-Za-z.])(?<![\d" + _CN_DIGITS + r"][\-./])"
_DASH = r"[" + _DASHES + r"]{1,2}"  # one or two, as residents type them
_DASH1 = r"[" + _DASHES + r"]"
_ANY_DASH_RE = re.compile(_DASH1)
_ROOM_SEP = r"(?: ?(?:" + _DASH + r"|#) ?| )?"
# A floor and a room on it (1802, 501), the shape a room keeps after a comma (5栋，1802)
# or before 户 (1802户), where another number is a count (1200户).
_ROOM_SHAPED = r"(?:[1-9]|[1-4]\d)(?:0[1-9]|1[0-2])"
# The room after a building or a door: 1802, 5 0 1, 八百零二, a unit and its room
# (2-1802, 2—1802); after a comma only a floor and a room, and only right after a
# building or a unit (5栋，1802; not 5号，102名, nor 110). What follows decides: not an
# amount, a count, an area or a distance (1802平米; but 1802平时 is a room).
_ROOM_TRAIL = (
    r"(?:" + _ROOM_SEP + r"(?:\d{1,2} ?" + _DASH + r" ?)?(?:\d(?: ?\d){2,3}|" + _HUNDREDS + ")"
    r"|(?:(?<=[栋幢元座])|(?<=号楼)) ?[，,、] ?(?!1(?:10|19|20|22)(?!\d))" + _ROOM_SHAPED + r")"
    r"(?: ?(?:室|房|号(?! ?[楼院房])))?"
    r"(?! ?[\dA-Za-z第年月日元人户个次件辆天岁%:.路]| ?[\-/]\d| ?号 ?[楼院房]"
    # a count or an amount, not a word that begins with its character (名下, 台风, 万一)
    r"| ?(?:名(?![下字义额单])|位(?![置于])|套(?![内间])|间(?![歇隔或断])|台(?![风阶上面])"
    r"|块(?!头)|万(?![1科达])|千(?!万))"
    r"| ?平(?=$|[米方\s，。,.！？、的多左右以])"
    r"| ?米(?=$|[\s，。,.！？、的外远处左右内以多长宽高深]))"
)
# The leading lookahead gives the engine a character class to skip ahead with.
_ADDRESS_RE = re.compile(
    r"(?=[\d第A-Za-z十百千])"
    + _ADDRESS_START
    + r"(?P<first>"
    + _COMP
    # Between parts, a hyphen only: 3号—5号 and 3楼—5楼 are ranges.
    + r")(?P<rest>(?:(?: ?- ?| )?"
    + _COMP
    + r")*)(?P<trail>"
    + _ROOM_TRAIL
    + r")?"
)
_ROOM_ONLY_RE = re.compile(r"(?:第 ?)?(?:\d(?: ?\d){2,}|" + _HUNDREDS + r") ?室")
_DASH3_RE = re.compile(
    r"(?<![\d\-.:/])(?<![\d\-.:/] )"
    r"\d{1,3} ?" + _DASH1 + r" ?\d{1,2} ?" + _DASH1 + r" ?\d{3,4}(?: ?(?:室|号|房))?"
    r"(?! ?[\d\-.:/]| ?网格)"
)
_DASH2_RE = re.compile(
    r"(?:(?<=[区园苑寓村厦府庭城])|(?<=[区园苑寓村厦府庭城] ))"
    r"\d{1,3} ?" + _DASH1 + r" ?\d{3,4}(?: ?(?:室|号|房))?"
    r"(?! ?[\d\-.:/]| ?[人户个元次件天年月日%]| ?网格)"
)
# A door number, and the room after it (路28号1802, 路28号 2-1802).
_DOOR_RE = re.compile(
    r"(?:(?<=[路街巷弄村组道里坊])|(?<=[路街巷弄村组道里坊] )|(?<=胡同|大院)|(?<=胡同 |大院 ))"
    + _NUMBER
    + r"(?: ?"
    + _DASH1
    + r" ?\d{1,4}| ?之 ?\d{1,4})? ?号院?(?:"
    + _ROOM_TRAIL
    # the door stays an address when what follows it is not its room (路28号200米)
    + r"|(?= ?\d{3}))?(?!\d{1,2}(?!\d))(?! ?(?:网格|窗|线|口|门|楼))"
)
# A household by its room, where a home is spoken of (我是1802户的, 住在1802户, 5栋1802户);
# elsewhere N户 is a count (1301户, 共1200户, 住户是201户, 本楼住502户人家).
_HOUSEHOLD_RE = re.compile(
    r"(?:(?<=我是|家是|我家|我住|住在|家住)|(?<=我是 |家是 |我家 |我住 |住在 |家住 ))"
    + _ROOM_SHAPED
    + r" ?户(?![数口型籍]|人家|居民)"
    # after a building or unit N户 is its room, whatever follows (5栋1802户居民反映)
    r"|(?:(?<=[栋幢座])|(?<=单元|号楼)|(?<=[栋幢座] )|(?<=单元 |号楼 ))"
    + _ROOM_SHAPED
    + r" ?户(?![数籍])"
    # or a household someone belongs to: 1802户的邻居, 603户业主
    r"|(?<![\d\-.])" + _ROOM_SHAPED + r" ?户(?=的?(?:邻居|业主|住户|租户|房东|老人|孩子|小孩|家))"
)
# A neighbour's room: 楼上603, 楼下的502室, 隔壁1801 (a floor and a room, or 室/房 after).
# The words lead (not a lookbehind), so the engine skips to them.
_NEIGHBOUR_ROOM_RE = re.compile(
    r"(?:楼上|楼下|隔壁|对门|对面)的?(?P<room> ?(?:"
    + _ROOM_SHAPED
    + r"(?: ?(?:室|房|号|户))?|\d{3,4} ?(?:室|房))"
    r"(?![\d年月日元人个次件%米平块万名位套间台路]))"
)
# Traditional characters for the markers, read as the simplified ones (same length).
# Capital 佰 and 仟 too; 拾 only beside another capital numeral (拾贰, 贰拾; 收拾 is a word).
_TRADITIONAL_MARKERS: Final = str.maketrans("號樓棟單層戶佰仟兩", "号楼栋单层户百千2")
_CAPITAL_TEN_RE = re.compile(f"(?<=[{_UPPER_DIGITS}])拾|拾(?=[{_UPPER_DIGITS}])")


# "有3栋楼", "共5幢": a count of buildings, not one building.
_COUNT_BEFORE_RE = re.compile(r"(?:有|共|等|约|近|余|多|几|这|那|各|每|整|涉及)$")
# "11月3号", "12 月 3 号楼下": right after a numbered month, N号 is a day, not a building;
# not after 这个月 (这个月 3号楼 is a building), nor after a space the month is not
# written with (3月 5号楼3楼 is an address).
_DAY_OF_MONTH_RE = re.compile(r"(?:0?[1-9]|[12]\d|3[01]|[12]?十[1-9]?|3十1?)( ?)号")
_NUMBERED_MONTH_RE = re.compile(r"(?<![\d十])(?:0?[1-9]|1[0-2]|十[12]?)(?:月|( )月 )$")
_BUILDING_AFTER_DAY_RE = re.compile(r" ?[楼院房]")


def _day_of_month(m: re.Match[str]) -> int:
    """The length of the day of the month a match begins with (1月5号3楼: 5号), or 0."""
    day = _DAY_OF_MONTH_RE.match(m.group("first"))
    month = day and _NUMBERED_MONTH_RE.search(m.string, max(0, m.start() - 5), m.start())
    # Written as the month is: 12月3号, 12 月 3 号 (12 月 5号楼1802 is an address).
    if not (day and month) or bool(day.group(1)) != bool(month.group(1)):
        return 0
    # 10月10号楼1802: a building with its room after it is no date.
    first = m.group("first")
    if (m.group("rest") or m.group("trail")) and _BUILDING_AFTER_DAY_RE.match(first, day.end()):
        return 0
    return day.end()


def _is_address(m: re.Match[str]) -> bool:
    """Whether a match is an address. A match that begins with a day of the month is
    read from after the day (``_mask_addresses``)."""
    first = m.group("first")
    if m.group("rest") or m.group("trail") or _ROOM_ONLY_RE.fullmatch(first):
        return True
    if any(marker in first.replace(" ", "") for marker in _STRONG_MARKERS):
        # A count of buildings is none (有3栋楼); a space between the count and the
        # number only when the number is spaced too (共 5 幢): 这 5栋2-1802 is an address.
        before = m.string[max(0, m.start() - 3) : m.start()]
        counted = first[-1] in "栋幢" and _COUNT_BEFORE_RE.search(
            before.rstrip(" ") if " " in first else before
        )
        return not counted
    # A lone "3楼", "22号", "A座" or "3室" is a floor, a date or a layout.
    return False


_ADDRESS_HINT_RE = re.compile("[号幢栋单室弄座楼层房户]")


def _mask_addresses(text: str) -> str:
    """Addresses in any numeral system: the rules read the skeleton, where
    二四零二室 and 贰肆零贰室 are 2402室 and 號樓 is 号楼, and the masks go back on the text.
    Every rule reads the same text and their spans are joined, so a door number and the
    room after it are one address (路28之3号——1802室) whichever rule saw which part."""
    written = _CAPITAL_TEN_RE.sub("十", text) if "拾" in text else text
    sk = _skeleton(written).translate(_TRADITIONAL_MARKERS)
    spans: list[tuple[int, int]] = []
    # Cheap membership tests first: most texts have no building numbers.
    if _ADDRESS_HINT_RE.search(sk):
        for m in _ADDRESS_RE.finditer(sk):
            cut = _day_of_month(m)
            if not cut:
                spans += [m.span()] if _is_address(m) else []
                continue
            # After the day, read on past the match's end: what it took after the day
            # may begin an address that runs further (10月5号，102号房).
            for n in _ADDRESS_RE.finditer(sk, m.start() + cut):
                if n.start() >= m.end():
                    break
                if _is_address(n):
                    spans.append(n.span())
    if _ANY_DASH_RE.search(sk):
        spans += [m.span() for m in _DASH3_RE.finditer(sk)]
        spans += [m.span() for m in _DASH2_RE.finditer(sk)]
    if "号" in sk:
        spans += [m.span() for m in _DOOR_RE.finditer(sk)]
    if "户" in sk:
        spans += [m.span() for m in _HOUSEHOLD_RE.finditer(sk)]
    if "楼" in sk or "隔壁" in sk or "对" in sk:
        spans += [m.span("room") for m in _NEIGHBOUR_ROOM_RE.finditer(sk)]
    return _replace_spans(text, _joined(spans, sk), ADDRESS) if spans else text


def _joined(spans: Iterable[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Spans that touch, or have one space between them, as one (5栋 1802户)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + 1 and text[out[-1][1] : start] in ("", " "):
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --------------------------------------------------------------------------
# Names in context
# --------------------------------------------------------------------------
# Common single surnames. Characters that are mostly ordinary words
# (和, 时, 都, 区, 门, 车, 卫, ...) are left out on purpose: precision over recall.
SINGLE_SURNAMES: Final = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史"
    "陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷"
    "詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝游辛靳柴蒙"
    "鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农卓古吉缪简项连芦麦褚娄窦戚岑景党宫费卜冷晏席米柏宗瞿"
    "桂佟臧闵苟邬边卞姬栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻苑迟邝匡鞠惠荆乐冀郁胥班储"
    "栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻厉伊仝郜阚权屠豆朴练廉禹祖漆巴丰支卿狄计索宣晋晁芮雍辜"
    "裘亓修邰赫杭况宿鲜逯隆茹诸慕危银亢嵇湛宾戎勾茅"
)
COMPOUND_SURNAMES: Final = frozenset(
    {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "令狐", "端木", "南宫", "独孤", "申屠", "轩辕", "澹台",
        "太史", "钟离", "闻人", "呼延", "万俟", "百里", "东郭", "公羊", "赫连", "拓跋",
        "司空", "濮阳", "淳于", "单于", "仲孙", "乐正", "左丘", "公冶", "谷梁", "梁丘",
    }
)  # fmt: skip

# Words that look like a surname and a given name but are not names: those honorifics
# follow ("语文老师", "保安师傅", "房东阿姨"), and thanks ("谢谢反映", "谢谢您").
_NOT_NAMES = frozenset(
    {
        "语文", "中文", "英文", "音乐", "声乐", "历史", "保安", "治安", "公安", "平安",
        "对方", "双方", "男方", "女方", "甲方", "乙方", "警方", "官方", "房东", "物业",
        "快递", "外卖", "宿管", "环卫", "门卫", "维修", "保洁", "司机", "装修", "安装",
        "楼长", "楼下", "楼上", "邻居", "有关", "相关", "机关", "海关", "娱乐", "快乐",
        "万一", "一万", "高层", "高龄", "高中", "初中", "小学", "大学", "中学", "文化",
        "方面", "石化", "金融", "史上", "谢谢",
    }
)  # fmt: skip
# Words jieba or a loose context takes for a name in passing ("中午和周末也", "的宣传栏",
# "施划停放区"). Only the word itself stands, and only with nothing around it that names
# a person: after 与/和 with no 说, 反映, 家 or clause end after it, or as a jieba token
# with no context at all. 周末说, 回访周末， and a longer name (周末华) are masked.
_NOT_NAMES_IN_PASSING = frozenset({"周末", "宣传栏", "施划"})
_LOOSE_PREFIXES = frozenset({"与", "和"})
# What a surname ending a word begun before it may be followed by and still be no name:
# words for who someone is, never a given name (住宅楼邻居家 is not 楼邻居 + 家).
_RELATION_WORDS = frozenset({"邻居", "住户", "业主", "居民", "家属", "同事", "租户"})

# Characters that end a given name: particles, pronouns, verbs of speech.
_STOP_CHARS = frozenset(
    "的了是在和与及或向给被把对从将由请让叫找位个名这那些们说到为已又也都就还并该此其各每等"
    "以而着过吗呢吧啊呀么之跟称讲问要会能想去来上下前后里外今昨年日时"
)
# Surnames that are also common prepositions; a shorter reading wins.
_PREPOSITION_SURNAMES = frozenset("于向")

_HONORIFICS_LONG = (
    "老太太", "老先生", "老太", "先生", "女士", "小姐", "阿姨", "大爷", "大妈", "大叔", "大伯",
    "大姐", "大哥", "大娘", "大婶", "奶奶", "爷爷", "阿婆", "婆婆", "阿公", "老伯", "伯伯",
    "叔叔", "师傅", "老师", "同学", "同志", "老板", "经理",
)  # fmt: skip
# One-character honorifics are only safe right after the surname (王哥, 李姐).
_HONORIFICS_SHORT = ("哥", "姐")
_HONORIFIC_RE = re.compile("|".join((*_HONORIFICS_LONG, *_HONORIFICS_SHORT)))


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _given_ok(chars: str) -> bool:
    return all(_is_cjk(c) and c not in _STOP_CHARS for c in chars)


def _name_before(text: str, end: int, max_given: int, min_start: int) -> int | None:
    """Start of a surname + given name ending at ``end`` (not before ``min_start``).

    The longest plausible reading wins (privacy); a reading whose surname is
    also a preposition (于, 向) yields to a shorter one.
    """
    candidates: list[tuple[int, str]] = []
    for given in range(max_given, -1, -1):
        for s_len, table in ((2, COMPOUND_SURNAMES), (1, SINGLE_SURNAMES)):
            start = end - given - s_len
            if start < min_start:
                continue
            surname = text[start : start + s_len]
            if surname not in table or not _given_ok(text[start + s_len : end]):
                continue
            name = text[start:end]
            prev_pair = text[start - 1 : start + 1] if start > 0 else ""
            if name in _NOT_NAMES or prev_pair in _NOT_NAMES:
                continue
            if len(name) >= 2 and name[:2] in _NOT_NAMES:
                continue
            candidates.append((start, surname))
    if not candidates:
        return None
    start, surname = candidates[0]
    if surname in _PREPOSITION_SURNAMES and len(candidates) > 1:
        start = candidates[1][0]
    return start


def _mask_honorifics(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _HONORIFIC_RE.finditer(text):
        max_given = 0 if m.group() in _HONORIFICS_SHORT else 2
        start = _name_before(text, m.start(), max_given, last)
        if start is None:
            continue
        out.append(text[last:start])
        out.append(NAME)
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_ROLE_WORDS = "联系人|投诉人|反映人|举报人|申请人|来电人|当事人|报案人|求助人"
# After an explicit label and colon, whatever name follows is masked.
_LABEL_WORDS = "姓名|名字|称呼|户主|业主|租户|房东|" + _ROLE_WORDS
_LABEL_COLON_RE = re.compile(r"(?:" + _LABEL_WORDS + r")\s?[:：]\s?(?=[\u4e00-\u9fff·])")
_NAME_CHARS_RE = re.compile(r"[\u4e00-\u9fff·]{1,4}")
# Without a colon, only a known surname followed by a given name counts.
_LABEL_PLAIN_RE = re.compile(r"(?:我叫|名叫|叫做|姓名|" + _ROLE_WORDS + r")(?=[\u4e00-\u9fff])")
_FIELD_WORDS_RE = re.compile(
    r"电话|手机|地址|住址|住在|家住|性别|年龄|身份|联系|微信|邮箱|户籍|籍贯|男|女"
)


# After a colon almost anything can be a name character; only particles end it.
_COLON_STOP_CHARS = frozenset("的了是在和与及或说称向等")


def _name_after_colon(text: str, pos: int) -> int | None:
    """Length of the name after "姓名：" and the like, or None."""
    m = _NAME_CHARS_RE.match(text, pos)
    if m is None:
        return None
    value = m.group()
    cut = _FIELD_WORDS_RE.search(value)
    if cut:
        if cut.start() == 0:
            return None  # "联系人：电话…": a field, not a name
        value = value[: cut.start()]
    for i, ch in enumerate(value):
        if i > 0 and ch in _COLON_STOP_CHARS:
            return i
    return len(value)


def _mask_labels(
    text: str, pattern: re.Pattern[str], name_length: Callable[[str, int], int | None]
) -> str:
    """Mask the name that follows each match of ``pattern``."""
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        if m.start() < last:
            continue  # the label is part of a name masked just before
        length = name_length(text, m.end())
        if not length:
            continue
        out.append(text[last : m.end()])
        out.append(NAME)
        last = m.end() + length
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _name_after(text: str, pos: int) -> int | None:
    """Length of surname + 1-2 given characters starting at ``pos``, or None."""
    for s_len, table in ((2, COMPOUND_SURNAMES), (1, SINGLE_SURNAMES)):
        surname = text[pos : pos + s_len]
        if len(surname) != s_len or surname not in table:
            continue
        if surname in _PREPOSITION_SURNAMES:
            return None
        given = 0
        while given < 2:
            ch = text[pos + s_len + given : pos + s_len + given + 1]
            if not ch or not _given_ok(ch):
                break
            given += 1
        if given == 0 or text[pos : pos + 2] in _NOT_NAMES:
            return None
        return s_len + given
    return None


def _mask_names(text: str) -> str:
    text = _mask_honorifics(text)
    if ":" in text or "：" in text:
        text = _mask_labels(text, _LABEL_COLON_RE, _name_after_colon)
    return _mask_labels(text, _LABEL_PLAIN_RE, _name_after)


# --------------------------------------------------------------------------
# Public data: numbers and names the public is meant to read
# --------------------------------------------------------------------------
class _DigitMap(dict[int, int]):
    """``str.translate`` table: every numeral character to its ASCII digit.

    Chinese numerals (小写 and 大写, and 两) are listed; other scripts' decimal
    digits are looked up on first sight and remembered. Anything else maps to
    itself, so the skeleton of a text has the text's length and offsets.
    """

    def __missing__(self, code: int) -> int:
        value = unicodedata.decimal(chr(code), None)
        self[code] = code if value is None else 48 + value
        return self[code]


_SKELETON_MAP: Final = _DigitMap(
    {ord(c): ord(d) for c, d in zip(_CN_DIGITS + "两", "001123456789123456789" + "2", strict=True)}
)


def _skeleton(text: str) -> str:
    """``text`` with every numeral written as an ASCII digit, offsets unchanged."""
    return text.translate(_SKELETON_MAP)


def _digits_in(text: str) -> str:
    return "".join(c for c in _skeleton(text) if "0" <= c <= "9")


def _number_forms(digits: str) -> tuple[str, ...]:
    """The ways a phone number is written: with or without +86, with or without
    its area code (the local part alone is as identifying)."""
    forms = [digits]
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            rest = digits[len(prefix) :]
            forms.append(rest if rest.startswith("1") else "0" + rest)
            break
    for form in list(forms):
        if form.startswith("0") and not form.startswith("00") and len(form) >= 10:
            local = form[3:] if form[1] in "12" else form[4:]
            if len(local) >= 7:
                forms.append(local)
    return tuple(dict.fromkeys(forms))


@dataclass(frozen=True)
class PublicData:
    """Numbers and names that are public by design and stay visible in free text:
    the grids' work phones, the stations' phones, hotlines, the grid teams' names
    (all on the grid bulletin, 网格公示牌). Built once per district."""

    numbers: frozenset[str] = frozenset()  # every form of each number, ASCII digits
    names: frozenset[str] = frozenset()  # people's and places' names, kept where they occur
    # Made from ``names``, and left out of the hash: the redactor's cache hashes this
    # object on every call, and a compiled pattern's hash is not kept (3 µs each time).
    names_re: re.Pattern[str] | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        names_re = (
            re.compile("|".join(map(re.escape, sorted(self.names, key=len, reverse=True))))
            if self.names
            else None
        )
        object.__setattr__(self, "names_re", names_re)

    @classmethod
    def of(cls, numbers: Iterable[str] = (), names: Iterable[str] = ()) -> PublicData:
        forms = {f for n in numbers for f in _number_forms(_digits_in(normalise(n)))}
        kept = frozenset(n for n in (normalise(x) for x in names) if len(n) >= 2)
        return cls(frozenset(f for f in forms if f), kept)

    def has_number(self, span: str) -> bool:
        return bool(self.numbers) and any(
            f in self.numbers for f in _number_forms(_digits_in(span))
        )


# Hotlines every resident may be told to call (12345 政务服务便民热线 and the
# emergency numbers); short ones never reach the 7-digit rule but are listed
# for completeness.
HOTLINES: Final = ("12345", "110", "119", "120", "122", "12315", "12369", "12319")

_PUBLIC_CACHE: dict[int, tuple[object, PublicData]] = {}


def public_data(district: District) -> PublicData:
    """The public numbers and names of a district, built once per District object."""
    cached = _PUBLIC_CACHE.get(id(district))
    if cached is not None and cached[0] is district:
        return cached[1]
    phones = [s.phone for s in district.stations]
    # Places are public too; a place that starts like a name (柳翠井巷) stays.
    names: list[str] = [district.name, *(s.name for s in district.stations)]
    names += [c.name for c in district.communities] + [d.name for d in district.departments]
    names += [g.name for g in district.grids]
    # The streets and landmarks bounding each grid, on its bulletin (高银街, 吴山广场,
    # 吴山北麓), where they read as places: a name's shape (吴山) would keep a person's.
    names += [
        place
        for g in district.grids
        for _side, place in g.edges()
        if place[-1] in _PLACE_SUFFIXES or len(place) >= 4
    ]
    for grid in district.grids:
        for member in grid.team:
            phones.append(member.work_phone)
            names.append(member.name)
    data = PublicData.of([*phones, *HOTLINES], names)
    _PUBLIC_CACHE[id(district)] = (district, data)
    return data


# --------------------------------------------------------------------------
# Numbers of 7+ digits split by any separator (138和1234和5678, 138_1234_5678)
# --------------------------------------------------------------------------
# A chain of digit groups ends at a unit, a date or time word, a sentence end,
# a placeholder or a letter: "3月5日", "12户", "2号楼3层" are not one number.
_CHAIN_BREAKERS: Final = frozenset(
    "年月日时点分秒:：元块角万亿千百十件人户次个天周岁米吨斤克层楼号栋幢室单元%。！？!?[]【】@#"
    ";；第格到至~～"
)
_GRID_CODE_LABEL_RE = re.compile(r"(?:网格|区划)(?:编号|编码|代码)\s?[:：为]?\s?$")
_CHAIN_GAP = 3  # at most this many characters between two groups of one number
_MIN_CHAIN_DIGITS = 7
_ASCII_DIGITS_RE = re.compile(r"[0-9]+")
_SKELETON_DATE_RE = re.compile(
    r"(?<![0-9])(?:19|20)[0-9]{2}([-./])(?:0?[1-9]|1[0-2])(?:\1(?:0?[1-9]|[12][0-9]|3[01]))?(?![0-9])"
)
_DATE8_RE = re.compile(r"(?:19|20)[0-9]{2}" + _DATE)
# 400/800 numbers are companies' service lines, printed on every bill.
_SERVICE_LINE_RE = re.compile(r"[48]00[0-9]{7}")
# 统一社会信用代码: a company's public registration code.
_CREDIT_CODE_RE = re.compile(
    r"(?<![A-Za-z0-9])[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}(?![A-Za-z0-9])"
)


def _chain_gap_ok(gap: str) -> bool:
    return (
        0 < len(gap) <= _CHAIN_GAP
        and "\n\n" not in gap
        and sum(_is_cjk(c) for c in gap) <= 2
        and not any(c in _CHAIN_BREAKERS or ("A" <= c <= "z" and c.isalpha()) for c in gap)
    )


def _chains(sk: str) -> Iterator[list[re.Match[str]]]:
    protected = [m.span() for m in _SKELETON_DATE_RE.finditer(sk)]
    protected += [m.span() for m in _CREDIT_CODE_RE.finditer(sk)]
    chain: list[re.Match[str]] = []
    for m in _ASCII_DIGITS_RE.finditer(sk):
        if any(a <= m.start() < b for a, b in protected):
            if chain:
                yield chain
            chain = []
            continue
        if chain and _chain_gap_ok(sk[chain[-1].end() : m.start()]):
            chain.append(m)
            continue
        if chain:
            yield chain
        chain = [m]
    if chain:
        yield chain


def _mask_split_numbers(text: str, public: PublicData | None = None) -> str:
    """Mask any 7+ digit number, in any numeral system, whose groups are split by
    a few characters of anything that is not a unit, date word or sentence end.

    The digit rules above judged conventional runs (spaces, dashes, dots); this
    rule catches what they leave: separators such as 和, commas, underscores and
    line breaks, and bare 7–10 digit numbers with no phone word around them.
    Dates, amounts (a unit right after), grid codes after their label, 400/800
    service lines, company credit codes and the district's public numbers stay.
    """
    sk = _skeleton(text)
    out: list[str] = []
    last = 0
    for chain in _chains(sk):
        digits = "".join(m.group() for m in chain)
        if len(digits) < _MIN_CHAIN_DIGITS:
            continue
        start, end = chain[0].start(), chain[-1].end()
        if end < len(text) and text[end] in _UNIT_CHARS:
            continue
        before = _context_before(text, start)
        lengths = [len(m.group()) for m in chain]
        code_label = _GRID_CODE_LABEL_RE.search(before) is not None
        kind = _classify(digits, lengths, grid_context=code_label)
        # Grid codes are long (区划代码 + grid number) and of no known kind;
        # "第3网格：87654321" and "第3网格：130和0000和0001" are phones.
        if kind is None and len(digits) >= 11 and code_label:
            continue
        if (len(chain) == 1 and len(digits) == 8 and _DATE8_RE.fullmatch(digits)) or (
            _SERVICE_LINE_RE.fullmatch(digits)
        ):
            continue
        if public and public.has_number(digits):
            continue
        if kind is None:
            if _QQ_CONTEXT_RE.search(before) and len(digits) <= 12:
                kind = QQ
            elif _WECHAT_CONTEXT_RE.search(before):
                kind = WECHAT
            elif len(digits) <= 8:
                kind = LANDLINE
            else:
                kind = LONG_NUMBER
        out.append(text[last:start])
        out.append(kind)
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# --------------------------------------------------------------------------
# Emails in disguise: "abc at qq dot com", "abc(at)163.com", "abc#163.com"
# --------------------------------------------------------------------------
_AT = r"(?:\s*(?:@|#|＃|\(at\)|\[at\]|（at）|【at】|\{at\}|艾特|圈a)\s*|\s+at\s+)"
_DOT = r"(?:\s*(?:\.|。|\(dot\)|\[dot\]|（dot）|【dot】|点)\s*|\s+dot\s+)"
_TLD = r"(?:com|cn|net|org|edu|gov|cc|top|vip|io|me|hk|tw|info)"
_EMAIL_DISGUISED_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*"
    + _AT
    + r"[A-Za-z0-9\-]+(?:"
    + _DOT
    + r"[A-Za-z0-9\-]+)*?"
    + _DOT
    + _TLD
    + r"(?![A-Za-z])",
    re.IGNORECASE,
)
_EMAIL_HINT_RE = re.compile(r"@|#|at|艾特|圈a", re.IGNORECASE)


# --------------------------------------------------------------------------
# Names found by a Chinese lexical analyser (jieba), plus the contexts
# residents write them in
# --------------------------------------------------------------------------
class _Lexicon:
    """jieba's segmenter and the part-of-speech tags of its dictionary.

    Loaded once per process, on first use: the API's modules import this one,
    and their cold start must not pay for a dictionary they rarely need.
    """

    def __init__(self) -> None:
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        self.freq: dict[str, int] = self.tokenizer.FREQ
        # Tags only for the words a name rule asks about: those that start with
        # a surname, and those tagged as person names (nr, nrfg, nrt).
        tags: dict[str, str] = {}
        with self.tokenizer.get_dict_file() as f:
            for raw in f:
                parts = raw.decode("utf-8").split()
                if len(parts) != 3:
                    continue
                word, _, tag = parts
                if tag.startswith("nr") or _surname_len(word):
                    tags[word] = tag
        self.tags = tags

    def known(self, word: str) -> bool:
        return self.freq.get(word, 0) > 0

    def is_word_not_name(self, word: str) -> bool:
        """A dictionary word that is not a full name: 张贴, 高峰, 文明 (jieba tags
        some of these nr, so two-character nr words count as words too)."""
        if not self.known(word):
            return False
        tag = self.tags.get(word, "")
        # Rare three-character nr words are people (李建国 9, 王小明 3); frequent
        # ones are mostly places and eras (王府井 183, 高新区 270, 黄金周 1407).
        return not (tag.startswith("nr") and len(word) >= 3 and self.freq[word] <= 50)

    def is_person_word(self, word: str) -> bool:
        """A dictionary word jieba tags as a person's name (nr, nrfg, nrt) and that is
        not a common word as well (李强 159, 李宁 60; but 文明 6584, 高峰 1556, 张贴 401,
        朱红 618 are words first)."""
        return self.tags.get(word, "").startswith("nr") and self.freq[word] <= _COMMON_WORD

    def may_start_a_name(self, word: str) -> bool:
        """A word tagged as a person's name, or a rare one (高军, 苏波: fewer than ten
        in jieba's counts), may be the first part of a longer name."""
        return self.is_person_word(word) or self.freq.get(word, 0) <= _RARE_WORD

    def may_be_given_name(self, word: str) -> bool:
        if not self.known(word):
            return True
        return self.tags.get(word, "").startswith(("nr", "nz"))


_RARE_WORD = 9
_COMMON_WORD = 200
_LEXICON: _Lexicon | None = None
_LEXICON_LOCK = threading.Lock()


def _lexicon() -> _Lexicon:
    global _LEXICON
    if _LEXICON is None:
        with _LEXICON_LOCK:
            if _LEXICON is None:
                _LEXICON = _Lexicon()
    return _LEXICON


def _surname_len(word: str) -> int:
    if word[:2] in COMPOUND_SURNAMES:
        return 2
    return 1 if word[:1] in SINGLE_SURNAMES else 0


def _cjk_word(word: str) -> bool:
    return bool(word) and all(_is_cjk(c) for c in word)


# Contexts residents write names in (我是X, 老公X, 业主X, X说, X反映, [X], ——X).
_NAME_PREFIX_RE = re.compile(
    r"(?:我是|我叫|本人|老公|老婆|丈夫|妻子|爱人|儿子|女儿|父亲|母亲|业主|邻居|住户|租户|租客"
    r"|居民|同事|楼上|楼下|隔壁|对门|联系了|已联系|回访|经与|与|和|找了|告诉|通知)"
    r"(?=[\u4e00-\u9fff])"
)
# Of those, the ones that name a person: what follows is a name even when its first
# characters are a word jieba tags as one (老公龙凤英, 我是李强).
_PERSON_PREFIXES: Final = frozenset(
    ("我是", "我叫", "老公", "老婆", "丈夫", "妻子", "爱人", "儿子", "女儿", "父亲", "母亲")
)
_NAME_SUFFIX_RE = re.compile(
    r"(?<=[\u4e00-\u9fff])(?:说|反映|称|表示|投诉|举报|来电|打电话|要求|希望|认为|讲|告诉|家|一家)"
)
_NAME_BRACKET_RE = re.compile(r"[\[【〔「『]([\u4e00-\u9fff·]{2,4})[\]】〕」』]")
# A signature ends its line, or is followed by a space and more (——欧阳伟 12345热线).
_NAME_SIGNATURE_RE = re.compile(
    r"(?:——|—|--|－－|-|～|~)\s?([\u4e00-\u9fff]{2,4})(?:\s*(?:\n|$|[，。！)）])| )"
)
# Words that start a clause after a name and must not be read as its given name.
_AFTER_NAME = (
    "反映", "表示", "投诉", "举报", "来电", "打电话", "要求", "希望", "认为", "告诉",
    "家", "说", "称", "讲", "反", "也", "都", "等", "一", "夫妇", "两口",
)  # fmt: skip
_WEAK_AFTER = ("也", "都", "等", "一")  # after a name, or after any other word
_CLAUSE_ENDS: Final = frozenset("，。！？；：、,.!?;: \n（）()[]【】“”\"'")
# A "name" followed by one of these is the first part of a place: 柳翠井巷, 王家村.
_PLACE_SUFFIXES: Final = frozenset(
    "路街巷弄道村镇乡区县市省州社苑园府庄院桥河湖山江坊门寺庙站场馆厦城湾岛港里屯堡营坝塘井"
)
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))
_SURNAME_HINT_RE = re.compile(
    "[" + "".join(sorted(SINGLE_SURNAMES | {c[0] for c in COMPOUND_SURNAMES})) + "]"
)


def _given_length(text: str, pos: int, limit: int = 2) -> int:
    """How many characters from ``pos`` may be a given name (0–2)."""
    n = 0
    while n < limit:
        ch = text[pos + n : pos + n + 1]
        if not ch or not _given_ok(ch) or text.startswith(_AFTER_NAME, pos + n):
            break
        n += 1
    return n


def _context_name_spans(text: str, lex: _Lexicon) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []

    def candidate(start: int, end: int, *, framed: bool = False, person: bool = False) -> None:
        """``framed``: a context on both sides (业主X反映, ，X称), strong enough
        for a name that is also a dictionary word (林海, 贺兰). ``person``: a context
        that names a person (我是X, 老公X), where a word jieba tags as a person's
        name (龙凤, 李强) does not keep a longer name from being one (龙凤英)."""
        name = text[start:end]
        sl = _surname_len(name)
        if not sl or len(name) <= sl or name in _NOT_NAMES or name[:2] in _NOT_NAMES:
            return
        if name[:sl] in _PREPOSITION_SURNAMES:
            return
        # A surname that ends a common word of three or four characters begun before it,
        # with a word for who someone is after it, starts no name: 住宅楼邻居家 is not
        # 楼邻居 + 家. Any given name keeps it a name (时间段志强家, 家属楼建华来电).
        if name[sl:] in _RELATION_WORDS and any(
            lex.is_word_not_name(word) and lex.freq.get(word, 0) > _RARE_WORD
            for word in (text[j : start + 1] for j in range(max(0, start - 3), start - 1))
        ):
            return
        # Unframed, the name must not start with an ordinary word: 居民高空抛物 is
        # not 居民 + 高空抛, 楼上夏天 is not a person.
        if not framed and any(
            lex.is_word_not_name(word) and not (person and _may_be_in_name(word, end - start))
            for word in (text[start : start + k] for k in range(sl + 1, min(4, end - start) + 1))
        ):
            return
        spans.append((start, end))

    def _may_be_in_name(word: str, length: int) -> bool:
        """After a person's context: a two-character word jieba tags as a name (李强),
        or the start of a longer name when tagged so or rare (龙凤英, 高军国)."""
        if len(word) < length:
            return lex.may_start_a_name(word)
        return len(word) == 2 and lex.is_person_word(word)

    def closed(end: int) -> bool:
        return end >= len(text) or text[end] in _CLAUSE_ENDS or text.startswith(_AFTER_NAME, end)

    for m in _NAME_PREFIX_RE.finditer(text):
        pos = m.end()
        sl = _surname_len(text[pos : pos + 2])
        if sl:
            end = pos + sl + _given_length(text, pos + sl)
            loose = m.group() in _LOOSE_PREFIXES and text[pos:end] in _NOT_NAMES_IN_PASSING
            if loose and not (closed(end) and not text.startswith(_WEAK_AFTER, end)):
                continue  # 中午和周末也: the weekend
            candidate(pos, end, framed=closed(end), person=m.group() in _PERSON_PREFIXES)
    for m in _NAME_SUFFIX_RE.finditer(text):
        end = m.start()
        # A compound surname four characters back is read first: 欧阳刚明说 is not
        # 阳刚明 (a word, 阳刚, with a surname of its own) plus 说.
        compound = end >= 4 and text[end - 4 : end - 2] in COMPOUND_SURNAMES
        for length in (4, 3, 2) if compound else (3, 2, 4):
            start = end - length
            if start < 0 or not _cjk_word(text[start:end]):
                continue
            name = text[start:end]
            sl = _surname_len(name)
            if sl and 1 <= len(name) - sl <= 2 and _given_ok(name[sl:]):
                opened = start == 0 or text[start - 1] in _CLAUSE_ENDS
                candidate(start, end, framed=opened)
                break
    for rx in (_NAME_BRACKET_RE, _NAME_SIGNATURE_RE):
        for m in rx.finditer(text):
            name = m.group(1)
            sl = _surname_len(name)
            if not sl or not 1 <= len(name) - sl <= 2 or not _given_ok(name[sl:]):
                continue
            # A signature at the end of a line is a name even when it is also a
            # word (丁东); a bracketed word (【高温】) is usually a heading, and so may
            # be a signed word followed by more text (——王府井 附近).
            line_end = rx is _NAME_SIGNATURE_RE and not (
                m.end() < len(text) and text[m.end() - 1] == " "
            )
            if (
                line_end
                or not lex.is_word_not_name(name)
                or (len(name) == 2 and lex.is_person_word(name))  # [李宁], [黄平]
            ):
                spans.append(m.span(1))
    return spans


def _tagged_name_spans(text: str, lex: _Lexicon) -> list[tuple[int, int]]:
    """Person names by jieba: its HMM finds unknown words (most names are not in
    any dictionary); a word is a name when it is a surname plus one or two
    given-name characters and not a dictionary word of another kind."""
    spans: list[tuple[int, int]] = []
    for clause in _CLAUSE_RE.finditer(text):
        offset = clause.start()
        spans += [(s + offset, e + offset) for s, e in _clause_names(clause.group(), lex)]
    return spans


@functools.lru_cache(maxsize=16384)
def _clause_names(clause: str, lex: _Lexicon) -> tuple[tuple[int, int], ...]:
    """The names jieba finds in one clause. Cached: a text's second round (see
    :func:`redact`) reads the same clauses again, and complaints repeat phrases."""
    if not _may_hold_name(clause, lex):
        return ()
    return tuple(_names_in_tokens(list(lex.tokenizer.tokenize(clause, HMM=True)), lex))


_CLAUSE_RE = re.compile(r"[^，。！？；,.!?;\n]+[，。！？；,.!?;\n]?")


def _may_hold_name(clause: str, lex: _Lexicon) -> bool:
    """Segmenting is the redactor's main cost; a clause is segmented only when a
    surname starts something that is not an ordinary word (高空, 方便, 安全 are)."""
    for m in _SURNAME_HINT_RE.finditer(clause):
        i = m.start()
        sl = _surname_len(clause[i : i + 2])
        # Right after a numeral a surname character is a unit or a numeral itself
        # (836米长, 壹叁陆贰): _names_in_tokens never starts a name there.
        if not sl or (i and _skeleton(clause[i - 1]).isdigit()):
            continue
        pair = clause[i : i + sl + 1]
        if len(pair) == sl + 1 and _is_cjk(pair[-1]) and not lex.is_word_not_name(pair):
            return True
    return False


def _names_in_tokens(tokens: list[tuple[str, int, int]], lex: _Lexicon) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    text = "".join(t[0] for t in tokens)
    i = 0
    while i < len(tokens):
        word, start, end = tokens[i]
        sl = _surname_len(word) if _cjk_word(word) else 0
        # Right after a number a "surname" is a unit: 836米长, 5万元.
        after_number = start > 0 and _skeleton(text[start - 1]).isdigit()
        if sl and word[:sl] not in _PREPOSITION_SURNAMES and not after_number:
            given = word[sl:]
            if given:
                if (
                    len(given) <= 2
                    and _given_ok(given)
                    and word not in _NOT_NAMES
                    and word[:2] not in _NOT_NAMES  # 谢谢您
                    and word not in _NOT_NAMES_IN_PASSING
                    and not lex.is_word_not_name(word)
                ):
                    spans.append((start, end))
            elif i + 1 < len(tokens):
                nxt, _, nxt_end = tokens[i + 1]
                if (
                    1 <= len(nxt) <= 2
                    and _cjk_word(nxt)
                    and _given_ok(nxt)
                    and not nxt.startswith(_AFTER_NAME)
                    and lex.may_be_given_name(nxt)
                    and (len(nxt) == 2 or lex.tags.get(word, "").startswith("nr"))
                    and not lex.is_word_not_name(word + nxt)
                ):
                    spans.append((start, nxt_end))
                    i += 1
        i += 1
    return spans


def _replace_spans(text: str, spans: Iterable[tuple[int, int]], placeholder: str) -> str:
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            if end > last:  # overlapping: extend the mask
                last = end
            continue
        out.append(text[last:start])
        out.append(placeholder)
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _mask_found_names(text: str, public: PublicData | None = None) -> str:
    if not _SURNAME_HINT_RE.search(text):
        return text
    lex = _lexicon()
    spans = _context_name_spans(text, lex) + _tagged_name_spans(text, lex)
    if not spans:
        return text
    held = [m.span() for m in _PLACEHOLDER_RE.finditer(text)]
    # A public name (a grid worker, a place) stays where it stands whole; a longer
    # name that starts with it (宋洋 on the bulletin, 宋洋芬 in a complaint) does not.
    public_spans = (
        [m.span() for m in public.names_re.finditer(text)]
        if public and public.names_re is not None
        else []
    )
    spans = [
        (s, e)
        for s, e in spans
        if not any(a < e and s < b for a, b in held)
        and not any(a <= s and e <= b for a, b in public_spans)
        and not (e < len(text) and text[e] in _PLACE_SUFFIXES)
    ]
    return _replace_spans(text, spans, NAME)


# --------------------------------------------------------------------------
# Names in pinyin: "Wang Xiaoming", "wang-xiao-ming", "WANG XIAOMING",
# "Xiaoming Wang"
# --------------------------------------------------------------------------
class _Pinyin:
    """Valid pinyin syllables and the surnames' readings, from pypinyin (on first use)."""

    def __init__(self) -> None:
        from pypinyin import Style, pinyin
        from pypinyin.pinyin_dict import pinyin_dict

        syllables: set[str] = set()
        for readings in pinyin_dict.values():
            for reading in readings.split(","):
                plain = "".join(c for c in unicodedata.normalize("NFD", reading) if c.isascii())
                if plain.isalpha():
                    syllables.add(plain.lower())
        syllables.update(("lv", "nv", "lve", "nve"))
        self.syllables = frozenset(syllables)
        self.longest = max(map(len, syllables))
        single: set[str] = set()
        for ch in SINGLE_SURNAMES:
            single.update(pinyin(ch, style=Style.NORMAL, heteronym=True)[0])
        compound: set[str] = set()
        for name in COMPOUND_SURNAMES:
            first, second = pinyin(name, style=Style.NORMAL, heteronym=True)
            compound.update(a + b for a in first for b in second)
        self.single = frozenset(single)
        self.compound = frozenset(compound)
        self._pinyin = pinyin
        self._style = Style.NORMAL

    def readings(self, text: str) -> list[list[str]]:
        """Every reading of every character (heteronyms: 曾 is zeng or ceng)."""
        result: list[list[str]] = self._pinyin(text, style=self._style, heteronym=True)
        return result

    def split(self, word: str) -> list[str] | None:
        """The fewest syllables ``word`` is made of, or None if it is not pinyin."""
        word = word.lower()
        best: list[list[str] | None] = [[]] + [None] * len(word)
        for end in range(1, len(word) + 1):
            for size in range(1, min(self.longest, end) + 1):
                prev = best[end - size]
                piece = word[end - size : end]
                current = best[end]
                if (
                    prev is not None
                    and piece in self.syllables
                    and (current is None or len(prev) + 1 < len(current))
                ):
                    best[end] = [*prev, piece]
        return best[len(word)]

    def is_surname(self, word: str) -> bool:
        word = word.lower()
        return word in self.single or word in self.compound

    def is_name(self, words: Sequence[str]) -> bool:
        parts = [self.split(w) for w in words]
        if any(p is None for p in parts):
            return False
        syllables = [s for p in parts for s in (p or ())]
        if not 2 <= len(syllables) <= 4:
            return False
        if len(words) == 1:
            word = words[0]
            camel = sum(c.isupper() for c in word) >= 2 and not word.isupper()
            if len(syllables) < 3 and not camel:
                return False  # "Hangzhou", "Qingbo": places, not people
        first, last = syllables[0], words[-1]
        if first in self.single and 1 <= len(syllables) - 1 <= 2:
            return True
        if len(syllables) >= 3 and syllables[0] + syllables[1] in self.compound:
            return True
        return (
            len(words) >= 2
            and self.is_surname(last)
            and 1 <= len(syllables) - len(parts[-1] or ()) <= 2
        )


_PINYIN: _Pinyin | None = None


def _pinyin() -> _Pinyin:
    global _PINYIN
    if _PINYIN is None:
        with _LEXICON_LOCK:
            if _PINYIN is None:
                _PINYIN = _Pinyin()
    return _PINYIN


def load_tables() -> None:
    """Load the redactor's dictionaries (jieba's, pypinyin's) now rather than on the
    first text that needs them."""
    _lexicon()
    _pinyin()


_LATIN_WORDS_RE = re.compile(
    r"(?<![A-Za-z0-9@_\-])[A-Za-z]{1,12}"
    r"(?:(?:[ \-_.'·]|\s?-\s?)[A-Za-z]{1,12}){0,3}(?![A-Za-z0-9@])"
)
_LATIN_SPLIT_RE = re.compile(r"[A-Za-z]+")
_LATIN_HINT_RE = re.compile("[A-Za-z]{2}")


def _mask_pinyin_names(text: str) -> str:
    if not _LATIN_HINT_RE.search(text):
        return text
    py: _Pinyin | None = None
    spans: list[tuple[int, int]] = []
    for m in _LATIN_WORDS_RE.finditer(text):
        words = list(_LATIN_SPLIT_RE.finditer(m.group()))
        if sum(len(w.group()) for w in words) < 4:
            continue
        py = py or _pinyin()
        # The longest window of words that reads as a name.
        found = False
        for size in range(min(len(words), 4), 0, -1):
            for i in range(len(words) - size + 1):
                window = words[i : i + size]
                if py.is_name([w.group() for w in window]):
                    spans.append((m.start() + window[0].start(), m.start() + window[-1].end()))
                    found = True
                    break
            if found:
                break
    return _replace_spans(text, spans, NAME) if spans else text


# --------------------------------------------------------------------------
# Known personal data: what the portal knows about a case's people
# --------------------------------------------------------------------------
class _HasContact(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str: ...


@dataclass(frozen=True)
class KnownPeople:
    """Names and phone numbers the portal holds for one case: the complainant's
    contact (``names``, ``phones``), and the display names of staff members whose
    names are not public (``staff``)."""

    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    staff: tuple[str, ...] = ()

    @classmethod
    def of_contact(
        cls,
        contact: _HasContact,
        *,
        staff: Iterable[str] = (),
        public: PublicData | None = None,
    ) -> KnownPeople:
        """The complainant's name and phone, and the display names of ``staff`` (those
        who acted on the case) except the public ones: a name on a grid bulletin
        (网格公示牌), that is in ``public.names``, stays visible."""
        public_names = public.names if public else frozenset()
        names = (contact.name,) if contact.name and contact.name.strip() else ()
        phones = (contact.phone,) if contact.phone and contact.phone.strip() else ()
        private_staff = (n for n in staff if n and n.strip() and normalise(n) not in public_names)
        return cls(names, phones, tuple(dict.fromkeys(private_staff)))


# Known names and phones are found without compiling a pattern per case: a case's
# people are new in every case, and compiling their patterns cost more than all the
# rules together. Each form of a name is a short sequence of literal pieces, found
# with str.find from its first character; each phone is found in the digits of the
# text's digit chains (any separator of up to three characters between digits).
_NAME_SEPS: Final = frozenset("·•.-_,，、")
_PINYIN_SEPS: Final = frozenset("-_.'·")
_MAX_SEPS = 2  # separator characters allowed between two pieces of a name
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PHONE_CHAIN_RE = re.compile(r"[0-9](?:[^0-9\[\]]{0,3}[0-9])*")
# Ways staff and residents refer to a person by surname alone, longest first.
_SURNAME_FORMS: Final = tuple(
    sorted(
        {*_HONORIFICS_LONG, *_HONORIFICS_SHORT, "某某", "某", "总", "工", "姓"},
        key=lambda f: (-len(f), f),
    )
)
_LOOSE_SURNAME_FORMS: Final = ("先生", "女士", "小姐")
# Titles people give with their surname as a 称呼 (刘书记, 王业主).
_CONTACT_TITLES: Final = frozenset(
    {
        "书记", "主任", "队长", "组长", "楼长", "村长", "站长", "所长", "院长", "校长",
        "局长", "科长", "处长", "部长", "厂长", "社长", "医生", "大夫", "护士", "律师",
        "会计", "保安", "业主", "住户", "居民", "家属", "太太", "夫人", "老人",
    }
)  # fmt: skip
# Between the characters of a given name written alone: spaces, or a middle dot; not
# the commas that _NAME_SEPS allows in a full name (违章搭建，明天 is no 建明).
_GIVEN_SEPS: Final = frozenset("·•")
# After a whole name any of them is safe (王建华哥), written right after it.
_FULL_NAME_HONORIFICS: Final = tuple(
    sorted((*_HONORIFICS_LONG, *_HONORIFICS_SHORT), key=lambda f: (-len(f), f))
)


@dataclass(frozen=True)
class _NameForm:
    """One way of writing a name: pieces in a row, each one of its alternatives
    (lower case, longest first), with up to two of ``seps`` (or spaces) between
    pieces; ``latin_edges``: no Latin letter may touch it (pinyin)."""

    pieces: tuple[tuple[str, ...], ...]
    seps: frozenset[str] = frozenset()
    latin_edges: bool = False
    # The given name alone: not taken inside one of the district's public names (平安 in
    # 平安建设部) nor, written whole, inside a longer word of the text (建国以来),
    # ``_WordBounds``.
    given: bool = False

    def end_at(self, text: str, start: int) -> int | None:
        """End of this form written at ``start`` in ``text`` (ASCII lower-cased), or None."""
        pos = start
        for k, alternatives in enumerate(self.pieces):
            found = None
            for skip in range(_MAX_SEPS + 1 if k and self.seps else 1):
                at = pos + skip
                found = next((a for a in alternatives if text.startswith(a, at)), None)
                if found is not None:
                    pos = at + len(found)
                    break
                ch = text[at : at + 1]
                if not ch or not (ch in self.seps or ch.isspace()):
                    break
            if found is None:
                return None
        if self.latin_edges and (
            (start > 0 and _is_latin(text[start - 1])) or (pos < len(text) and _is_latin(text[pos]))
        ):
            return None
        return pos


def _is_latin(ch: str) -> bool:
    return "a" <= ch <= "z" or "A" <= ch <= "Z"


def _is_id_char(ch: str) -> bool:
    return bool(ch) and ch.isascii() and (ch.isalnum() or ch in "_@")


@functools.lru_cache(maxsize=4096)
def _name_forms(raw: str, *, strict: bool, full_only: bool = False) -> tuple[_NameForm, ...]:
    """The forms of one name: the full name spaced or punctuated out, the surname with
    an honorific (all of them when ``strict``, else 先生/女士/小姐), and when ``strict``
    小王/老王/阿王 and the given name alone when it is not an ordinary word; the name in
    pinyin in any spacing, case and order."""
    name = "".join(c for c in normalise(raw) if not (c in _NAME_SEPS or c.isspace()))
    name = name.translate(_ASCII_LOWER)
    if len(name) < 2:
        return ()
    forms = [_NameForm(tuple((c,) for c in name), _NAME_SEPS)]
    if not _cjk_word(name) or full_only:
        return tuple(forms)
    sl = _surname_len(name) or 1
    surname, given = name[:sl], name[sl:]
    if given:
        surname_forms = _SURNAME_FORMS if strict else _LOOSE_SURNAME_FORMS
        forms.append(_NameForm(((surname,), surname_forms)))
        if strict:
            # The honorific goes with the name, written right after it: 王建华先生 would
            # say who is a man.
            forms.append(_NameForm(((name,), _FULL_NAME_HONORIFICS)))
            forms.append(_NameForm((("老", "小", "阿"), (surname,))))
    # 王先生, 刘书记: a surname and a form of address or a title (the form asks for a
    # 称呼), no given name to take alone.
    alone = strict and len(given) >= 2 and given not in (*_SURNAME_FORMS, *_CONTACT_TITLES)
    # A given name that is a word in common use (建国, 平安: more than _COMMON_WORD in
    # jieba's counts) is taken as written only: spaced out or in pinyin it is the word
    # (建 国门外, Xinhua) far more often than the name.
    common = alone and _lexicon().freq.get(given, 0) > _COMMON_WORD
    if alone:
        # Where it is written whole, not inside a longer word or a public name
        # (``_WordBounds``); a rarer one spaced out too (秀 英).
        pieces = ((given,),) if common else tuple((c,) for c in given)
        forms.append(_NameForm(pieces, frozenset() if common else _GIVEN_SEPS, given=True))
        forms.append(_NameForm(((given,), _FULL_NAME_HONORIFICS)))  # 建华先生
    spelled = _pinyin_of(name, sl)
    if spelled:
        readings, given_py = spelled
        forms.append(_NameForm((readings, *given_py), _PINYIN_SEPS, latin_edges=True))
        forms.append(_NameForm((*given_py, readings), _PINYIN_SEPS, latin_edges=True))
        if alone and not common:  # xiuying说
            forms.append(_NameForm(tuple(given_py), _PINYIN_SEPS, latin_edges=True))
    return tuple(forms)


@functools.lru_cache(maxsize=4096)
def _phone_forms(phone: str) -> tuple[tuple[str, ...], str] | None:
    """Every form of a known phone (ASCII digits, longest first) and its placeholder."""
    digits = _digits_in(normalise(phone))
    forms = [f for f in _number_forms(digits) if len(f) >= _MIN_CHAIN_DIGITS]
    if not forms:
        return None
    kind = MOBILE if _MOBILE_RE.fullmatch(forms[-1]) else LANDLINE
    return tuple(sorted(forms, key=len, reverse=True)), kind


@functools.lru_cache(maxsize=8192)
def _char_pinyin(ch: str) -> tuple[str, ...]:
    """Every reading of one character (heteronyms: 曾 is zeng or ceng), longest first;
    read per character and cached, because pypinyin's phrase lookup per name costs a
    third of a millisecond."""
    readings = _pinyin().readings(ch)
    if len(readings) != 1 or not all(r and r.isascii() for r in readings[0]):
        return ()
    return tuple(sorted(set(readings[0]), key=lambda r: (-len(r), r)))


def _pinyin_of(name: str, sl: int) -> tuple[tuple[str, ...], list[tuple[str, ...]]] | None:
    """The name's surname readings and each given character's readings, or None."""
    readings = [_char_pinyin(c) for c in name]
    if not all(readings):
        return None
    first = readings[0]
    surname = {a + b for a in first for b in readings[1]} if sl == 2 else set(first)
    return tuple(sorted(surname, key=lambda r: (-len(r), r))), readings[sl:]


@dataclass(frozen=True)
class _KnownPatterns:
    # Forms by the first character of their first piece: a text is read once for
    # its characters, however many people a case has.
    names: Mapping[str, tuple[_NameForm, ...]]
    phones: tuple[tuple[tuple[str, ...], str], ...]

    @classmethod
    def build(cls, known: KnownPeople, *, strict: bool) -> _KnownPatterns:
        """``strict`` (for publishing) adds the given name alone, 小王/老王 and every
        surname form; otherwise only what is this person beyond doubt."""
        by_first: dict[str, list[_NameForm]] = {}
        # A staff display name that does not start with a known surname (值班员, a
        # team's name) is taken whole only: its "given name" would be any word.
        people = [(n, False) for n in known.names]
        people += [(n, not _surname_len(normalise(n))) for n in known.staff]
        for name, full_only in people:
            for form in _name_forms(name, strict=strict, full_only=full_only):
                for first in {a[0] for a in form.pieces[0]}:
                    by_first.setdefault(first, []).append(form)
        phones = tuple(p for p in map(_phone_forms, known.phones) if p)
        return cls({k: tuple(v) for k, v in by_first.items()}, phones)

    def spans(self, text: str, public: PublicData | None = None) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        if self.names:
            lower = text.translate(_ASCII_LOWER)
            words = _WordBounds(text, public)
            for first in self.names.keys() & set(lower):
                for form in self.names[first]:
                    start = lower.find(first)
                    while start >= 0:
                        end = form.end_at(lower, start)
                        if end is not None and (not form.given or words.taken(start, end, form)):
                            if form.latin_edges:  # a name in pinyin takes the id it begins
                                end = words.id_end(end)
                            found.append((start, end, NAME))
                        start = lower.find(first, start + 1)
        if self.phones:
            found += _phone_spans(_skeleton(text), self.phones)
        return found

    def mask(self, text: str, public: PublicData | None = None) -> str:
        found = self.spans(text, public)
        if not found:
            return text
        out: list[str] = []
        last = 0
        for start, end, placeholder in sorted(found, key=lambda f: (f[0], -f[1])):
            if start < last:
                last = max(last, end)
                continue
            out.append(text[last:start])
            out.append(placeholder)
            last = end
        out.append(text[last:])
        return "".join(out)


class _WordBounds:
    """Where a known name's match begins and ends in one text: how far a name in pinyin
    reaches into an id (``id_end``), and whether the given name alone is taken
    (``taken``). It is not taken inside one of the district's public names, written
    whole (定安路) or with two or more of its characters beside it (平安 in 平安建设部,
    whose public name is 清波街道平安建设部); nor, written whole, strictly inside a longer
    dictionary word of jieba's segmentation of the text (建国以来, 建军节). As a word of
    its own (建国说) or cut across (建国家: 建 / 国家) it is taken. The text is segmented
    only when first asked, for the few texts that hold a given name."""

    def __init__(self, text: str, public: PublicData | None) -> None:
        self._text = text
        self._names = public.names if public else frozenset()
        self._tokens: list[tuple[int, int]] | None = None  # jieba's words, in order
        self._starts: list[int] = []
        self._id_ends: list[int] | None = None

    def id_end(self, at: int) -> int:
        """Where the id that goes on at ``at`` ends (xiuying|1990, wangjianhua|88@qq.com):
        a name in pinyin takes it whole, for half an id masked would match no other rule.
        Worked out once per text, from its end."""
        if self._id_ends is None:
            text, ends = self._text, [len(self._text)] * (len(self._text) + 1)
            for i in range(len(text) - 1, -1, -1):
                joined = _is_id_char(text[i]) or (
                    text[i] == "." and _is_id_char(text[i + 1 : i + 2])
                )
                ends[i] = ends[i + 1] if joined else i
            self._id_ends = ends
        return self._id_ends[at]

    def taken(self, start: int, end: int, form: _NameForm) -> bool:
        if self._in_public_name(start, end):
            return False
        if end - start != sum(len(p[0]) for p in form.pieces):  # spaced out: no word holds it
            return True
        if self._tokens is None:
            # Dictionary words only (no HMM): the HMM would join an unknown name to what is
            # beside it (跟桂英, 秀兰家) and make it a "longer word".
            # Nor a rare entry tagged as a person's name (和秀兰 2, 小红门 3), which is
            # someone's name far more often than a word (五星红旗 570, 农家乐 277 are words).
            lex = _lexicon()
            found = lex.tokenizer.tokenize(self._text, HMM=False)
            self._tokens = [
                (a, a)
                if lex.tags.get(w, "").startswith("nr") and lex.freq.get(w, 0) <= _RARE_WORD
                else (a, b)
                for w, a, b in found
            ]
            self._starts = [a for a, _ in self._tokens]
        at = bisect.bisect_right(self._starts, start) - 1
        a, b = self._tokens[at] if at >= 0 else (0, 0)
        return not (a <= start and end <= b and b - a > end - start)

    def _in_public_name(self, start: int, end: int) -> bool:
        text, given = self._text, self._text[start:end]
        for name in self._names:
            # A public name that is the given name itself protects nothing (a place
            # called 朝阳 does not make the complainant 王朝阳's 朝阳 public).
            at = name.find(given) if len(name) > len(given) else -1
            while at >= 0:
                left, right = name[:at], name[at + len(given) :]
                before = next(
                    (
                        j
                        for j in range(len(left), 0, -1)
                        if text[max(0, start - j) : start] == left[-j:]
                    ),
                    0,
                )
                after = next(
                    (j for j in range(len(right), 0, -1) if text[end : end + j] == right[:j]), 0
                )
                if before + after >= 2 or (before, after) == (len(left), len(right)):
                    return True
                at = name.find(given, at + 1)
        return False


def _phone_spans(
    sk: str, phones: Sequence[tuple[Sequence[str], str]]
) -> list[tuple[int, int, str]]:
    """Where the known phones are written in ``sk`` (a text's skeleton): as digits of
    one chain that start and end a group of digits, whatever lies between them."""
    found: list[tuple[int, int, str]] = []
    for chain in _PHONE_CHAIN_RE.finditer(sk):
        if chain.end() - chain.start() < _MIN_CHAIN_DIGITS:
            continue
        at = [i for i in range(chain.start(), chain.end()) if "0" <= sk[i] <= "9"]
        digits = "".join(sk[i] for i in at)
        last = len(at) - 1
        for forms, kind in phones:
            for form in forms:
                i = digits.find(form)
                while i >= 0:
                    j = i + len(form) - 1
                    if (i == 0 or at[i - 1] != at[i] - 1) and (j == last or at[j + 1] != at[j] + 1):
                        found.append((at[i], at[j] + 1, kind))
                    i = digits.find(form, i + 1)
    return found


def known_data_in(text: str, known: KnownPeople) -> list[str]:
    """The kinds of known personal data ``text`` contains after normalisation
    ("name", "phone"): the full name in any spacing or in pinyin, surname + 先生/
    女士/小姐, the phone in any form. Narrower than :func:`case_scrubber`: it
    refuses a staff note, so a colleague called 王师傅 must not trip it."""
    complainant = KnownPeople(known.names, known.phones)  # staff may sign their own notes
    patterns = _KnownPatterns.build(complainant, strict=False)
    kinds = {"name" if kind == NAME else "phone" for _, _, kind in patterns.spans(normalise(text))}
    return sorted(kinds)


def case_scrubber(known: KnownPeople, public: PublicData | None = None) -> Callable[[str], str]:
    """The redactor for one case's free text: everything :func:`redact` masks, and
    first the case's known people in any form (full name, spaced out, surname with
    先生/女士/师傅 and the like, the given name alone, the name in pinyin in any
    spacing, case and order, the phone in any numeral system and split by anything)."""
    patterns = (
        _KnownPatterns.build(known, strict=True)
        if (known.names or known.phones or known.staff)
        else None
    )

    def scrub(text: str) -> str:
        text = normalise(text)
        if patterns is not None:
            text = patterns.mask(text, public)
        return _redact_normalised(text, public)

    return scrub


# --------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------
_Step = Callable[[str, "PublicData | None"], str]


def _sub(
    pattern: re.Pattern[str],
    repl: str | Callable[[re.Match[str]], str],
    hint: Callable[[str], bool],
) -> _Step:
    """A step that runs ``pattern`` only when the cheap ``hint`` says it may match."""
    return lambda text, _public: pattern.sub(repl, text) if hint(text) else text


def _plain(step: Callable[[str], str]) -> _Step:
    return lambda text, _public: step(text)


_WECHAT_HINT_RE = re.compile("[vVwW][xXeE]|信")


# Order matters. Emails, WeChat ids, tokens and plates contain digits the digit
# rules would otherwise split, so they go first. Addresses and names come after
# the digit rules and must not cut a digit run where a date could be: shortening
# a run the digit rules already judged could change their verdict, and the
# first round would then have let something through. Split numbers come after
# the digit rules, which have already taken the conventional runs.
_STEPS: Final[tuple[_Step, ...]] = (
    _sub(_EMAIL_RE, EMAIL, lambda text: "@" in text),
    _sub(_EMAIL_DISGUISED_RE, EMAIL, lambda text: _EMAIL_HINT_RE.search(text) is not None),
    _sub(_WECHAT_ID_RE, r"\1" + WECHAT, lambda text: _WECHAT_HINT_RE.search(text) is not None),
    _sub(_TOKEN_RE, _token_sub, lambda text: True),
    _sub(_PLATE_RE, _plate_sub, lambda text: True),
    _mask_digits,
    _mask_split_numbers,
    _plain(_mask_addresses),
    _plain(_mask_names),
    _mask_found_names,
    _plain(_mask_pinyin_names),
)


_MAX_ROUNDS = 4


def redact(text: str, public: PublicData | None = None) -> str:
    """Return a normalised copy of ``text`` with personal data replaced.

    ``public`` holds the numbers and names that are public by design (see
    :func:`public_data`) and stay. The input is not modified. The rules are
    applied until nothing changes, so ``redact(redact(x)) == redact(x)`` holds by
    construction. A mask can expose a neighbour to a rule that its original
    context hid ("李月3幢": 月 looks like part of a date until the name is
    masked). A second round is usually the last.
    """
    return _redact_normalised(normalise(text), public)


@functools.lru_cache(maxsize=8192)
def _redact_normalised(text: str, public: PublicData | None) -> str:
    """Cached: staff write the same notes on thousands of cases (已研判分类。, 转…办理。,
    回访 lines); in a month of cases five calls in six are for a text already seen."""
    for _ in range(_MAX_ROUNDS):
        masked = text
        for step in _STEPS:
            masked = step(masked, public)
        if masked == text:
            break
        text = masked
    return text


def forget() -> None:
    """Empty what the redactor remembers of the texts it has seen (not its tables:
    jieba's dictionary, each character's pinyin), so that a benchmark times each text
    as new to the process."""
    for remembered in (_redact_normalised, _clause_names, _name_forms, _phone_forms):
        remembered.cache_clear()


# --------------------------------------------------------------------------
# Partial masks for the complainant's own view
# --------------------------------------------------------------------------
def _digits_only(text: str) -> str:
    return _ascii_digits("".join(c for c in normalise(text) if c.isdecimal()))


def mask_phone(phone: str) -> str:
    """Mask a phone number so its owner recognises it and others cannot use it.

    ``13812345678`` → ``138****5678``; ``0571-87654321`` → ``0571-****4321``;
    a bare local number keeps its last two digits; anything else keeps at most
    its last two characters.
    """
    digits = _digits_only(phone)
    if _MOBILE_RE.fullmatch(digits):
        core = digits[-11:]
        return f"{core[:3]}****{core[-4:]}"
    if _LANDLINE_RE.fullmatch(digits):
        if not digits.startswith("0") or digits.startswith("00"):
            digits = "0" + digits[4 if digits.startswith("0086") else 2 :]
        area_len = 3 if digits[1] in "12" else 4
        area, local = digits[:area_len], digits[area_len:]
        visible = 4 if len(local) == 8 else 3
        return f"{area}-{'*' * (len(local) - visible)}{local[-visible:]}"
    if 7 <= len(digits) <= 8:
        return "*" * (len(digits) - 2) + digits[-2:]
    raw = normalise(phone).replace(" ", "")
    if len(raw) <= 4:
        return "*" * len(raw)
    return "*" * (len(raw) - 2) + raw[-2:]


def mask_name(name: str) -> str:
    """``张三`` → ``张*``, ``欧阳小明`` → ``欧阳**``; unknown surnames keep one character."""
    name = normalise(name)
    if len(name) <= 1:
        return "*" * len(name)
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:keep] + "".join(" " if c == " " else "*" for c in name[keep:])
