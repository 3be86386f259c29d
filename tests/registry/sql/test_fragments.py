"""Packed fragments: exact round trip, small enough to stay in the row, and damage is reported, not guessed."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.builders import new_patient_id, single_document
from registry.sql.fragments import CorruptFragment, pack, unpack
from xdscore.ebrim import rim as rim_codec


def _fragments() -> list[bytes]:
    b = single_document(new_patient_id())
    b.add_folder()
    b.link("Folder01", "Document01", None)
    root = b.xml().find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}RegistryObjectList")
    assert root is not None
    return [etree.tostring(rim_codec.write_object(rim_codec.read_object(el)), encoding="UTF-8", xml_declaration=False)
            for el in root]


def test_round_trip_is_exact_for_every_kind_of_object() -> None:
    fragments = _fragments()
    assert len(fragments) >= 4
    for xml in fragments:
        assert unpack(pack(xml)) == xml


def test_non_ascii_and_unknown_markup_round_trip() -> None:
    xml = '<rim:Slot xmlns:rim="urn:x" name="é"><v>Hôpital Saint-Éloi — 病院 &amp; ∑</v><odd a="1"/></rim:Slot>'.encode()
    assert unpack(pack(xml)) == xml


def test_a_document_entry_packs_below_the_toast_threshold() -> None:
    entry = max(_fragments(), key=len)  # the DocumentEntry, ~5 KB of XML
    assert len(entry) > 4000
    assert len(pack(entry)) < 1200  # PostgreSQL keeps rows under ~2 KB in the table page


@pytest.mark.parametrize("stored", [b"", b"\x09abc", b"\x01not deflate at all", b"\x01"])
def test_unknown_or_damaged_values_raise(stored: bytes) -> None:
    with pytest.raises(CorruptFragment):
        unpack(stored)


def test_a_truncated_value_raises() -> None:
    packed = pack(_fragments()[0])
    with pytest.raises(CorruptFragment):
        unpack(packed[: len(packed) // 2])
