"""`rim_text.object_bytes` writes exactly what lxml writes for `rim.write_object` (stored fragments must not
depend on which wrote them): every registry object of the conformance kits, and generated values."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.xdscore.kits import kit_registry_objects
from xdscore.ebrim import rim
from xdscore.ebrim.rim_text import object_bytes
from xdscore.model import RimClassification, RimExternalIdentifier, RimLocalized, RimObject, RimSlot

_OBJECTS = frozenset(rim.q(t) for t in ("ExtrinsicObject", "RegistryPackage", "Association", "Classification"))


def lxml_bytes(obj: RimObject) -> bytes:
    return etree.tostring(rim.write_object(obj), encoding="UTF-8", xml_declaration=False)


def kit_objects() -> list[RimObject]:
    return [rim.read_object(el) for el in kit_registry_objects(tuple(_OBJECTS))]


def test_every_object_of_the_conformance_kits() -> None:
    objects = kit_objects()
    assert len(objects) > 300  # the kits are there (a path mistake must not pass as "nothing differs")
    for obj in objects:
        assert object_bytes(obj) == lxml_bytes(obj), obj.id
        assert object_bytes(obj, with_status=False) == lxml_bytes(replace(obj, status=None)), obj.id  # as stored


# XML 1.0 characters (what a parsed value can hold), with the ones escaping cares about made likely.
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20)
text = st.text(st.one_of(st.sampled_from('&<>"\'\t\n\r] é'), _chars), max_size=12)
maybe = st.none() | text
localized = st.tuples(st.builds(RimLocalized, text, maybe, maybe)).map(tuple) | st.just(())
slots = st.lists(st.builds(RimSlot, text, st.lists(text, max_size=3).map(tuple)), max_size=3).map(tuple)


@settings(max_examples=100, deadline=None)
@given(
    tag=st.sampled_from(["ExtrinsicObject", "RegistryPackage", "Association"]),
    attrs=st.lists(maybe, min_size=9, max_size=9),
    oid=text,
    slots=slots,
    name=localized,
    description=localized,
    versions=st.tuples(maybe, maybe),
    classifications=st.lists(st.builds(RimClassification, text, text, maybe, maybe, maybe, localized, slots, maybe),
                             max_size=2).map(tuple),
    identifiers=st.lists(st.builds(RimExternalIdentifier, text, text, text, text, localized, maybe),
                         max_size=2).map(tuple),
)
def test_generated_objects(tag, attrs, oid, slots, name, description, versions, classifications, identifiers) -> None:  # type: ignore[no-untyped-def]
    obj = RimObject(
        tag=tag, id=oid, object_type=attrs[0], lid=attrs[1], status=attrs[2], home=attrs[3], mime_type=attrs[4],
        is_opaque=attrs[5], version_name=versions[0], content_version=versions[1], name=name,
        description=description, slots=slots, classifications=classifications, external_identifiers=identifiers,
        association_type=attrs[6], source_object=attrs[7], target_object=attrs[8],
    )
    assert object_bytes(obj) == lxml_bytes(obj)
    assert object_bytes(obj, with_status=False) == lxml_bytes(replace(obj, status=None))


@pytest.mark.parametrize("value", ["", "a&b<c>d\"e'f", "\t\n\r", "]]>", "é€𝄞"])
def test_escaping_of_one_value(value: str) -> None:
    obj = RimObject(tag="RegistryPackage", id=value, slots=(RimSlot(value, (value, "")),),
                    name=(RimLocalized(value, value),))
    assert object_bytes(obj) == lxml_bytes(obj)
