"""Pelican settings for the public site (公开网站).

The build (``gridportal.adapters.pelican_site.build_site``) reads this file and
overrides the paths, the site URL and the data; these values are the defaults
and the rules every build keeps. Paths are relative to this file.
"""

SITENAME = "网格化管理公开平台"
SITEURL = ""  # root-relative links; the absolute address comes from publishconf.py
TIMEZONE = "Asia/Shanghai"
DEFAULT_LANG = "zh_cn"
LOCALE = ("C",)  # dates are formatted by the theme's own filters, not by the locale

PATH = "../content"
THEME = "../themes/portal"
OUTPUT_PATH = "../output"

# Only editorial pages go through Pelican's Markdown pipeline; case records,
# grids and metrics are rendered from data by the portal generator.
ARTICLE_PATHS: list[str] = []
PAGE_PATHS = ["pages"]
STATIC_PATHS: list[str] = []
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
PAGE_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""

# No blog machinery: no article index, tags, categories, authors, archives or feeds.
DIRECT_TEMPLATES: list[str] = []
ARTICLE_SAVE_AS = ""
ARTICLE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
TAG_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
FEED_ALL_ATOM = None
FEED_ALL_RSS = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None

# Pelican wipes nothing: a build that renders only changed case pages must keep
# the other pages already in the output directory.
DELETE_OUTPUT_DIRECTORY = False

THEME_STATIC_DIR = "theme"
CSS_FILE = "portal.css"

# Every template escapes by default: case text is free text typed by the public.
JINJA_ENVIRONMENT = {
    "autoescape": True,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "extensions": [],
}

# The main navigation: (key, root-relative URL, label). Editorial pages
# (content/pages/*.md) are linked from the footer automatically.
NAV_LINKS = (
    ("home", "/", "首页"),
    ("report", "/report/", "我要投诉"),
    ("lookup", "/lookup/", "查询进度"),
    ("cases", "/cases/", "办理记录"),
    ("grids", "/grids/", "网格公示"),
    ("metrics", "/metrics/", "数据指标"),
)
