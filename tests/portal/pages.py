"""Reading what a page says, for request tests: its text, and the errors beside a field."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_errors(response, field_id: str) -> list[str]:
    """The error messages rendered next to one field (between its input and the next label)."""
    page = response.get_data(as_text=True)
    start = page.index(f'id="{field_id}"')
    end = page.find("<label", start)
    chunk = page[start : end if end != -1 else len(page)]
    return [html.unescape(e) for e in re.findall(r"<li>(.*?)</li>", chunk, re.S)]
