"""The DMP services' settings: `[registry.dmp]` in the config file and XDS_DMP_* variables (they are part of
the registry's settings; active when the registry runs the `dmp` profile). docs/dmp-services.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsservice.config import Layout, Vars, setting


@dataclass(frozen=True)
class DmpSettings:
    prefix: str = "/si-dmp-server/v2/services"  # the DMP's base path; services are <prefix>/patients, ...
    # Where <prefix>/repository forwards (the repository runs in its own process): its ITI-41/43 endpoint.
    repository_url: str = "http://127.0.0.1:8082/xds/repository"
    allow_creation: bool = True  # TD1.1; false answers as the real DMP now does (created by Mon espace santé)
    authorization_days: int = setting(0, minimum=0)  # an authorisation's lifetime (TD0.2 EXPIRE); 0: none
    open_on_feed: bool = False  # every patient fed by ITI-8 gets an open DMP (as Mon espace santé does)
    api_token: str = ""  # bearer token of the patient API; empty: the API answers loopback clients only
    max_request_bytes: int = setting(1024 * 1024, minimum=1024)

    @classmethod
    def layout(cls, service: str) -> Layout:
        return Layout(tables=((service, "dmp"),), env=(Vars("XDS_DMP_"),))

    @property
    def base(self) -> str:
        return "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""
