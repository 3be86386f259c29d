"""Document Repository settings: `[repository]` in the TOML file and XDS_REPOSITORY_* variables (xdsservice.config),
with its sections: TLS (`tls_*` keys, XDS_REPOSITORY_TLS_*), WS-Security (`[repository.security]`,
XDS_REPOSITORY_SECURITY_*) and the audit sender (`[audit_sender]`, XDS_AUDIT_SENDER_*). A new key is one
field below.

`python -m repository` serves http://127.0.0.1:8082/xds/repository with its data under
$XDS_DATA_DIR/repository (blobs, spool files, the SQLite store). The default repositoryUniqueId is the
NIST XDS Toolkit's test value 1.19.6.24.109.42.1, the one the NIST core test metadata carries
(docs/repository.md says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xdscore.ebrim.limits import SubmissionLimits
from xdscore.xmlsafe import XmlLimits
from xdsservice.audit_sender import AuditSenderSettings
from xdsservice.config import Layout, Sources, Vars, load_settings, setting
from xdsservice.security import SecuritySettings
from xdsservice.tls import TlsSettings

NIST_TESTKIT_REPOSITORY_UNIQUE_ID = "1.19.6.24.109.42.1"


@dataclass(frozen=True)
class RepositorySettings:
    host: str = "127.0.0.1"
    port: int = 8082
    path: str = "/xds/repository"
    public_url: str = ""  # the endpoint as clients reach it; default http://host:port/path
    repository_unique_id: str = NIST_TESTKIT_REPOSITORY_UNIQUE_ID
    profile: str = "ihe"  # also XDS_PROFILE; dmp: the DMP's access rules, decided by the registry (docs/dmp-access.md)
    registry_url: str = "http://127.0.0.1:8081/xds/registry"  # ITI-42 endpoint of the Document Registry
    registry_timeout: float = 30.0  # seconds for one ITI-42 exchange
    # TLS towards an https registry_url: CA file or folder to trust (default: the system's CAs), and the
    # client certificate and key this repository presents when the registry asks for one (mutual TLS).
    registry_tls_ca: str = ""
    registry_tls_cert: str = ""
    registry_tls_key: str = ""  # default: the key is in the registry_tls_cert file
    data_dir: str = ""  # default $XDS_DATA_DIR/repository
    database_url: str = ""  # default sqlite:///<data_dir>/repository.db
    max_request_bytes: int = 1024**3  # whole ITI-41 / ITI-43 HTTP body (1 GiB)
    max_envelope_bytes: int = 64 * 1024**2  # the SOAP envelope, inline base64 documents included
    # bytes of an envelope before its soap:Body: the WS-Security header is verified there (xdscore.envelope_gate)
    max_header_bytes: int = setting(1024**2, minimum=1024)
    spill_threshold: int = 1024**2  # attachments above this many bytes go to disk while they arrive
    # Documents of at most this many bytes are kept in the repository's database, with their row, instead
    # of a blob file (one durable commit instead of three syncs; docs/repository.md); 0: always files.
    inline_max_bytes: int = setting(64 * 1024, minimum=0)
    # The shape of a received envelope (xdscore.xmlsafe.XmlLimits; 0 = no limit): beyond, a soap:Sender fault.
    # Text is not limited by default: a document may be inlined as base64 (NIST PnrXop/NoXop).
    xml_max_depth: int = setting(64, minimum=0)
    xml_max_elements: int = setting(250_000, minimum=0)
    xml_max_attribute_chars: int = setting(64 * 1024, minimum=0)
    xml_max_text_chars: int = setting(0, minimum=0)
    # The metadata of one ITI-41 (xdscore.ebrim.limits): beyond, XDSRegistryMetadataError naming the setting.
    submission_max_objects: int = setting(2_000, minimum=1)
    submission_max_slots: int = setting(40_000, minimum=1)
    submission_max_values: int = setting(100_000, minimum=1)
    max_retrieve_documents: int = 100  # DocumentRequests in one ITI-43; beyond, Failure with XDSRepositoryError
    idle_timeout: float = 30.0  # seconds to send a request's head, or between two pieces of its body
    cleanup_grace_seconds: int = 3600  # the cleanup command leaves younger files and entries alone
    # The running repository settles pending documents with the registry (repository.reconcile): at start-up,
    # then every reconcile_interval_seconds (0: at start-up only), those older than reconcile_grace_seconds,
    # which must exceed the longest an ITI-42 can take (registry_timeout and the registry's database waits).
    reconcile_interval_seconds: float = setting(60.0, minimum=0)
    reconcile_grace_seconds: float = setting(300.0, minimum=0)
    log_level: str = "info"
    tls: TlsSettings = field(default_factory=TlsSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    audit_sender: AuditSenderSettings = field(default_factory=AuditSenderSettings)

    @classmethod
    def layout(cls, service: str) -> Layout:
        """`[repository]` and XDS_REPOSITORY_*, with XDS_PROFILE read as `profile` below them."""
        return Layout(tables=((service,),), env=(Vars(also=(("XDS_PROFILE", "profile"),)), Vars(f"XDS_{service.upper()}_")))

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RepositorySettings:
        return load_settings(cls, "repository", environ, **overrides)

    def complete(self, sources: Sources, service: str) -> RepositorySettings:
        folder = Path(self.data_dir) if self.data_dir else sources.data_root / service
        return replace(self, data_dir=str(folder), database_url=self.database_url or f"sqlite:///{folder / 'repository.db'}")

    def xml_limits(self) -> XmlLimits:
        return XmlLimits.of(self.max_envelope_bytes, self.xml_max_depth, self.xml_max_elements,
                            self.xml_max_attribute_chars, self.xml_max_text_chars)

    def submission_limits(self) -> SubmissionLimits:
        return SubmissionLimits(self.submission_max_objects, self.submission_max_slots, self.submission_max_values)

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls.enabled else "http"
        return self.public_url or f"{scheme}://{self.host}:{self.port}{self.path}"
