"""`xds feed`: ITI-8 Patient Identity Feed, an HL7 v2.5 ADT^A01 over MLLP (ITI TF-2a 3.8; HL7 v2.5 ch. 3).

The acknowledgement's MSA-1 decides: AA is success, anything else is an error whose text (MSA-3, or ERR)
is shown.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from dataclasses import dataclass

from xdscore import mllp


class FeedError(Exception):
    """The feed did not accept the patient (or could not be reached)."""


@dataclass(frozen=True)
class Patient:
    cx: str  # id^^^&OID&ISO[^type]
    name: str = ""  # FAMILY^GIVEN (HL7 v2 XPN components)
    birth_date: str = ""  # YYYYMMDD
    sex: str = ""  # M, F, U


def adt_a01(patient: Patient, control_id: str | None = None, now: dt.datetime | None = None) -> str:
    """The ADT^A01 message (segments separated by CR)."""
    ts = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    control = control_id or uuid.uuid4().hex[:20]
    segments = [
        f"MSH|^~\\&|PYXDS|XDS-CLIENT|XDSREG|XDSREG|{ts}||ADT^A01^ADT_A01|{control}|P|2.5",
        f"EVN|A01|{ts}",
        f"PID|||{patient.cx}||{patient.name}||{patient.birth_date}|{patient.sex}",
        "PV1||N",
    ]
    return "\r".join(segments) + "\r"


def send(message: str, host: str, port: int, timeout: float = 30.0) -> str:
    """Send one message over MLLP and return the acknowledgement's text."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(mllp.frame(message.encode("utf-8")))
            reader = mllp.MllpReader()
            while True:
                data = s.recv(65536)
                if not data:
                    raise FeedError(f"the feed at {host}:{port} closed the connection without an acknowledgement")
                for event in reader.feed(data):
                    if isinstance(event, mllp.Frame):
                        return event.payload.decode("utf-8", errors="replace")
    except (OSError, TimeoutError) as exc:
        raise FeedError(f"cannot reach the patient feed at {host}:{port}: {exc.strerror or exc}") from None


def acknowledgement(ack: str) -> tuple[str, str]:
    """(MSA-1 code, text) of an ACK."""
    segments = {s.split("|", 1)[0]: s.split("|") for s in ack.replace("\n", "\r").split("\r") if s}
    msa = segments.get("MSA", [])
    code = msa[1] if len(msa) > 1 else ""
    text = msa[3] if len(msa) > 3 else ""
    err = segments.get("ERR")
    if not text and err:
        text = "|".join(err[1:]).strip("|")
    return code, text


def feed(patient: Patient, host: str, port: int) -> str:
    """Feed the patient; returns the ACK code (AA) or raises FeedError with the feed's reason."""
    code, text = acknowledgement(send(adt_a01(patient), host, port))
    if code != "AA":
        raise FeedError(f"the feed refused patient {patient.cx}: {code or 'no MSA'}{' ' + text if text else ''}")
    return code
