"""Where the `xds` command sends: `make run`'s endpoints by default, then environment, then options.

| option | variable | default |
|---|---|---|
| --registry | XDS_CLIENT_REGISTRY_URL | http://127.0.0.1:8081/xds/registry |
| --repository | XDS_CLIENT_REPOSITORY_URL | http://127.0.0.1:8082/xds/repository |
| --feed | XDS_CLIENT_FEED | 127.0.0.1:2575 (ITI-8 over MLLP) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass

REGISTRY = "http://127.0.0.1:8081/xds/registry"
REPOSITORY = "http://127.0.0.1:8082/xds/repository"
FEED = "127.0.0.1:2575"


@dataclass(frozen=True)
class Endpoints:
    registry: str
    repository: str
    feed: str

    @property
    def feed_address(self) -> tuple[str, int]:
        host, _, port = self.feed.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"the patient feed address {self.feed!r} is not HOST:PORT")
        return host, int(port)


def endpoints(registry: str | None = None, repository: str | None = None, feed: str | None = None) -> Endpoints:
    env = os.environ
    return Endpoints(
        registry=registry or env.get("XDS_CLIENT_REGISTRY_URL") or REGISTRY,
        repository=repository or env.get("XDS_CLIENT_REPOSITORY_URL") or REPOSITORY,
        feed=feed or env.get("XDS_CLIENT_FEED") or FEED,
    )
