"""xdsservice.security: settings precedence, trust folder loading, the hook built from them."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from lxml import etree

from xdscore import soap, wssec, xmlsafe
from xdscore.wsse_faults import SecurityFault
from xdsservice.config import SettingsError, load_settings
from xdsservice.security import (
    Mode,
    SecurityConfigError,
    SecuritySettings,
    WsSecurityHook,
    build_security_hook,
    load_trust_dir,
)
from xuatool import variants
from xuatool.header import request
from xuatool.pki import TestPki

NO_FILE = {"XDS_CONFIG": os.devnull}  # never pick up a developer's ./xds.toml


def test_defaults_are_optional_xua_with_no_audience() -> None:
    s = load_settings(SecuritySettings, "registry", NO_FILE)
    assert (s.mode_enum, s.profile, s.audience, s.clock_skew) == (Mode.OPTIONAL, "xua", "", 300)


def test_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "xds.toml"
    config.write_text(
        '[security]\nmode = "off"\naudience = "urn:file"\nclock_skew = 60\n'
        '[repository.security]\nmode = "required"\n'
    )
    env = {"XDS_CONFIG": str(config)}
    assert load_settings(SecuritySettings, "registry", env).mode == "off"
    assert load_settings(SecuritySettings, "repository", env).mode == "required"
    env |= {"XDS_SECURITY": "optional", "XDS_TRUST_DIR": "/trust", "XDS_SECURITY_CLOCK_SKEW": "30"}
    registry = load_settings(SecuritySettings, "registry", env)
    assert (registry.mode, registry.trust_dir, registry.clock_skew, registry.audience) == ("optional", "/trust", 30, "urn:file")
    env |= {"XDS_REPOSITORY_SECURITY": "required", "XDS_REPOSITORY_SECURITY_AUDIENCE": "urn:repo"}
    repository = load_settings(SecuritySettings, "repository", env)
    assert (repository.mode, repository.audience) == ("required", "urn:repo")


def test_profile_follows_xds_profile() -> None:
    assert load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_PROFILE": "cisis"}).profile == "vihf"
    assert load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_PROFILE": "nist"}).profile == "xua"
    assert load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_PROFILE": "cisis", "XDS_SECURITY_PROFILE": "xua"}).profile == "xua"


def test_mode_is_required_by_default_under_dmp(tmp_path: Path) -> None:
    """The DMP wants a VIHF on every call: `required` is the default under the dmp profile, however the profile
    is set; an explicit mode wins; without a trust folder the default cannot work and the service stops."""
    trust = {"XDS_TRUST_DIR": "/trust"}
    for env in ({"XDS_PROFILE": "dmp"}, {"XDS_REGISTRY_PROFILE": "DMP"}, {"XDS_PROFILE": "ihe", "XDS_REGISTRY_PROFILE": "dmp"}):
        s = load_settings(SecuritySettings, "registry", NO_FILE | trust | env)
        assert (s.mode_enum, s.profile) == (Mode.REQUIRED, "vihf"), env
    assert load_settings(SecuritySettings, "registry", NO_FILE | trust | {"XDS_PROFILE": "dmp", "XDS_SECURITY": "optional"}).mode == "optional"
    assert load_settings(SecuritySettings, "registry", NO_FILE | trust | {"XDS_PROFILE": "dmp", "XDS_REGISTRY_SECURITY": "off"}).mode == "off"
    assert load_settings(SecuritySettings, "registry", NO_FILE | trust | {"XDS_PROFILE": "cisis"}).mode == "optional"
    assert load_settings(SecuritySettings, "registry", NO_FILE | trust | {"XDS_PROFILE": "dmp", "XDS_REGISTRY_PROFILE": "ihe"}).mode == "optional"
    config = tmp_path / "xds.toml"
    config.write_text('[registry]\nprofile = "dmp"\n')
    assert load_settings(SecuritySettings, "registry", {"XDS_CONFIG": str(config)} | trust).mode == "required"
    config.write_text('[registry]\nprofile = "dmp"\n[registry.security]\nmode = "optional"\n')
    assert load_settings(SecuritySettings, "registry", {"XDS_CONFIG": str(config)} | trust).mode == "optional"
    with pytest.raises(SecurityConfigError, match=r"^profile dmp requires a VIHF on every call .* set XDS_TRUST_DIR"):
        load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_PROFILE": "dmp"})
    assert SecuritySettings().mode_enum is Mode.OPTIONAL  # built in code without the loader: the plain default


def test_bad_mode_is_refused() -> None:
    with pytest.raises(SettingsError, match="XDS_SECURITY"):
        load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_SECURITY": "maybe"})


@pytest.mark.parametrize("value", ["5 minutes", "-1", "", "1e3"])
def test_bad_numbers_are_a_config_error(value: str) -> None:
    with pytest.raises(SettingsError, match=r"XDS_SECURITY_CLOCK_SKEW"):
        load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_SECURITY_CLOCK_SKEW": value})
    assert load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_SECURITY_MAX_AGE": " 60 "}).max_age == 60


def test_trust_dir_loading(pki: TestPki, tmp_path: Path) -> None:
    (tmp_path / "bundle.pem").write_bytes(pki.ca.cert_pem() + pki.rogue_ca.cert_pem())
    (tmp_path / "notes.txt").write_text("ignored")
    assert len(load_trust_dir(tmp_path)) == 2
    (tmp_path / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(SecurityConfigError):
        load_trust_dir(tmp_path)
    with pytest.raises(SecurityConfigError):
        load_trust_dir(tmp_path / "missing")


def test_required_mode_needs_a_trust_folder() -> None:
    with pytest.raises(SecurityConfigError):
        build_security_hook(load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_SECURITY": "required"}))


def test_optional_mode_without_trust_refuses_every_assertion(pki: TestPki) -> None:
    hook = build_security_hook(load_settings(SecuritySettings, "registry", NO_FILE))
    assert isinstance(hook, WsSecurityHook)
    sec = variants.make("valid", variants.VariantContext(pki=pki, now=dt.datetime.now(dt.UTC)))
    req = soap.read_envelope(xmlsafe.parse_bytes(request(etree.Element("{urn:x}E"), "urn:x:a", sec)))
    with pytest.raises(SecurityFault, match="XDS_TRUST_DIR"):
        hook(req, None)


def test_hook_reads_the_clock_on_every_call(pki: TestPki, tmp_path: Path) -> None:
    trust = pki.write(tmp_path)
    settings = load_settings(SecuritySettings, "registry", NO_FILE | {"XDS_SECURITY": "required", "XDS_TRUST_DIR": str(trust), "XDS_PROFILE": "cisis"})
    now = dt.datetime.now(dt.UTC)
    times = iter([now, now + dt.timedelta(hours=3)])
    hook = build_security_hook(settings, clock=lambda: next(times))
    assert hook is not None and hook.policy.profile is wssec.Profile.VIHF
    sec = variants.make("valid", variants.VariantContext(pki=pki, now=now, timestamp=False))
    req = soap.read_envelope(xmlsafe.parse_bytes(request(etree.Element("{urn:x}E"), "urn:x:a", sec)))
    assert hook(req, None) is not None
    with pytest.raises(SecurityFault, match="expired"):
        hook(req, None)
