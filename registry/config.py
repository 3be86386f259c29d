"""Registry settings: `[registry]` in the config file and XDS_REGISTRY_* variables (xdsservice.config), with
its sections: TLS (`tls_*` keys, XDS_REGISTRY_TLS_*), WS-Security (`[registry.security]`,
XDS_REGISTRY_SECURITY_*), the audit sender (`[audit_sender]`, XDS_AUDIT_SENDER_*) and, with the dmp profile,
the DMP's services (`[registry.dmp]`, XDS_DMP_*: dmp.config).

Global variables the README documents: XDS_DATA_DIR (data folder, default ./data), XDS_PROFILE
(affinity-domain profile: ihe | nist | dmp; XDS_REGISTRY_PROFILE wins over it), XDS_SECURITY and XDS_TRUST_DIR
(WS-Security, docs/security.md). A new key is one field below: its TOML key is its name, its variable
XDS_REGISTRY_<NAME>.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dmp.config import DmpSettings
from xdscore.ebrim.limits import SubmissionLimits
from xdscore.queries import Limits
from xdscore.xmlsafe import XmlLimits
from xdsservice.access import AccessSettings
from xdsservice.audit_sender import AuditSenderSettings
from xdsservice.config import Layout, SettingsError, Sources, Vars, load_settings, setting
from xdsservice.security import SecuritySettings
from xdsservice.tls import TlsSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
NIST_CODES = REPO_ROOT.parent / "shared/testkits/nist-xdstools/environment/default/codes.xml"


@dataclass(frozen=True)
class RegistrySettings:
    host: str = "127.0.0.1"
    port: int = 8081
    path: str = "/xds/registry"
    public_url: str = ""  # the endpoint URL clients use; default http(s)://host:port/path
    database_url: str = ""  # default sqlite:///<data_dir>/registry.db
    data_dir: str = ""  # default $XDS_DATA_DIR/registry
    profile: str = "ihe"  # ihe | nist | dmp (also XDS_PROFILE)
    codes_file: str = str(NIST_CODES)  # the nist profile's codes.xml
    value_sets_dir: str = ""  # dmp: folder(s) of SVS value-set files (os.pathsep-separated); default valuesets/dmp
    ins_authorities: str = ""  # dmp: comma-separated INS assigning authorities accepted; default NIR, NIA, test, demo
    feed_host: str = "127.0.0.1"
    feed_port: int = 2575  # ITI-8 MLLP; 0 disables the listener
    affinity_domain: str = ""  # assigning authority OID accepted from the feed; empty = any ISO authority
    feed_max_message_bytes: int = setting(1024 * 1024, minimum=1024)  # a larger MLLP frame is skipped and answered AR
    feed_idle_timeout: float = setting(300.0, minimum=0.1)  # seconds an MLLP connection may stay silent before it is closed
    feed_workers: int = setting(1, minimum=1)  # threads interpreting and storing ITI-8 messages (never the SOAP handlers' threads)
    feed_max_segments: int = setting(50_000, minimum=1)  # segments of one ITI-8 message; beyond, it is answered AR
    feed_max_patient_segments: int = setting(200, minimum=1)  # PID + MRG segments of one message; beyond, AE
    feed_max_segment_chars: int = setting(16 * 1024, minimum=64)  # characters of one PID or MRG segment; beyond, AE
    feed_oversized_head_bytes: int = setting(4096, minimum=64)  # kept of an oversized frame to read the MSH its AR echoes
    idle_timeout: float = 30.0  # seconds to send a request's head, or between two pieces of its body
    # ITI-42 and ITI-18 carry metadata only (a 2,000-object submission is ~10 MB): beyond, HTTP 413.
    max_request_bytes: int = 16 * 1024 * 1024
    # The shape of a received envelope (xdscore.xmlsafe.XmlLimits; 0 = no limit): beyond, a soap:Sender fault.
    xml_max_depth: int = setting(64, minimum=0)
    xml_max_elements: int = setting(250_000, minimum=0)
    xml_max_attribute_chars: int = setting(64 * 1024, minimum=0)
    xml_max_text_chars: int = setting(1024 * 1024, minimum=0)
    # One submission (xdscore.ebrim.limits): beyond, XDSRegistryMetadataError naming the setting.
    submission_max_objects: int = setting(2_000, minimum=1)
    submission_max_slots: int = setting(40_000, minimum=1)
    submission_max_values: int = setting(100_000, minimum=1)
    # bytes of an envelope before its soap:Body: the WS-Security header is verified there (xdscore.envelope_gate)
    max_header_bytes: int = setting(1024 * 1024, minimum=1024)
    max_query_results: int = 5000  # beyond this a stored query answers XDSTooManyResults
    # What one stored query may ask (xdscore.queries.Limits): beyond, XDSRegistryError naming the limit.
    query_max_values: int = 256  # values of one parameter
    query_max_slots: int = 32  # Slots of one parameter (AND-ed)
    query_max_parameters: int = 64  # Slots in one query
    query_max_like_length: int = 256  # characters of one LIKE pattern
    keep_extra_metadata: bool = True
    log_level: str = "info"
    tls: TlsSettings = field(default_factory=TlsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    audit_sender: AuditSenderSettings = field(default_factory=AuditSenderSettings)
    dmp: DmpSettings = field(default_factory=DmpSettings)  # [registry.dmp], XDS_DMP_*: the dmp profile's services
    access: AccessSettings = field(default_factory=AccessSettings)  # dmp: access rules (xdsservice.access)

    @classmethod
    def layout(cls, service: str) -> Layout:
        """`[registry]` and XDS_REGISTRY_*, with XDS_PROFILE read as `profile` below them."""
        return Layout(tables=((service,),), env=(Vars(also=(("XDS_PROFILE", "profile"),)), Vars(f"XDS_{service.upper()}_")))

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> RegistrySettings:
        return load_settings(cls, "registry", environ, **overrides)

    def complete(self, sources: Sources, service: str) -> RegistrySettings:
        if self.security.trusted_forwarders.strip() and self.tls.client_auth.strip().lower() == "none":
            raise SettingsError("trusted_forwarders names the TLS client certificates of forwarders, but the registry "
                                "does not ask for client certificates: set tls_client_auth to optional or required "
                                "(XDS_REGISTRY_TLS_CLIENT_AUTH)")
        folder = Path(self.data_dir) if self.data_dir else sources.data_root / service
        url = self.database_url or f"sqlite:///{(folder / 'registry.db').resolve()}"
        return replace(self, data_dir=str(folder), database_url=url)

    def xml_limits(self) -> XmlLimits:
        return XmlLimits.of(self.max_request_bytes, self.xml_max_depth, self.xml_max_elements,
                            self.xml_max_attribute_chars, self.xml_max_text_chars)

    def submission_limits(self) -> SubmissionLimits:
        return SubmissionLimits(self.submission_max_objects, self.submission_max_slots, self.submission_max_values)

    def query_limits(self) -> Limits:
        return Limits(self.query_max_values, self.query_max_slots, self.query_max_parameters,
                      self.query_max_like_length)

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls.enabled else "http"
        return self.public_url or f"{scheme}://{self.host}:{self.port}{self.path}"
