"""Email templates: packaged defaults an admin can override file by file, checked at start-up.

Each message has an ``.html`` and a ``.txt`` template using ``string.Template`` placeholders
(``$name``). Values substituted into HTML are escaped, and the HTML part is set in ``layout.html``
(the frame with header and footer; ``$content`` is the message). An override folder may hold any of the
files; a file there wins over the packaged one. Every template is rendered once with sample
values when loaded, so a typo in a placeholder fails at start-up, naming the file and the
placeholder, instead of at the first warning.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from string import Template

#: Template name → the placeholders it may use.
TEMPLATE_NAMES: Mapping[str, frozenset[str]] = {
    "warning": frozenset(
        {"name", "product", "headline", "intro", "deadline", "last_used", "contact", "link", "link_label"}
    ),
    "actioned": frozenset({"name", "product", "headline", "intro", "contact", "link", "link_label"}),
    "notice": frozenset({"headline", "body", "contact"}),
}

#: The HTML frame every message's HTML part is set in (header, footer); ``$content`` is the message.
LAYOUT = "layout.html"
LAYOUT_NAMES: frozenset[str] = frozenset({"headline", "content", "contact"})


class Templates:
    """The loaded templates; :meth:`render` gives (text, html) for a message."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self._text: dict[str, Template] = {}
        self._html: dict[str, Template] = {}
        for name, allowed in TEMPLATE_NAMES.items():
            for suffix, table in ((".txt", self._text), (".html", self._html)):
                table[name] = _checked(name + suffix, allowed, override_dir)
        self._layout = _checked(LAYOUT, LAYOUT_NAMES, override_dir)

    def render(self, name: str, values: Mapping[str, str]) -> tuple[str, str]:
        """(plain text, HTML) of template ``name``; HTML values are escaped, then set in the layout."""
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        content = self._html[name].substitute(escaped)
        page = self._layout.substitute(headline=escaped["headline"], contact=escaped["contact"], content=content)
        return self._text[name].substitute(values), page


def _checked(filename: str, allowed: frozenset[str], override_dir: Path | None) -> Template:
    """Load ``filename`` and render it once with sample values, so a typo fails at start-up."""
    source, text = _load(filename, override_dir)
    template = Template(text)
    try:
        template.substitute(dict.fromkeys(allowed, "x"))
    except KeyError as exc:
        raise ValueError(
            f"{source}: unknown placeholder ${exc.args[0]} (allowed: {', '.join(sorted(allowed))})"
        ) from None
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    return template


def _load(filename: str, override_dir: Path | None) -> tuple[str, str]:
    if override_dir is not None:
        candidate = override_dir / filename
        if candidate.is_file():
            try:
                return str(candidate), candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"{candidate}: cannot be read ({exc})") from None
    packaged = resources.files("adapters.email").joinpath("templates", filename)
    return f"adapters/email/templates/{filename}", packaged.read_text(encoding="utf-8")
