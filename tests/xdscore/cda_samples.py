"""The ANS example CDAs (by path, never copied) and helpers to change one thing in one of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree

EXAMPLES = Path(__file__).resolve().parents[3] / "shared/testkits/ans-cisis/ExemplesCDA"
HL7 = {"hl7": "urn:hl7-org:v3"}


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def all_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.xml"))


def changed(name: str, change: Callable[[etree._Element], None]) -> bytes:
    """The example with `change` applied to its ClinicalDocument root."""
    root = etree.fromstring(example(name))
    change(root)
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))


def remove(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        found = root.xpath(path, namespaces=HL7)
        assert found, path
        for el in found:
            el.getparent().remove(el)
    return change


def set_attr(path: str, name: str, value: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        found = root.xpath(path, namespaces=HL7)
        assert found, path
        for el in found:
            el.set(name, value)
    return change


def duplicate(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        (el,) = root.xpath(path, namespaces=HL7)
        el.addnext(etree.fromstring(etree.tostring(el, with_tail=False)))
    return change
