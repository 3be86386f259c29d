"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary folder, start on a free port.

Set XDS_TEST_PG_URL to use an existing server instead. When PostgreSQL is not installed the fixture
skips, and `make test` (scripts/ensure-postgres.sh) is what installs it on a fresh machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class PgServer:
    def __init__(self, settings: dict[str, str] | None = None, durable: bool = False, folder: Path | None = None) -> None:
        self.settings = settings or {}  # extra postgresql.conf settings, e.g. shared_buffers
        # Tests run with fsync off (fast, and nothing survives them anyway); a write benchmark must not.
        self.durable = durable
        bindir = _bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL (initdb) is not installed")
        self.bindir = bindir
        self.port = free_port()
        # `folder`: a cluster kept between runs (a benchmark's loaded database), started again if it is there
        self.kept = folder is not None
        self.tmp = folder if folder is not None else Path(tempfile.mkdtemp(prefix="xds-pg-"))
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.datadir = self.tmp / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_root:  # initdb refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PgServer:
        if self.as_root:
            shutil.chown(self.tmp, "postgres", "postgres")
        if not (self.datadir / "PG_VERSION").exists():
            self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "xds", "-A", "trust", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c max_connections=200"
        opts += "" if self.durable else " -F"
        opts += "".join(f" -c {k}={v}" for k, v in self.settings.items())
        self._opts = opts
        self.resume()
        return self

    def halt(self) -> None:
        """Stop the server and keep its data (`resume` starts it again on the same port): a database outage."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-o", self._opts, "-l", str(self.tmp / "log"),
                  "-w", "start")
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=xds dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://xds@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.kept:  # a clean stop: the folder is started again later
            self.halt()
            return
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
