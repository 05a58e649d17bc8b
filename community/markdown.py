"""Markdown to safe HTML: markdown-it-py renders, nh3 sanitises (on every render).

Raw HTML in the source is escaped by markdown-it-py (``html=False``), and whatever HTML it
produces is then cleaned by nh3 (the Rust ``ammonia`` sanitiser) to an allow-list of tags and
attributes, with links limited to http, https and mailto and marked ``rel="nofollow ugc
noopener noreferrer"``. Two layers because the second does not trust the first: a renderer bug
or plugin must not become an XSS. Stored text is the Markdown source; nothing stores HTML.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["strikethrough", "table"]
)

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "s", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}}
URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(source: str) -> str:
    """HTML for ``source`` (Markdown), safe to mark safe in a template or an email.

    Scripts, event-handler attributes, ``javascript:`` and ``data:`` links and raw HTML come
    out inert (escaped or removed). Returns "" for an empty source.
    """
    if not source:
        return ""
    html = _md.render(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow ugc noopener noreferrer",
        filter_style_properties={"text-align"},
    )
