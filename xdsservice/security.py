"""The WS-Security hook of a SOAP service: settings, trust store loading, and the per-request check.

`build_security_hook(settings)` returns the `security` callable that `SoapService` runs before
dispatch: it reads the clock, calls the pure verifier `xdscore.wssec.verify` with the service's
policy, and returns the `Principal` (or None for an anonymous call in `optional` mode). A refusal is
a `SecurityFault` (SOAP 1.2 Sender + wsse subcode), so nothing reaches the transaction handler.

Settings (the `security` section of a service's settings, xdsservice.config), later sources winning:
  defaults < `[security]` in the config file < `[<service>.security]` < XDS_SECURITY_* / XDS_SECURITY
  / XDS_TRUST_DIR < XDS_<SERVICE>_SECURITY_* / XDS_<SERVICE>_SECURITY (mode of one service).
Mode: `off` (no hook: the header is not processed, so a mandatory one gets a SOAP MustUnderstand
fault from `SoapService`), `optional` (verify when an assertion is present; the
default), `required` (every call must carry a valid assertion; the default under the dmp profile, whose
services want a VIHF on every call).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from xdscore import forwarded, soap, wssec
from xdscore.principal import Principal
from xdscore.wsse_faults import SecurityFault
from xdsservice.config import Layout, SettingsError, Sources, Vars, setting

log = logging.getLogger("xds.security")

TRUST_SUFFIXES = (".pem", ".crt", ".cer")


class Mode(str, Enum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class SecurityConfigError(SettingsError):
    """Settings that cannot work (unknown mode, unreadable trust folder): refuse to start."""


@dataclass(frozen=True)
class SecuritySettings:
    # default: required under the dmp profile (the DMP wants a VIHF on every call), else optional
    mode: str = setting("", choices=[m.value for m in Mode])
    trust_dir: str = ""  # folder of PEM CA certificates (XDS_TRUST_DIR)
    audience: str = ""  # comma-separated; when set, an AudienceRestriction must name one of them
    clock_skew: int = setting(300, minimum=0)  # seconds
    profile: str = setting("", choices=[p.value for p in wssec.Profile])  # default: vihf when XDS_PROFILE is cisis/dmp, else xua
    required_attributes: str = ""  # comma-separated attribute Names required on top of the profile's
    require_timestamp: bool = False
    max_age: int = setting(0, minimum=0)  # seconds; refuse assertions issued longer ago (0: no limit)
    allow_sha1: bool = True
    check_issuer_dn: bool = True
    # PEM files (comma-separated) of the TLS client certificates of services trusted to forward a DMP DIRECTE
    # caller's card: the repository in front of this registry (xdscore.forwarded). Needs mutual TLS.
    trusted_forwarders: str = ""

    @classmethod
    def layout(cls, service: str) -> Layout:
        own = f"XDS_{service.upper()}_SECURITY"
        return Layout(
            tables=(("security",), (service, "security")),
            env=(
                Vars("XDS_SECURITY_", also=(("XDS_SECURITY", "mode"), ("XDS_TRUST_DIR", "trust_dir"))),
                Vars(f"{own}_", also=((own, "mode"),)),
            ),
        )

    def complete(self, sources: Sources, service: str) -> SecuritySettings:
        """Defaults that follow the affinity-domain profile: the VIHF attribute profile under cisis and dmp,
        and `required` under dmp (an explicit mode or profile wins)."""
        affinity = affinity_profile(sources, service)
        done = self
        if not done.profile:
            french = affinity in ("cisis", "dmp")
            done = replace(done, profile=wssec.Profile.VIHF.value if french else wssec.Profile.XUA.value)
        if not done.mode:
            if affinity == "dmp" and not done.trust_dir:
                raise SecurityConfigError(
                    "profile dmp requires a VIHF on every call (WS-Security mode required by default) but no trusted "
                    "CA is configured: set XDS_TRUST_DIR, or choose a mode with XDS_SECURITY")
            done = replace(done, mode=(Mode.REQUIRED if affinity == "dmp" else Mode.OPTIONAL).value)
        return done

    @property
    def mode_enum(self) -> Mode:
        try:
            return Mode(self.mode.strip().lower() or Mode.OPTIONAL.value)
        except ValueError:
            raise SecurityConfigError(f"security mode {self.mode!r} is not off, optional or required") from None


def affinity_profile(sources: Sources, service: str) -> str:
    """The service's affinity-domain profile as the registry reads it (`XDS_<SERVICE>_PROFILE` over
    `XDS_PROFILE` over `profile` in `[<service>]`), lower case; "" when none is set."""
    for var in (f"XDS_{service.upper()}_PROFILE", "XDS_PROFILE"):
        value = sources.environ.get(var, "").strip()
        if value:
            return value.lower()
    table = sources.table((service,)) or {}
    value = table.get("profile")
    return value.strip().lower() if isinstance(value, str) else ""


def load_trust_dir(folder: str | Path) -> tuple[x509.Certificate, ...]:
    """Every certificate of every *.pem / *.crt / *.cer file in `folder` (several per file allowed)."""
    path = Path(folder)
    if not path.is_dir():
        raise SecurityConfigError(f"trust folder {path} does not exist or is not a folder")
    anchors: list[x509.Certificate] = []
    for file in sorted(path.iterdir()):
        if file.suffix.lower() not in TRUST_SUFFIXES:
            continue
        data = file.read_bytes()
        try:
            certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
        except ValueError as exc:
            raise SecurityConfigError(f"{file} is not a PEM or DER certificate: {exc}") from None
        anchors.extend(certs)
    return tuple(anchors)


def load_forwarders(setting: str) -> frozenset[str]:
    """SHA-256 fingerprints of every certificate in the comma-separated PEM files of `trusted_forwarders`."""
    prints: set[str] = set()
    for name in (n.strip() for n in setting.split(",")):
        if not name:
            continue
        try:
            certs = x509.load_pem_x509_certificates(Path(name).read_bytes())
        except OSError as exc:
            raise SecurityConfigError(f"trusted forwarder certificate {name}: {exc.strerror or exc}") from None
        except ValueError:
            raise SecurityConfigError(f"trusted forwarder certificate {name} is not a PEM certificate file") from None
        prints.update(forwarded.fingerprint(c) for c in certs)
    return frozenset(prints)


def policy_from(settings: SecuritySettings, anchors: tuple[x509.Certificate, ...],
                forwarders: frozenset[str] = frozenset()) -> wssec.Policy:
    try:
        profile = wssec.Profile(settings.profile.strip().lower())
    except ValueError:
        raise SecurityConfigError(f"security profile {settings.profile!r} is not xua or vihf") from None
    return wssec.Policy(
        trust_anchors=anchors,
        now=dt.datetime.now(dt.UTC),
        require_assertion=settings.mode_enum is Mode.REQUIRED,
        clock_skew=dt.timedelta(seconds=settings.clock_skew),
        audiences=frozenset(a.strip() for a in settings.audience.split(",") if a.strip()),
        profile=profile,
        required_attributes=frozenset(a.strip() for a in settings.required_attributes.split(",") if a.strip()),
        require_timestamp=settings.require_timestamp,
        max_assertion_age=dt.timedelta(seconds=settings.max_age) if settings.max_age > 0 else None,
        allow_sha1=settings.allow_sha1,
        check_issuer_dn=settings.check_issuer_dn,
        trusted_forwarders=forwarders,
    )


def client_certificate(context: Any) -> x509.Certificate | None:
    """The TLS client certificate of the request's connection, from the ASGI TLS extension that
    `xdsservice.tls_peer` adds (None on plain HTTP or without a client certificate). The server verified
    it during the handshake against `tls_client_ca`; `wssec` checks it again against the trust folder."""
    tls = getattr(context, "tls_peer", None) or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    try:
        return x509.load_pem_x509_certificate(chain[0].encode("ascii"))
    except ValueError:
        log.warning("unreadable TLS client certificate in the ASGI scope; ignored")
        return None


class WsSecurityHook:
    """`SoapService(security=...)`: verify the request's WS-Security header, return the Principal.

    It reads only the soap:Header and the connection, so `SoapService` runs `verify_header` as soon as
    the Header has arrived, before the Body is read (`xdsservice.early_security`), then `check_envelope`
    once the whole envelope is parsed; called with a whole request it does both at once."""

    def __init__(self, policy: wssec.Policy, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.policy = policy
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def __call__(self, request: soap.SoapRequest, context: Any) -> Principal | None:
        return self.verify_header(request.header, context)

    def verify_header(self, header: etree._Element | None, context: Any) -> Principal | None:
        """Every `xdscore.wssec` check; the IDs are checked over the tree `header` belongs to (the partial
        envelope when called before the Body is read: `check_envelope` then covers the rest).

        The signature is verified on a copy of the Header made here: the caller's tree is only read. xmlsec
        registers the assertion's ID in the document it verifies (libxml2's ID table, keyed in the document's
        string dictionary), and that dictionary belongs to the thread that parsed the document, which keeps
        parsing other requests meanwhile (the event loop's thread, or the gate's): a write from this worker
        thread into a dictionary with no lock, while its owner writes too (xdsservice.tree_threads). A copy
        made in this thread takes this thread's dictionary (lxml), and is freed here."""
        try:
            if header is not None:
                wssec.check_unique_ids(header.getroottree().getroot())  # over the whole (partial) envelope
            own = copy.deepcopy(header) if header is not None else None
            return wssec.verify(own, self.policy.at(self.clock()), client_certificate(context))
        except SecurityFault as fault:
            self._refused(fault, context)
            raise

    def check_envelope(self, request: soap.SoapRequest, context: Any) -> None:
        """After an early `verify_header`: no ID of the whole envelope repeats another (wssec step 2)."""
        if wssec.find_security_header(request.header) is None:
            return
        try:
            wssec.check_unique_ids(request.envelope)
        except SecurityFault as fault:
            self._refused(fault, context)
            raise

    @staticmethod
    def _refused(fault: SecurityFault, context: Any) -> None:
        log.warning("WS-Security refused a call from %s (%s): %s", getattr(context, "client_host", None),
                    fault.kind.value, fault.reason)


def build_security_hook(
    settings: SecuritySettings, clock: Callable[[], dt.datetime] | None = None
) -> WsSecurityHook | None:
    """The hook for `SoapService`, or None when the mode is `off`. Loads the trust folder once."""
    mode = settings.mode_enum
    if mode is Mode.OFF:
        return None
    anchors: tuple[x509.Certificate, ...] = ()
    if settings.trust_dir:
        anchors = load_trust_dir(settings.trust_dir)
    if not anchors:
        if mode is Mode.REQUIRED:
            raise SecurityConfigError("security mode is required but no trusted CA is configured (XDS_TRUST_DIR)")
        log.warning("no trusted CA configured (XDS_TRUST_DIR): every signed assertion will be refused")
    forwarders = load_forwarders(settings.trusted_forwarders)
    if forwarders:
        log.info("trusting %d forwarder certificate(s) to pass on a DMP DIRECTE caller's card", len(forwarders))
    return WsSecurityHook(policy_from(settings, anchors, forwarders), clock)
