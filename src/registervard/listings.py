"""Columns for the tables the list commands print, so that nothing needed to act on a row is ever cut.

Rich shrinks a table to the terminal (80 columns when the output is a pipe) and
cuts what does not fit with an ellipsis: "UNKNOWN_CUS…", a key id that
`apikeys revoke` then does not know. A value an operator types back (an id, a
ref, a code) goes in a `whole` column, at least as wide as its widest value and
never wrapped; free text goes in a `folded` column, which wraps (and folds a
word too long for it) instead of cutting.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Column


def whole(header: str, values: Iterable[str]) -> Column:
    """A column whose values are never cut nor wrapped: as wide as the widest value (or the header)."""
    width = max((len(line) for value in values for line in value.splitlines()), default=0)
    return Column(header, no_wrap=True, min_width=max(width, *(len(line) for line in header.splitlines())))


def folded(header: str, *, min_width: int | None = None, ratio: int | None = None) -> Column:
    """A column of free text that wraps at words, and folds a word too long for it, rather than being cut."""
    return Column(header, overflow="fold", min_width=min_width, ratio=ratio)
