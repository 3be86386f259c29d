"""Document Repository settings: defaults, then `[repository]` in the TOML file, then XDS_REPOSITORY_* variables.

`python -m repository` serves http://127.0.0.1:8082/xds/repository with its data under
$XDS_DATA_DIR/repository (blobs, spool files, the SQLite store). The default repositoryUniqueId is the
NIST XDS Toolkit's test value 1.19.6.24.109.42.1, the one the NIST core test metadata carries
(docs/repository.md says why).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xdsservice.config import data_dir, load_settings

NIST_TESTKIT_REPOSITORY_UNIQUE_ID = "1.19.6.24.109.42.1"


@dataclass(frozen=True)
class RepositorySettings:
    host: str = "127.0.0.1"
    port: int = 8082
    path: str = "/xds/repository"
    public_url: str = ""  # the endpoint as clients reach it; default http://host:port/path
    repository_unique_id: str = NIST_TESTKIT_REPOSITORY_UNIQUE_ID
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
    spill_threshold: int = 1024**2  # attachments above this many bytes go to disk while they arrive
    cleanup_grace_seconds: int = 3600  # the cleanup command leaves younger files and entries alone
    log_level: str = "info"

    @property
    def endpoint(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}{self.path}"

    @property
    def root(self) -> Path:
        return Path(self.data_dir) if self.data_dir else data_dir() / "repository"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.root / 'repository.db'}"


def load(environ: Mapping[str, str] | None = None, **overrides: Any) -> RepositorySettings:
    env = os.environ if environ is None else environ
    settings = load_settings(RepositorySettings, "repository", env, **overrides)
    if not settings.data_dir:
        settings = replace(settings, data_dir=str(data_dir(env) / "repository"))
    return settings
