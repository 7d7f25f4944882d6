"""Mail HTML: one strict sanitising policy, applied once at ingest, and the text version of a body.

The stored result is shown as it is (in a sandboxed iframe, MAIL_DOC_HEAD + html): no page view
sanitises again. html5ever (inside nh3) and the standard library's HTMLParser both slow down
quadratically on some input (elements nested a hundred thousand deep; "<a <a <a ..."), so
sanitize_html() refuses HTML over MAX_HTML_CHARS or nested deeper than MAX_HTML_DEPTH (the caller
then keeps the text version), and html_to_text() only ever runs HTMLParser on nh3's well-formed output.

Policy: formatting, tables and links (rel="noopener noreferrer nofollow", target="_blank") stay;
script, style, iframe, object, form and event handlers go; images keep only cid: and data:image
sources (no remote images: they are tracking pixels and would make the agent's browser fetch from
the sender); links keep only absolute http(s), mailto and tel targets.
"""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

import nh3

# fmt: off
_HTML_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}
#: removed together with their content (other unknown tags are unwrapped, their text kept)
_HTML_DROP = {
    "script", "style", "title", "iframe", "object", "embed", "form", "noscript", "template", "xml", "svg", "math",
}
# fmt: on
_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor"}
_HTML_ATTRIBUTES = {
    "*": {"dir", "lang", "title", "style"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "width", "align", "bgcolor"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"align", "valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "p": {"align"},
    "div": {"align"},
}
#: inline styles are reduced to text formatting: no positioning, no url(), no overlays
_HTML_STYLES = {"color", "background-color", "font-weight", "font-style", "text-decoration", "text-align"}
_IMAGE_SOURCE = re.compile(r"(?i)\s*(cid:|data:image/(png|jpe?g|gif|webp|bmp);)")
_IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
_LINK_TARGET = re.compile(r"(?i)\s*(https?:|mailto:|tel:)")


def _html_attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if _IMAGE_SOURCE.match(value) else None
    if tag == "a" and attribute == "href":
        # relative links would point at our own site, with the agent's cookie
        return value if _LINK_TARGET.match(value) else None
    return value


#: characters of HTML sanitised at most; beyond, the body is shown as text only
MAX_HTML_CHARS = 5_000_000
#: element nesting sanitised at most (html5ever's cost grows with depth x elements)
MAX_HTML_DEPTH = 400

# Elements that never nest (void) or whose end tag may be left out (the parser closes them when the
# next one opens): an unclosed <p> or <li> does not make the tree deeper, so they are not counted.
# fmt: off
_NOT_NESTING = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt", "rp", "thead", "tbody",
    "tfoot", "colgroup", "caption", "html", "head", "body", "frame", "basefont", "bgsound", "keygen", "image",
})
# fmt: on
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,40})")


def nesting_depth(html: str, *, stop_at: int = MAX_HTML_DEPTH) -> int:
    """An upper estimate of the element nesting of `html` (counting stops past `stop_at`).

    Open counters are kept per tag name, so a stray end tag of another element cannot hide depth.
    """
    open_tags: dict[str, int] = {}
    depth = 0
    for match in _TAG.finditer(html):
        name = match[2].lower()
        if name in _NOT_NESTING:
            continue
        if match[1]:
            if open_tags.get(name):
                open_tags[name] -= 1
                depth -= 1
        else:
            open_tags[name] = open_tags.get(name, 0) + 1
            depth += 1
            if depth > stop_at:
                return depth
    return max(depth, 0)


def too_complex(html: str) -> str | None:
    """Why `html` is over the sanitising budget (in Chinese, for the agent), or None when within it."""
    if len(html) > MAX_HTML_CHARS:
        return f"HTML 正文过大（{len(html)} 字符，上限 {MAX_HTML_CHARS}）"
    if nesting_depth(html, stop_at=MAX_HTML_DEPTH) > MAX_HTML_DEPTH:
        return f"HTML 正文嵌套过深（超过 {MAX_HTML_DEPTH} 层）"
    return None


