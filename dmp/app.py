"""The DMP's services in the registry's process (wiring only): `<prefix>/patients`, `/habilitations`,
`/patientsSpecific` (SOAP 1.2 + WS-Addressing + the VIHF, through the project's SOAP layer and security
hook), `<prefix>/registry` (the registry's own endpoint under the DMP's path), `<prefix>/repository`
(forwarded to the repository, `dmp.proxy`), and the patient API at `/dmp/api` (`dmp.api`).

Each handler reads the body with `xdscore.dmpws`, runs the service function in one record transaction,
and audits the call after the answer is sent (a Patient Record event with the VIHF's requestor).
Why in the registry's process: the DMP's rules are read on every registry transaction (the access
decision of `xdscore.access`), the record lives in the registry's database, and the DMP's base URL then
serves `/registry` on the same port without a forwarding hop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from dmp import habilitations, patient_list, patients
from dmp.api import PatientApi
from dmp.caller import Caller
from dmp.config import DmpSettings
from dmp.model import HistoryEntry
from dmp.ports import RegistryFacts
from dmp.proxy import RepositoryProxy
from dmp.sql.store import SqlRecords
from xdscore.clock import dtm
from xdscore.dmpws import gdp
from xdscore.dmpws import habilitations as hab_msg
from xdscore.dmpws import patient_list as list_msg
from xdscore.dmpws.vocabulary import ACTION_ALIASES, AckDetail, DmpAction, DmpNS, ReasonCode
from xdscore.errors import FaultCode, SoapFault
from xdscore.model import PatientKey
from xdsservice.auditing import AuditTrail, ae
from xdsservice.soapapp import DecodedRequest, RequestContext, SecurityHook, SoapReply, SoapService

log = logging.getLogger("xds.dmp")

API_PATH = "/dmp/api"
# wsa:Action -> the interaction its body must be.
_INTERACTIONS = {
    DmpAction.GET_DEMOGRAPHICS.value: gdp.QUERY,
    DmpAction.PATIENT_ADD.value: gdp.ADD,
    DmpAction.PATIENT_REVISE.value: gdp.REVISE,
}
_CHOICES = ("CHOIX_PATIENT", "Choix du patient")


def now_dtm() -> str:
    return dtm(datetime.now(UTC))


def _caller(context: RequestContext) -> Caller | None:
    return Caller.of(context.principal) if context.principal is not None else None


def _sender_fault(exc: Exception) -> SoapFault:
    return SoapFault(FaultCode.SENDER, str(exc))


class DmpServices:
    """The DMP's SOAP services, the repository path and the patient API, as ASGI apps by path."""

    def __init__(self, settings: DmpSettings, records: SqlRecords, facts: RegistryFacts, rules: patients.Rules,
                 audit: AuditTrail, security: SecurityHook | None, public_base: str,
                 now: Callable[[], str] = now_dtm, idle_timeout: float | None = None) -> None:
        self.settings, self.records, self.facts, self.rules, self.audit = settings, records, facts, rules, audit
        self.now = now
        base = settings.base
        self.public_base = public_base.rstrip("/")

        def service(name: str, handlers: dict[str, Any]) -> SoapService:
            return SoapService(path=f"{base}/{name}", endpoint=f"{self.public_base}{base}/{name}", handlers=handlers,
                               max_bytes=settings.max_request_bytes, security=security, idle_timeout=idle_timeout)

        self.patients = service("patients", dict.fromkeys(_INTERACTIONS, self.on_patients))
        self.habilitations = service("habilitations", {
            DmpAction.SET_AUTHORIZATION.value: self.on_set_authorization,
            DmpAction.LIST_AUTHORIZATIONS.value: self.on_list_authorizations,
            **{alias: (self.on_set_authorization if action is DmpAction.SET_AUTHORIZATION else self.on_list_authorizations)
               for alias, action in ACTION_ALIASES.items()},
        })
        self.patients_specific = service("patientsSpecific", {DmpAction.PATIENT_LIST.value: self.on_patient_list})
        self.repository = RepositoryProxy(settings.repository_url)
        self.api = PatientApi(records, self.audit_choices, now, settings.api_token)

    def routes(self, registry: Any, registry_path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(exact paths, path prefixes) → ASGI app; `registry` is the registry's SOAP service at `registry_path`."""
        base = self.settings.base

        async def registry_alias(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await registry(dict(scope, path=registry_path), receive, send)

        exact = {
            f"{base}/patients": self.patients,
            f"{base}/habilitations": self.habilitations,
            f"{base}/patientsSpecific": self.patients_specific,
            f"{base}/registry": registry_alias,
            f"{base}/repository": self.repository,
        }
        return exact, {API_PATH: self.api}

    async def close(self) -> None:
        await self.repository.close()

    # --- SOAP handlers -------------------------------------------------------------------------------

    def on_patients(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        body, now = decoded.request.body, self.now()
        header = gdp.read_header(body)
        expected = _INTERACTIONS[decoded.request.addressing.action]
        try:
            if header.interaction != expected:
                raise gdp.GdpError(AckDetail.DMP_INVALID_REQUEST, f"the body is {etree.QName(body).text}, the "
                                   f"wsa:Action asks for {expected} ({{{DmpNS.HL7}}})")
            request = gdp.read_request(body)
        except gdp.GdpError as error:
            header = header if header.interaction == expected else gdp.Header(expected, header.id_root, header.id_extension,
                                                                               header.sender_id, header.sender_name)
            outcome = patients.refusal(header, _reason_of(body, expected), error, now)
            return self._reply(outcome, context)
        key = PatientKey(request.patient_id, request.patient_root)
        with self.records.write(str(key)) as tx:
            outcome = patients.answer(request, _caller(context), tx, self.facts, now, self.rules)
        return self._reply(outcome, context)

    def on_set_authorization(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        try:
            request = hab_msg.read_set_authorization(decoded.request.body)
        except hab_msg.MessageError as exc:
            raise _sender_fault(exc) from None
        caller = _caller(context)
        with self.records.write(caller.patient if caller else "") as tx:
            outcome = habilitations.set_authorization(request, caller, tx, self.now(), self.rules.authorization_days)
        return self._reply(outcome, context)

    def on_list_authorizations(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        try:
            mode = hab_msg.read_list_authorizations(decoded.request.body)
        except hab_msg.MessageError as exc:
            raise _sender_fault(exc) from None
        with self.records.read() as tx:
            outcome = habilitations.list_authorizations(mode, _caller(context), tx, self.now(),
                                                        self.rules.authorization_days)
        return self._reply(outcome, context)

    def on_patient_list(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        try:
            request = list_msg.read_patient_list(decoded.request.body)
        except hab_msg.MessageError as exc:
            raise _sender_fault(exc) from None
        with self.records.read() as tx:
            outcome = patient_list.patient_list(request, _caller(context), tx, self.facts)
        return self._reply(outcome, context)

    # --- audit ------------------------------------------------------------------------------------------

    def _reply(self, outcome: patients.Outcome, context: RequestContext) -> SoapReply:
        code, name = outcome.td
        action = (ae.EventAction.READ if not outcome.changes else
                  ae.EventAction.CREATE if code == "TD1.1" else ae.EventAction.UPDATE)
        facts = self.audit.soap_facts(
            ae.Transaction.DMP, context, "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:" +
            ("Success" if outcome.ok else "Failure"),
            patient_ids=(outcome.patient,) if outcome.patient else (),
            dmp=ae.DmpEvent(code, name, action, tuple(e.change.value for e in outcome.changes)),
        )
        return SoapReply(outcome.body, outcome.action, after_send=[lambda: self.audit.record(facts)])

    def audit_choices(self, patient: str, changes: list[HistoryEntry], client: str) -> None:
        self.audit.record(ae.AuditFacts(
            transaction=ae.Transaction.DMP,
            event_time=datetime.now(UTC),
            outcome=ae.EventOutcome.SUCCESS,
            client=ae.Node(user_id=changes[0].who.id if changes else "patient", address=client),
            server=self.audit.server(f"{self.public_base}{API_PATH}"),
            audit_source=self.audit.source,
            patient_ids=(patient,),
            dmp=ae.DmpEvent(*_CHOICES, ae.EventAction.UPDATE, tuple(e.change.value for e in changes)),
        ))


def _reason_of(body: etree._Element, interaction: str) -> ReasonCode | None:
    """The reasonCode of a request we could not read, when it names one this interaction knows."""
    code = body.find(f"{{{DmpNS.HL7}}}controlActProcess/{{{DmpNS.HL7}}}reasonCode")
    value = code.get("code", "") if code is not None else ""
    return next((r for r in gdp.REASONS.get(interaction, ()) if r.value == value), None)


class PathRouter:
    """Exact paths and path prefixes to ASGI apps; everything else (and the lifespan) to `default`."""

    def __init__(self, default: Any, exact: dict[str, Any], prefixes: dict[str, Any]) -> None:
        self.default, self.exact, self.prefixes = default, exact, prefixes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope.get("path", "/").rstrip("/") or "/"
            if path in self.exact:
                await self.exact[path](scope, receive, send)
                return
            for prefix, app in self.prefixes.items():
                if path == prefix or path.startswith(prefix + "/"):
                    # ASGI mounting: the path stays whole, root_path says where the app is mounted.
                    await app(dict(scope, root_path=scope.get("root_path", "") + prefix), receive, send)
                    return
        await self.default(scope, receive, send)
