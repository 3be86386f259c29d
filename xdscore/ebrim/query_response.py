"""query:AdhocQueryResponse (ITI TF-2a 3.18.4.1.3; ebRS 3.0 query.xsd), serialized to UTF-8 bytes.

A LeafClass answer is assembled as text from the XML fragments the registry stored at registration
(each one element written by lxml, carrying its own namespace declaration), so a 100-document answer
is not parsed and re-serialized. What changes after registration is put in on the way out:
availabilityStatus (stored fragments have none), `home` when the request named a community, and a
Folder's lastUpdateTime (Folders go through lxml, they are few). Element order follows the schema:
RegistryErrorList before RegistryObjectList, which is always present.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from xml.sax.saxutils import quoteattr

from lxml import etree

from xdscore.ebrim.response import write_error_list
from xdscore.errors import Violation
from xdscore.vocabulary import NS, ResponseStatus, Slot

RIM = f"{{{NS.RIM}}}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
_OPEN = (
    f'<query:AdhocQueryResponse xmlns:query="{NS.QUERY}" xmlns:rim="{NS.RIM}" xmlns:rs="{NS.RS}" status="{{status}}">'
    "<rim:RegistryObjectList>"
)
_CLOSE = "</rim:RegistryObjectList></query:AdhocQueryResponse>"


class StoredObjectLike(Protocol):
    uuid: str
    kind: str
    status: str
    xml: bytes  # one element, UTF-8, no XML declaration
    last_update_time: str | None


def _element(status: ResponseStatus, violations: list[Violation] | None = None) -> tuple[etree._Element, etree._Element]:
    el = etree.Element(f"{{{NS.QUERY}}}AdhocQueryResponse", nsmap={"query": NS.QUERY, "rim": NS.RIM, "rs": NS.RS})
    el.set("status", status.value)
    if violations:
        write_error_list(el, violations)
    return el, etree.SubElement(el, f"{RIM}RegistryObjectList")


def failure(violations: list[Violation]) -> bytes:
    status = ResponseStatus.FAILURE if any(v.is_error for v in violations) else ResponseStatus.SUCCESS
    return bytes(etree.tostring(_element(status, violations)[0], encoding="UTF-8"))


def object_refs(uuids: Iterable[str], home: str | None = None) -> bytes:
    el, lst = _element(ResponseStatus.SUCCESS)
    for u in uuids:
        ref = etree.SubElement(lst, f"{RIM}ObjectRef", id=u)
        if home:
            ref.set("home", home)
    return bytes(etree.tostring(el, encoding="UTF-8"))


def _folder(obj: StoredObjectLike, home: str | None) -> bytes:
    """A Folder through lxml: its lastUpdateTime changes after registration (Folders are few)."""
    el = etree.fromstring(obj.xml, parser=_PARSER)
    el.set("status", obj.status)
    if home:
        el.set("home", home)
    if obj.last_update_time:
        for slot in el.iterchildren(f"{RIM}Slot"):
            if slot.get("name") == Slot.LAST_UPDATE_TIME:
                value = slot.find(f"{RIM}ValueList/{RIM}Value")
                if value is not None:
                    value.text = obj.last_update_time
    return bytes(etree.tostring(el, encoding="UTF-8", xml_declaration=False))


def leaf_class(objects: Iterable[StoredObjectLike], home: str | None = None) -> bytes:
    """The stored fragments with their current status (and home) put in, as one response."""
    parts: list[bytes | memoryview] = [_OPEN.replace("{status}", ResponseStatus.SUCCESS.value).encode()]
    home_attr = f" home={quoteattr(home)}" if home else ""
    attrs: dict[str, bytes] = {}  # per status: the attributes to insert
    for o in objects:
        if o.kind == "FD":
            parts.append(_folder(o, home))
            continue
        inserted = attrs.get(o.status)
        if inserted is None:
            inserted = attrs[o.status] = f" status={quoteattr(o.status)}{home_attr}".encode()
        # The fragment starts with "<rim:Tag " (lxml's serialization): attributes go right after the name.
        # Views, not slices: the fragment is copied once, by the join.
        cut = o.xml.index(b" ")
        view = memoryview(o.xml)
        parts += (view[:cut], inserted, view[cut:])
    parts.append(_CLOSE.encode())
    return b"".join(parts)
