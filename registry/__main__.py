"""`python -m registry`: serve the Document Registry (SOAP on HTTP, ITI-8 on MLLP) until interrupted."""

from __future__ import annotations

import logging
from dataclasses import replace

import uvicorn

from registry.app import Registry
from registry.config import RegistrySettings
from xdsservice.tls import load_tls_settings, uvicorn_ssl_kwargs


def main() -> None:
    settings = RegistrySettings.load()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    tls = load_tls_settings("registry")
    if tls.enabled and not settings.public_url:
        settings = replace(settings, public_url=f"https://{settings.host}:{settings.port}{settings.path}")
    registry = Registry(settings)
    print(f"registry  {settings.endpoint()}  (profile {settings.profile}, data {settings.database_url_resolved()})", flush=True)
    if settings.feed_port:
        print(f"patient feed (ITI-8, MLLP)  {settings.feed_host}:{settings.feed_port}", flush=True)
    uvicorn.run(
        registry.asgi,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        **uvicorn_ssl_kwargs(tls),
    )


if __name__ == "__main__":
    main()
