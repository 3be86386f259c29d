"""The XML files of the test kits (`../shared/testkits`: NIST XDS Toolkit plans, ANS CI-SIS), parsed safely,
for tests that run a reader or writer over every real object the kits hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from xdscore.ebrim import rim

KITS = Path(__file__).resolve().parents[3] / "shared/testkits"


def kit_roots(marker: bytes) -> Iterator[etree._Element]:
    """The root of every kit file whose bytes contain `marker`, in a stable order; files that are not
    well-formed (some plans hold deliberately broken ones) are skipped."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for path in sorted(KITS.rglob("*.xml")):
        if marker not in path.read_bytes():
            continue
        try:
            yield etree.parse(str(path), parser).getroot()
        except etree.XMLSyntaxError:
            continue


def kit_registry_objects(tags: tuple[str, ...]) -> list[etree._Element]:
    """The elements with one of `tags` (Clark names) directly under a kit's rim:RegistryObjectList."""
    out = []
    for root in kit_roots(b"ebxml-regrep:xsd:rim:3.0"):
        out += [el for el in root.iter(*tags)
                if el.getparent() is not None and el.getparent().tag == rim.q("RegistryObjectList")]
    return out
