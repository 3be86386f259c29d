"""A `RimObject` as the bytes of its ebRIM 3.0 element (OASIS ebRIM 3.0 §2-§4; ITI TF-3 4.2.3), written as text.

The registry stores every object it registers as its XML (`registry.sql.fragments`): three to five objects
per ITI-42. Building an lxml tree with `xdscore.ebrim.rim.write_object` to serialize it at once cost about
as much as all the other row building of a registration; joining strings costs a fraction. `object_bytes`
gives exactly the bytes of `etree.tostring(rim.write_object(obj), encoding="UTF-8")`: the same children in
the same schema order, the same attribute order, libxml2's escaping (`tests/xdscore/test_rim_text.py`
compares the two on every object of the conformance kits and on generated values), so stored fragments do
not depend on which of the two wrote them.
"""

from __future__ import annotations

import re

from xdscore.model import RimClassification, RimExternalIdentifier, RimLocalized, RimObject, RimSlot
from xdscore.vocabulary import NS

# libxml2's escaping: in attribute values also the quote and the whitespace that would be normalized.
_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;",
                            "\r": "&#13;"})
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# Most values (OIDs, UUIDs, codes) need no escaping: a search is cheaper than a translate.
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\t\n\r]').search
_TEXT_SPECIAL = re.compile("[&<>\r]").search


def _a(value: str) -> str:
    return value.translate(_ATTRIBUTE) if _ATTRIBUTE_SPECIAL(value) else value


def _t(value: str) -> str:
    return value.translate(_TEXT) if _TEXT_SPECIAL(value) else value


def _attr(out: list[str], name: str, value: str | None) -> None:
    if value is not None:
        out.append(f' {name}="{_a(value)}"')


def _slots(out: list[str], slots: tuple[RimSlot, ...]) -> None:
    for slot in slots:
        out.append(f'<rim:Slot name="{_a(slot.name)}">')
        if slot.values:
            out.append("<rim:ValueList>")
            out += [f"<rim:Value>{_t(v)}</rim:Value>" for v in slot.values]
            out.append("</rim:ValueList></rim:Slot>")
        else:
            out.append("<rim:ValueList/></rim:Slot>")


def _localized(out: list[str], tag: str, values: tuple[RimLocalized, ...]) -> None:
    if not values:
        return
    out.append(f"<rim:{tag}>")
    for v in values:
        out.append("<rim:LocalizedString")
        _attr(out, "xml:lang", v.lang)
        _attr(out, "charset", v.charset)
        _attr(out, "value", v.value)
        out.append("/>")
    out.append(f"</rim:{tag}>")


def _close(out: list[str], tag: str, mark: int) -> None:
    """End the element opened (its start tag unfinished) at `out[mark - 1]`: empty, or with what follows."""
    if len(out) == mark:
        out.append("/>")
    else:
        out.insert(mark, ">")
        out.append(f"</rim:{tag}>")


def _classification(out: list[str], c: RimClassification) -> None:
    out.append("<rim:Classification")
    _attr(out, "classificationScheme", c.scheme)
    _attr(out, "classificationNode", c.node)
    _attr(out, "classifiedObject", c.classified_object)
    _attr(out, "id", c.id)
    _attr(out, "nodeRepresentation", c.node_representation)
    _attr(out, "objectType", c.object_type)
    mark = len(out)
    _slots(out, c.slots)
    _localized(out, "Name", c.name)
    _close(out, "Classification", mark)


def _external_identifier(out: list[str], e: RimExternalIdentifier) -> None:
    out.append("<rim:ExternalIdentifier")
    _attr(out, "id", e.id)
    _attr(out, "objectType", e.object_type)
    _attr(out, "identificationScheme", e.scheme)
    _attr(out, "registryObject", e.registry_object)
    _attr(out, "value", e.value)
    mark = len(out)
    _localized(out, "Name", e.name)
    _close(out, "ExternalIdentifier", mark)


def object_bytes(obj: RimObject, with_status: bool = True) -> bytes:
    """The UTF-8 bytes of `obj` as a standalone element declaring the rim prefix (no XML declaration);
    `with_status=False`: those of `replace(obj, status=None)` (the registry stores its objects without their
    status, which changes), without copying the object."""
    out = [f'<rim:{obj.tag} xmlns:rim="{NS.RIM}"']
    _attr(out, "id", obj.id)
    _attr(out, "lid", obj.lid)
    _attr(out, "objectType", obj.object_type)
    _attr(out, "status", obj.status if with_status else None)
    _attr(out, "home", obj.home)
    _attr(out, "mimeType", obj.mime_type)
    _attr(out, "isOpaque", obj.is_opaque)
    _attr(out, "associationType", obj.association_type)
    _attr(out, "sourceObject", obj.source_object)
    _attr(out, "targetObject", obj.target_object)
    mark = len(out)
    _slots(out, obj.slots)
    _localized(out, "Name", obj.name)
    _localized(out, "Description", obj.description)
    if obj.version_name is not None:
        out.append(f'<rim:VersionInfo versionName="{_a(obj.version_name)}"/>')
    for c in obj.classifications:
        _classification(out, c)
    for e in obj.external_identifiers:
        _external_identifier(out, e)
    if obj.content_version is not None:
        out.append(f'<rim:ContentVersionInfo versionName="{_a(obj.content_version)}"/>')
    _close(out, obj.tag, mark)
    return "".join(out).encode()
