"""Registry service wiring: settings → store, profile, SOAP endpoint, patient feed listener.

Only plumbing: each handler decodes the body, opens a store transaction, calls the transaction
function, encodes the answer. Store exceptions are translated to IHE codes here, at the boundary.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy.exc import DBAPIError, IntegrityError

from dmp.app import DmpServices, PathRouter
from dmp.choices import Choices
from dmp.model import Who, person_from_feed
from dmp.patients import Rules
from dmp.sql.store import SqlRecords
from registry import query
from registry.access import AccessNote, Acting, RegistryAccess, acting
from registry.announce import ANNOUNCED, Announcement, Announcer
from registry.audit_facts import feed_audit_facts
from registry.config import RegistrySettings
from registry.dmp_facts import RegistryFactsSql
from registry.mllp_server import FeedServer
from registry.patient_feed import FeedDecision, SavePatient
from registry.register import RegisterOutcome, RegisterSettings, lock_keys, register
from registry.remove import remove
from registry.sql.errors import database_violation, is_contention
from registry.sql.queries import QuerySql
from registry.sql.store import RegistryTx, SqlRegistry
from registry.update import lock_keys as update_lock_keys
from registry.update import update
from registry.valuesets import ValueSetFolderError, load_value_sets
from xdscore.access.record import PatientRecords
from xdscore.clock import dtm
from xdscore.ebrim import limits, query_response, remove_objects, response, submit_objects
from xdscore.errors import FaultCode, SoapFault, Violation
from xdscore.model import Submission
from xdscore.profiles import Profile, dmp
from xdscore.profiles.ihe import PROFILE as IHE_PROFILE
from xdscore.profiles.nist import profile_from_codes_xml
from xdscore.vocabulary import NS, Action, ErrorCode
from xdsservice import schema_validation
from xdsservice.access import load_records, trusted_system
from xdsservice.auditing import AuditTrail, ae
from xdsservice.security import build_security_hook, load_forwarders
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xdsservice.wsdl import schema_document, wsdl_document

log = logging.getLogger("xds.registry")


def load_profile(settings: RegistrySettings) -> Profile:
    if settings.profile == "ihe":
        return IHE_PROFILE
    if settings.profile == "nist":
        path = Path(settings.codes_file)
        if not path.is_file():
            raise SystemExit(f"profile nist needs the NIST codes.xml; not found at {path} (set XDS_REGISTRY_CODES_FILE)")
        return profile_from_codes_xml(path.read_bytes())
    if settings.profile == "dmp":
        return dmp_profile(settings)
    raise SystemExit(f"unknown profile {settings.profile!r}; known: ihe, nist, dmp")


def dmp_profile(settings: RegistrySettings) -> Profile:
    """The French DMP profile with the JDV value sets of `value_sets_dir` (docs/dmp.md)."""
    try:
        value_sets = load_value_sets(settings.value_sets_dir)
    except ValueSetFolderError as exc:
        raise SystemExit(f"profile dmp: {exc} (set XDS_REGISTRY_VALUE_SETS_DIR)") from None
    for attribute in dmp.unbound(value_sets):
        log.warning("profile dmp: no value set loaded for %s; its codes are not checked", attribute)
    authorities = settings.ins_authorities.split(",") if settings.ins_authorities.strip() else dmp.INS_AUTHORITIES
    return dmp.build_profile(value_sets, authorities)


def now_dtm() -> str:
    return dtm(datetime.now(UTC))


def new_uuid() -> str:
    """A random (version 4) UUID URN, RFC 4122 §4.4: the same as `uuid.uuid4()`, without building a UUID
    object (a registration takes about twenty)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Registry:
    """The running registry: its store and its SOAP endpoint (an ASGI app at `.asgi`)."""

    def __init__(self, settings: RegistrySettings, records: PatientRecords | None = None,
                 audit: AuditTrail | None = None) -> None:
        self.settings = settings
        # Settings that can be refused are checked before anything is opened or created.
        security = build_security_hook(settings.security)  # XDS_SECURITY, XDS_TRUST_DIR (docs/security.md)
        # the repositories trusted to act for their callers (pinned TLS client certificates, docs/dmp.md)
        self.forwarders = load_forwarders(settings.security.trusted_forwarders)
        self.register_settings = RegisterSettings(load_profile(settings), settings.keep_extra_metadata)
        self.submission_limits = settings.submission_limits()
        dmp_profile = settings.profile == "dmp"
        configured = load_records(settings.access) if dmp_profile and settings.access.records and not records else None
        self.store = SqlRegistry(settings.database_url)
        self.store.migrate()
        self.writer = self.store.group_committer()  # ITI-42 writes share durable commits (xdsservice.group_commit)
        # The DMP records (docs/dmp-services.md) live in the registry's database; they are the access rules'
        # patient records unless the constructor or `access_records` names others.
        self.records: SqlRecords | None = None
        if dmp_profile:
            self.records = SqlRecords(self.store.engine, settings.dmp.authorization_days)
            self.records.migrate()
        # The DMP's access rules (docs/dmp-access.md): on every read and write of the dmp profile.
        self.access = RegistryAccess(records or configured or self.records,
                                     settings.access.policy()) if dmp_profile else None
        self.audit = audit or AuditTrail(settings.audit_sender)
        self.feed = FeedServer(
            self.store, settings.feed_host, settings.feed_port, now_dtm, settings.affinity_domain, self.audit_feed,
            max_message_bytes=settings.feed_max_message_bytes, idle_timeout=settings.feed_idle_timeout,
            workers=settings.feed_workers, max_segments=settings.feed_max_segments,
            max_patient_segments=settings.feed_max_patient_segments, max_segment_chars=settings.feed_max_segment_chars,
            head_bytes=settings.feed_oversized_head_bytes,
        )
        # The announcement timer of documents hidden from the patient (DMP, CSP R1111-53; registry.announce).
        self.announcer = Announcer(self.store, settings.access.policy(), settings.access.timer_seconds,
                                   self.audit_announcements) if self.access else None
        startup = [self.start_feed] if settings.feed_port else []
        if self.announcer is not None:
            startup.append(self.announcer.start)
        soap = SoapService(
            path=settings.path,
            endpoint=settings.endpoint,
            handlers={
                Action.REGISTER.value: self.on_register,
                Action.STORED_QUERY.value: self.on_query,
                Action.UPDATE.value: self.on_update,
                Action.RESTRICTED_UPDATE.value: self.on_restricted_update,
                Action.DELETE.value: self.on_delete,
            },
            max_bytes=settings.max_request_bytes,
            max_header_bytes=settings.max_header_bytes,
            xml_limits=settings.xml_limits(),
            idle_timeout=settings.idle_timeout,
            security=security,
            wsdl=lambda actions: wsdl_document("registry", settings.endpoint, actions),
            xsd=lambda name: schema_document(name, settings.endpoint),
            on_startup=startup,
            on_shutdown=[self.stop],
        )
        self.asgi: Any = soap
        self.dmp: DmpServices | None = None
        if self.records is not None:
            authorities = settings.ins_authorities.split(",") if settings.ins_authorities.strip() else dmp.INS_AUTHORITIES
            rules = Rules(frozenset(a.strip() for a in authorities), settings.dmp.allow_creation,
                          settings.dmp.authorization_days)
            public = settings.endpoint[: len(settings.endpoint) - len(settings.path)] if settings.endpoint.endswith(
                settings.path) else settings.endpoint
            self.dmp = DmpServices(settings.dmp, self.records, RegistryFactsSql(self.store), rules, self.audit,
                                   security, public, idle_timeout=settings.idle_timeout)
            self.asgi = PathRouter(soap, *self.dmp.routes(soap, settings.path))

    async def start_feed(self) -> None:
        await self.feed.start()

    async def stop(self) -> None:
        if self.announcer is not None:
            await self.announcer.stop()
        if self.settings.feed_port:
            await self.feed.stop()
        if self.dmp is not None:
            await self.dmp.close()
        await asyncio.to_thread(self.writer.close)
        self.audit.close()

    async def on_register(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        """ITI-42: read the request here; it is checked and written in the writer's next group commit."""
        body = decoded.request.body
        note, who = AccessNote(), self.acting(decoded, context)
        # Its size first (objects, Slots, values: xdscore.ebrim.limits), then the ebRS 3.0 schema (element
        # order, object kinds): nothing reads an oversized or malformed submission.
        violations = []
        if body.tag == submit_objects.SUBMIT_OBJECTS_REQUEST:
            violations = limits.violations(body, self.submission_limits) or schema_validation.violations(
                body, ErrorCode.XDSRegistryMetadataError)
        sub = None if violations else submit_objects.read(body)
        if sub is not None and self.access is not None:  # reads the patient's record: off the loop
            violations = await asyncio.to_thread(self.access.check_submission, who, sub, note)
        if sub is not None and not violations:  # a refused submission stores nothing
            violations = await self._register(sub)
        status = response.status_for(violations)
        ss = sub.submission_set if sub is not None else None
        facts = self.audit.soap_facts(
            ae.Transaction.ITI_42, context, status,
            patient_ids=(ss.patient_id,) if ss and ss.patient_id else (),
            submission_set_unique_id=(ss.unique_id or "") if ss else "",
            outcome_description=note.describe() if self.access else "",
        )
        facts = replace(facts, principal=who.principal) if who.principal else facts  # a forwarded caller
        return SoapReply(response.write(violations, status), Action.REGISTER_RESPONSE.value,
                         after_send=[lambda: self.audit.record(facts)])

    def acting(self, decoded: DecodedRequest, context: RequestContext) -> Acting:
        return acting(context.principal, trusted_system(context, self.forwarders), decoded.request.header)

    async def _register(self, sub: Submission) -> list[Violation]:
        now = now_dtm()

        def work(tx: RegistryTx) -> RegisterOutcome:
            outcome = register(sub, tx, self.register_settings, now, new_uuid)
            if outcome.changes is not None:
                tx.apply(outcome.changes, now)
            return outcome

        try:
            return (await asyncio.wrap_future(self.writer.submit(work, lock_keys(sub)))).violations
        except IntegrityError:
            log.warning("ITI-42 refused by a uniqueness constraint (concurrent submission)", exc_info=True)
            return [Violation(ErrorCode.XDSRegistryMetadataError, "an id or uniqueId of this submission was "
                              "registered concurrently by another submission")]
        except DBAPIError as exc:  # contention is Busy; a request the database cannot run is an error
            log.exception("ITI-42: %s", "database busy or unavailable" if is_contention(exc) else "database refused it")
            return [database_violation(exc)]

    def on_update(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        """ITI-57 Update Document Set."""
        return self._update(decoded, context, restricted=False)

    def on_restricted_update(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        """ITI-92 Restricted Update Document Set."""
        return self._update(decoded, context, restricted=True)

    def _update(self, decoded: DecodedRequest, context: RequestContext, restricted: bool) -> SoapReply:
        body = decoded.request.body
        violations = []
        if body.tag == submit_objects.SUBMIT_OBJECTS_REQUEST:  # its size and the ebRS 3.0 schema first, as for ITI-42
            violations = limits.violations(body, self.submission_limits) or schema_validation.violations(
                body, ErrorCode.XDSRegistryMetadataError)
        sub = None if violations else submit_objects.read(body)
        note, who = AccessNote(), self.acting(decoded, context)
        if sub is not None:
            violations = self._apply_update(sub, restricted, who, note)
        status = response.status_for(violations)
        ss = sub.submission_set if sub is not None else None
        facts = self.audit.soap_facts(
            ae.Transaction.ITI_92 if restricted else ae.Transaction.ITI_57, context, status,
            patient_ids=(ss.patient_id,) if ss and ss.patient_id else (),
            submission_set_unique_id=(ss.unique_id or "") if ss else "",
            outcome_description=note.describe() if self.access else "",
        )
        facts = replace(facts, principal=who.principal) if who.principal else facts  # a forwarded caller
        action = Action.RESTRICTED_UPDATE_RESPONSE if restricted else Action.UPDATE_RESPONSE
        after = [lambda: self.audit.record(facts)]
        if note.made_visible and not violations:  # TD3.3b: the patient is told, as by the announcement timer
            after.append(lambda: self.audit_announcements(note.made_visible))
        return SoapReply(response.write(violations, status), action.value, after_send=after)

    def _apply_update(self, sub: Submission, restricted: bool, who: Acting, note: AccessNote) -> list[Violation]:
        now = now_dtm()
        name = "ITI-92" if restricted else "ITI-57"
        try:
            with self.store.write(update_lock_keys(sub)) as tx:
                # DMP TD3.3a-d (docs/dmp-access.md): decided on what is stored, under the update's lock
                refused = self.access.check_update(who, sub, tx.conn, note) if self.access else []
                if refused:
                    return refused
                outcome = update(sub, tx, self.register_settings, now, new_uuid, restricted)
                if outcome.changes is not None:
                    tx.apply(outcome.changes, now)
            return outcome.violations
        except IntegrityError:
            # The unique (lid, version) index: another request made the same new version first.
            log.warning("%s refused by a uniqueness constraint (concurrent update)", name, exc_info=True)
            return [Violation(ErrorCode.XDSMetadataVersionError, "another update of the same object was registered "
                              "concurrently; query the latest version and retry")]
        except DBAPIError as exc:  # contention is Busy; a request the database cannot run is an error
            log.exception("%s: %s", name, "database busy or unavailable" if is_contention(exc) else "database refused it")
            return [database_violation(exc)]

    def on_delete(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        """ITI-62 Remove Metadata (Delete Document Set)."""
        body = decoded.request.body
        request = remove_objects.read(body)
        violations = list(request.violations) or schema_validation.violations(body, ErrorCode.XDSRegistryError)
        if not violations and self.access is not None and not self.acting(decoded, context).system:
            # The DMP deletes logically (TD3.3c); removing metadata is left to a trusted system.
            violations = [Violation(ErrorCode.XDSRegistryError, "DMP access refused: the DMP deletes a document "
                                    "logically (TD3.3c: ITI-57 UpdateAvailabilityStatus to "
                                    "urn:asip:ci-sis:2010:StatusType:Deleted); ITI-62 is for trusted systems only")]
        patients: list[str] = []
        removed: list[str] = []
        if not violations:
            try:
                with self.store.write(request.ids) as tx:
                    outcome = remove(list(request.ids), tx)
                    if outcome.changes is not None:
                        tx.apply(outcome.changes, now_dtm())
                violations, patients = outcome.violations, outcome.patients
                removed = [uuid for uuid, _ in outcome.removed]
            except DBAPIError as exc:  # contention is Busy; a request the database cannot run is an error
                violations = [database_violation(exc)]
                log.exception("ITI-62: %s", "database busy or unavailable" if is_contention(exc) else "database refused it")
        status = response.status_for(violations)
        facts = self.audit.soap_facts(
            ae.Transaction.ITI_62, context, status, patient_ids=tuple(patients),
            removed_objects=tuple(removed or request.ids),
        )
        return SoapReply(response.write(violations, status), Action.DELETE_RESPONSE.value,
                         after_send=[lambda: self.audit.record(facts)])

    def on_query(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        body = decoded.request.body
        if body.tag != f"{{{NS.QUERY}}}AdhocQueryRequest":
            raise SoapFault(FaultCode.SENDER, f"body element is {body.tag}, expected query:AdhocQueryRequest")
        note, who = AccessNote(), self.acting(decoded, context)
        guard = self.access.query_guard(who, note) if self.access else None
        invalid = schema_validation.violations(body, ErrorCode.XDSRegistryError, query=True)
        try:
            if invalid:
                outcome = query.QueryOutcome(query_response.failure(invalid), None, invalid)
            else:
                with self.store.read() as tx:
                    outcome = query.answer(body, QuerySql(tx.conn, self.settings.max_query_results),
                                           self.settings.query_limits(), guard,
                                           self.register_settings.profile.hidden_statuses)
        except DBAPIError as exc:  # contention is Busy; a query the database cannot run is an error
            refused = [database_violation(exc)]
            log.exception("ITI-18: %s", "database busy or unavailable" if is_contention(exc) else "database refused it")
            outcome = query.QueryOutcome(query_response.failure(refused), None, refused)
        adhoc = body.find(f"{{{NS.RIM}}}AdhocQuery")
        facts = self.audit.soap_facts(
            ae.Transaction.ITI_18, context, response.status_for(outcome.violations),
            patient_ids=tuple(outcome.query_patients() or outcome.patients),
            query=ae.StoredQuery(
                adhoc.get("id", "") if adhoc is not None else "",
                etree.tostring(body),
                (outcome.query.home or "") if outcome.query else "",
            ),
            outcome_description=note.describe() if self.access else "",
        )
        facts = replace(facts, principal=who.principal) if who.principal else facts  # a forwarded caller
        if self.access:
            log.debug("ITI-18 %s", note.describe())
        return SoapReply(outcome.response, Action.STORED_QUERY_RESPONSE.value, after_send=[lambda: self.audit.record(facts)])

    def audit_announcements(self, done: list[Announcement]) -> None:
        """DMP announcements as audit events (the sink turns them into the patient's notifications)."""
        node = self.audit.server(self.settings.endpoint)
        for x in done:
            kind = ae.Transaction.DMP_ANNOUNCED if x.kind == ANNOUNCED else ae.Transaction.DMP_ANNOUNCEMENT_NOTICE
            self.audit.record(ae.AuditFacts(
                transaction=kind, event_time=datetime.now(UTC), outcome=ae.EventOutcome.SUCCESS, client=node,
                server=node, audit_source=self.audit.source, patient_ids=(x.patient_id,),
                documents=(ae.DocumentRef(x.unique_id, x.repository_unique_id),)))

    def audit_feed(self, decision: FeedDecision, peer: str) -> None:
        """ITI-8 applied: its audit events (registry.audit_facts), then the DMP records it opens."""
        for facts in feed_audit_facts(self.audit, decision, peer, self.settings.feed_host):
            self.audit.record(facts)
        if self.records is not None and self.settings.dmp.open_on_feed:
            self.open_records([a for a in decision.actions if isinstance(a, SavePatient)])

    def open_records(self, saved: list[SavePatient]) -> None:
        """dmp `open_on_feed`: a fed patient without a DMP gets an open one (as Mon espace santé creates them)."""
        assert self.records is not None
        for patient in saved:
            with self.records.write(str(patient.key)) as tx:
                if tx.record(str(patient.key)) is None:
                    Choices(tx, str(patient.key), Who("feed", "", "ITI-8"), now_dtm()).open(
                        person_from_feed(patient.demographics))
