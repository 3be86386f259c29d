"""Errors that carry their wire reply (ITI TF-3 4.2.4 RegistryError; SOAP 1.2 Part 1 §5.4 Fault).

`XdsError` and `Violation` become RegistryError elements of a RegistryResponse; `SoapFault` becomes a
SOAP 1.2 Fault. Both are turned into bytes in one place only (`xdscore.ebrim.response`, `xdscore.soap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from xdscore.vocabulary import ErrorCode, Severity


@dataclass(frozen=True)
class Violation:
    """One broken rule: becomes one RegistryError. Rules yield these; they never raise."""

    code: ErrorCode
    context: str
    location: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class XdsError(Exception):
    """A transaction that must stop with one RegistryError (for example a store conflict)."""

    def __init__(self, code: ErrorCode, context: str, location: str = "") -> None:
        super().__init__(f"{code.value}: {context}")
        self.violation = Violation(code, context, location)


class FaultCode(str, Enum):
    """SOAP 1.2 fault codes (env:Code/env:Value)."""

    SENDER = "Sender"
    RECEIVER = "Receiver"
    VERSION_MISMATCH = "VersionMismatch"
    MUST_UNDERSTAND = "MustUnderstand"


class SoapFault(Exception):
    """A transport or security failure answered with a SOAP 1.2 Fault.

    `subcode` is a (namespace, local name) pair such as WS-Addressing's ActionNotSupported or
    WS-Security's InvalidSecurity; `reason` is the human-readable text put in env:Reason.
    """

    def __init__(
        self,
        code: FaultCode,
        reason: str,
        subcode: tuple[str, str] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        # SOAP 1.2 HTTP binding: Sender faults are 400, others 500.
        self.http_status = http_status or (400 if code is FaultCode.SENDER else 500)
