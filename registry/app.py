"""Registry service wiring: settings → store, profile, SOAP endpoint, patient feed listener.

Only plumbing: each handler decodes the body, opens a store transaction, calls the transaction
function, encodes the answer. Store exceptions are translated to IHE codes here, at the boundary.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError

from xdscore.clock import dtm
from xdscore.ebrim import query_response, response, submit_objects
from xdscore.errors import FaultCode, SoapFault, Violation
from xdscore.profiles import Profile
from xdscore.profiles.ihe import PROFILE as IHE_PROFILE
from xdscore.profiles.nist import profile_from_codes_xml
from xdscore.vocabulary import NS, Action, ErrorCode
from xdsservice.security import hook_for_service
from xdsservice.soapapp import DecodedRequest, RequestContext, SoapReply, SoapService
from xdsservice.wsdl import schema_document, wsdl_document

from registry import query
from registry.config import RegistrySettings
from registry.mllp_server import FeedServer
from registry.register import RegisterSettings, lock_keys, register
from registry.sql.queries import QuerySql
from registry.sql.store import SqlRegistry

log = logging.getLogger("xds.registry")


def load_profile(settings: RegistrySettings) -> Profile:
    if settings.profile == "ihe":
        return IHE_PROFILE
    if settings.profile == "nist":
        path = Path(settings.codes_file)
        if not path.is_file():
            raise SystemExit(f"profile nist needs the NIST codes.xml; not found at {path} (set XDS_REGISTRY_CODES_FILE)")
        return profile_from_codes_xml(path.read_bytes())
    raise SystemExit(f"unknown profile {settings.profile!r}; known: ihe, nist")


def now_dtm() -> str:
    return dtm(datetime.now(timezone.utc))


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


class Registry:
    """The running registry: its store and its SOAP endpoint (an ASGI app at `.asgi`)."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self.store = SqlRegistry(settings.database_url_resolved())
        self.store.migrate()
        self.register_settings = RegisterSettings(load_profile(settings), settings.keep_extra_metadata)
        self.feed = FeedServer(self.store, settings.feed_host, settings.feed_port, now_dtm, settings.affinity_domain)
        self.asgi = SoapService(
            path=settings.path,
            endpoint=settings.endpoint(),
            handlers={Action.REGISTER.value: self.on_register, Action.STORED_QUERY.value: self.on_query},
            max_bytes=settings.max_request_bytes,
            security=hook_for_service("registry"),  # XDS_SECURITY, XDS_TRUST_DIR (docs/security.md)
            wsdl=lambda: wsdl_document("registry", settings.endpoint()),
            xsd=lambda name: schema_document(name, settings.endpoint()),
            on_startup=[self.start_feed] if settings.feed_port else [],
            on_shutdown=[self.feed.stop] if settings.feed_port else [],
        )

    async def start_feed(self) -> None:
        await self.feed.start()

    def on_register(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        sub = submit_objects.read(decoded.request.body)
        now = now_dtm()
        try:
            with self.store.write(lock_keys(sub)) as tx:
                outcome = register(sub, tx, self.register_settings, now, new_uuid)
                if outcome.changes is not None:
                    tx.apply(outcome.changes, now)
            violations = outcome.violations
        except IntegrityError:
            log.warning("ITI-42 refused by a uniqueness constraint (concurrent submission)", exc_info=True)
            violations = [Violation(ErrorCode.XDSRegistryMetadataError, "an id or uniqueId of this submission was "
                                    "registered concurrently by another submission")]
        except OperationalError:
            log.exception("ITI-42: database unavailable")
            violations = [Violation(ErrorCode.XDSRegistryBusy, "the registry database is busy or unavailable; retry later")]
        return SoapReply(response.write(violations), Action.REGISTER_RESPONSE.value)

    def on_query(self, decoded: DecodedRequest, context: RequestContext) -> SoapReply:
        body = decoded.request.body
        if body.tag != f"{{{NS.QUERY}}}AdhocQueryRequest":
            raise SoapFault(FaultCode.SENDER, f"body element is {body.tag}, expected query:AdhocQueryRequest")
        try:
            with self.store.read() as tx:
                outcome = query.answer(body, QuerySql(tx.conn, self.settings.max_query_results))
            result = outcome.response
        except OperationalError:
            log.exception("ITI-18: database unavailable")
            result = query_response.failure(
                [Violation(ErrorCode.XDSRegistryBusy, "the registry database is busy or unavailable; retry later")]
            )
        return SoapReply(result, Action.STORED_QUERY_RESPONSE.value)
