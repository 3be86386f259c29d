"""The repository as a client of the Document Registry: ITI-42 Register Document Set-b (ITI TF-2b 3.42), and
an ITI-18 GetDocuments by uniqueId (ITI TF-2a 3.18.4.1.2.3.7.5) for the cleanup command.

Plain SOAP 1.2 with WS-Addressing over HTTP (never MTOM: ITI-42 and ITI-18 are "simple SOAP",
xds-b.md §1.3), sent with httpx. Transport failures become the IHE answer the repository owes its own
caller (ITI TF-3 4.2.4.1): XDSRegistryNotAvailable when the registry cannot be reached, XDSRegistryError
when it answers with a fault or with something that is not a RegistryResponse.

`outcome_unknown` marks the one ambiguous case: the request went out but no answer came back (read
timeout, connection dropped). The registry may then have stored the metadata, so the repository keeps
the documents pending and the cleanup command asks the registry later (ITI-18) instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from lxml import etree

from repository.responses import REGISTRY_RESPONSE
from xdscore import soap, xmlsafe
from xdscore.errors import SoapFault, Violation
from xdscore.vocabulary import NS, UUID, Action, ErrorCode, StoredQueryId

RIM = f"{{{NS.RIM}}}"
QUERY = f"{{{NS.QUERY}}}"
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RegistryAnswer:
    response: etree._Element | None  # the registry's rs:RegistryResponse, when it gave one
    failure: Violation | None = None  # what to answer instead when it did not
    outcome_unknown: bool = False

    @property
    def status(self) -> str:
        return self.response.get("status", "") if self.response is not None else ""


class RegistryUnavailable(Exception):
    """The registry gave no usable answer to a stored query."""


class BadAnswer(Exception):
    """The registry answered, but with a fault or with something that is not the expected element."""


def _not_available(reason: str, unknown: bool = False) -> RegistryAnswer:
    return RegistryAnswer(None, Violation(ErrorCode.XDSRegistryNotAvailable, reason), outcome_unknown=unknown)


class RegistryClient:
    def __init__(self, url: str, timeout: float = 30.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def close(self) -> None:
        self._client.close()

    def _post(self, body: etree._Element, action: Action) -> httpx.Response:
        envelope = soap.request_envelope(body, action.value, to=self.url)
        payload = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {"content-type": f'{soap.SOAP12_CONTENT_TYPE}; charset=UTF-8; action="{action.value}"'}
        return self._client.post(self.url, content=payload, headers=headers)

    def _envelope_body(self, response: httpx.Response) -> etree._Element:
        """The body element of the registry's reply; BadAnswer for a fault or for garbage."""
        try:
            root = xmlsafe.parse_bytes(response.content, MAX_RESPONSE_BYTES, "registry response")
        except SoapFault as exc:
            raise BadAnswer(exc.reason) from None
        fault = soap.read_fault(root)
        if fault is not None:
            detail = " ".join(x for x in (fault.code, fault.subcode, fault.reason) if x)
            raise BadAnswer(f"registry answered with a SOAP fault: {detail}")
        body = root.find(f"{{{NS.SOAP12}}}Body")
        children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
        if len(children) != 1:
            raise BadAnswer("registry response has no single SOAP body element")
        return children[0]

    def register(self, submit_objects_request: etree._Element) -> RegistryAnswer:
        """Send ITI-42 and read the RegistryResponse (the element moves into the request envelope)."""
        try:
            response = self._post(submit_objects_request, Action.REGISTER)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            return _not_available(f"the Document Registry at {self.url} cannot be reached: {exc or type(exc).__name__}")
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return _not_available(
                f"the Document Registry at {self.url} did not answer ({type(exc).__name__}); "
                "the documents are kept until the registry tells whether it registered them",
                unknown=True,
            )
        content_type = response.headers.get("content-type", "")
        if "xml" not in content_type:
            return _not_available(f"the Document Registry at {self.url} answered HTTP {response.status_code} without SOAP")
        try:
            body = self._envelope_body(response)
        except BadAnswer as exc:
            return RegistryAnswer(None, Violation(ErrorCode.XDSRegistryError, str(exc)))
        if body.tag != REGISTRY_RESPONSE or not body.get("status"):
            return RegistryAnswer(None, Violation(ErrorCode.XDSRegistryError, f"registry answered {body.tag}, not a RegistryResponse"))
        return RegistryAnswer(body)

    def registered_unique_ids(self, unique_ids: Iterable[str], repository_unique_id: str) -> set[str]:
        """Which of these DocumentEntry uniqueIds the registry holds for this repository (ITI-18 GetDocuments).

        Raises RegistryUnavailable when the registry gives no usable answer.
        """
        ids = list(unique_ids)
        if not ids:
            return set()
        request = etree.Element(f"{QUERY}AdhocQueryRequest", nsmap={"query": NS.QUERY, "rim": NS.RIM})
        option = etree.SubElement(request, f"{QUERY}ResponseOption")
        option.set("returnType", "LeafClass")
        option.set("returnComposedObjects", "true")
        query = etree.SubElement(request, f"{RIM}AdhocQuery", id=StoredQueryId.GetDocuments.value)
        slot = etree.SubElement(query, f"{RIM}Slot", name="$XDSDocumentEntryUniqueId")
        values = etree.SubElement(slot, f"{RIM}ValueList")
        quoted = ",".join("'" + i.replace("'", "''") + "'" for i in ids)
        etree.SubElement(values, f"{RIM}Value").text = f"({quoted})"
        try:
            response = self._post(request, Action.STORED_QUERY)
            body = self._envelope_body(response)
        except (httpx.HTTPError, BadAnswer) as exc:
            raise RegistryUnavailable(str(exc)) from None
        if body.tag != f"{QUERY}AdhocQueryResponse":
            raise RegistryUnavailable(f"registry answered {body.tag} to a stored query")
        if body.get("status", "").endswith(":Failure"):
            raise RegistryUnavailable("registry answered the stored query with Failure")
        found = set()
        for entry in body.iterfind(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject"):
            repo = [
                (v.text or "").strip()
                for s in entry.iterchildren(f"{RIM}Slot")
                if s.get("name") == "repositoryUniqueId"
                for v in s.iterfind(f"{RIM}ValueList/{RIM}Value")
            ]
            for ext in entry.iterchildren(f"{RIM}ExternalIdentifier"):
                if ext.get("identificationScheme") == UUID.DE_UNIQUE_ID and repository_unique_id in repo:
                    found.add((ext.get("value") or "").strip())
        return found
