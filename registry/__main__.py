"""`python -m registry`: serve the Document Registry (SOAP on HTTP, ITI-8 on MLLP) until interrupted."""

from __future__ import annotations

from registry.app import Registry
from registry.config import RegistrySettings
from xdsservice.config import load_or_exit
from xdsservice.serve import serve


def main() -> None:
    settings = load_or_exit(RegistrySettings, "registry")
    feed = [f"patient feed (ITI-8, MLLP)  {settings.feed_host}:{settings.feed_port}"] if settings.feed_port else []
    if settings.profile == "dmp":  # docs/dmp-services.md
        root = settings.endpoint.removesuffix(settings.path)
        feed += [f"DMP services  {root}{settings.dmp.base}/{{patients,habilitations,patientsSpecific,registry,repository}}",
                 f"patient API  {root}/dmp/api/patients/{{CX}}"]
    serve(
        "registry",
        settings,
        lambda: Registry(settings).asgi,
        lambda: [f"registry  {settings.endpoint}  (profile {settings.profile}, data {settings.database_url})", *feed],
    )


if __name__ == "__main__":
    main()
