"""Settings: one typed loader for every service (registry, repository, audit sink) and every section of one
(its own keys, TLS, WS-Security, the audit sender).

Sources, later ones winning: a field's default < the TOML file (`$XDS_CONFIG`, else `./xds.toml` when
present) < environment variables. A settings class is a frozen dataclass: each field is a key (`str`,
`int`, `float` or `bool`), or a nested settings class (a section, with its own tables and variables).
Where a class reads is its `layout(service)` classmethod; the default is the service's table and its variables:
field `port` of the registry is `port` in `[registry]` and `XDS_REGISTRY_PORT`. So adding a key is
adding one field; a nested section says where it reads in its own `layout`. Defaults that depend on the
environment (a folder under `$XDS_DATA_DIR`) are filled, and values checked together, by the class's `complete(sources, service)`.

Strict, so that a typo cannot silently run a service on defaults: an unknown key in a table the service
reads, an unknown top-level table, a file value of the wrong type, an environment value that does not
parse (`XDS_REGISTRY_PORT=80a`, a boolean other than 1/0/true/false/yes/no/on/off) or a value outside a
field's `choices` / `minimum` is a `SettingsError` whose message is one line naming the key and its source.
So is an `XDS_*` variable that names nothing: one under a prefix the service reads that is none of its
settings (`XDS_REGISTRY_PROT`), or one under no known prefix at all (`XDS_REGISTY_PORT`); what is not a
service setting (the global variables, the tools' prefixes) is listed in `GLOBAL_VARIABLES` and
`OTHER_PREFIXES`, and a variable of another service's section is left to that service.
Services load their settings once, in their `__main__`, and pass them to their constructors.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

SettingsT = TypeVar("SettingsT")

# Top-level tables of the file: one per service, plus the sections shared by several services. Each is also
# the prefix of its variables (`[audit_sender]`: XDS_AUDIT_SENDER_*).
TABLES = frozenset({"registry", "repository", "audit", "audit_sender", "security"})
# Sections read from the environment under prefixes of their own (XDS_TLS_CERT, XDS_ACCESS_NOTICE_DAYS, the
# registry's DMP services' XDS_DMP_*), besides XDS_<SERVICE>_TLS_* / _ACCESS_* inside the service's prefix. A new
# one goes here, so that the services that do not read it leave its variables alone.
ENVIRONMENT_SECTIONS = ("XDS_TLS_", "XDS_ACCESS_", "XDS_DMP_")
# Every other XDS_* variable, in one place: the global ones (each read as a key of some sections, or by every
# service) and the prefixes of what is not a service (the `xds` client, the tests and their tools).
GLOBAL_VARIABLES = frozenset({"XDS_CONFIG", "XDS_DATA_DIR", "XDS_PROFILE", "XDS_SECURITY", "XDS_TRUST_DIR"})
OTHER_PREFIXES = ("XDS_CLIENT_", "XDS_TEST_", "XDS_CONFORMANCE_", "XDS_FUZZ_")
TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """Settings a service cannot start with; the message is one line naming the key and its source."""


def setting(default: Any, *, choices: Sequence[str] = (), minimum: float | None = None) -> Any:
    """A key with a checked value: `mode: str = setting("optional", choices=("off", "optional", "required"))`."""
    return field(default=default, metadata={"choices": tuple(choices), "minimum": minimum})


@dataclass(frozen=True)
class Vars:
    """Environment variables of one precedence level: `prefix` + FIELD (upper case), and `also`, other
    variables read as a field (`("XDS_TRUST_DIR", "trust_dir")`)."""

    prefix: str = ""
    also: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Layout:
    """Where one settings class reads its keys, lowest precedence first: TOML tables (paths, e.g.
    `("registry", "security")` for `[registry.security]`), the prefix of its keys inside them (TLS keys are
    `tls_cert` in `[registry]`), and levels of environment variables."""

    tables: tuple[tuple[str, ...], ...] = ()
    key_prefix: str = ""
    env: tuple[Vars, ...] = ()


def service_layout(service: str) -> Layout:
    return Layout(tables=((service,),), env=(Vars(f"XDS_{service.upper()}_"),))


@dataclass(frozen=True)
class Sources:
    """The parsed configuration file and the environment, read once per process."""

    file: Mapping[str, Any]
    file_name: str
    environ: Mapping[str, str]

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> Sources:
        env = os.environ if environ is None else environ
        path = Path(env["XDS_CONFIG"]) if env.get("XDS_CONFIG") else Path("xds.toml")
        if not env.get("XDS_CONFIG") and not path.exists():
            return cls({}, "", env)
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise SettingsError(f"configuration file {path} (XDS_CONFIG): {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"configuration file {path} is not valid TOML: {exc}") from None
        for name, value in data.items():
            if not isinstance(value, dict):
                raise SettingsError(f"{path}: top-level key {name!r} is not in a table such as [registry]")
            if name not in TABLES:
                raise SettingsError(f"{path}: unknown table [{name}]; known: {', '.join(sorted(TABLES))}")
        return cls(data, str(path), env)

    @property
    def data_root(self) -> Path:
        """`$XDS_DATA_DIR`, the folder under which every service keeps its data by default."""
        return Path(self.environ.get("XDS_DATA_DIR") or "./data")

    def table(self, path: tuple[str, ...]) -> Mapping[str, Any] | None:
        node: Any = self.file
        for name in path:
            node = node.get(name) if isinstance(node, dict) else None
            if node is None:
                return None
        if not isinstance(node, dict):
            raise SettingsError(f"{self.file_name}: [{'.'.join(path)}] must be a table")
        return node


def load_settings(
    cls: type[SettingsT], service: str, sources: Sources | Mapping[str, str] | None = None, **overrides: Any
) -> SettingsT:
    """Settings `cls` of `service` from defaults, file and environment; `overrides` (not None) win last."""
    if not isinstance(sources, Sources):
        sources = Sources.read(sources)
    loader = _Loader(sources, service)
    settings = loader.load(cls, overrides)
    loader.check_unknown_keys()
    loader.check_unknown_variables()
    return settings


def load_or_exit(cls: type[SettingsT], service: str) -> SettingsT:
    """For a service's `__main__`: its settings, or exit (status 1) with the one-line reason on stderr."""
    try:
        return load_settings(cls, service)
    except SettingsError as exc:
        raise SystemExit(f"{service}: configuration error: {exc}") from None


