"""Server-rendered pages from ``templates/`` (Jinja, autoescaped)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """The wheel ships the templates inside the package; a source checkout (the editable dev
    install) keeps them at the top level, two folders above the package."""
    shipped = _PACKAGE / "templates"
    return shipped if shipped.is_dir() else _PACKAGE.parents[1] / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_page(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)
