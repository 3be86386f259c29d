"""The patient's trace at the real audit sink (RFC 5425 syslog over TLS, `GET /patients/{CX}/accesses`)
lists the DMP's own services (who called TD0.2 / TD0.3, in which mode) and the patient's choices."""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.services import Service, audit_sender_env, start_audit_sink
from registry.app import Registry
from registry.config import RegistrySettings
from tests.dmp import messages as m
from tests.dmp.callers import DOCTOR, Client, Vihf
from tests.security import fixtures
from tests.security.server import ServerThread
from xdscore.dmpws.vocabulary import DmpAction
from xuatool.pki import TestPki

pki = fixtures.pki
PATIENT = "180017512345640"


@pytest.fixture(scope="module")
def stack(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service]]:
    data = tmp_path_factory.mktemp("dmp-trace")
    sink = start_audit_sink(data)  # its dev certificate under data/audit/tls, where the sender looks
    try:
        env = {"XDS_SECURITY": "optional", "XDS_TRUST_DIR": str(pki.write(data / "pki")), "XDS_PROFILE": "dmp",
               "XDS_CONFIG": os.devnull, "XDS_DATA_DIR": str(data), "XDS_REGISTRY_FEED_PORT": "0",
               **audit_sender_env(sink)}
        registry = Registry(RegistrySettings.load(env))
        with ServerThread(registry.asgi) as server:
            yield server.url(""), sink
        registry.audit.close()
    finally:
        sink.stop()


def accesses(sink: Service, patient: str, wanted: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    deadline, events = time.time() + timeout, []
    while time.time() < deadline:
        r = httpx.get(f"{sink.url}/patients/{urllib.parse.quote(patient, safe='')}/accesses", params={"limit": "100"})
        body = r.json()
        events = body["accesses"] if isinstance(body, dict) else body
        if wanted <= {e["transaction"] for e in events}:
            return events
        time.sleep(0.3)
    raise AssertionError(f"not in the trace in time; have {[e['transaction'] for e in events]}")


def test_the_trace_lists_the_dmp_services_and_the_patient_s_choices(stack: tuple[str, Service], pki: TestPki) -> None:
    root, sink = stack
    api = f"{root}/dmp/api/patients/{urllib.parse.quote(m.key(PATIENT), safe='')}"
    assert httpx.post(f"{api}/open").status_code == 200
    assert httpx.put(f"{api}/oppositions", json={"centre_15": True}).status_code == 200
    client = Client(pki, f"{root}/si-dmp-server/v2/services")
    caller = Vihf(patient=m.cx(PATIENT), signed=True)
    client.post("patients", m.query("TEST_EXST", PATIENT), DmpAction.GET_DEMOGRAPHICS.value, caller)
    client.post("habilitations", m.set_authorization(), DmpAction.SET_AUTHORIZATION.value, caller)
    events = accesses(sink, m.key(PATIENT), {"TD0.2", "TD0.3", "CHOIX_PATIENT"})
    by = {e["transaction"]: e for e in events}
    assert DOCTOR in by["TD0.3"]["user"]["id"] and by["TD0.3"]["action"] == "U"
    assert by["TD0.2"]["action"] == "R" and by["TD0.2"]["access_mode"] == "normal"
    assert by["TD0.3"]["transaction_name"] == "Mise à jour de l'autorisation"
    assert sorted(e["transaction"] for e in events if e["transaction"] == "CHOIX_PATIENT") == ["CHOIX_PATIENT"] * 2
