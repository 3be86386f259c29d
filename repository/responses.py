"""rs:RegistryResponse written by the repository itself (ITI TF-3 4.2.4: RegistryError, status rules).

Status: Failure when any Error-severity RegistryError is present; PartialSuccess when the caller says
some of the work was done (ITI-43 with some documents found); otherwise Success (warnings allowed).
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from xdscore.errors import Violation
from xdscore.vocabulary import NS, ResponseStatus, Severity

RS = f"{{{NS.RS}}}"
REGISTRY_RESPONSE = f"{RS}RegistryResponse"


def status_for(violations: Iterable[Violation], partial: bool = False) -> ResponseStatus:
    if any(v.is_error for v in violations):
        return ResponseStatus.PARTIAL_SUCCESS if partial else ResponseStatus.FAILURE
    return ResponseStatus.SUCCESS


def registry_response(violations: Iterable[Violation] = (), partial: bool = False) -> etree._Element:
    found = list(violations)
    response = etree.Element(REGISTRY_RESPONSE, nsmap={"rs": NS.RS})
    response.set("status", status_for(found, partial).value)
    if found:
        errors = etree.SubElement(response, f"{RS}RegistryErrorList")
        worst = Severity.ERROR if any(v.is_error for v in found) else Severity.WARNING
        errors.set("highestSeverity", worst.value)
        for v in found:
            error = etree.SubElement(errors, f"{RS}RegistryError")
            error.set("errorCode", v.code.value)
            error.set("codeContext", v.context)
            error.set("severity", v.severity.value)
            if v.location:
                error.set("location", v.location)
    return response


def read_status(response: etree._Element) -> str:
    return str(response.get("status", ""))


def response_status(response: etree._Element) -> ResponseStatus:
    """The status of a RegistryResponse; one that is not a known status URN counts as Failure."""
    try:
        return ResponseStatus(read_status(response))
    except ValueError:
        return ResponseStatus.FAILURE


def read_errors(response: etree._Element) -> list[tuple[str, str, str]]:
    """(errorCode, severity, codeContext) of every RegistryError (used by clients and tests)."""
    return [
        (e.get("errorCode", ""), e.get("severity", Severity.ERROR.value), e.get("codeContext", ""))
        for e in response.iterfind(f"{RS}RegistryErrorList/{RS}RegistryError")
    ]
