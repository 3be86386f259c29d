"""`python -m repository`: serve the Document Repository until interrupted; `python -m repository cleanup`: tidy it.

Settings come from `[repository]` in $XDS_CONFIG (or ./xds.toml) and XDS_REPOSITORY_* variables, e.g.
XDS_REPOSITORY_PORT=8082, XDS_REPOSITORY_REGISTRY_URL=http://127.0.0.1:8081/xds/registry,
XDS_REPOSITORY_REPOSITORY_UNIQUE_ID=1.19.6.24.109.42.1; data under $XDS_DATA_DIR/repository.
TLS: XDS_REPOSITORY_TLS_CERT / _KEY / _CLIENT_CA / _CLIENT_AUTH (xdsservice.tls; the endpoint is then
https); WS-Security: XDS_SECURITY, XDS_TRUST_DIR, XDS_REPOSITORY_SECURITY_* (xdsservice.security).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from repository import config


def serve(settings: config.RepositorySettings) -> None:
    import uvicorn

    from repository.app import Repository
    from xdsservice.tls import load_tls_settings, uvicorn_ssl_kwargs

    tls = load_tls_settings("repository")
    if tls.enabled and not settings.public_url:
        settings = replace(settings, public_url=f"https://{settings.host}:{settings.port}{settings.path}")
    repository = Repository(settings)
    print(
        f"repository  {settings.endpoint}  (repositoryUniqueId {settings.repository_unique_id}, "
        f"registry {settings.registry_url}, data {settings.root})",
        flush=True,
    )
    uvicorn.run(
        repository.asgi,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        **uvicorn_ssl_kwargs(tls),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repository", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve ITI-41 and ITI-43 (the default)")
    clean = sub.add_parser("cleanup", help="remove unreferenced blobs and stale spool files; settle pending documents")
    clean.add_argument("--grace", type=float, default=None, help="leave anything younger than this many seconds alone")
    clean.add_argument("--dry-run", action="store_true", help="report what would be done, change nothing")
    args = parser.parse_args(argv)
    settings = config.load()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "cleanup":
        from repository.cleanup import run

        grace = settings.cleanup_grace_seconds if args.grace is None else args.grace
        report = run(settings, grace_seconds=grace, dry_run=args.dry_run)
        print(report.summary())
        return 0 if not report.registry_unreachable else 2
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
