"""How deep an HTML fragment nests, found in one linear pass before the sanitiser sees it.

html5ever (inside nh3) takes time quadratic in the nesting depth: 40,000 nested `<div>` cost 7 s. This
scan follows the HTML tokenizer where it decides what is a tag (comments, quoted attribute values,
raw-text elements such as `<style>` and `<script>`) and counts open elements. Where it cannot be sure
what the real parser will do, it errs towards a deeper count, never a shallower one:

- an end tag closes an element only when that element is the innermost open one, or only elements
  whose end tags are optional (`<p>`, `<li>`, `<td>` ...) lie inside it;
- a self-closing `<x/>` that is not a void element counts as open (HTML ignores the slash);
- inside `<svg>`, `<math>` or `<select>` (and for `<noscript>`), where a raw-text element may or may
  not be raw text, every `<letter` in its content counts as one more open element, for good.

It runs in a worker thread beside the web server's event loop, so it searches 64 KiB at a time: no
single regex call holds the interpreter lock for long, whatever the input.
"""

from __future__ import annotations

import re

_WS = "\t\n\f\r "  # the HTML tokenizer's whitespace (NBSP and other Unicode spaces are not)
# one attribute, or the spaces and slashes between them (a quote opens a value only after '=')
_ATTRIBUTE = (
    rf"""(?:[{_WS}/]+|[^{_WS}/>][^{_WS}/=>]*(?:[{_WS}]*=[{_WS}]*(?:"[^"]*"?|'[^']*'?|[^{_WS}>]*))?)"""
)
# a comment, a bogus comment (or doctype), or a start or end tag with its first attributes; the rest of a
# tag with very many attributes is read by _MORE_ATTRIBUTES, a bounded number per call
_TOKEN = re.compile(rf"<(?:(!--)|([!?]|/(?![A-Za-z]))|(/?)([A-Za-z][^{_WS}/>]*){_ATTRIBUTE}{{0,64}}>?)")
_MORE_ATTRIBUTES = re.compile(rf"{_ATTRIBUTE}{{0,64}}>?")
_MARKUP = re.compile(r"<[!?/A-Za-z]")
_WINDOW = 1 << 16  # characters per search: no single regex call holds the interpreter lock for long
_COMMENT_END = re.compile(r"--!?>")
_LETTER_TAG = re.compile(r"<[A-Za-z]")
_SCRIPT_EVENTS = re.compile(rf"<!--|-->|<(/?)script(?=[{_WS}/>])", re.IGNORECASE)

_VOID = frozenset(
    {"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input",
     "keygen", "link", "meta", "param", "source", "track", "wbr"}
)  # fmt: skip
_VOID_IN_FOREIGN = frozenset({"br", "embed", "hr", "image", "img", "meta"})  # these leave <svg> first
_RAW = frozenset(
    {"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"}
)
_FOREIGN = frozenset({"svg", "math"})
_UNSURE = frozenset({"svg", "math", "select"})
# elements whose end tag is optional, and the start tags that close them when they are innermost (only
# where the parser closes them in any context: <optgroup> and <rt> close their kind only inside <select>
# and <ruby>, so here they close nothing)
_ENDS_P = frozenset(
    {"address", "article", "aside", "blockquote", "center", "dd", "details", "dialog", "dir", "div", "dl",
     "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
     "hgroup", "li", "listing", "main", "menu", "nav", "ol", "p", "plaintext", "pre", "search", "section",
     "summary", "ul", "xmp"}
)  # fmt: skip
_SECTIONS = frozenset({"tbody", "thead", "tfoot"})
_CLOSED_BY: dict[str, frozenset[str]] = {
    "p": _ENDS_P,
    "li": frozenset({"li"}),
    "dt": frozenset({"dd", "dt"}),
    "dd": frozenset({"dd", "dt"}),
    "option": frozenset({"option", "optgroup"}),
    "optgroup": frozenset(),
    "tr": frozenset({"tr", *_SECTIONS}),
    "td": frozenset({"td", "th", "tr", *_SECTIONS}),
    "th": frozenset({"td", "th", "tr", *_SECTIONS}),
    **dict.fromkeys(_SECTIONS, _SECTIONS),
    **dict.fromkeys(("rb", "rp", "rt", "rtc"), frozenset()),
}
_OPTIONAL_END = frozenset(_CLOSED_BY)
_SIBLINGS = frozenset(name for name, closers in _CLOSED_BY.items() if name in closers)
_UNKNOWN = ""  # an element counted where the scan cannot tell; no end tag closes it


