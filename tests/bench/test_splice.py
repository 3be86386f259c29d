"""Spliced fragments (`bench.splice`): one DEFLATE packing per template, values put into its stored blocks; the
result is a stream `registry.sql.fragments.unpack` reads back to the filled template."""

from __future__ import annotations

import random
import struct

from bench import metadata, splice
from registry.sql import fragments

# A DocumentEntry-like pattern: the entryUUID (DE) five times, the patient twice, tokens side by side.
PATTERN = (
    '<rim:ExtrinsicObject xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:{DE}" lid="urn:uuid:{DE}"'
    ' objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1" mimeType="text/xml"><rim:Slot name="creationTime">'
    "<rim:ValueList><rim:Value>{T}</rim:Value></rim:ValueList></rim:Slot>"
    '<rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="urn:uuid:{DE}"'
    ' id="urn:uuid:{X0}" nodeRepresentation=""><rim:Slot name="authorPerson"><rim:ValueList><rim:Value>{AUTH}^{NAME}'
    "</rim:Value></rim:ValueList></rim:Slot></rim:Classification>"
    '<rim:ExternalIdentifier id="urn:uuid:{X1}" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"'
    ' registryObject="urn:uuid:{DE}" value="{PID}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO">'
    '<rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name></rim:ExternalIdentifier>'
    '<rim:ExternalIdentifier id="urn:uuid:{X2}" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"'
    ' registryObject="urn:uuid:{DE}" value="1.2.250.1.999.3.{DUID}"><rim:Name><rim:LocalizedString'
    ' value="XDSDocumentEntry.uniqueId"/></rim:Name></rim:ExternalIdentifier>{PID}</rim:ExtrinsicObject>'
)
LENGTHS = {"DE": 36, "X0": 36, "X1": 36, "X2": 36, "T": 14, "AUTH": 11, "NAME": 7, "PID": 15, "DUID": 19}


def _values(rng: random.Random) -> dict[str, str]:
    return {n: "".join(rng.choice("0123456789abcdef") for _ in range(k)) for n, k in LENGTHS.items()}


def _filled(values: dict[str, str]) -> bytes:
    return PATTERN.format_map(values).encode()


def test_a_spliced_fragment_unpacks_to_its_template_filled_with_the_values() -> None:
    spliced = splice.compile_pattern(PATTERN, LENGTHS)
    rng = random.Random(1)
    for _ in range(50):
        values = _values(rng)
        assert fragments.unpack(spliced.pack(values)) == _filled(values)
    # Later occurrences are back references: each token's value goes in once (DE is there five times).
    assert spliced.exact and sorted(p for p in spliced.pieces if isinstance(p, str)) == sorted(LENGTHS)
    assert isinstance(spliced.pieces[0], bytes) and spliced.pieces[0][0] == fragments.VERSION_V1


def test_each_value_goes_into_a_stored_block_of_its_length() -> None:
    """The bytes before a value end with the stored block's LEN and NLEN, which count the value with the short
    text joined to it (here `^` between the author's id and name)."""
    spliced = splice.compile_pattern(PATTERN, LENGTHS)
    pieces = spliced.pieces
    at = pieces.index("AUTH")
    length, nlength = struct.unpack("<HH", pieces[at - 1][-4:])  # type: ignore[index]
    assert length == LENGTHS["AUTH"] + 1 + LENGTHS["NAME"] and nlength == length ^ 0xFFFF
    assert pieces[at + 1:at + 3] == (b"^", "NAME")


def test_every_occurrence_stored_is_exact_too() -> None:
    """The fallback when zlib does not match a later occurrence whole: every occurrence in a stored block."""
    parts = splice.parse(PATTERN)
    stored = splice._splice(parts, splice._placeholders(parts, LENGTHS), 6, stored_all=True)
    values = _values(random.Random(2))
    assert not stored.exact and sum(p == "DE" for p in stored.pieces) == 5
    assert fragments.unpack(stored.pack(values)) == _filled(values)


def test_placeholders_line_up_only_with_themselves() -> None:
    """Bytes foreign to the dictionary and the text; each token's first and last bytes its own; no two
    consecutive bytes repeated: a back reference covering a placeholder byte can only copy its own token."""
    parts = splice.parse(PATTERN)
    marks = splice._placeholders(parts, LENGTHS)
    text = set(fragments.DICTIONARY_V1) | {b for p in parts if isinstance(p, str) for b in p.encode()}
    assert all(len(marks[n]) == k for n, k in LENGTHS.items())
    assert not any(set(m) & text for m in marks.values())
    edges = [b for m in marks.values() for b in (m[0], m[-1])]
    inner = [b for m in marks.values() for b in m[1:-1]]
    assert len(set(edges)) == len(edges) and not set(edges) & set(inner)
    pairs = [m[i:i + 2] for m in marks.values() for i in range(len(m) - 1)]
    assert len(set(pairs)) == len(pairs)


def test_the_generators_spliced_fragments_are_the_registrys_unpacked() -> None:
    """Every fragment of every template of the loader, spliced and packed by the registry, unpacks the same."""
    gen = metadata.Generator(1, 15.0)
    rng = random.Random(4)
    checked = 0
    for shape in gen.shapes.values():
        for template, compiled in shape:
            values = gen.values(rng, 3, template)
            values.setdefault("R", "00000000-0000-4000-a000-000000000000")
            patterns = [f for lines in template.lines.values() for _, f in lines if f is not None]
            for (_, spliced), pattern in zip(compiled.fragments, patterns, strict=True):
                assert isinstance(spliced, splice.Spliced)
                assert fragments.unpack(spliced.pack(values)) == pattern.format_map(values).encode()
                checked += 1
    assert checked > 200
