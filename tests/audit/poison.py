"""The poison corpus of issue 18: audit messages that once stopped the sink, and their neighbours.

Each case is an AuditMessage (XML bytes) that differs from a valid ITI-43 record in one value at the edge
of its range. `syslog_message(xml, n)` wraps one into RFC 5424 with a distinct timestamp, so that every
case is a distinct message. `RAW` holds messages that are bad below the XML (syslog header bytes).
"""

from __future__ import annotations

import base64
import socket
import ssl
from pathlib import Path

from tests.audit.conftest import doctor, facts
from xdscore import audit_events as ae
from xdscore import syslog

VALID = ae.build(facts(ae.Transaction.ITI_43, principal=doctor()))[0]
_OUTCOME = b'EventOutcomeIndicator="0"'
_TIME = b'EventDateTime="2026-01-15T10:30:00.123Z"'
_USER = b'UserID="&lt;810002345678@https://idp.ch-exemple.fr&gt;"'
_PATIENT = b'ParticipantObjectID="123456789^^^&amp;1.2.250.1.213.1.4.8&amp;ISO"'
_DETAIL = b'value="MS4yLjI1MC4xLjk5OS4z"'


def _with(old: bytes, new: bytes) -> bytes:
    assert old in VALID, old
    return VALID.replace(old, new)


# name → AuditMessage; every one must be rejected with a reason (none is a valid record)
CASES: dict[str, bytes] = {
    "outcome 20 digits": _with(_OUTCOME, b'EventOutcomeIndicator="99999999999999999999"'),
    "outcome superscript two": _with(_OUTCOME, 'EventOutcomeIndicator="²"'.encode()),
    "outcome 5,000 digits": _with(_OUTCOME, b'EventOutcomeIndicator="' + b"9" * 5000 + b'"'),
    "outcome negative": _with(_OUTCOME, b'EventOutcomeIndicator="-1"'),
    "outcome not DICOM": _with(_OUTCOME, b'EventOutcomeIndicator="3"'),
    "outcome Arabic-Indic digit": _with(_OUTCOME, 'EventOutcomeIndicator="٠"'.encode()),
    "time year 10000 in UTC": _with(_TIME, b'EventDateTime="9999-12-31T23:59:59-14:00"'),
    "time year 0 in UTC": _with(_TIME, b'EventDateTime="0001-01-01T00:00:00+14:00"'),
    "time year 0000": _with(_TIME, b'EventDateTime="0000-01-01T00:00:00Z"'),
    "time offset +14:01": _with(_TIME, b'EventDateTime="2026-01-15T10:30:00+14:01"'),
    "time offset +99:00": _with(_TIME, b'EventDateTime="2026-01-15T10:30:00+99:00"'),
    "time February 30": _with(_TIME, b'EventDateTime="2026-02-30T10:30:00Z"'),
    "time 24:00": _with(_TIME, b'EventDateTime="2026-01-15T24:00:00Z"'),
    "time 5-digit year": _with(_TIME, b'EventDateTime="10000-01-01T00:00:00Z"'),
    "time date only": _with(_TIME, b'EventDateTime="2026-01-15"'),
    "time empty": _with(_TIME, b'EventDateTime=""'),
    "action X": _with(b'EventActionCode="R"', b'EventActionCode="X"'),
    "user id 5,000 characters": _with(_USER, b'UserID="' + b"u" * 5000 + b'"'),
    "user id 1,000 four-byte characters": _with(_USER, ('UserID="' + "\U0001f600" * 1000 + '"').encode()),
    "patient id 600 characters": _with(_PATIENT, b'ParticipantObjectID="' + b"1" * 600 + b'^^^&amp;1.2&amp;ISO"'),
    "detail with NUL": _with(_DETAIL, b'value="' + base64.b64encode(b"1.2\x003") + b'"'),
    "detail with control characters": _with(_DETAIL, b'value="' + base64.b64encode(b"\x1b[31m\x7f") + b'"'),
}

RAW: dict[str, bytes] = {
    "syslog hostname with a control byte": b"<85>1 2026-01-15T10:30:00Z ho\x01st app 1 IHE+RFC-3881 - " + VALID,
    "syslog app name with NUL": b"<85>1 2026-01-15T10:30:00Z host a\x00p 1 IHE+RFC-3881 - " + VALID,
}


def syslog_message(xml: bytes, n: int, app: str = "poison") -> bytes:
    """`xml` as an ITI-20 syslog message; `n` makes its timestamp, hence its digest, unique."""
    stamp = f"2026-01-15T10:30:00.{n:06d}Z"
    return syslog.encode(syslog.atna_message(xml, stamp, "hostile.example", app, "1"))


def all_messages(start: int = 0) -> dict[str, bytes]:
    """Every poison case as syslog bytes, each with its own timestamp."""
    out = {name: syslog_message(xml, start + i) for i, (name, xml) in enumerate(CASES.items())}
    return out | RAW


def send_udp(port: int, messages: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for m in messages:
            s.sendto(m, ("127.0.0.1", port))


def send_tls(port: int, ca: Path, messages: list[bytes]) -> bytes:
    """A plain RFC 5425 client (no acknowledgement asked) writing `messages`, then closing cleanly;
    returns what the sink sent back (nothing: acknowledgements go only to clients that ask by ALPN)."""
    context = ssl.create_default_context(cafile=str(ca))
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"".join(syslog.frame(m) for m in messages))
        tls.settimeout(0.5)
        try:
            answer = tls.recv(4096)
        except TimeoutError:
            pass
        tls.settimeout(10)
        tls.shutdown(socket.SHUT_WR)  # (this drops the TLS layer: what follows is raw records until EOF)
        while tls.recv(4096):  # then wait for the sink to close: no reset, nothing lost in flight
            pass
    return answer