class _Stack:
    """Open elements, innermost last, with a count of those that change how raw text is read."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.unsure = 0
        self.foreign = 0

    def push(self, name: str) -> None:
        self.names.append(name)
        if name in _UNSURE:
            self.unsure += 1
            self.foreign += name in _FOREIGN

    def pop_to(self, index: int) -> None:
        for name in self.names[index:]:
            self.unsure -= name in _UNSURE
            self.foreign -= name in _FOREIGN
        del self.names[index:]

    def start(self, name: str) -> None:
        names = self.names
        while names and names[-1] in _OPTIONAL_END and name in _CLOSED_BY[names[-1]]:
            self.pop_to(len(names) - 1)
        self.push(name)

    def end(self, name: str) -> None:
        names = self.names
        for index in range(len(names) - 1, -1, -1):
            if names[index] == name:
                self.pop_to(index)
                return
            if names[index] not in _OPTIONAL_END:
                return  # an element without an optional end tag lies inside: keep it all open


def exceeds_depth(html: str, limit: int) -> bool:
    """True as soon as more than `limit` elements are open at once (the scan stops there)."""
    stack = _Stack()
    pos = 0
    while (markup := _MARKUP.search(html, pos, pos + _WINDOW) or _find(_MARKUP, html, pos, 2)) is not None:
        found = _TOKEN.match(html, markup.start())
        assert found is not None  # every start _MARKUP finds is one of _TOKEN's
        comment, bogus, closing, name = found.groups()
        pos = found.end()
        if comment:
            pos = _comment_end(html, found.start())
            continue
        if bogus:  # bogus comment or doctype: up to the next '>'
            close = html.find(">", pos)
            pos = len(html) if close < 0 else close + 1
            continue
        while pos < len(html) and html[pos - 1] != ">":  # only an attribute list of over 64 items
            pos = _MORE_ATTRIBUTES.match(html, pos).end()  # type: ignore[union-attr] # matches ""
        name = name.lower()
        names = stack.names
        if closing:
            if names and names[-1] == name and name not in _UNSURE:  # the common case, quickly
                names.pop()
            else:
                stack.end(name)
            continue
        if name in _VOID and (not stack.foreign or name in _VOID_IN_FOREIGN):
            continue
        if names and names[-1] == name and name in _SIBLINGS:  # <li> after <li>: one closes, one opens
            continue
        stack.start(name)
        if name in _RAW:
            pos = _raw_text(html, pos, name, stack, limit)
        if len(stack.names) > limit:
            return True
    return False


def _find(pattern: re.Pattern[str], html: str, pos: int, reach: int, end: int = -1) -> re.Match[str] | None:
    """pattern.search(html, pos, end), a window at a time; `reach` is the longest text a match spans."""
    end = len(html) if end < 0 else end
    while pos < end:
        found = pattern.search(html, pos, min(end, pos + _WINDOW + reach))
        if found is not None:
            return found
        pos += _WINDOW
    return None


def _comment_end(html: str, start: int) -> int:
    after = start + 4
    if html.startswith(">", after):  # "<!-->" is a whole (empty) comment
        return after + 1
    if html.startswith("->", after):
        return after + 2
    close = _find(_COMMENT_END, html, after, 4)
    return len(html) if close is None else close.end()


def _raw_text(html: str, pos: int, name: str, stack: _Stack, limit: int) -> int:
    """Skip the text of a raw-text element; returns where its end tag starts (or the end)."""
    end = _script_end(html, pos) if name == "script" else _end_tag(html, pos, name)
    if stack.unsure or name == "noscript":  # maybe markup after all: count what could be an element
        stack.push(_UNKNOWN)
        while len(stack.names) <= limit and (tag := _find(_LETTER_TAG, html, pos, 2, end)) is not None:
            stack.push(_UNKNOWN)
            pos = tag.end()
    return end


def _end_tag(html: str, pos: int, name: str) -> int:
    if name == "plaintext":
        return len(html)
    found = _find(re.compile(rf"</{name}(?=[{_WS}/>])", re.IGNORECASE), html, pos, len(name) + 3)
    return len(html) if found is None else found.start()


def _script_end(html: str, pos: int) -> int:
    """Script text ends at "</script", except inside "<!-- <script>" (the tokenizer's escape states)."""
    data, escaped, double = 0, 1, 2
    state = data
    while (event := _find(_SCRIPT_EVENTS, html, pos, 9)) is not None:
        token = event[0]
        pos = event.start() + 1
        if token == "<!--":
            state = escaped if state == data else state
            pos = event.start() + 2  # its dashes may begin the "-->" that ends it ("<!-->")
        elif token == "-->":
            state = data
        elif event[1]:  # </script
            if state != double:
                return event.start()
            state = escaped
        elif state == escaped:  # <script
            state = double
    return len(html)
