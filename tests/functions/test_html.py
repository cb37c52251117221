"""The small HTML answers: any text stays text, and each page says what happened."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import html

# Every element and attribute an answer page may hold; anything else came from the data.
TAGS = {
    "html", "head", "meta", "title", "link", "body", "header", "main", "section", "div",
    "p", "a", "h1", "h2", "dl", "dt", "dd", "strong", "ol", "li", "time", "form", "input",
    "button", "label", "fieldset", "legend",
}  # fmt: skip
ATTRIBUTES = {
    "lang", "charset", "name", "content", "rel", "class", "href", "id", "method", "action",
    "accept-charset", "type", "value", "required", "autocomplete", "maxlength", "role", "for",
}  # fmt: skip


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        self.text.extend(value or "" for _, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: Any) -> Collector:
    collector = Collector()
    collector.feed(page.body)
    collector.close()
    return collector


# Markup's own characters and pieces of it, strung together in any order.
hostile = st.lists(
    st.sampled_from([*"<>\"'&=/ ;:abx王", "<script>", "</dd>", "javascript:", "-->", "&lt;"]),
    max_size=20,
).map("".join)


@settings(max_examples=60, deadline=None)
@given(text=hostile)
def test_any_text_stays_text_on_every_page(text: str) -> None:
    step = {"at": "2026-11-16T09:30:00+08:00", "label": text, "role_label": text}
    case = {
        "tracking": text,
        "status_label": text,
        "category_name": text,
        "grid_name": text,
        "received_at": "2026-11-16T09:30:00+08:00",
        "contact": {"name": text, "phone": text},
        "timeline": [{**step, "unit_name": text, "note": text}],
        "answer": text,
        "rating_label": text,
        "deadline_note": text,
        "record_url": text,
        "can_vote": True,
    }
    receipt = {**case, "lookup_code": text, "vote_token": text}
    error = {"code": "x", "message": text, "field": "location"}
    pages = [
        html.case(case),
        html.receipt(receipt),
        html.voted(case),
        html.error("report", 400, error),
    ]
    for page in pages:
        found = parsed(page)
        assert found.tags <= TAGS and found.attributes <= ATTRIBUTES
        assert text in "".join(found.text) or not text.strip()


def test_pages_wear_the_sites_stylesheet_and_nothing_runs() -> None:
    page = html.voted({"rating_label": "满意"})
    assert '<link rel="stylesheet" href="/theme/css/portal.css">' in page.body
    assert "<style" not in page.body and "style=" not in page.body
    policy = page.headers["Content-Security-Policy"]
    assert page.headers["Content-Type"] == html.HTML_TYPE
    assert "default-src 'none'" in policy and "style-src 'self';" in policy
    assert "script-src" not in policy
    elsewhere = html.voted({"rating_label": "满意"}, site="https://portal.example.cn")
    assert 'href="https://portal.example.cn/theme/css/portal.css"' in elsewhere.body
    assert (
        "style-src 'self' https://portal.example.cn;"
        in elsewhere.headers["Content-Security-Policy"]
    )


def test_the_receipt_carries_the_codes_after_the_fragment_mark_only() -> None:
    page = html.receipt(
        {
            "tracking": "2611-4827-3391",
            "lookup_code": "40817266",
            "vote_token": "Xq3v9k-_N0",
            "received_at": "2026-11-16T09:30:00+08:00",
            "deadlines": None,
        },
        site="https://portal.example.cn",
    ).body
    link = "https://portal.example.cn/lookup/#t=2611-4827-3391&amp;c=40817266&amp;k=Xq3v9k-_N0"
    assert f'href="{link}"' in page
    assert page.count("40817266") == 3  # shown, in the link, in the lookup button's form
    assert "评价凭证" not in page and "评价码" in page


def test_deadlines_read_as_the_pages_script_reads_them() -> None:
    pending = {"contact_due": "2026-11-17T23:59:59+08:00", "due": "2026-11-23T23:59:59+08:00"}
    assert html.deadline_facts({**pending, "met": None, "contact_met": True}) == [
        ("联系时限", "2026-11-17 23:59（按时联系）"),
        ("办结时限", "2026-11-23 23:59"),
        ("是否按期", "办理中，尚未到期"),
    ]
    late = {**pending, "met": False, "overdue_working_days": 2, "extended": True}
    facts = dict(html.deadline_facts({**late, "original_due": "2026-11-20T23:59:59+08:00"}))
    assert facts["是否按期"] == "超期 2 个工作日" and facts["办结时限"].endswith("（已延期）")
    assert html.deadline_facts(None, "2027 年的节假日安排尚未公布。") == [
        ("时限说明", "2027 年的节假日安排尚未公布。")
    ]


def test_each_refusal_says_what_to_do_next() -> None:
    def text(kind: str, status: int, code: str) -> str:
        return html.error(kind, status, {"code": code, "message": "原因。"}).body

    assert "修改后再提交" in text("report", 400, "required")
    assert "不会生成两件" in text("report", 503, "unavailable")
    assert "可先查询办理进度" in text("vote", 409, "already_voted")
    assert 'href="/vote/"' in text("vote", 404, "not_found")
    assert "返回" not in text("lookup", 429, "lookup_locked").split("原因。")[1].split("回到")[0]
