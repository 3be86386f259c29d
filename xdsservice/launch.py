"""`make run`: start the registry, the repository and the audit sink as separate processes, print their
endpoints, and keep them in the foreground until interrupted (Ctrl-C stops all three).

Each service reads its own settings (XDS_REGISTRY_*, XDS_REPOSITORY_*, XDS_AUDIT_*, the shared
XDS_DATA_DIR, XDS_PROFILE, XDS_SECURITY, XDS_TRUST_DIR, or $XDS_CONFIG); this launcher only passes the
environment through. If one service stops, the others are stopped too, and the exit status says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SERVICES = (
    ("audit sink", [sys.executable, "-m", "audit", "serve"]),
    ("registry", [sys.executable, "-m", "registry"]),
    ("repository", [sys.executable, "-m", "repository"]),
)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("XDS_DATA_DIR", str(Path("data").resolve()))
    Path(env["XDS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    print(f"data folder: {env['XDS_DATA_DIR']}", flush=True)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, cmd in SERVICES:
        children.append((name, subprocess.Popen(cmd, env=env)))
        time.sleep(0.3)  # keep their start-up lines in order
    status = 0
    try:
        while not stopping:
            for name, proc in children:
                code = proc.poll()
                if code is not None:
                    print(f"{name} stopped with status {code}; stopping the others", file=sys.stderr, flush=True)
                    status = code or 1
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        for _, proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.time() + 10
        for _, proc in children:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
    return status


if __name__ == "__main__":
    sys.exit(main())
