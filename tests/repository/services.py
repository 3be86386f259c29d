"""`python -m repository` as a process on a free port, beside `tests.services.start_registry` (used by the
repository tests and by bench/repository.py)."""

from __future__ import annotations

from pathlib import Path

from tests.pgserver import free_port
from tests.services import Service, spawn, wait_port


def start_repository(data_dir: Path, registry_url: str, env: dict[str, str] | None = None) -> Service:
    """`python -m repository` on a free port, as `make run` starts it."""
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
