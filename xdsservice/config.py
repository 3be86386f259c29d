"""Configuration: one TOML file plus environment variables, environment winning.

The file is `$XDS_CONFIG`, else `xds.toml` in the working directory when present. Each service reads
its own section (`[registry]`, `[repository]`, `[audit]`); a key `port` in section `registry` is
overridden by the variable `XDS_REGISTRY_PORT`. A few variables are global on purpose
(`XDS_DATA_DIR`, `XDS_PROFILE`, `XDS_SECURITY`, `XDS_TRUST_DIR`), as the README documents.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _config_file(environ: Mapping[str, str]) -> Path | None:
    explicit = environ.get("XDS_CONFIG")
    if explicit:
        return Path(explicit)
    default = Path("xds.toml")
    return default if default.exists() else None


def load_file(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    path = _config_file(env)
    if path is None:
        return {}
    with path.open("rb") as f:
        return tomllib.load(f)


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("XDS_DATA_DIR", "./data"))


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value


def load_settings(cls: type[T], section: str, environ: Mapping[str, str] | None = None, **overrides: Any) -> T:
    """Build settings dataclass `cls` from its defaults, the file section, the environment and overrides."""
    assert is_dataclass(cls)
    env = os.environ if environ is None else environ
    file_section = load_file(env).get(section, {})
    defaults = cls()  # type: ignore[call-arg]
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = getattr(defaults, f.name)
        if f.name in file_section:
            value = file_section[f.name]
        var = f"XDS_{section.upper()}_{f.name.upper()}"
        if var in env:
            value = _coerce(env[var], getattr(defaults, f.name))
        values[f.name] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
