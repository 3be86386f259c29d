"""`xds patient …` against the registry's patient API (dmp profile, real uvicorn on a free port): each choice
is made, shown, listed and kept in the history; a refusal and an unreachable API are one line and exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.app import Registry
from registry.config import RegistrySettings
from tests.security.server import ServerThread
from xdsclient.cli import main

PATIENT = "180017512345624^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOCTOR = "899900063480"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"XDS_SECURITY": "off", "XDS_PROFILE": "dmp", "XDS_CONFIG": os.devnull, "XDS_AUDIT_SENDER_TRANSPORT": "off",
           "XDS_DATA_DIR": str(tmp_path_factory.mktemp("cli-patient")), "XDS_REGISTRY_FEED_PORT": "0",
           "XDS_DMP_API_TOKEN": "t0k"}
    registry = Registry(RegistrySettings.load(env))
    with ServerThread(registry.asgi) as server:
        yield server.url("/dmp/api")


def xds(capsys: pytest.CaptureFixture[str], api: str, *args: str) -> tuple[int, str, str]:
    action, rest = args[0], args[1:]
    code = main(["patient", action, "--api", api, "--token", "t0k", *rest])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_patient_s_choices_from_the_command_line(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = xds(capsys, api, "open", PATIENT)
    assert code == 0 and "created" in out
    code, out, _ = xds(capsys, api, "oppose", PATIENT, "--bris-de-glace", "yes", "--centre-15", "no")
    assert code == 0 and "opposition_bris_de_glace  (opposed=True)" in out and "centre_15" not in out
    code, out, _ = xds(capsys, api, "medecin-traitant", PATIENT, DOCTOR, "--first-name", "MAX", "--last-name", "LIBRE")
    assert code == 0 and "medecin_traitant_named" in out
    assert xds(capsys, api, "authorise", PATIENT, "499900063480001", "--structure")[0] == 0
    assert xds(capsys, api, "block", PATIENT, "810000000002", "--last-name", "BLOQUE")[0] == 0
    code, out, _ = xds(capsys, api, "authorised", PATIENT)
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[2][:5] == [DOCTOR, "MAX", "LIBRE", "médecin", "traitant"]
    assert any(r[:2] == ["499900063480001", "authorised"] for r in rows)
    assert any(r[:3] == ["810000000002", "BLOQUE", "blocked"] for r in rows)
    code, out, _ = xds(capsys, api, "show", PATIENT)
    assert "DMP           open" in out and "bris de glace: yes, centre 15: no" in out
    assert xds(capsys, api, "hide", PATIENT, "yes")[1].strip().endswith("(hidden=True)")
    assert xds(capsys, api, "hide", PATIENT, "yes")[1].strip() == "nothing to change: already so"
    assert xds(capsys, api, "medecin-traitant", PATIENT, DOCTOR, "--remove")[0] == 0
    code, out, _ = xds(capsys, api, "history", PATIENT)
    changes = [line.split()[1] for line in out.splitlines()[2:]]
    assert changes == ["created", "opposition_bris_de_glace", "authorised", "medecin_traitant_named", "authorised",
                       "blocked", "hidden_from_everyone", "medecin_traitant_removed"]
    assert xds(capsys, api, "close", PATIENT)[0] == 0
    assert "closed" in xds(capsys, api, "show", PATIENT)[1]


def test_refusals_are_one_line(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = xds(capsys, api, "show", "180017512345625^^^&1.2.250.1.213.1.4.10&ISO")
    assert (code, out, err.strip()) == (1, "", "xds: error: patient 180017512345625^^^&1.2.250.1.213.1.4.10&ISO has no DMP")
    assert xds(capsys, api, "oppose", PATIENT)[2].strip() == \
        "xds: error: give --bris-de-glace yes|no and/or --centre-15 yes|no"
    code = main(["patient", "show", PATIENT, "--api", api, "--token", "wrong"])
    assert code == 1 and "bearer token" in capsys.readouterr().err


def test_as_a_user_runs_it(api: str, tmp_path: Path) -> None:
    env = {**os.environ, "XDS_CLIENT_DMP_API": api, "XDS_CLIENT_DMP_TOKEN": "t0k"}
    opened = subprocess.run([sys.executable, "-m", "xdsclient.cli", "patient", "open", PATIENT], env=env,
                            capture_output=True, text=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    gone = subprocess.run([sys.executable, "-m", "xdsclient.cli", "patient", "show", PATIENT, "--api",
                           "http://127.0.0.1:9/dmp/api"], env=env, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and gone.stderr.startswith("xds: error: cannot reach http://127.0.0.1:9/dmp/api")
    assert "Traceback" not in gone.stderr
