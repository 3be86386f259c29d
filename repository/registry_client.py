"""The repository as a client of the Document Registry: ITI-42 Register Document Set-b (ITI TF-2b 3.42), and
an ITI-18 GetDocuments by uniqueId (ITI TF-2a 3.18.4.1.2.3.7.5) for the cleanup command.

Plain SOAP 1.2 with WS-Addressing over HTTP (never MTOM: ITI-42 and ITI-18 are "simple SOAP",
xds-b.md §1.3). The ITI-42 of each ITI-41 is a coroutine on a pool of kept-alive connections
(`xdsservice.http_pool`): no thread is held while the registry works, so the number of ITI-41s in flight
is not capped by a thread pool; the stored queries (cleanup, ITI-86) go through httpx, synchronously.
Transport failures become the IHE answer the repository owes its own
caller (ITI TF-3 4.2.4.1): XDSRegistryNotAvailable when the registry cannot be reached, XDSRegistryError
when it answers with a fault or with something that is not a RegistryResponse.

`outcome_unknown` marks the one ambiguous case: the request went out but no answer came back (read
timeout, connection dropped). The registry may then have stored the metadata, so the repository keeps
the documents pending and the cleanup command asks the registry later (ITI-18) instead of guessing.

Security towards a secured registry: XUA (ITI TF-2b 3.40) covers the document source's call to the
repository; passing that caller's verified wsse:Security header on, unchanged, in the ITI-42 is this
project's choice (the repository registers on the caller's behalf), so that a registry requiring
assertions accepts the forward: `on_behalf_of(security)` gives that registry port for one ITI-41. An
https `registry_url` is reached with the CA and client certificate of `registry_tls_*`
(`RegistryClient.from_settings`), for a registry that asks for mutual TLS.
"""

from __future__ import annotations

import copy
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from lxml import etree

from repository.config import RepositorySettings
from repository.responses import REGISTRY_RESPONSE
from xdscore import soap, xmlsafe
from xdscore.ebrim import document_entry, rim
from xdscore.errors import SoapFault, Violation
from xdscore.queries import ReturnType, encode_request
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import NS, Action, ErrorCode, StoredQueryId
from xdsservice.http_pool import ConnectFailed, HttpPool, NoAnswer
from xdsservice.tls import client_ssl_context

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


@RULES.rule("REP-registry-unavailable", ErrorCode.XDSRegistryNotAvailable, ref="ITI TF-2b 3.41.4.1.3", family="ITI-41 repository")
def _not_available(reason: str, unknown: bool = False) -> RegistryAnswer:
    return RegistryAnswer(None, Violation(ErrorCode.XDSRegistryNotAvailable, reason), outcome_unknown=unknown)


def _code(value: str) -> ErrorCode:
    try:
        return ErrorCode(value)
    except ValueError:
        return ErrorCode.XDSRegistryError


def _add_security(envelope: etree._Element, security: etree._Element) -> None:
    """A copy of `security` as the first block of the envelope's soap:Header (WSS 1.1 §5)."""
    header = envelope.find(f"{{{NS.SOAP12}}}Header")
    if header is None:
        header = etree.Element(f"{{{NS.SOAP12}}}Header")
        envelope.insert(0, header)
    header.insert(0, copy.deepcopy(security))


