"""Built HTML pages -> their main content, title and plain text (pure; unit-tested).

Why: the portal shows docs inside its own layout (no theme scripts or styles), and search indexes the words
people read; both need the article part of each MkDocs page, not the theme's navigation around it.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_TEXT = 100_000
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_SKIP_TEXT = {"script", "style", "noscript", "template"}
_SPACE = re.compile(r"\s+")
# Tags that do not separate words; every other tag is a word boundary in the extracted text.
_INLINE = {"a", "abbr", "b", "code", "del", "em", "i", "ins", "kbd", "mark", "s", "small", "span", "strong", "sub",
           "sup", "u", "var", "q", "cite", "time"}


@dataclass
class Page:
    path: str        # URL path inside the site: "" for the home page, "guide/setup/" for others
    title: str
    body: str        # the main content's HTML, NOT sanitised (the portal sanitises when serving)
    text: str        # plain text for search


def _is_main(tag: str, attrs: dict[str, str | None]) -> bool:
    classes = (attrs.get("class") or "").split()
    if tag == "article" and "md-content__inner" in classes:     # material (techdocs-core)
        return True
    return attrs.get("role") == "main"                           # mkdocs and readthedocs themes


class _MainContent(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.depth = 0            # >0 while inside the main element
        self.done = False
        self.parts: list[str] = []
        self.text: list[str] = []
        self.skip = 0
        self.doc_title: list[str] = []
        self.in_title = False
        self.h1: list[str] | None = None
        self.in_h1 = False
        self.in_headerlink = 0

    def handle_starttag(self, tag: str, attrs_list: list) -> None:
        attrs = {k: v for k, v in attrs_list}
        if tag == "title" and not self.depth:
            self.in_title = True
        if self.done:
            return
        if not self.depth:
            if _is_main(tag, attrs):
                self.depth = 1
            return
        self.parts.append(self.get_starttag_text() or "")
        if tag not in _INLINE:
            self.text.append(" ")
        if tag in _VOID:
            return
        self.depth += 1
        if tag in _SKIP_TEXT:
            self.skip += 1
        if tag == "h1" and self.h1 is None:
            self.h1, self.in_h1 = [], True
        if tag == "a" and "headerlink" in (attrs.get("class") or "").split():
            self.in_headerlink += 1

    def handle_startendtag(self, tag: str, attrs_list: list) -> None:
        if self.depth and not self.done:
            self.parts.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if not self.depth or self.done or tag in _VOID:
            return
        self.depth -= 1
        if self.depth == 0:
            self.done = True
            return
        self.parts.append(f"</{tag}>")
        if tag not in _INLINE:
            self.text.append(" ")
        if tag in _SKIP_TEXT and self.skip:
            self.skip -= 1
        if tag == "h1":
            self.in_h1 = False
        if tag == "a" and self.in_headerlink:
            self.in_headerlink -= 1

    def _text(self, text: str) -> None:
        if self.in_title:
            self.doc_title.append(text)
        if self.depth and not self.done and not self.skip and not self.in_headerlink:
            self.text.append(text)
            if self.in_h1 and self.h1 is not None:
                self.h1.append(text)

    def handle_data(self, data: str) -> None:
        if self.depth and not self.done:
            self.parts.append(data)
        self._text(data)

    def handle_entityref(self, name: str) -> None:
        if self.depth and not self.done:
            self.parts.append(f"&{name};")
        self._text(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        if self.depth and not self.done:
            self.parts.append(f"&#{name};")
        self._text(html.unescape(f"&#{name};"))


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


_MATERIAL_ARTICLE = '<article class="md-content__inner'
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
_CHUNK = 16384


def extract(path: str, document: str, site_name: str = "") -> Page:
    """The main content of one built page; the whole body when no main element is found."""
    parser = _MainContent()
    start = document.find(_MATERIAL_ARTICLE)
    if start >= 0:
        # techdocs-core's material pages repeat the whole site nav before the article: skip straight to it
        # and stop at its end (a 200-page site's pages are mostly nav).
        title = _TITLE.search(document, 0, start)
        if title:
            parser.doc_title.append(html.unescape(title.group(1)))
        for i in range(start, len(document), _CHUNK):
            parser.feed(document[i:i + _CHUNK])
            if parser.done:
                break
    else:
        parser.feed(document)
    parser.close()
    if not parser.parts and not parser.depth and not parser.done:
        body_match = re.search(r"<body[^>]*>(.*)</body>", document, re.S | re.I)
        body = body_match.group(1) if body_match else document
        fallback = _MainContent()
        fallback.depth = 1
        fallback.feed(body)
        parser.parts, parser.text = fallback.parts, fallback.text
        parser.h1 = fallback.h1
    title = _clean("".join(parser.h1 or []))
    if not title:
        title = _clean("".join(parser.doc_title))
        if site_name and title.endswith(f" - {site_name}"):
            title = title[: -len(site_name) - 3]
    text = _clean("".join(parser.text))[:MAX_TEXT]
    return Page(path=path, title=title or path or "Home", body="".join(parser.parts).strip(), text=text)


def page_path(relative_file: str) -> str | None:
    """The URL path of a built HTML file (`guide/index.html` -> `guide/`); None for files that are not pages."""
    if not relative_file.endswith(".html") or relative_file == "404.html":
        return None
    if relative_file == "index.html":
        return ""
    if relative_file.endswith("/index.html"):
        return relative_file[: -len("index.html")]
    return relative_file
