"""Start the real services as separate processes on free ports, the way `make run` does, for tests.

`start_registry(...)` runs `python -m registry` with its settings in environment variables and waits
until both its HTTP port and its MLLP port accept connections. `start_repository(...)` runs
`python -m repository` pointed at a registry URL. Used by integration tests, benchmarks and other
helpers (conformance kit) that need live services.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.pgserver import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def feed_port(self) -> int:
        return self.ports["feed"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open within {timeout}s:\n{log.read_text(errors='replace')}")


def spawn(name: str, module: str, env: dict[str, str], data_dir: Path, ports: dict[str, int],
          args: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"{name}.log"
    # Audit is off unless a test asks for it: a test must never send to a sink it did not start.
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "XDS_DATA_DIR": str(data_dir),
                "XDS_AUDIT_SENDER_TRANSPORT": "off", **env}
    full_env.pop("XDS_CONFIG", None)
    with log.open("ab") as out:  # appended: a restarted service keeps its earlier log
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)


def start_registry(
    data_dir: Path, database_url: str | None = None, profile: str = "ihe", env: dict[str, str] | None = None
) -> Service:
    port, feed = free_port(), free_port()
    settings = {
        "XDS_REGISTRY_PORT": str(port),
        "XDS_REGISTRY_FEED_PORT": str(feed),
        "XDS_REGISTRY_LOG_LEVEL": "warning",
        "XDS_PROFILE": profile,
        **({"XDS_REGISTRY_DATABASE_URL": database_url} if database_url else {}),
        **(env or {}),
    }
    proc = spawn("registry", "registry", settings, data_dir, {"http": port, "feed": feed})
    log = data_dir / "registry.log"
    service = Service("registry", f"http://127.0.0.1:{port}/xds/registry", proc, data_dir, log, {"http": port, "feed": feed})
    try:
        wait_port(port, proc, log)
        wait_port(feed, proc, log)
    except Exception:
        service.stop()
        raise
    return service


def start_repository(data_dir: Path, registry_url: str, env: dict[str, str] | None = None) -> Service:
    """`python -m repository` on a free port, as `make run` starts it, sending ITI-42 to `registry_url`."""
    port = free_port()
    settings = {
        "XDS_REPOSITORY_PORT": str(port),
        "XDS_REPOSITORY_REGISTRY_URL": registry_url,
        "XDS_REPOSITORY_LOG_LEVEL": "warning",
        **(env or {}),
    }
    proc = spawn("repository", "repository", settings, data_dir, {"http": port})
    log = data_dir / "repository.log"
    service = Service("repository", f"http://127.0.0.1:{port}/xds/repository", proc, data_dir, log, {"http": port})
    try:
        wait_port(port, proc, log)
    except Exception:
        service.stop()
        raise
    return service


def start_audit_sink(data_dir: Path, tls_port: int | None = None, udp_port: int | None = None,
                     http_port: int | None = None, env: dict[str, str] | None = None) -> Service:
    """`python -m audit serve` on free ports (or the ports given, to restart a sink where it was)."""
    ports = {"tls": tls_port or free_port(), "udp": udp_port or free_port(), "http": http_port or free_port()}
    settings = {
        "XDS_AUDIT_TLS_PORT": str(ports["tls"]), "XDS_AUDIT_UDP_PORT": str(ports["udp"]),
        "XDS_AUDIT_HTTP_PORT": str(ports["http"]), **(env or {}),
    }
    proc = spawn("audit", "audit", settings, data_dir, ports, ("serve",))
    log = data_dir / "audit.log"
    service = Service("audit", f"http://127.0.0.1:{ports['http']}", proc, data_dir, log, ports)
    try:
        for port in (ports["tls"], ports["http"]):
            wait_port(port, proc, log)
    except Exception:
        service.stop()
        raise
    return service


def audit_sender_env(sink: Service) -> dict[str, str]:
    """Environment that makes a service send its audit messages to `sink` (acknowledged TLS, trusting the
    sink's dev certificate: the service's own XDS_DATA_DIR is not the sink's, so it is named here)."""
    return {"XDS_AUDIT_SENDER_TRANSPORT": "tls", "XDS_AUDIT_SENDER_PORT": str(sink.ports["tls"]),
            "XDS_AUDIT_SENDER_TLS_CA": str(sink.data_dir / "audit" / "tls" / "sink-cert.pem")}  # xdsservice.audit_sender.DEV_CERT_NAME


def feed_patient(port: int, patient_id: str, control_id: str = "TEST") -> str:
    """Send an ADT^A01 for `patient_id` over MLLP and return the ACK text."""
    from xdscore import mllp

    message = (
        f"MSH|^~\\&|TEST|TEST|XDSREG|XDSREG|20240101120000||ADT^A01^ADT_A01|{control_id}|P|2.5\r"
        f"EVN|A01|20240101120000\rPID|||{patient_id}||Test^Patient^^^||19700101|F\rPV1||O\r"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(mllp.frame(message.encode()))
        reader = mllp.MllpReader()
        while True:
            data = s.recv(65536)
            if not data:
                raise RuntimeError("feed closed the connection without an ACK")
            for event in reader.feed(data):
                if isinstance(event, mllp.Frame):
                    return event.payload.decode()
