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

import re
import unicodedata
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Final

__all__ = [
    "PLACEHOLDERS",
    "mask_name",
    "mask_phone",
    "normalise",
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
_SEPARATORS = " ./\\-\u2010\u2011\u2012\u2013\u2014\u2015"
# Chinese numerals count as digits: "一三八一二三四五六七八" is a common way
# to slip a phone number past a filter. 十/百/千 are not digits of a number.
_CN_DIGITS = "〇零一幺二三四五六七八九"
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
_CN_DIGIT_TABLE: Final = str.maketrans(_CN_DIGITS, "001123456789")

_PHONE_CONTEXT_RE = re.compile(
    r"(?:电话|座机|固话|手机|联系方式|致电|拨打|(?<![A-Za-z])(?:tel|phone))"
    r"(?:号码|号)?\s?[:：是为]?\s?$",
    re.IGNORECASE,
)
_QQ_CONTEXT_RE = re.compile(r"(?<![A-Za-z])qq(?:号码|号)?\s?[:：是为]?\s?$", re.IGNORECASE)
_WECHAT_CONTEXT_RE = re.compile(
    r"(?:微信|(?<![A-Za-z])(?:vx|wx|weixin|wechat))(?:号码|号|id)?\s?[:：是为]?\s?$",
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


def _mask_digits(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _RUN_RE.finditer(text):
        if m.end() - m.start() < 5:
            continue  # fewer than five digits: nothing to mask
        run_start = max(_run_start(text, m.start()), last)
        for start, end, placeholder in _mask_run(text, run_start, m.end()):
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
    r"((?:微信|(?<![A-Za-z])(?:vx|wx|weixin|wechat))(?:号码|号|id)?\s?[:：是为]?\s?)"
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
_CN_NUM = "[一二三四五六七八九十百零〇两]{1,4}"
_STRONG_MARKERS = ("号楼", "号院", "号房", "幢", "栋", "单元", "弄")
_COMP_DIGIT = (
    r"第?(?:\d{1,5}|(?<![A-Za-z])[A-Za-z]\d{0,4})"
    r"(?:号楼|号院|号房|幢|栋|单元|室|弄|座|楼|层|房"
    r"|号(?!窗|口|线|门|柜|台|车位|岗|通道|网格|机|码|人|床|桌))"
)
_COMP_CN = r"第?" + _CN_NUM + r"(?:号楼|幢|栋|单元)"
_COMP = r"(?:" + _COMP_DIGIT + r"|" + _COMP_CN + r")"
# Where an address may start: not inside a word or number, and not after
# "digit-" where the digit rules may have seen a date (see _STEPS).
_ADDRESS_START = r"(?<![\dA-Za-z月.])(?<![\d" + _CN_DIGITS + r"][\-./])"
_ROOM_TRAIL = r"-?\d{3,4}(?:室|房|号)?(?![\dA-Za-z第年月日元人户个次件辆天岁%:.]|[\-/]\d)"
# The leading lookahead gives the engine a character class to skip ahead with.
_ADDRESS_RE = re.compile(
    r"(?=[\d第A-Za-z一二三四五六七八九十百零〇两])"
    + _ADDRESS_START
    + r"(?P<first>"
    + _COMP
    + r")(?P<rest>(?:[\- ]?"
    + _COMP
    + r")*)(?P<trail>"
    + _ROOM_TRAIL
    + r")?"
)
_ROOM_ONLY_RE = re.compile(r"第?\d{3,}室")
_DASH3_RE = re.compile(r"(?<![\d\-.:/])\d{1,3}-\d{1,2}-\d{3,4}(?:室|号|房)?(?![\d\-.:/]|网格)")
_DASH2_RE = re.compile(
    r"(?<=[区园苑寓村厦府庭城])\d{1,3}-\d{3,4}(?:室|号|房)?(?![\d\-.:/]|[人户个元次件天年月日%]|网格)"
)
_DOOR_RE = re.compile(
    r"(?:(?<=[路街巷弄村组道里坊])|(?<=胡同|大院))\d{1,5}(?:-\d{1,4}|之\d{1,4})?号院?"
    r"(?!网格|窗|线|口|门|楼|\d)"
)


# "有3栋楼", "共5幢": a count of buildings, not one building.
_COUNT_BEFORE_RE = re.compile(r"(?:有|共|等|约|近|余|多|几|这|那|各|每|整|涉及)$")


def _address_sub(m: re.Match[str]) -> str:
    first = m.group("first")
    if m.group("rest") or m.group("trail"):
        return ADDRESS
    if _ROOM_ONLY_RE.fullmatch(first):
        return ADDRESS
    if any(marker in first for marker in _STRONG_MARKERS):
        counted = first[-1] in "栋幢" and _COUNT_BEFORE_RE.search(m.string, 0, m.start())
        return m.group() if counted else ADDRESS
    # A lone "3楼", "22号", "A座" or "3室" is a floor, a date or a layout.
    return m.group()


_ADDRESS_HINT_RE = re.compile("[号幢栋单室弄座楼层房]")


def _mask_addresses(text: str) -> str:
    # Cheap membership tests first: most texts have no building numbers.
    if _ADDRESS_HINT_RE.search(text):
        text = _ADDRESS_RE.sub(_address_sub, text)
    if "-" in text:
        text = _DASH3_RE.sub(ADDRESS, text)
        text = _DASH2_RE.sub(ADDRESS, text)
    if "号" in text:
        text = _DOOR_RE.sub(ADDRESS, text)
    return text


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

# Words honorifics follow that are not names: "语文老师", "保安师傅", "房东阿姨".
_NOT_NAMES = frozenset(
    {
        "语文", "中文", "英文", "音乐", "声乐", "历史", "保安", "治安", "公安", "平安",
        "对方", "双方", "男方", "女方", "甲方", "乙方", "警方", "官方", "房东", "物业",
        "快递", "外卖", "宿管", "环卫", "门卫", "维修", "保洁", "司机", "装修", "安装",
        "楼长", "楼下", "楼上", "邻居", "有关", "相关", "机关", "海关", "娱乐", "快乐",
        "万一", "一万", "高层", "高龄", "高中", "初中", "小学", "大学", "中学", "文化",
        "方面", "石化", "金融", "史上",
    }
)  # fmt: skip
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
# The pipeline
# --------------------------------------------------------------------------
def _sub(
    pattern: re.Pattern[str],
    repl: str | Callable[[re.Match[str]], str],
    hint: Callable[[str], bool],
) -> Callable[[str], str]:
    """A step that runs ``pattern`` only when the cheap ``hint`` says it may match."""
    return lambda text: pattern.sub(repl, text) if hint(text) else text


_WECHAT_HINT_RE = re.compile("[vVwW][xXeE]")


# Order matters. Emails, WeChat ids, tokens and plates contain digits the digit
# rules would otherwise split, so they go first. Addresses and names come after
# the digit rules and must not cut a digit run where a date could be: shortening
# a run the digit rules already judged could change their verdict, and the
# first round would then have let something through.
_STEPS: Final[tuple[Callable[[str], str], ...]] = (
    _sub(_EMAIL_RE, EMAIL, lambda text: "@" in text),
    _sub(
        _WECHAT_ID_RE,
        r"\1" + WECHAT,
        lambda text: "微信" in text or _WECHAT_HINT_RE.search(text) is not None,
    ),
    _sub(_TOKEN_RE, _token_sub, lambda text: True),
    _sub(_PLATE_RE, _plate_sub, lambda text: True),
    _mask_digits,
    _mask_addresses,
    _mask_names,
)


_MAX_ROUNDS = 4


def redact(text: str) -> str:
    """Return a normalised copy of ``text`` with personal data replaced.

    The input is not modified. The rules are applied until nothing changes, so
    ``redact(redact(x)) == redact(x)`` holds by construction. A mask can expose a
    neighbour to a rule that its original context hid ("李月3幢": 月 looks like
    part of a date until the name is masked). A second round is usually the last.
    """
    text = normalise(text)
    for _ in range(_MAX_ROUNDS):
        masked = text
        for step in _STEPS:
            masked = step(masked)
        if masked == text:
            break
        text = masked
    return text


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
