"""The settings loader (xdsservice.config): sources and precedence, strictness with one-line messages, and a
real service process stopped by a bad setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.config import AuditSettings
from harness.services import ROOT
from registry.config import RegistrySettings
from repository.config import RepositorySettings
from xdsservice.config import SettingsError, load_settings
from xdsservice.tls import TlsSettings

NO_FILE = {"XDS_CONFIG": os.devnull}


def toml(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "xds.toml"
    path.write_text(text)
    return {"XDS_CONFIG": str(path)}


def test_defaults_and_derived_values(tmp_path: Path) -> None:
    s = RegistrySettings.load(NO_FILE | {"XDS_DATA_DIR": str(tmp_path)})
    assert (s.port, s.profile, s.keep_extra_metadata, s.security.mode, s.tls.enabled) == (8081, "ihe", True, "optional", False)
    assert s.data_dir == str(tmp_path / "registry") and s.database_url.endswith("/registry/registry.db")
    assert s.endpoint == "http://127.0.0.1:8081/xds/registry"
    assert (s.audit_sender.app_name, s.audit_sender.spool_dir) == ("xds-registry", str(tmp_path / "audit-spool" / "xds-registry"))
    r = RepositorySettings.load(NO_FILE | {"XDS_DATA_DIR": str(tmp_path)})
    assert (r.data_dir, r.audit_sender.app_name, r.endpoint) == (str(tmp_path / "repository"), "xds-repository", "http://127.0.0.1:8082/xds/repository")


def test_file_then_global_then_service_variables(tmp_path: Path) -> None:
    env = toml(tmp_path, '[registry]\nprofile = "nist"\nport = 9001\ntls_client_auth = "none"\n'
                         '[registry.security]\nmode = "required"\n[audit_sender]\ntransport = "udp"\n')
    s = RegistrySettings.load(env)
    assert (s.profile, s.port, s.security.mode, s.audit_sender.transport, s.audit_sender.port) == ("nist", 9001, "required", "udp", 5514)
    assert RegistrySettings.load(env | {"XDS_PROFILE": "ihe"}).profile == "ihe"  # the environment wins over the file
    assert RegistrySettings.load(env | {"XDS_PROFILE": "ihe", "XDS_REGISTRY_PROFILE": "nist"}).profile == "nist"  # the service's own wins
    assert RegistrySettings.load(env | {"XDS_REGISTRY_KEEP_EXTRA_METADATA": "off"}).keep_extra_metadata is False
    assert RegistrySettings.load(env | {"XDS_REGISTRY_SECURITY": "off"}).security.mode == "off"


def test_endpoint_is_https_with_a_certificate(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    s = RegistrySettings.load(NO_FILE | {"XDS_TLS_CERT": str(cert)})
    assert (s.tls.cert, s.endpoint) == (str(cert), "https://127.0.0.1:8081/xds/registry")
    assert RepositorySettings.load(NO_FILE | {"XDS_REPOSITORY_TLS_CERT": str(cert)}).endpoint.startswith("https://")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[registry]\nprot = 1\n", r"xds.toml \[registry\]: unknown key 'prot'"),
        ("[registry]\ntls_certificate = 'x'\n", r"\[registry\]: unknown key 'tls_certificate'"),
        ("[registry.security]\nmod = 'off'\n", r"\[registry.security\]: unknown key 'mod'"),
        ("[security]\naudiences = 'x'\n", r"\[security\]: unknown key 'audiences'"),
        ("[audit_sender]\nhots = 'x'\n", r"\[audit_sender\]: unknown key 'hots'"),
        ("[registy]\nport = 1\n", r"unknown table \[registy\]"),
        ("port = 1\n", r"top-level key 'port'"),
        ("[registry]\nport = '8081'\n", r"\[registry\] port must be an integer, not '8081'"),
        ("[registry]\nkeep_extra_metadata = 'no'\n", r"keep_extra_metadata must be true or false"),
        ("[registry.security]\nmode = 'maybe'\n", r"\[registry.security\] mode = 'maybe' must be one of off, optional, required"),
        ("[registry\n", r"is not valid TOML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        RegistrySettings.load(toml(tmp_path, text))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("XDS_REGISTRY_PORT", "80a", r"XDS_REGISTRY_PORT='80a' must be an integer"),
        ("XDS_REGISTRY_KEEP_EXTRA_METADATA", "ture", r"XDS_REGISTRY_KEEP_EXTRA_METADATA='ture' must be true or false"),
        ("XDS_SECURITY_CLOCK_SKEW", "-5", r"XDS_SECURITY_CLOCK_SKEW = -5 must be at least 0"),
        ("XDS_AUDIT_SENDER_TRANSPORT", "tcp", r"XDS_AUDIT_SENDER_TRANSPORT = 'tcp' must be one of tls, tls-plain, udp, off"),
        ("XDS_REGISTRY_TLS_CLIENT_AUTH", "sometimes", r"XDS_REGISTRY_TLS_CLIENT_AUTH = 'sometimes' must be one of"),
        ("XDS_AUDIT_SENDER_CONNECT_TIMEOUT", "5s", r"XDS_AUDIT_SENDER_CONNECT_TIMEOUT='5s' must be a number"),
    ],
)
def test_a_malformed_variable_is_one_line_naming_it(var: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        RegistrySettings.load(NO_FILE | {var: value})


def test_a_missing_file_named_by_xds_config() -> None:
    with pytest.raises(SettingsError, match="XDS_CONFIG"):
        RegistrySettings.load({"XDS_CONFIG": "/nonexistent/xds.toml"})


def test_a_section_alone_reads_only_its_keys(tmp_path: Path) -> None:
    """TLS keys live in [registry] beside the registry's own: loading TLS alone does not call those unknown."""
    env = toml(tmp_path, "[registry]\nport = 9001\ntls_client_auth = 'none'\n")
    assert load_settings(TlsSettings, "registry", env).client_auth == "none"


def test_the_audit_sink_is_strict_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\[audit\]: unknown key 'tls_prot'"):
        AuditSettings.load(toml(tmp_path, "[audit]\ntls_prot = 1\n"))
    with pytest.raises(SettingsError, match="XDS_AUDIT_HTTP_ENABLED='maybe'"):
        AuditSettings.load(NO_FILE | {"XDS_AUDIT_HTTP_ENABLED": "maybe"})


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("registry",), {"XDS_REGISTRY_PORT": "80a"}, "registry: configuration error: XDS_REGISTRY_PORT='80a' must be an integer"),
        (("repository",), {"XDS_REPOSITORY_SPILL_THRESHOLD": "1MB"}, "repository: configuration error: XDS_REPOSITORY_SPILL_THRESHOLD='1MB'"),
        (("audit", "serve"), {"XDS_AUDIT_UDP_ENABLED": "sometimes"}, "audit: configuration error: XDS_AUDIT_UDP_ENABLED='sometimes'"),
        (("registry",), {"XDS_REGISTRY_SECURITY": "required", "XDS_TRUST_DIR": ""}, "registry: configuration error: security mode is required but no trusted CA"),
    ],
)
def test_a_bad_setting_stops_the_service_process_with_one_line(tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "XDS_DATA_DIR": str(tmp_path), "XDS_CONFIG": os.devnull, **env}
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip() == message or (done.stderr.startswith(message) and done.stderr.count("\n") == 1), done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "registry").exists()