def sanitize_html(html: str) -> str | None:
    """Mail HTML -> an HTML fragment safe to show inside the agent's page; None when it is over the
    budget (too_complex), and then only its text version may be shown."""
    if too_complex(html):
        return None
    clean = nh3.clean(
        html,
        tags=_HTML_TAGS,
        clean_content_tags=_HTML_DROP,
        attributes=_HTML_ATTRIBUTES,
        attribute_filter=_html_attribute_filter,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        url_relative="deny",
        filter_style_properties=_HTML_STYLES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    # an image whose remote source was removed would show as a broken-image icon
    return _IMAGE_WITHOUT_SOURCE.sub("", clean).strip()


#: the document around a stored, sanitised body, for the ticket page's sandboxed iframe (srcdoc)
MAIL_DOC_HEAD = (
    '<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
    '<base target="_blank"><style>body{font:14px/1.6 "Noto Sans CJK SC","Microsoft YaHei",sans-serif;'
    "margin:6px;color:#1d2530;word-break:break-word}img{max-width:100%;height:auto}table{max-width:100%}"
    "</style></head><body>"
)


# fmt: off
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
    "thead", "tfoot", "tr", "ul",
}
# fmt: on
_SKIP_TAGS = {"script", "style", "title", "head", "template", "xml", "noscript", "svg", "math"}


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML body; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0

    def _newline(self, count: int = 1) -> None:
        tail = "".join(self.out[-3:])
        missing = count - (len(tail) - len(tail.rstrip("\n")))
        if self.out and missing > 0:
            self.out.append("\n" * missing)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("td", "th"):
            if self.out and not self.out[-1].endswith("\n"):
                self.out.append("\t")
        elif tag in _BLOCK_TAGS:
            self._newline(2 if tag in ("p", "table", "blockquote", "pre") else 1)
            if tag == "pre":
                self.pre += 1
            elif tag == "li":
                self.out.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._newline(2 if tag in ("p", "table", "blockquote", "pre") else 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)  # HTML whitespace collapses
            if not self.out or self.out[-1].endswith(("\n", "\t")):
                data = data.lstrip(" ")
        if data:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: no script or style, block elements on their own lines.

    Within the budget, nh3 first reduces the markup to the few well-formed tags that shape the text
    (HTMLParser is quadratic on unterminated tags, html5ever is not); over it, tags are stripped by
    one linear regular expression.
    """
    if too_complex(html):
        return _stripped_text(html)
    shaped = nh3.clean(
        html, tags=_BLOCK_TAGS | {"br", "td", "th"}, clean_content_tags=_SKIP_TAGS, attributes={}
    )
    parser = _TextExtractor()
    try:
        parser.feed(shaped)
        parser.close()
        text = "".join(parser.out)
    except Exception:  # html.parser is lenient, but a parser bug must not lose the mail
        return _stripped_text(html)
    text = text.replace("\xa0", " ")
    lines = [line.rstrip(" \t") for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_ANY_TAG = re.compile(
    r"<[^<>]*>"
)  # [^<>]: an unterminated "<" costs one scan to the next "<", not to the end
_DROPPED_CONTENT = re.compile(r"(?is)<(script|style|title|head)\b[^<>]*>[^<]*")


_BREAKING_TAG = re.compile(r"(?i)</?(?:p|div|br|tr|li|h[1-6]|table|blockquote|pre|hr|ul|ol)\b[^<>]*>")


def _stripped_text(html: str) -> str:
    """The text of HTML too large or deep to parse: tags removed, entities decoded, linear time."""
    text = _ANY_TAG.sub("", _BREAKING_TAG.sub("\n", _DROPPED_CONTENT.sub("", html)))
    text = html_lib.unescape(text).replace("\xa0", " ")
    return re.sub(r"[ \t]*\n[ \t\n]*\n", "\n\n", re.sub(r"[ \t\r\f\v]+", " ", text)).strip()


def sniff_html_charset(data: bytes) -> str | None:
    """The charset a <meta> tag in the first 4 KB declares, if any."""
    match = re.search(rb"""(?i)<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", data[:4096])
    return match[1].decode("ascii") if match else None