class _Loader:
    def __init__(self, sources: Sources, service: str) -> None:
        self.sources = sources
        self.service = service
        self.consumed: dict[tuple[str, ...], set[str]] = {}
        # Tables whose every key must be known: those read by a class without a key prefix. A table read only
        # through a prefix (the `tls_*` keys of [registry], when TLS is loaded alone) is checked by its owner.
        self.owned: set[tuple[str, ...]] = set()
        self.variables: set[str] = set()  # every variable read (set or not)
        self.prefixes: set[str] = set()  # the prefixes of those variables: what this service checks

    def load(self, cls: type[SettingsT], overrides: Mapping[str, Any] | None = None) -> SettingsT:
        assert is_dataclass(cls), cls
        layout_of = getattr(cls, "layout", None)
        layout: Layout = layout_of(self.service) if layout_of else service_layout(self.service)
        tables = [(path, self.sources.table(path)) for path in layout.tables]
        for path in layout.tables:
            self.consumed.setdefault(path, set())
            if not layout.key_prefix:
                self.owned.add(path)
            if len(path) > 1:  # a sub-table is a key of its parent table
                self.consumed.setdefault(path[:-1], set()).add(path[-1])
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            kind = hints[f.name]
            if isinstance(kind, type) and is_dataclass(kind):
                values[f.name] = self.load(kind)
                continue
            key = layout.key_prefix + f.name
            for path, table in tables:
                if table is not None and key in table:
                    self.consumed[path].add(key)
                    values[f.name] = _checked(f, _from_file(table[key], kind, f"{self._where(path)} {key}"), f"{self._where(path)} {key}")
            for level in layout.env:
                names = [var for var, name in level.also if name == f.name]
                if level.prefix:
                    names.append(level.prefix + f.name.upper())
                self.prefixes |= {level.prefix} - {""}
                self.variables.update(names)
                for var in names:
                    if var in self.sources.environ:
                        values[f.name] = _checked(f, _from_env(self.sources.environ[var], kind, var), var)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        settings = cls(**values)
        resolve = getattr(settings, "complete", None)
        return resolve(self.sources, self.service) if resolve else settings  # type: ignore[no-any-return]

    def check_unknown_keys(self) -> None:
        for path in sorted(self.owned):
            used, table = self.consumed[path], self.sources.table(path)
            unknown = sorted(set(table or ()) - used)
            if unknown:
                raise SettingsError(f"{self._where(path)}: unknown key {unknown[0]!r}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))

    def check_unknown_variables(self) -> None:
        """An XDS_* variable under one of this service's prefixes that it does not read, or under no known prefix
        (a misspelt one) is refused; one of another service's sections is that service's to check."""
        known = (*self.prefixes, *(f"XDS_{t.upper()}_" for t in TABLES), *ENVIRONMENT_SECTIONS, *OTHER_PREFIXES)
        for var in sorted(self.sources.environ):
            if not var.startswith("XDS_") or var in self.variables or var in GLOBAL_VARIABLES:
                continue
            prefix = max((p for p in known if var.startswith(p)), key=len, default=None)
            if prefix is not None and prefix not in self.prefixes:
                continue
            close = difflib.get_close_matches(var, sorted(self.variables | GLOBAL_VARIABLES), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            what = f"no setting of {self.service} is named so" if prefix else "no service setting has this prefix"
            raise SettingsError(f"{var}: unknown variable ({what}){hint}")

    def _where(self, path: tuple[str, ...]) -> str:
        return f"{self.sources.file_name} [{'.'.join(path)}]"


_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _from_file(value: Any, kind: Any, where: str) -> Any:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(kind, False)
    if not ok:
        raise SettingsError(f"{where} must be {_KIND_NAMES.get(kind, kind)}, not {value!r}")
    return float(value) if kind is float else value


def _from_env(text: str, kind: Any, var: str) -> Any:
    word = text.strip()
    try:
        if kind is bool:
            if word.lower() in TRUE:
                return True
            if word.lower() in FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(word)
        if kind is float:
            return float(word)
    except ValueError:
        raise SettingsError(f"{var}={text!r} must be {_KIND_NAMES[kind]}") from None
    return text


def _checked(f: Any, value: Any, where: str) -> Any:
    choices, minimum = f.metadata.get("choices"), f.metadata.get("minimum")
    if choices and str(value).strip().lower() not in choices:
        raise SettingsError(f"{where} = {value!r} must be one of {', '.join(choices)}")
    if minimum is not None and value < minimum:
        raise SettingsError(f"{where} = {value!r} must be at least {minimum}")
    return value.strip().lower() if choices else value


