"""lcm:RemoveObjectsRequest → the entryUUIDs to remove (ITI TF-2b 3.62.4.1.2; ebRS 3.0 lcm.xsd).

ITI-62 names the objects by `rim:ObjectRefList/rim:ObjectRef/@id`; the ebRS alternative (an AdhocQuery
selecting them) and any deletionScope other than DeleteAll are not part of the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from xdscore.errors import FaultCode, SoapFault, Violation
from xdscore.vocabulary import NS, ErrorCode

REMOVE_OBJECTS_REQUEST = f"{{{NS.LCM}}}RemoveObjectsRequest"
DELETE_ALL = "urn:oasis:names:tc:ebxml-regrep:DeletionScopeType:DeleteAll"


@dataclass(frozen=True)
class RemoveRequest:
    ids: tuple[str, ...]
    violations: tuple[Violation, ...] = field(default=())


def read(el: etree._Element) -> RemoveRequest:
    if el.tag != REMOVE_OBJECTS_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"body element is {el.tag}, expected lcm:RemoveObjectsRequest")
    violations: list[Violation] = []
    scope = el.get("deletionScope")
    if scope not in (None, DELETE_ALL):
        violations.append(Violation(ErrorCode.XDSRegistryError, f"deletionScope {scope} is not supported; "
                                    "ITI-62 removes objects whole (DeleteAll)", "deletionScope"))
    if el.find(f"{{{NS.RIM}}}AdhocQuery") is not None:
        violations.append(Violation(ErrorCode.XDSRegistryError, "ITI-62 names the objects to remove in an "
                                    "ObjectRefList, not with an AdhocQuery", "AdhocQuery"))
    ids = tuple(dict.fromkeys(
        ref.get("id", "").strip() for ref in el.iterfind(f"{{{NS.RIM}}}ObjectRefList/{{{NS.RIM}}}ObjectRef")
    ))
    if not ids or "" in ids:
        violations.append(Violation(ErrorCode.XDSRegistryError, "the ObjectRefList names no object to remove "
                                    "(or an ObjectRef without id)", "ObjectRefList"))
    return RemoveRequest(tuple(i for i in ids if i), tuple(violations))
