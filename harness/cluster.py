"""The three services as `make run` starts them (registry, repository, optionally the audit sink), each its
own process on ports chosen once, so that one can be killed and started again where it was: the crash
and soak harnesses (`harness.crash`, `harness.soak`) drive them.

SQLite files under the data folder by default; `database_urls` puts the registry's and the repository's
stores on PostgreSQL instead (`harness.pgserver`).
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.pgserver import free_port
from harness.services import spawn, wait_port

REPOSITORY_UNIQUE_ID = "1.19.6.24.109.42.1"


@dataclass
class Cluster:
    data_dir: Path
    database_urls: dict[str, str] = field(default_factory=dict)  # "registry" / "repository" -> SQLAlchemy URL
    audit: bool = False  # also an audit sink, with both services sending to it (TLS)
    env: dict[str, str] = field(default_factory=dict)  # more settings for every service
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("registry", "feed", "repository", "audit_tls", "audit_udp", "audit_http"):
            self.ports.setdefault(name, free_port())

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['registry']}/xds/registry"

    @property
    def repository_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['repository']}/xds/repository"

    @property
    def feed(self) -> tuple[str, int]:
        return "127.0.0.1", self.ports["feed"]

    def _audit_env(self) -> dict[str, str]:
        if not self.audit:
            return {}
        return {"XDS_AUDIT_SENDER_TRANSPORT": "tls", "XDS_AUDIT_SENDER_PORT": str(self.ports["audit_tls"])}

    def start(self, name: str) -> None:
        """Start one service (registry, repository, audit) and wait until its ports accept connections."""
        folder = self.data_dir / name
        if name == "registry":
            env = {"XDS_REGISTRY_PORT": str(self.ports["registry"]), "XDS_REGISTRY_FEED_PORT": str(self.ports["feed"]),
                   "XDS_REGISTRY_LOG_LEVEL": "warning", **self._audit_env()}
            if "registry" in self.database_urls:
                env["XDS_REGISTRY_DATABASE_URL"] = self.database_urls["registry"]
            process = spawn(name, "registry", {**env, **self.env}, folder, {})
            waits = [self.ports["registry"], self.ports["feed"]]
        elif name == "repository":
            env = {"XDS_REPOSITORY_PORT": str(self.ports["repository"]), "XDS_REPOSITORY_REGISTRY_URL": self.registry_url,
                   "XDS_REPOSITORY_LOG_LEVEL": "warning", **self._audit_env()}
            if "repository" in self.database_urls:
                env["XDS_REPOSITORY_DATABASE_URL"] = self.database_urls["repository"]
            process = spawn(name, "repository", {**env, **self.env}, folder, {})
            waits = [self.ports["repository"]]
        elif name == "audit":
            env = {"XDS_AUDIT_TLS_PORT": str(self.ports["audit_tls"]), "XDS_AUDIT_UDP_PORT": str(self.ports["audit_udp"]),
                   "XDS_AUDIT_HTTP_PORT": str(self.ports["audit_http"])}
            process = spawn(name, "audit", {**env, **self.env}, folder, {}, ("serve",))
            waits = [self.ports["audit_tls"], self.ports["audit_http"]]
        else:
            raise ValueError(name)
        self.processes[name] = process
        for port in waits:
            wait_port(port, process, folder / f"{name}.log")

    def start_all(self) -> None:
        for name in (("audit",) if self.audit else ()) + ("registry", "repository"):
            self.start(name)

    def kill(self, name: str) -> None:
        """kill -9: no shutdown hook runs, nothing is flushed that was not already."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(10)

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def log(self, name: str) -> str:
        path = self.data_dir / name / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for name in ("repository", "registry", "audit"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
