"""Block Kit → HTML, for looking at what the bot publishes (tests and the README's pictures).

:func:`page` turns a view's blocks into a standalone HTML page styled like Slack's App Home;
:func:`blocks_html` gives the blocks alone. It knows header, section (text, ``fields``, a button or
image accessory), actions (buttons), context, divider and image blocks, and Slack's mrkdwn: ``*bold*``,
``_italic_``, ``~strike~``, ```code```, ``<url|label>`` links, mentions and line breaks. Every piece
of text is HTML-escaped before mrkdwn is applied. A block type, element, text type or key it does not
know raises :class:`UnknownBlockKit`, so nothing new vanishes from the picture unnoticed.

Images are shown when their URL is a ``file:`` or ``data:image/`` URL; any other URL becomes a
placeholder box labelled with the alt text (the page never fetches from the network).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Block = Mapping[str, Any]


class UnknownBlockKit(ValueError):
    """A block, element, text object or key the renderer does not know (or a block Slack would refuse)."""


#: The keys each block type may carry.
BLOCK_KEYS: dict[str, frozenset[str]] = {
    "header": frozenset({"type", "block_id", "text"}),
    "section": frozenset({"type", "block_id", "text", "fields", "accessory"}),
    "actions": frozenset({"type", "block_id", "elements"}),
    "context": frozenset({"type", "block_id", "elements"}),
    "divider": frozenset({"type", "block_id"}),
    "image": frozenset({"type", "block_id", "image_url", "alt_text", "title"}),
}
TEXT_KEYS = frozenset({"type", "text", "emoji", "verbatim"})
BUTTON_KEYS = frozenset({"type", "text", "action_id", "value", "style", "url", "confirm", "accessibility_label"})
IMAGE_KEYS = frozenset({"type", "image_url", "alt_text"})
BUTTON_STYLES = {None: "", "primary": " bk-primary", "danger": " bk-danger"}
#: The few emoji shortcodes the bot writes; any other stays ``:name:`` (as Slack shows unknown ones).
EMOJI = {"warning": "⚠️", "no_entry_sign": "🚫", "white_check_mark": "✅", "x": "❌", "hourglass": "⌛"}
LINK_SCHEMES = ("https://", "http://", "mailto:")
_HOLD_OPEN, _HOLD_CLOSE = "\ue000", "\ue001"
_HELD = re.compile(f"{_HOLD_OPEN}(\\d+){_HOLD_CLOSE}")
_SLACK_ENTITY = re.compile(r"&(amp|lt|gt);")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


def _checked(thing: Block, known: frozenset[str], what: str) -> Block:
    if not isinstance(thing, Mapping):
        raise UnknownBlockKit(f"{what}: expected an object, got {thing!r}")
    unknown = sorted(set(thing) - known)
    if unknown:
        raise UnknownBlockKit(f"{what}: unknown key(s) {unknown}")
    return thing


def slack_unescape(text: str) -> str:
    """Undo Slack's own escaping (``&amp;``, ``&lt;``, ``&gt;``) in one pass."""
    return _SLACK_ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def _words(text: str) -> str:
    """Slack-escaped text as HTML text."""
    return html.escape(slack_unescape(text))


def _emoji(escaped: str) -> str:
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), escaped)


