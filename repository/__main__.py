"""`python -m repository`: serve the Document Repository until interrupted; `python -m repository cleanup`: tidy it.

Settings come from `[repository]` in $XDS_CONFIG (or ./xds.toml) and XDS_REPOSITORY_* variables, e.g.
XDS_REPOSITORY_PORT=8082, XDS_REPOSITORY_REGISTRY_URL=http://127.0.0.1:8081/xds/registry,
XDS_REPOSITORY_REPOSITORY_UNIQUE_ID=1.19.6.24.109.42.1; data under $XDS_DATA_DIR/repository.
TLS: XDS_REPOSITORY_TLS_CERT / _KEY / _CLIENT_CA / _CLIENT_AUTH (xdsservice.tls; the endpoint is then
https); WS-Security: XDS_SECURITY, XDS_TRUST_DIR, XDS_REPOSITORY_SECURITY_* (xdsservice.security).
"""

from __future__ import annotations

import argparse
import sys

from repository.config import RepositorySettings
from xdsservice.config import load_or_exit
from xdsservice.serve import configure_logging
from xdsservice.serve import serve as serve_service


def serve(settings: RepositorySettings) -> None:
    from repository.app import Repository

    serve_service(
        "repository",
        settings,
        lambda: Repository(settings).asgi,
        lambda: [f"repository  {settings.endpoint}  (repositoryUniqueId {settings.repository_unique_id}, "
                 f"registry {settings.registry_url}, data {settings.data_dir})"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repository", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve ITI-41 and ITI-43 (the default)")
    clean = sub.add_parser("cleanup", help="remove unreferenced blobs and stale spool files; settle pending documents")
    clean.add_argument("--grace", type=float, default=None, help="leave anything younger than this many seconds alone")
    clean.add_argument("--dry-run", action="store_true", help="report what would be done, change nothing")
    args = parser.parse_args(argv)
    settings = load_or_exit(RepositorySettings, "repository")
    if args.command == "cleanup":
        configure_logging(settings.log_level)
        from repository.cleanup import run

        grace = settings.cleanup_grace_seconds if args.grace is None else args.grace
        report = run(settings, grace_seconds=grace, dry_run=args.dry_run)
        print(report.summary())
        return 0 if not report.registry_unreachable else 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