class RegistryClient:
    def __init__(
        self,
        url: str,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), verify=tls if tls is not None else True
        )
        self._pool = HttpPool(url, timeout, min(timeout, 5.0), tls, max_response_bytes=MAX_RESPONSE_BYTES)

    @classmethod
    def from_settings(cls, settings: RepositorySettings) -> RegistryClient:
        """The client of `settings.registry_url`, with the `registry_tls_*` CA and client certificate when set."""
        tls = None
        if settings.registry_tls_key and not settings.registry_tls_cert:
            raise ValueError("registry_tls_key is set but registry_tls_cert is not: the client certificate is missing")
        if settings.registry_tls_ca or settings.registry_tls_cert:
            tls = client_ssl_context(
                settings.registry_tls_ca or None, settings.registry_tls_cert or None, settings.registry_tls_key or None
            )
        return cls(settings.registry_url, settings.registry_timeout, tls=tls)

    def close(self) -> None:
        self._client.close()
        self._pool.close()

    def on_behalf_of(self, security: etree._Element | None, caller: etree._Element | None = None) -> CallerRegistry:
        """The registry port of one ITI-41: its ITI-42 carries `security` (the caller's wsse:Security), if any,
        and `caller` (the DMP profile's `xdscore.access.forward` block), if any."""
        return CallerRegistry(self, security, caller)

    def _payload(self, body: etree._Element, action: Action, security: etree._Element | None = None,
                 caller: etree._Element | None = None) -> bytes:
        envelope = soap.request_envelope(body, action.value, to=self.url)
        if caller is not None:
            _add_security(envelope, caller)  # a header block like the Security one (not wsse: ours)
        if security is not None:
            _add_security(envelope, security)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    @staticmethod
    def _content_type(action: Action) -> str:
        return f'{soap.SOAP12_CONTENT_TYPE}; charset=UTF-8; action="{action.value}"'

    def _post(self, body: etree._Element, action: Action, security: etree._Element | None = None,
              caller: etree._Element | None = None) -> httpx.Response:
        return self._client.post(self.url, content=self._payload(body, action, security, caller),
                                 headers={"content-type": self._content_type(action)})

    @staticmethod
    def _envelope_body(content: bytes) -> etree._Element:
        """The body element of the registry's reply; BadAnswer for a fault or for garbage."""
        try:
            root = xmlsafe.parse_bytes(content, MAX_RESPONSE_BYTES, "registry response")
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

    @RULES.rule("REP-registry-answer", ErrorCode.XDSRegistryError, ref="ITI TF-2b 3.41.4.1.3", family="ITI-41 repository")
    async def register(self, submit_objects_request: etree._Element, security: etree._Element | None = None,
                       caller: etree._Element | None = None) -> RegistryAnswer:
        """Send ITI-42 and read the RegistryResponse (the element moves into the request envelope); a copy
        of `security` and of `caller`, when given, go in the SOAP header."""
        payload = self._payload(submit_objects_request, Action.REGISTER, security, caller)
        try:
            response = await self._pool.post(payload, [("Content-Type", self._content_type(Action.REGISTER))])
        except ConnectFailed as exc:
            return _not_available(f"the Document Registry at {self.url} cannot be reached: {exc}")
        except NoAnswer as exc:
            return _not_available(
                f"the Document Registry at {self.url} did not answer ({exc}); "
                "the documents are kept until the registry tells whether it registered them",
                unknown=True,
            )
        if "xml" not in response.headers.get("content-type", ""):
            return _not_available(f"the Document Registry at {self.url} answered HTTP {response.status} without SOAP")
        try:
            body = self._envelope_body(response.body)
        except BadAnswer as exc:
            return RegistryAnswer(None, Violation(ErrorCode.XDSRegistryError, str(exc)))
        if body.tag != REGISTRY_RESPONSE or not body.get("status"):
            return RegistryAnswer(None, Violation(ErrorCode.XDSRegistryError, f"registry answered {body.tag}, not a RegistryResponse"))
        return RegistryAnswer(body)

    def registered_unique_ids(self, unique_ids: Iterable[str], repository_unique_id: str) -> set[str]:
        """Which of these DocumentEntry uniqueIds the registry holds for this repository (ITI-18 GetDocuments).

        Raises RegistryUnavailable when the registry gives no usable answer.
        """
        found, failure = self.visible_unique_ids(unique_ids, repository_unique_id)
        if failure:
            raise RegistryUnavailable("registry answered the stored query with Failure")
        return found

    def visible_unique_ids(
        self, unique_ids: Iterable[str], repository_unique_id: str, caller: etree._Element | None = None
    ) -> tuple[set[str], list[Violation]]:
        """The uniqueIds the registry returns for GetDocuments, asked on behalf of `caller` (DMP: the registry
        decides TD3.2 for it), and the RegistryErrors of a Failure answer.

        Raises RegistryUnavailable when the registry gives no usable answer.
        """
        ids = list(unique_ids)
        if not ids:
            return set(), []
        request = encode_request(StoredQueryId.GetDocuments, {"$XDSDocumentEntryUniqueId": ids}, ReturnType.LEAF_CLASS)
        try:
            body = self._envelope_body(self._post(request, Action.STORED_QUERY, caller=caller).content)
        except (httpx.HTTPError, BadAnswer) as exc:
            raise RegistryUnavailable(str(exc)) from None
        if body.tag != f"{QUERY}AdhocQueryResponse":
            raise RegistryUnavailable(f"registry answered {body.tag} to a stored query")
        if body.get("status", "").endswith(":Failure"):
            errors = [Violation(_code(e.get("errorCode", "")), e.get("codeContext", ""), e.get("location", ""))
                      for e in body.iter(f"{{{NS.RS}}}RegistryError")]
            return set(), errors or [Violation(ErrorCode.XDSRegistryError, "the registry refused the stored query")]
        found = set()
        for element in body.iterfind(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject"):
            entry = document_entry.read(rim.read_object(element))
            if entry.unique_id and entry.repository_unique_id == repository_unique_id:
                found.add(entry.unique_id)
        return found, []


@dataclass(frozen=True)
class CallerRegistry:
    """`repository.provide.RegistryPort` for one caller: ITI-42 with that caller's wsse:Security header (and,
    in the DMP profile, the caller stated for the registry's access rules)."""

    client: RegistryClient
    security: etree._Element | None
    caller: etree._Element | None = None

    async def register(self, submit_objects_request: etree._Element) -> RegistryAnswer:
        return await self.client.register(submit_objects_request, self.security, self.caller)
