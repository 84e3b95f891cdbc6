"""Email templates: packaged defaults an admin can override file by file, checked at start-up.

Each message has an ``.html`` and a ``.txt`` template using ``string.Template`` placeholders
(``$name``). Values substituted into HTML are escaped. An override folder may hold any of the
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


class Templates:
    """The loaded templates; :meth:`render` gives (text, html) for a message."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self._text: dict[str, Template] = {}
        self._html: dict[str, Template] = {}
        for name, allowed in TEMPLATE_NAMES.items():
            for suffix, table in ((".txt", self._text), (".html", self._html)):
                filename = name + suffix
                source, text = _load(filename, override_dir)
                template = Template(text)
                sample = dict.fromkeys(allowed, "x")
                try:
                    template.substitute(sample)
                except KeyError as exc:
                    raise ValueError(
                        f"{source}: unknown placeholder ${exc.args[0]} (allowed: {', '.join(sorted(allowed))})"
                    ) from None
                except ValueError as exc:
                    raise ValueError(f"{source}: {exc}") from None
                table[name] = template

    def render(self, name: str, values: Mapping[str, str]) -> tuple[str, str]:
        """(plain text, HTML) of template ``name``; HTML values are escaped."""
        escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
        return self._text[name].substitute(values), self._html[name].substitute(escaped)


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
