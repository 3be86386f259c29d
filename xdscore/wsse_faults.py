"""WS-Security fault subcodes (OASIS WSS SOAP Message Security 1.1, §12 "Error Handling").

Every refusal of the security layer is a SOAP 1.2 Sender fault whose subcode is one of these
`wsse:` QNames, with a reason that says what was wrong. Kept apart from `xdscore.wssec` so the
signature and assertion checkers can raise the same faults without importing each other.

Which subcode for which failure (docs/security.md has the full table):
- InvalidSecurity: the wsse:Security header itself is unusable (missing, repeated, malformed,
  duplicate IDs, no assertion where one is required, a Timestamp created in the future).
- InvalidSecurityToken: the assertion is not acceptable as a token (unsigned, malformed, outside its
  validity window, missing or repeated attributes, bad attribute values).
- FailedCheck: a signature is present but invalid (value does not verify, wrong reference, forbidden
  algorithm or transform).
- FailedAuthentication: the signer is not trusted (chain, certificate dates) or the assertion is not
  for us (audience, issuer not the signer).
- MessageExpired: the wsu:Timestamp has expired.
- UnsupportedSecurityToken: a token type we do not process (SAML 1.x, EncryptedAssertion).
"""

from __future__ import annotations

from enum import Enum

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS


class WsseFault(str, Enum):
    """Local names of the wsse fault subcodes; the value is the wire local name."""

    INVALID_SECURITY = "InvalidSecurity"
    INVALID_SECURITY_TOKEN = "InvalidSecurityToken"
    FAILED_AUTHENTICATION = "FailedAuthentication"
    FAILED_CHECK = "FailedCheck"
    MESSAGE_EXPIRED = "MessageExpired"
    UNSUPPORTED_SECURITY_TOKEN = "UnsupportedSecurityToken"

    @property
    def qname(self) -> tuple[str, str]:
        return (NS.WSSE, self.value)


MAX_REASON = 1000  # characters; reasons quote received values, which must not flood the log or the fault


class SecurityFault(SoapFault):
    """A SOAP 1.2 Sender fault with a wsse subcode (HTTP 400 per the SOAP 1.2 HTTP binding)."""

    def __init__(self, kind: WsseFault, reason: str) -> None:
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 1] + "…"
        super().__init__(FaultCode.SENDER, reason, kind.qname)
        self.kind = kind
