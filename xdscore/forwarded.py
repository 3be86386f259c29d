"""DMP DIRECTE through a trusted forwarder: the professional's card passed on as a WSS X.509 token.

A DIRECTE caller (the official TD2.1 request, KIT-MSG) sends an unsigned VIHF and authenticates with its card
as the TLS client certificate of its connection to the repository. The repository's ITI-42 to the registry
travels on another connection, the repository's own, where the unsigned VIHF proves nothing by itself. So the
repository that verified the card passes it on: a copy of the caller's wsse:Security header with the card as
a `wsse:BinarySecurityToken` (WSS 1.1 X.509 Token Profile §3.1: ValueType X509v3, Base64Binary). The registry
believes that token only from a *trusted forwarder*: a connection whose TLS client certificate is one it was
configured with (`xdscore.wssec.Policy.trusted_forwarders`, SHA-256 fingerprints). From anyone else the token
is ignored, and the unsigned VIHF is refused as before.

`with_card` writes the forwarded header (the repository), `read_card` reads the token back (the registry).
No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault, WsseFault

_WSSE = f"{{{NS.WSSE}}}"
X509_TOKEN = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
BINARY_TOKEN = f"{_WSSE}BinarySecurityToken"
_DER = Encoding.DER


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex: how a trusted forwarder is recognised."""
    return hashlib.sha256(cert.public_bytes(_DER)).hexdigest()


def _x509_tokens(security: etree._Element) -> list[etree._Element]:
    return [c for c in security if c.tag == BINARY_TOKEN and (c.get("ValueType") or "").strip() == X509_TOKEN]


def with_card(security: etree._Element, card: x509.Certificate) -> etree._Element:
    """A copy of the caller's wsse:Security with `card` as its one X.509 token (any X.509 token the caller
    put there is dropped: the forwarded one is the card this service verified)."""
    forwarded = copy.deepcopy(security)
    for token in _x509_tokens(forwarded):
        forwarded.remove(token)
    token = etree.Element(BINARY_TOKEN, ValueType=X509_TOKEN, EncodingType=BASE64)
    token.text = base64.b64encode(card.public_bytes(_DER)).decode("ascii")
    forwarded.insert(0, token)
    return forwarded


def read_card(security: etree._Element) -> x509.Certificate | None:
    """The one X.509 BinarySecurityToken of `security` as a certificate, None when there is none."""
    tokens = _x509_tokens(security)
    if not tokens:
        return None
    if len(tokens) > 1:
        raise SecurityFault(WsseFault.INVALID_SECURITY,
                            f"wsse:Security holds {len(tokens)} X.509 BinarySecurityTokens; a forwarder passes one card")
    token = tokens[0]
    encoding = (token.get("EncodingType") or BASE64).strip()
    if encoding != BASE64:
        raise SecurityFault(WsseFault.UNSUPPORTED_SECURITY_TOKEN,
                            f"the X.509 BinarySecurityToken's EncodingType {encoding[:64]!r} is not Base64Binary")
    text = "".join(t for t in token.itertext())  # text nodes only, whitespace allowed in base64
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error):
        raise SecurityFault(WsseFault.INVALID_SECURITY_TOKEN,
                            "the forwarded X.509 BinarySecurityToken is not a readable certificate") from None
