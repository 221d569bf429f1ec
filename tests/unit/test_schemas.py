"""The schemas are the contract: they match the event classes, document every field, and evolve compatibly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import avro.name
import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from events.catalog import EVENT_TYPES
from events.schemas import schema_dir

SCHEMAS = schema_dir()
RELEASED = sorted(p for p in (SCHEMAS / "released").iterdir() if p.is_dir())


def load_avro(folder: Path, name: str, *, edit=None) -> avro.schema.Schema:
    names = avro.name.Names()
    avro.schema.make_avsc_object(json.loads((folder / "common.avsc").read_text()), names)
    path = folder / "events" / f"{name}.avsc"
    document = json.loads((path if path.exists() else folder / f"{name}.avsc").read_text())
    if edit:
        edit(document)
    return avro.schema.make_avsc_object(document, names)


def compatible(reader: avro.schema.Schema, writer: avro.schema.Schema) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    return result.compatibility is SchemaCompatibilityType.compatible


def event_schema(name: str) -> dict:
    return json.loads((SCHEMAS / "events" / f"{name}.avsc").read_text())


def test_every_event_class_has_exactly_one_schema_file():
    files = {p.stem for p in (SCHEMAS / "events").glob("*.avsc")}
    assert files == set(EVENT_TYPES)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_an_event_class_has_the_fields_of_its_schema_in_order_with_the_same_defaults(name):
    schema_fields = event_schema(name)["fields"]
    class_fields = dataclasses.fields(EVENT_TYPES[name])
    assert [f["name"] for f in schema_fields] == [f.name for f in class_fields]
    for schema_field, class_field in zip(schema_fields, class_fields, strict=False):
        has_default = class_field.default is not dataclasses.MISSING
        assert ("default" in schema_field) == has_default, f"{name}.{class_field.name}"


def _undocumented(schema, path: str) -> list[str]:
    if isinstance(schema, list):
        return [m for branch in schema for m in _undocumented(branch, path)]
    if not isinstance(schema, dict):
        return []
    missing = [] if schema.get("doc") or schema.get("type") not in ("record", "enum") else [path]
    for field in schema.get("fields", []):
        if not field.get("doc"):
            missing.append(f"{path}.{field['name']}")
        missing += _undocumented(field["type"], f"{path}.{field['name']}")
    return missing


def test_every_field_and_named_type_has_a_doc():
    documents = [(p.stem, json.loads(p.read_text())) for p in sorted(SCHEMAS.glob("**/*.avsc")) if "released" not in p.parts]
    assert [m for name, doc in documents for m in _undocumented(doc, name)] == []


# A schema new since a release has no older writer to be compatible with.
RELEASED_SCHEMAS = [
    (release, path.stem) for release in RELEASED for path in sorted(release.glob("**/*.avsc")) if path.name != "common.avsc"
]


@pytest.mark.parametrize(("release", "name"), RELEASED_SCHEMAS, ids=lambda v: getattr(v, "name", v))
def test_todays_schema_reads_what_a_release_wrote_and_the_release_reads_what_we_write(release, name):
    current, old = load_avro(SCHEMAS, name), load_avro(release, name)
    assert compatible(reader=current, writer=old), "backward incompatible: new readers cannot read old events"
    assert compatible(reader=old, writer=current), "forward incompatible: old readers cannot read new events"


def test_the_compatibility_check_catches_a_new_field_without_a_default():
    def add_required_field(document):
        document["fields"].append({"name": "floor", "type": "int", "doc": "Floor."})

    current = load_avro(SCHEMAS, "AddressChanged")
    changed = load_avro(SCHEMAS, "AddressChanged", edit=add_required_field)
    assert not compatible(reader=changed, writer=current)


def test_the_compatibility_check_catches_a_removed_enum_symbol():
    def drop_marriage(document):
        document["fields"][1]["type"]["symbols"].remove("MARRIAGE")
        document["fields"][1]["type"].pop("default")

    current = load_avro(SCHEMAS, "NameChanged")
    changed = load_avro(SCHEMAS, "NameChanged", edit=drop_marriage)
    assert not compatible(reader=changed, writer=current)
