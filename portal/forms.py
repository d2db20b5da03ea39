"""The base of every portal form: text that cannot be stored is refused before anything else.

PostgreSQL refuses a NUL byte in text with an error (it was a 500, raised again inside the
500 page); SQLite stored it. Other control characters are invisible on a page, break the
CSV exports and Xero's fields, and no person types them. So every submitted value of every
field (nested line forms included) is checked first; a form holding one is invalid with a
field error on that field, and no other validator runs, so none of them (some query the
database) ever sees the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, FieldList, FormField, TextAreaField

UNSTORABLE_MESSAGE = "This contains a character that cannot be stored."
#: Also at the top of the form: a check box or hidden field shows no error of its own.
UNSTORABLE_FORM_MESSAGE = (
    "Some of what was sent contains a character that cannot be stored (a control "
    "character such as NUL). Remove it and try again."
)

#: One-line fields: C0 controls, DEL, C1 controls, and the Unicode line and paragraph
#: separators (JavaScript and some CSV readers take them for line breaks).
UNSTORABLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Multi-line fields (``TextAreaField``): the same, except tab, LF and CR, which are text.
UNSTORABLE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def unstorable(value: str, *, multiline: bool = False) -> bool:
    """True when ``value`` holds a character no text field may keep."""
    return bool((UNSTORABLE_TEXT if multiline else UNSTORABLE_LINE).search(value))


def unstorable_fields(fields: Iterable[Field]) -> Iterator[Field]:
    """The fields (nested ones included) whose submitted values hold such a character.

    It reads ``raw_data``, what the request sent, so every kind of field is covered (a
    date, a select, a hidden id), not only the text ones.
    """
    for field in fields:
        if isinstance(field, FormField):
            yield from unstorable_fields(field.form)
        elif isinstance(field, FieldList):
            yield from unstorable_fields(field.entries)
        else:
            multiline = isinstance(field, TextAreaField)
            if any(
                isinstance(value, str) and unstorable(value, multiline=multiline)
                for value in field.raw_data or ()
            ):
                yield field


class PortalForm(FlaskForm):
    """Every form of the portal derives from this (tests/portal/test_hostile_input.py checks)."""

    def validate(self, extra_validators: Any = None) -> bool:
        refused = list(unstorable_fields(self))
        if not refused:
            return bool(super().validate(extra_validators))
        for field in refused:
            field.errors = [UNSTORABLE_MESSAGE]
        _gather_list_errors(self)
        self.form_errors = [UNSTORABLE_FORM_MESSAGE]
        return False


def _gather_list_errors(fields: Iterable[Field]) -> None:
    """What ``FieldList.validate`` would have collected, so ``form.errors`` names the lines."""
    for field in fields:
        if isinstance(field, FormField):
            _gather_list_errors(field.form)
        elif isinstance(field, FieldList):
            _gather_list_errors(field.entries)
            field.errors = [entry.errors for entry in field.entries if entry.errors]
