"""The response element, its status and its errors: ExpectedStatus, ExpectedErrorMessage, ExpectedErrorCode.

ebRS 3.0 rs:RegistryResponse (@status, rs:RegistryErrorList/rs:RegistryError) and the IHE status values
of ITI TF-3 4.2.4; toolkit BasicTransaction.eval_expected_status / scanResponseForErrors.

- ExpectedStatus: the response status URN must be one of the expected values (Success / Failure /
  PartialSuccess in their ebRS / IHE namespaces, or Fault for a SOAP fault). When Success is expected no
  RegistryError of severity Error may be present (warnings are allowed).
- ExpectedErrorMessage: the text must occur in the errorCode or codeContext of an Error-severity
  RegistryError, and the expected status must be Failure.
- ExpectedErrorCode: the code must be the errorCode of some RegistryError (any severity).

Namespace-strict: the status holder and its errors are found by qualified name only.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xdscore.vocabulary import NS

OASIS_STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
IHE_STATUS = "urn:ihe:iti:2007:ResponseStatusType:"
SUCCESS = OASIS_STATUS + "Success"
FAILURE = OASIS_STATUS + "Failure"
_STATUS_VALUES = {"success": "Success", "failure": "Failure", "partialsuccess": "PartialSuccess", "fault": "Fault"}
_RS = f"{{{NS.RS}}}"


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str
    severity: str
    location: str

    @property
    def is_error(self) -> bool:
        # severity defaults to Error in rs.xsd
        return not self.severity or self.severity.endswith("Error")


def qname_text(tag: str) -> str:
    q = etree.QName(tag)
    return f"{q.localname} in namespace {q.namespace}" if q.namespace else f"{q.localname} (no namespace)"


def check_response_element(body: etree._Element, expected: str) -> list[str]:
    """The SOAP Body's element must be `expected` ({namespace}local), namespace included."""
    if body.tag == expected:
        return []
    return [f"response body is {qname_text(body.tag)}, expected {qname_text(expected)}"]


def registry_response(body: etree._Element | None) -> etree._Element | None:
    """The element holding @status and RegistryErrorList (the body itself, or its rs:RegistryResponse child)."""
    if body is None:
        return None
    if body.tag == f"{{{NS.XDSB}}}RetrieveDocumentSetResponse":
        return body.find(f"{_RS}RegistryResponse")
    return body


def registry_errors(body: etree._Element | None) -> list[RegistryError]:
    holder = registry_response(body)
    if holder is None:
        return []
    return [
        RegistryError(e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", ""), e.get("location", ""))
        for e in holder.iterfind(f"{_RS}RegistryErrorList/{_RS}RegistryError")
    ]


def response_status(body: etree._Element | None, fault: str | None) -> str:
    if fault is not None:
        return "Fault"
    holder = registry_response(body)
    return "" if holder is None else holder.get("status", "")


def _status_value(status: str) -> str | None:
    return _STATUS_VALUES.get(status.rsplit(":", 1)[-1].lower())


def describe(errors: list[RegistryError]) -> str:
    return "; ".join(f"{e.code}: {e.context}" for e in errors)


def grade_status(expected: list[str], status: str, errors: list[RegistryError], fault: str | None) -> list[str]:
    """ExpectedStatus (and the toolkit's rule that an expected Success carries no Error)."""
    if not expected:
        return ["unsupported: TestStep without ExpectedStatus"]
    wanted = []
    for e in expected:
        value = _STATUS_VALUES.get(e.strip().lower())
        if value is None:
            return [f"unsupported: ExpectedStatus {e}"]
        wanted.append(value)
    if status == "Fault":
        return [] if "Fault" in wanted else [f"SOAP Fault received, expected status {' or '.join(wanted)}: {fault}"]
    if "Fault" in wanted:
        return [f"status is {status or '(none)'}, expected a SOAP Fault"]
    actual = _status_value(status)
    ns_ok = status.startswith(OASIS_STATUS) or (actual == "PartialSuccess" and status.startswith(IHE_STATUS))
    if not ns_ok or actual is None:
        return [f"status is {status or '(missing)'}, expected {' or '.join(wanted)} as a ResponseStatusType URN"]
    if actual not in wanted:
        detail = f" ({describe(errors)})" if errors else ""
        return [f"status is {status}, expected {' or '.join(wanted)}{detail}"]
    if wanted == ["Success"]:
        errs = [e for e in errors if e.is_error]
        if errs:
            return [f"Success expected but the response carries errors: {describe(errs)}"]
    return []


def grade_error_message(expected: str, expected_status: list[str], errors: list[RegistryError]) -> list[str]:
    if not expected:
        return []
    if [s.strip().lower() for s in expected_status] != ["failure"]:
        return ["ExpectedErrorMessage given but ExpectedStatus is not Failure (test plan error)"]
    for e in errors:
        if e.is_error and (expected in e.code or expected in e.context):
            return []
    return [f"expected error {expected} not found; errors returned: {describe(errors) or 'none'}"]


def grade_error_code(expected: str, errors: list[RegistryError]) -> list[str]:
    if not expected:
        return []
    codes = [e.code for e in errors]
    if expected in codes:
        return []
    return [f"expected errorCode {expected}, got {codes or 'none'}"]
