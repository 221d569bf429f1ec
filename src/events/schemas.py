"""The Avro schemas in `schemas/`, parsed once, with their fingerprints.

`schemas/common.avsc` holds the named types every event shares;
`schemas/events/<Name>.avsc` holds one event each. Earlier releases are kept in
`schemas/released/<version>/` with the same layout, so that a message written
with an older schema can still be recognised by its fingerprint and read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro.schema import expand_schema, fingerprint, parse_schema, to_parsing_canonical_form


def schema_dir() -> Path:
    """Where the schema files live: `schemas/` in the source tree."""
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class Schema:
    """One parsed schema and how messages written with it are recognised."""

    name: str
    """Short name of the record, e.g. AddressChanged."""
    version: str
    """`current`, or the released version folder it came from."""
    parsed: dict[str, Any]
    """fastavro's parsed form, self-contained."""
    fingerprint: bytes
    """CRC-64-AVRO of the parsing canonical form, 8 bytes little-endian."""


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _parse_folder(folder: Path, version: str) -> dict[str, Schema]:
    named: dict[str, Any] = {}
    parse_schema(_read_json(folder / "common.avsc"), named_schemas=named)
    schemas: dict[str, Schema] = {}
    for path in sorted(folder.glob("events/*.avsc")) + sorted(folder.glob("*.avsc")):
        if path.name == "common.avsc":
            continue
        expanded = expand_schema(parse_schema(_read_json(path), named_schemas=dict(named)))
        canonical = to_parsing_canonical_form(expanded)
        parsed = parse_schema(expanded)
        assert isinstance(parsed, dict), f"{path} is not a record schema"  # each file holds one record; fastavro's type allows any schema
        schemas[path.stem] = Schema(
            name=path.stem,
            version=version,
            parsed=parsed,
            fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        )
    return schemas


@cache
def current() -> dict[str, Schema]:
    """The schemas producers write today, by record name."""
    return _parse_folder(schema_dir(), "current")


@cache
def released() -> dict[str, dict[str, Schema]]:
    """Every released version's schemas: {version: {name: Schema}}."""
    root = schema_dir() / "released"
    if not root.is_dir():
        return {}
    return {folder.name: _parse_folder(folder, folder.name) for folder in sorted(root.iterdir()) if folder.is_dir()}


@cache
def by_fingerprint() -> dict[bytes, Schema]:
    """Every schema a message may have been written with, current or released."""
    known: dict[bytes, Schema] = {}
    for schemas in released().values():
        for schema in schemas.values():
            known[schema.fingerprint] = schema
    for schema in current().values():
        known[schema.fingerprint] = schema
    return known
