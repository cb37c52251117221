"""Small HTML answers (zh-CN) to the residents' forms, for browsers without JavaScript.

A form post (``application/x-www-form-urlencoded``, or ``Accept: text/html``) to filing,
lookup or vote gets one of these pages instead of JSON; scripts keep getting JSON. Every
value passes ``html.escape``; the page has no script and no inline style: it links the
site's own stylesheet and uses its classes, which the edge's Content-Security-Policy
(``style-src 'self'``, set over every answer) allows. Links to the site are relative to
the site's address (the same origin unless GRIDPORTAL_SITE_URL says otherwise); forms post
to the API by paths relative to the answering route, so the API's prefix is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from chalice.app import Response

from gridportal.requests import FIELD_LABELS  # the forms' own labels (评价码, never 评价凭证)

# The site's stylesheet under its plain name (THEME_STATIC_DIR and CSS_FILE in
# site/pelicanconf.py; the build publishes it beside the fingerprinted copy).
STYLESHEET = "/theme/css/portal.css"


def csp(site: str = "") -> str:
    """No script; styles from the site only (its origin, when it is not this one)."""
    origin = site.split("/", 3)[:3] if site.startswith("https://") else []
    styles = "'self'" + (" " + "/".join(origin) if origin else "")
    return (
        f"default-src 'none'; style-src {styles}; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


HTML_TYPE = "text/html; charset=utf-8"

FORM_PAGES = {"report": "/report/", "lookup": "/lookup/", "vote": "/vote/"}
KIND_TITLES = {"report": "投诉未提交", "lookup": "未能查询", "vote": "评价未提交"}


def e(value: Any) -> str:
    """Text as HTML: every value that reaches a page goes through here."""
    return escape("" if value is None else str(value), quote=True)


def when(iso: str | None) -> str:
    """'2026-05-03T14:20:00+08:00' -> '2026-05-03 14:20' (published times are Beijing time)."""
    if not iso:
        return "—"
    return f"{iso[:10]} {iso[11:16]}" if len(iso) >= 16 else iso


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{e(term)}</dt><dd>{e(value)}</dd>" for term, value in pairs)
    return f'<dl class="facts">{rows}</dl>'


def deadline_facts(d: Mapping[str, Any] | None, note: str = "") -> list[tuple[str, str]]:
    """The deadlines as the page's script shows them (portal.js ``deadlineFacts``)."""
    out: list[tuple[str, str]] = []
    if d:
        met = d.get("contact_met")
        contact = "（按时联系）" if met is True else "（未按时联系）" if met is False else ""
        out.append(("联系时限", when(d.get("contact_due")) + contact))
        out.append(("办结时限", when(d.get("due")) + ("（已延期）" if d.get("extended") else "")))
        if d.get("extended"):
            out.append(("原定办结时限", when(d.get("original_due"))))
        if d.get("met") is True:
            out.append(("是否按期", "按期办结"))
        elif d.get("met") is False:
            out.append(("是否按期", f"超期 {d.get('overdue_working_days')} 个工作日"))
        else:
            out.append(("是否按期", "办理中，尚未到期"))
    if note:
        out.append(("时限说明", note))
    return out


def page(title: str, body: str, status: int, site: str = "") -> Response:
    """A whole answer page in the site's look: its header, the body, no script."""
    doc = (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request, as on the site's pages
        f"<title>{e(title)}</title>"
        f'<link rel="stylesheet" href="{e(site)}{STYLESHEET}"></head><body>'
        f'<header class="site-header"><a class="site-name" href="{e(site)}/">网格化管理公开平台</a>'
        "</header>"
        f'<main id="main"><h1>{e(title)}</h1>{body}</main></body></html>'
    )
    return Response(
        body=doc,
        status_code=status,
        headers={"Content-Type": HTML_TYPE, "Content-Security-Policy": csp(site)},
    )


def fragment(**codes: str) -> str:
    """'#t=…&c=…': codes in the URL fragment, which a browser never sends to a server."""
    return "#" + "&".join(f"{k}={quote(v, safe='-_')}" for k, v in codes.items() if v)


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{e(name)}" value="{e(value)}">'


def _post(action: str, hidden: Mapping[str, str], inner: str, button: str) -> str:
    fields = "".join(_hidden(k, v) for k, v in hidden.items())
    return (
        f'<form class="form no-print" method="post" action="{e(action)}" accept-charset="utf-8">'
        f'{fields}{inner}<button type="submit" class="button primary">{e(button)}</button></form>'
    )


def receipt(data: Mapping[str, Any], site: str = "") -> Response:
    """201 to a filing: the three codes, shown this once, with one link that carries them."""
    tracking, code, token = data["tracking"], data["lookup_code"], data["vote_token"]
    link = f"{site}/lookup/{fragment(t=tracking, c=code, k=token)}"
    body = (
        '<section class="receipt">'
        '<p class="alert"><strong>请马上抄下、截图或打印本页。</strong>'
        "下面三项只显示这一次，平台无法找回。查询进度要用受理编号和查询码，办结后评价要用评价码。</p>"
        '<dl class="receipt-codes">'
        f'<dt>受理编号</dt><dd class="code" id="receipt-tracking">{e(tracking)}</dd>'
        f'<dt>查询码</dt><dd class="code" id="receipt-code">{e(code)}</dd>'
        f'<dt>评价码</dt><dd class="code" id="receipt-token">{e(token)}</dd></dl>'
        + facts(
            [
                ("状态", data.get("status_label") or "已受理"),
                ("受理时间", when(data["received_at"])),
                *deadline_facts(data.get("deadlines")),
            ]
        )
        + "<h2>以后怎样查询和评价</h2>"
        f'<p><a id="receipt-link" href="{e(link)}">我的投诉：查询进度，办结后评价</a></p>'
        '<p class="note">请把这个链接加入收藏夹：打开它，受理编号和各个码会自动填好'
        "（需要浏览器开启脚本）。这些码放在链接的“#”之后，只留在您的浏览器里，"
        "不会发送到网站的服务器。</p>"
        + _post("cases/lookup", {"tracking": tracking, "code": code}, "", "现在查询办理进度")
        + '<p class="note no-print">打印：使用浏览器菜单中的“打印”，即可打印或保存本页。</p>'
        "</section>"
    )
    return page("已受理", body, 201, site)


def case(data: Mapping[str, Any], site: str = "") -> Response:
    """200 to a lookup: the complainant's own view, and what they can do next."""
    contact = data.get("contact") or {}
    pairs = [
        ("受理编号", data.get("tracking", "")),
        ("状态", data.get("status_label", "")),
        ("类别", data.get("category_name", "")),
        ("网格", data.get("grid_name", "")),
        ("受理时间", when(data.get("received_at"))),
    ]
    for term, key in (("联系人", "name"), ("联系电话", "phone")):
        if contact.get(key):
            pairs.append((term, contact[key]))
    steps = "".join(
        f'<li><p class="step-head"><time>{e(when(s.get("at")))}</time> '
        f"<strong>{e(s.get('label'))}</strong></p>"
        f'<p class="step-who">{e(s.get("role_label"))}'
        f"{' · ' + e(s['unit_name']) if s.get('unit_name') else ''}</p>"
        + (f'<p class="free-text">{e(s["note"])}</p>' if s.get("note") else "")
        + "</li>"
        for s in data.get("timeline") or ()
    )
    deadlines = deadline_facts(data.get("deadlines"), data.get("deadline_note") or "")
    answer = data.get("answer") or ""
    body = (
        facts(pairs)
        + "<h2>办理时限</h2>"
        + facts(deadlines or [("办理时限", "暂未计算")])
        + f'<h2>办理过程</h2><ol class="timeline" id="lookup-steps">{steps}</ol><h2>办理结果</h2>'
        + (f'<p class="free-text">{e(answer)}</p>' if answer else "<p>尚未答复。</p>")
    )
    if data.get("rating_label"):
        body += f"<p>您的评价：{e(data['rating_label'])}</p>"
    if data.get("record_url"):
        body += (
            f'<p><a id="record-link" href="{e(data["record_url"])}">查看公开的办理记录</a>'
            "（隐去个人信息后公开）</p>"
        )
    if data.get("can_vote"):
        body += vote_form(data.get("tracking", ""))
    return page("办理情况", body, 200, site)


RATING_CHOICES = (
    ("satisfied", "满意"),
    ("basically_satisfied", "基本满意"),
    ("unsatisfied", "不满意"),
)


def vote_form(tracking: str) -> str:
    """The vote, offered on the lookup answer once the case is resolved (no script needed)."""
    choices = "".join(
        f'<label class="choice"><input type="radio" name="rating" value="{e(v)}" required> '
        f"{e(t)}</label>"
        for v, t in RATING_CHOICES
    )
    inner = (
        '<div class="field"><label for="vote-token">评价码</label>'
        '<input id="vote-token" type="text" name="token" required autocomplete="off"></div>'
        f'<fieldset class="field"><legend>您对办理结果是否满意？</legend>{choices}</fieldset>'
        '<div class="field"><label for="vote-comment">意见（选填）</label>'
        '<input id="vote-comment" type="text" name="comment" maxlength="2000"></div>'
    )
    return "<h2>评价办理结果</h2>" + _post("vote", {"tracking": tracking}, inner, "提交评价")


def voted(data: Mapping[str, Any], site: str = "") -> Response:
    body = (
        '<section class="receipt">'
        f'<p id="vote-result-text">感谢您的评价：{e(data.get("rating_label"))}。</p>'
        "<p>您的评价已记录，会计入公开的满意率。</p></section>"
        f'<p><a href="{e(site)}/lookup/">查询办理进度</a></p>'
    )
    return page("评价已提交", body, 201, site)


def error(
    kind: str,
    status: int,
    err: Mapping[str, Any],
    site: str = "",
    extra: Sequence[str] = (),
    back: str | None = None,
) -> Response:
    """A refusal that says why and what to do next; the JSON error's message, field named.
    ``back``: the form page to return to, when not the kind's own (a grid's report page)."""
    message = str(err.get("message") or "")
    if named := FIELD_LABELS.get(str(err.get("field"))):
        message = f"{named}：{message}"
    code = err.get("code")
    if status >= 500:
        nxt = "请稍后再提交一次；同一份内容在几分钟内重复提交，不会生成两件。"
    elif code == "lookup_locked":
        nxt = ""
    elif code in ("already_voted", "not_resolved"):
        nxt = "可先查询办理进度。"
    elif kind == "report":
        nxt = "请点浏览器的“返回”，修改后再提交，已填的内容一般仍在。"
    else:
        nxt = "请点浏览器的“返回”，核对后再提交。"
    body = f'<p class="alert" role="alert" id="answer-error">{e(message)}</p>'
    body += "".join(extra)
    if nxt:
        body += f"<p>{e(nxt)}</p>"
    form = back or FORM_PAGES.get(kind, "/")
    body += f'<p class="no-print"><a href="{e(site)}{e(form)}">回到填写页面</a></p>'
    return page(KIND_TITLES.get(kind, "未能完成"), body, status, site)
