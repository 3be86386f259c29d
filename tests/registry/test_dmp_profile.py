"""ITI-42 under XDS_PROFILE=dmp: the profile as the registry loads it, on a real SQL store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness.builders import DMP_PATIENT, dmp_submission
from registry.app import load_profile
from registry.config import RegistrySettings
from registry.register import RegisterSettings
from tests.registry.helpers import RegistryHarness
from xdscore.vocabulary import ErrorCode


@pytest.fixture(scope="module")
def profile():  # type: ignore[no-untyped-def]
    return load_profile(RegistrySettings(profile="dmp"))


def test_load_profile_dmp_warns_about_unbound_attributes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="xds.registry"):
        assert load_profile(RegistrySettings(profile="dmp")).name == "dmp"
    assert "no value set loaded for contentTypeCode (J59)" in caplog.text


def test_load_profile_dmp_refuses_a_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="XDS_REGISTRY_VALUE_SETS_DIR"):
        load_profile(RegistrySettings(profile="dmp", value_sets_dir=str(tmp_path / "missing")))


def test_ins_authorities_setting(tmp_path: Path) -> None:
    prod = load_profile(RegistrySettings(profile="dmp", ins_authorities="1.2.250.1.213.1.4.8"))
    reg = RegistryHarness(settings=RegisterSettings(prod))
    reg.feed(DMP_PATIENT)
    out = reg.submit(dmp_submission())
    assert [v.code for v in out.violations] == [ErrorCode.XDSRegistryMetadataError]
    assert "is not an INS" in out.violations[0].context


def test_the_official_td21_shape_is_registered_with_its_signature(profile) -> None:  # type: ignore[no-untyped-def]
    reg = RegistryHarness(settings=RegisterSettings(profile))
    reg.feed(DMP_PATIENT)
    out = reg.submit(dmp_submission())
    assert out.accepted, out.violations
    assert reg.count("DE") == 2 and reg.count("AS") == 3


def test_an_unsigned_dmp_submission_is_refused_and_leaves_nothing(profile) -> None:  # type: ignore[no-untyped-def]
    reg = RegistryHarness(settings=RegisterSettings(profile))
    reg.feed(DMP_PATIENT)
    out = reg.submit(dmp_submission(signed=False))
    assert not out.accepted
    assert [v.code for v in out.violations] == [ErrorCode.XDSRegistryMetadataError]
    assert "XAdES signature of its SubmissionSet" in out.violations[0].context
    assert reg.count() == 0
