"""rs:RegistryResponse and its RegistryErrorList (ITI TF-3 4.2.4; ebRS 3.0 rs.xsd).

The one place where violations become RegistryError elements. Status follows TF-3 4.2.4.2: any error is
Failure (or PartialSuccess where a transaction allows it); warnings alone keep Success.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from xdscore.errors import Violation
from xdscore.vocabulary import NS, ResponseStatus, Severity
from xdscore.xmlsafe import xml_text

RS = f"{{{NS.RS}}}"


def status_for(violations: Iterable[Violation], partial: bool = False) -> ResponseStatus:
    """Failure when any error is present, or PartialSuccess when the caller says some of the work was
    done (ITI-43 with some documents found); Success otherwise (warnings allowed)."""
    if any(v.is_error for v in violations):
        return ResponseStatus.PARTIAL_SUCCESS if partial else ResponseStatus.FAILURE
    return ResponseStatus.SUCCESS


def write_error_list(parent: etree._Element, violations: list[Violation]) -> None:
    if not violations:
        return
    highest = Severity.ERROR if any(v.is_error for v in violations) else Severity.WARNING
    lst = etree.SubElement(parent, f"{RS}RegistryErrorList", highestSeverity=highest.value)
    for v in violations:
        err = etree.SubElement(lst, f"{RS}RegistryError")
        err.set("errorCode", v.code.value)
        err.set("codeContext", xml_text(v.context))  # may quote the request (a Content-ID, a MIME header)
        err.set("severity", v.severity.value)
        if v.location:
            err.set("location", xml_text(v.location))


def write(violations: list[Violation], status: ResponseStatus | None = None, request_id: str | None = None) -> etree._Element:
    el = etree.Element(f"{RS}RegistryResponse", nsmap={"rs": NS.RS})
    el.set("status", (status or status_for(violations)).value)
    if request_id:
        el.set("requestId", request_id)
    write_error_list(el, violations)
    return el


def read_errors(el: etree._Element) -> list[tuple[str, str, str, str]]:
    """(errorCode, codeContext, severity, location) of every RegistryError under `el`."""
    return [
        (e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", Severity.ERROR.value), e.get("location", ""))
        for e in el.iter(f"{RS}RegistryError")
    ]
