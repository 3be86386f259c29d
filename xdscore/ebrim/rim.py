"""Generic ebRIM 3.0 RegistryObject <-> `RimObject` (OASIS ebRIM 3.0 §2-§4; ITI TF-3 4.2.3).

Reads every child a RegistryObject may carry and writes them back in schema order
(Slot*, Name?, Description?, VersionInfo?, Classification*, ExternalIdentifier*, ContentVersionInfo?),
so an object stored as read comes back equal.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from xdscore.model import RimClassification, RimExternalIdentifier, RimLocalized, RimObject, RimSlot
from xdscore.vocabulary import NS

R = f"{{{NS.RIM}}}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# RegistryObject children after the slots, in schema order: a new Slot goes before these.
_AFTER_SLOTS = frozenset(R + n for n in ("Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier", "ContentVersionInfo"))


_VALUE_LIST = R + "ValueList"
_VALUE = R + "Value"
_SLOT = R + "Slot"
_NAME = R + "Name"
_DESCRIPTION = R + "Description"
_VERSION_INFO = R + "VersionInfo"
_CONTENT_VERSION_INFO = R + "ContentVersionInfo"
_CLASSIFICATION = R + "Classification"
_EXTERNAL_IDENTIFIER = R + "ExternalIdentifier"
_LOCALIZED_STRING = R + "LocalizedString"


def q(local: str) -> str:
    return R + local


def read_slots(el: etree._Element) -> tuple[RimSlot, ...]:
    return tuple([_slot(s) for s in el if s.tag == _SLOT])


# The readers below walk children with `for child in el` and compare tags: lxml's iterchildren(tag) and
# find() build a tag matcher (or an ElementPath) at each call, which cost more than the walk itself on
# these small elements (a registration reads some sixty of them). Comments and processing instructions
# have a non-string tag and are skipped as before.


def _slot(s: etree._Element) -> RimSlot:
    values = []
    for value_list in s:
        if value_list.tag == _VALUE_LIST:
            for v in value_list:
                if v.tag == _VALUE:
                    text = v.text
                    values.append(text.strip() if text else "")
    return RimSlot(s.get("name", ""), tuple(values))


def read_localized(el: etree._Element | None) -> tuple[RimLocalized, ...]:
    if el is None:
        return ()
    return tuple([
        RimLocalized(ls.get("value", ""), ls.get(XML_LANG), ls.get("charset"))
        for ls in el if ls.tag == _LOCALIZED_STRING
    ])


def read_classification(el: etree._Element, owner: str | None = None) -> RimClassification:
    name: tuple[RimLocalized, ...] | None = None
    slots = []
    for child in el:  # one pass over the children
        tag = child.tag
        if tag == _SLOT:
            slots.append(_slot(child))
        elif tag == _NAME and name is None:  # the first Name, as find() gave
            name = read_localized(child)
    return RimClassification(
        id=el.get("id", ""),
        classified_object=el.get("classifiedObject") or owner or "",
        scheme=el.get("classificationScheme"),
        node=el.get("classificationNode"),
        node_representation=el.get("nodeRepresentation"),
        name=name or (),
        slots=tuple(slots),
        object_type=el.get("objectType"),
    )


def read_external_identifier(el: etree._Element, owner: str | None = None) -> RimExternalIdentifier:
    name = next((child for child in el if child.tag == _NAME), None)  # the first Name, as find() gave
    return RimExternalIdentifier(
        id=el.get("id", ""),
        registry_object=el.get("registryObject") or owner or "",
        scheme=el.get("identificationScheme", ""),
        value=(el.get("value") or "").strip(),
        name=read_localized(name),
        object_type=el.get("objectType"),
    )


def read_object(el: etree._Element) -> RimObject:
    oid = el.get("id", "")
    slots, classifications, identifiers = [], [], []
    name: tuple[RimLocalized, ...] | None = None
    description: tuple[RimLocalized, ...] | None = None
    version: etree._Element | None = None
    content_version: etree._Element | None = None
    # One pass over the children (a registration reads each object once; seven find()s cost a third of it).
    # The first Name / Description / VersionInfo counts, as find() gave.
    for child in el:
        tag = child.tag
        if tag == _SLOT:
            slots.append(_slot(child))
        elif tag == _CLASSIFICATION:
            classifications.append(read_classification(child, oid))
        elif tag == _EXTERNAL_IDENTIFIER:
            identifiers.append(read_external_identifier(child, oid))
        elif tag == _NAME:
            name = read_localized(child) if name is None else name
        elif tag == _DESCRIPTION:
            description = read_localized(child) if description is None else description
        elif tag == _VERSION_INFO:
            version = child if version is None else version
        elif tag == _CONTENT_VERSION_INFO and content_version is None:
            content_version = child
    return RimObject(
        tag=el.tag.rpartition("}")[2],
        id=oid,
        object_type=el.get("objectType"),
        lid=el.get("lid"),
        status=el.get("status"),
        home=el.get("home"),
        mime_type=el.get("mimeType"),
        is_opaque=el.get("isOpaque"),
        version_name=version.get("versionName") if version is not None else None,
        content_version=content_version.get("versionName") if content_version is not None else None,
        name=name or (),
        description=description or (),
        slots=tuple(slots),
        classifications=tuple(classifications),
        external_identifiers=tuple(identifiers),
        association_type=el.get("associationType"),
        source_object=el.get("sourceObject"),
        target_object=el.get("targetObject"),
    )


def _set(el: etree._Element, name: str, value: str | None) -> None:
    if value is not None:
        el.set(name, value)


def write_slots(parent: etree._Element, slots: Iterable[RimSlot]) -> None:
    for slot in slots:
        s = etree.SubElement(parent, q("Slot"), name=slot.name)
        vl = etree.SubElement(s, q("ValueList"))
        for v in slot.values:
            etree.SubElement(vl, q("Value")).text = v


def set_slot(el: etree._Element, name: str, values: Iterable[str]) -> None:
    """Add or overwrite one slot of a RegistryObject element in place, keeping the schema's child order
    (the Document Repository patches hash, size and repositoryUniqueId this way, ITI TF-2b 3.41.4.1.3.2)."""
    slot = next((s for s in el.iterchildren(q("Slot")) if s.get("name") == name), None)
    if slot is None:
        slot = etree.Element(q("Slot"), name=name)
        anchor = next((c for c in el if c.tag in _AFTER_SLOTS), None)
        if anchor is None:
            el.append(slot)
        else:
            anchor.addprevious(slot)
    for child in list(slot):
        slot.remove(child)
    value_list = etree.SubElement(slot, q("ValueList"))
    for v in values:
        etree.SubElement(value_list, q("Value")).text = v


def write_localized(parent: etree._Element, tag: str, values: tuple[RimLocalized, ...]) -> None:
    if not values:
        return
    holder = etree.SubElement(parent, q(tag))
    for v in values:
        ls = etree.SubElement(holder, q("LocalizedString"))
        _set(ls, XML_LANG, v.lang)
        _set(ls, "charset", v.charset)
        ls.set("value", v.value)


def write_classification(parent: etree._Element | None, c: RimClassification) -> etree._Element:
    el = etree.Element(q("Classification")) if parent is None else etree.SubElement(parent, q("Classification"))
    _set(el, "classificationScheme", c.scheme)
    _set(el, "classificationNode", c.node)
    el.set("classifiedObject", c.classified_object)
    el.set("id", c.id)
    _set(el, "nodeRepresentation", c.node_representation)
    _set(el, "objectType", c.object_type)
    write_slots(el, c.slots)
    write_localized(el, "Name", c.name)
    return el


def write_external_identifier(parent: etree._Element, e: RimExternalIdentifier) -> etree._Element:
    el = etree.SubElement(parent, q("ExternalIdentifier"))
    el.set("id", e.id)
    _set(el, "objectType", e.object_type)
    el.set("identificationScheme", e.scheme)
    el.set("registryObject", e.registry_object)
    el.set("value", e.value)
    write_localized(el, "Name", e.name)
    return el


def write_object(obj: RimObject, parent: etree._Element | None = None) -> etree._Element:
    el = etree.Element(q(obj.tag), nsmap={"rim": NS.RIM}) if parent is None else etree.SubElement(parent, q(obj.tag))
    el.set("id", obj.id)
    _set(el, "lid", obj.lid)
    _set(el, "objectType", obj.object_type)
    _set(el, "status", obj.status)
    _set(el, "home", obj.home)
    _set(el, "mimeType", obj.mime_type)
    _set(el, "isOpaque", obj.is_opaque)
    _set(el, "associationType", obj.association_type)
    _set(el, "sourceObject", obj.source_object)
    _set(el, "targetObject", obj.target_object)
    write_slots(el, obj.slots)
    write_localized(el, "Name", obj.name)
    write_localized(el, "Description", obj.description)
    if obj.version_name is not None:
        etree.SubElement(el, q("VersionInfo"), versionName=obj.version_name)
    for c in obj.classifications:
        write_classification(el, c)
    for e in obj.external_identifiers:
        write_external_identifier(el, e)
    if obj.content_version is not None:
        etree.SubElement(el, q("ContentVersionInfo"), versionName=obj.content_version)
    return el