def _angle(inner: str) -> str:
    """One of Slack's ``<…>`` sequences: a link, a mention, a channel, a special mention or a date."""
    target, _, label = inner.partition("|")
    shown = _words(label or target)
    if target[:1] in ("@", "#"):
        return f'<span class="bk-mention">{target[0]}{_words(label or target[1:])}</span>'
    if target.startswith("!"):  # <!here>, <!channel>, <!date^…|fallback>, <!subteam^…|@team>
        return f'<span class="bk-mention">{shown if label else "@" + _words(target[1:].split("^")[0])}</span>'
    url = slack_unescape(target)
    if not url.lower().startswith(LINK_SCHEMES):
        return shown  # not a link Slack would open: only its words
    return f'<a class="bk-link" href="{html.escape(url)}">{shown}</a>'


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as HTML: escaped first, then links, code, bold, italic, strike and line breaks."""
    held: list[str] = []

    def hold(fragment: str) -> str:
        held.append(fragment)
        return f"{_HOLD_OPEN}{len(held) - 1}{_HOLD_CLOSE}"

    text = text.replace(_HOLD_OPEN, "\ufffd").replace(_HOLD_CLOSE, "\ufffd")
    text = re.sub(r"<([^<>\n]+)>", lambda m: hold(_angle(m.group(1))), text)
    text = html.escape(slack_unescape(text))
    text = re.sub(r"```\n?(.+?)```", lambda m: hold(f'<pre class="bk-pre">{m.group(1)}</pre>'), text, flags=re.S)
    text = re.sub(r"`([^`\n]+)`", lambda m: hold(f'<code class="bk-code">{m.group(1)}</code>'), text)
    text = _emoji(text)
    for mark, tag in (("*", "b"), ("_", "i"), ("~", "s")):
        m = re.escape(mark)
        pattern = rf"(?<![\w{m}]){m}(?!\s)([^{m}\n]+?)(?<!\s){m}(?![\w{m}])"
        text = re.sub(pattern, rf"<{tag}>\1</{tag}>", text)
    text = text.replace("\n", "<br>")
    while _HELD.search(text):
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return text


def text_object(obj: Block, *, plain_only: bool = False) -> str:
    """A ``plain_text`` or ``mrkdwn`` text object as HTML."""
    _checked(obj, TEXT_KEYS, "text object")
    kind, text = obj.get("type"), obj.get("text")
    if not isinstance(text, str):
        raise UnknownBlockKit(f"text object without text: {obj!r}")
    if kind == "plain_text":
        escaped = html.escape(text).replace("\n", "<br>")
        return _emoji(escaped) if obj.get("emoji", True) else escaped
    if kind == "mrkdwn" and not plain_only:
        return mrkdwn(text)
    raise UnknownBlockKit(f"text object of type {kind!r} is not allowed here")


def _image_tag(url: Any, alt: Any, css: str) -> str:
    if not isinstance(url, str) or not isinstance(alt, str):
        raise UnknownBlockKit(f"an image needs image_url and alt_text: {url!r}, {alt!r}")
    if url.startswith(("file:", "data:image/")):
        return f'<img class="{css}" src="{html.escape(url)}" alt="{html.escape(alt)}">'
    return f'<div class="{css} bk-placeholder" role="img">Image: {html.escape(alt)}</div>'


def button(element: Block) -> str:
    """A button element (default, ``primary`` green or ``danger`` red)."""
    _checked(element, BUTTON_KEYS, "button")
    style = element.get("style")
    if style not in BUTTON_STYLES:
        raise UnknownBlockKit(f"button style {style!r}")
    label = text_object(element.get("text") or {}, plain_only=True)
    return f'<button type="button" class="bk-button{BUTTON_STYLES[style]}">{label}</button>'


def _element(element: Block, where: str) -> str:
    kind = element.get("type") if isinstance(element, Mapping) else None
    if kind == "button" and where in ("actions", "accessory"):
        return button(element)
    if kind == "image" and where in ("context", "accessory"):
        _checked(element, IMAGE_KEYS, "image element")
        css = "bk-context-image" if where == "context" else "bk-accessory-image"
        return _image_tag(element.get("image_url"), element.get("alt_text"), css)
    if kind in ("mrkdwn", "plain_text") and where == "context":
        return f'<span class="bk-context-text">{text_object(element)}</span>'
    raise UnknownBlockKit(f"{where}: unknown element {element!r}")


def _header(block: Block) -> str:
    return f'<h2 class="bk-header">{text_object(block.get("text") or {}, plain_only=True)}</h2>'


def _section(block: Block) -> str:
    text, fields, accessory = block.get("text"), block.get("fields"), block.get("accessory")
    if text is None and not fields:
        raise UnknownBlockKit("a section needs text or fields")
    body = f'<div class="bk-text">{text_object(text)}</div>' if text is not None else ""
    if fields:
        cells = "".join(f'<div class="bk-field">{text_object(f)}</div>' for f in fields)
        body += f'<div class="bk-fields">{cells}</div>'
    aside = f'<div class="bk-accessory">{_element(accessory, "accessory")}</div>' if accessory is not None else ""
    return f'<div class="bk-section"><div class="bk-section-body">{body}</div>{aside}</div>'


def _elements(block: Block, where: str) -> str:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        raise UnknownBlockKit(f"{where} block without elements")
    return "".join(_element(e, where) for e in elements)


def _actions(block: Block) -> str:
    return f'<div class="bk-actions">{_elements(block, "actions")}</div>'


def _context(block: Block) -> str:
    return f'<div class="bk-context">{_elements(block, "context")}</div>'


def _divider(block: Block) -> str:
    return '<hr class="bk-divider">'


def _image(block: Block) -> str:
    title = block.get("title")
    caption = f'<div class="bk-image-title">{text_object(title, plain_only=True)}</div>' if title else ""
    return f'<div class="bk-image">{caption}{_image_tag(block.get("image_url"), block.get("alt_text"), "bk-img")}</div>'


RENDERERS: dict[str, Callable[[Block], str]] = {
    "header": _header,
    "section": _section,
    "actions": _actions,
    "context": _context,
    "divider": _divider,
    "image": _image,
}


def block_html(block: Block) -> str:
    """One block as HTML; raises :class:`UnknownBlockKit` on anything it does not know."""
    kind = block.get("type") if isinstance(block, Mapping) else None
    if kind not in RENDERERS:
        raise UnknownBlockKit(f"unknown block type {kind!r}")
    _checked(block, BLOCK_KEYS[kind], f"{kind} block")
    return RENDERERS[kind](block)


def blocks_html(blocks: Iterable[Block]) -> str:
    """The blocks, one after the other."""
    return "\n".join(block_html(b) for b in blocks)


def page(blocks: Iterable[Block], *, app_name: str = "jira-cleanup", title: str = "App Home") -> str:
    """A standalone HTML page: the app's name and tabs (Home selected) above the blocks, as in Slack."""
    name = html.escape(app_name)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style></head>
