"""The audit trail of one service process: facts of a transaction → DICOM audit messages → durable sender.

`AuditTrail(settings)` owns the process's `xdsservice.audit_sender.AuditSender` (the service's `audit_sender` settings,
`[audit_sender]` / XDS_AUDIT_SENDER_*; `transport = off` turns the trail off). `record(...)`
builds the messages with `xdscore.audit_events` and puts them in the local spool: it returns in about a
millisecond and never waits on the sink. Services call it from `SoapReply.after_send`, after the reply
has gone out.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from xdscore import audit_events as ae
from xdscore.vocabulary import ResponseStatus
from xdsservice.audit_sender import AuditSender, AuditSenderSettings

log = logging.getLogger("xds.audit.trail")

__all__ = ["AuditTrail", "ae"]


class AuditTrail:
    def __init__(self, settings: AuditSenderSettings) -> None:
        self.app_name = settings.app_name
        self.source = ae.AuditSource(f"pyxds-{settings.app_name}@{socket.gethostname()}")
        self.sender: AuditSender | None = None if settings.transport == "off" else AuditSender(settings)
        self.pid = str(os.getpid())

    def server(self, endpoint: str) -> ae.Node:
        host = endpoint.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return ae.Node(user_id=endpoint, address=host, process_id=self.pid)

    @staticmethod
    def client(context: Any) -> ae.Node:
        """The SOAP client: its wsa:ReplyTo (else From) address and network address."""
        return ae.Node(user_id=getattr(context, "reply_to", "") or "", address=getattr(context, "client_host", "") or "")

    def soap_facts(
        self,
        transaction: ae.Transaction,
        context: Any,
        status: ResponseStatus | str,
        **facts: Any,
    ) -> ae.AuditFacts:
        status = status if isinstance(status, ResponseStatus) else ResponseStatus(status)
        return ae.AuditFacts(
            transaction=transaction,
            event_time=datetime.now(UTC),
            outcome=ae.EventOutcome.of_response(status),
            client=self.client(context),
            server=self.server(context.endpoint),
            audit_source=self.source,
            principal=getattr(context, "principal", None),
            **facts,
        )

    def record(self, facts: ae.AuditFacts) -> None:
        """Build the messages and spool them (never raises: a broken audit must not break a transaction)."""
        if self.sender is None:
            return
        try:
            self.sender.emit_all(ae.build(facts))
        except Exception:
            log.exception("audit of %s could not be recorded", facts.transaction.value)

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()
