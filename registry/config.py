"""Registry settings: defaults, `[registry]` in the config file, then XDS_REGISTRY_* variables.

Global variables the README documents: XDS_DATA_DIR (data folder, default ./data), XDS_PROFILE
(affinity-domain profile: ihe | nist), XDS_SECURITY and XDS_TRUST_DIR (WS-Security, see docs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xdscore.queries import Limits
from xdsservice.config import data_dir, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
NIST_CODES = REPO_ROOT.parent / "shared/testkits/nist-xdstools/environment/default/codes.xml"


@dataclass(frozen=True)
class RegistrySettings:
    host: str = "127.0.0.1"
    port: int = 8081
    path: str = "/xds/registry"
    public_url: str = ""  # the endpoint URL clients use; default http://host:port/path
    database_url: str = ""  # default sqlite:///<data_dir>/registry.db
    data_dir: str = ""  # default $XDS_DATA_DIR/registry
    profile: str = "ihe"  # ihe | nist (XDS_PROFILE overrides)
    codes_file: str = str(NIST_CODES)  # the nist profile's codes.xml
    feed_host: str = "127.0.0.1"
    feed_port: int = 2575  # ITI-8 MLLP; 0 disables the listener
    affinity_domain: str = ""  # assigning authority OID accepted from the feed; empty = any ISO authority
    feed_max_message_bytes: int = 1024 * 1024  # a larger MLLP frame is skipped and answered AR
    feed_idle_timeout: float = 300.0  # seconds an MLLP connection may stay silent before it is closed
    feed_workers: int = 1  # threads interpreting and storing ITI-8 messages (never the SOAP handlers' threads)
    idle_timeout: float = 30.0  # seconds to send a request's head, or between two pieces of its body
    max_request_bytes: int = 64 * 1024 * 1024
    max_query_results: int = 5000  # beyond this a stored query answers XDSTooManyResults
    # What one stored query may ask (xdscore.queries.Limits): beyond, XDSRegistryError naming the limit.
    query_max_values: int = 256  # values of one parameter
    query_max_slots: int = 32  # Slots of one parameter (AND-ed)
    query_max_parameters: int = 64  # Slots in one query
    query_max_like_length: int = 256  # characters of one LIKE pattern
    keep_extra_metadata: bool = True
    log_level: str = "info"

    @classmethod
    def load(cls, **overrides: object) -> RegistrySettings:
        env = os.environ
        if "XDS_PROFILE" in env and "profile" not in overrides:
            overrides["profile"] = env["XDS_PROFILE"]
        return load_settings(cls, "registry", **overrides)

    def data_path(self) -> Path:
        return Path(self.data_dir) if self.data_dir else data_dir() / "registry"

    def database_url_resolved(self) -> str:
        if self.database_url:
            return self.database_url
        path = self.data_path()
        path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(path / 'registry.db').resolve()}"

    def query_limits(self) -> Limits:
        return Limits(self.query_max_values, self.query_max_slots, self.query_max_parameters,
                      self.query_max_like_length)

    def endpoint(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}{self.path}"