<body><main class="app-home">
<div class="app-bar"><span class="app-icon">{name[:1].upper()}</span><span class="app-name">{name}</span></div>
<nav class="app-tabs"><span class="app-tab app-tab-active">Home</span><span class="app-tab">Messages</span>
<span class="app-tab">About</span></nav>
<div class="bk-view">
{blocks_html(blocks)}
</div></main></body></html>
"""


CSS = """
* { box-sizing: border-box; }
html, body { margin: 0; background: #fff; }
body { font-family: Lato, "Slack-Lato", "Helvetica Neue", Helvetica, Arial, "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.46668; color: #1d1c1d; -webkit-font-smoothing: antialiased; }
.app-home { padding: 0 0 16px; }
.app-bar { display: flex; align-items: center; gap: 10px; padding: 14px 20px 8px; }
.app-icon { width: 28px; height: 28px; border-radius: 6px; background: #4a154b; color: #fff;
  font-weight: 900; font-size: 15px; display: inline-flex; align-items: center; justify-content: center; }
.app-name { font-weight: 900; font-size: 18px; }
.app-tabs { display: flex; gap: 22px; padding: 0 20px; border-bottom: 1px solid #dddddd; font-size: 13px; }
.app-tab { padding: 8px 0 7px; color: #616061; font-weight: 700; }
.app-tab-active { color: #1d1c1d; border-bottom: 2px solid #1264a3; }
.bk-view { padding: 8px 20px 0; }
.bk-header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 12px 0 4px; }
.bk-section { display: flex; align-items: flex-start; gap: 12px; margin: 8px 0; }
.bk-section-body { flex: 1; min-width: 0; overflow-wrap: anywhere; }
.bk-fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 4px; }
.bk-accessory { flex: none; }
.bk-accessory-image { width: 88px; height: 88px; border-radius: 6px; object-fit: cover; }
.bk-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.bk-button { font: inherit; font-size: 13px; font-weight: 700; line-height: 1; height: 28px; padding: 0 12px;
  border-radius: 4px; border: 1px solid rgba(29, 28, 29, 0.3); background: #fff; color: #1d1c1d;
  box-shadow: 0 1px 3px rgba(0, 0, 0, 0.08); }
.bk-primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.bk-danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
.bk-context { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 6px 0;
  font-size: 12px; line-height: 1.5; color: #616061; }
.bk-context-image { width: 20px; height: 20px; border-radius: 4px; }
.bk-divider { border: 0; border-top: 1px solid #dddddd; margin: 16px 0; }
.bk-image { margin: 12px 0; }
.bk-image-title { font-size: 15px; margin-bottom: 4px; }
.bk-img { display: block; max-width: 100%; max-height: 420px; border-radius: 8px; border: 1px solid #dddddd; }
.bk-placeholder { display: flex; align-items: center; justify-content: center; min-height: 88px; padding: 12px;
  border: 1px dashed #8d8d8d; border-radius: 8px; background: #f8f8f8; color: #616061; font-size: 13px; }
.bk-link { color: #1264a3; text-decoration: none; }
.bk-mention { color: #1264a3; background: rgba(29, 155, 209, 0.1); border-radius: 3px; padding: 0 2px; }
.bk-code { font-family: Monaco, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; color: #e01e5a;
  background: rgba(29, 28, 29, 0.04); border: 1px solid rgba(29, 28, 29, 0.13); border-radius: 3px;
  padding: 2px 3px 1px; }
.bk-pre { font-family: Monaco, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; margin: 4px 0;
  padding: 8px; background: rgba(29, 28, 29, 0.04); border: 1px solid rgba(29, 28, 29, 0.13); border-radius: 4px;
  white-space: pre-wrap; }
"""
