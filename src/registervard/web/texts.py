"""The console's words: every label is in `web/texts/*.<lang>.toml`, Swedish first, English available.

Each TOML file holds tables of labels; `texts(lang)` flattens them to dotted keys
(`[search] title = ...` is `t["search.title"]`) and merges every file of the
language. A key missing in a language falls back to Swedish, so a page never
shows a bare key because a translation lags.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

TEXTS_DIR = Path(__file__).resolve().parent / "texts"
LANGUAGES: tuple[str, ...] = ("sv", "en")
"""The console's languages; the first is the default."""
DEFAULT_LANGUAGE = LANGUAGES[0]


def language(value: str | None) -> str:
    """`value` if it is a language the console speaks, else the default (Swedish)."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


@cache
def texts(lang: str) -> Mapping[str, str]:
    """Every label for `lang` (sv or en), keyed by dotted name; labels missing in `lang` are the Swedish ones."""
    merged: dict[str, str] = {} if lang == DEFAULT_LANGUAGE else dict(texts(DEFAULT_LANGUAGE))
    for path in sorted(TEXTS_DIR.glob(f"*.{language(lang)}.toml")):
        with path.open("rb") as file:
            merged.update(_flatten(tomllib.load(file)))
    return MappingProxyType(merged)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat
