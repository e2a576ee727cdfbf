"""Server-rendered pages from the package's ``templates/`` (Jinja, autoescaped)."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mcp_gatekeeper", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_page(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)
