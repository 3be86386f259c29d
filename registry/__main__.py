"""`python -m registry`: serve the Document Registry (SOAP on HTTP, ITI-8 on MLLP) until interrupted."""

from __future__ import annotations

import logging

import uvicorn

from registry.app import Registry
from registry.config import RegistrySettings


def main() -> None:
    settings = RegistrySettings.load()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
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
    )


if __name__ == "__main__":
    main()
