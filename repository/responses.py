"""The repository's RegistryResponses (ITI TF-3 4.2.4), written by `xdscore.ebrim.response` (one place),
and the status of the registry's answers. Their errors are read by `xdscore.ebrim.response.read_errors`.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from xdscore.ebrim.response import status_for, write
from xdscore.errors import Violation
from xdscore.vocabulary import NS, ResponseStatus

RS = f"{{{NS.RS}}}"
REGISTRY_RESPONSE = f"{RS}RegistryResponse"


def registry_response(violations: Iterable[Violation] = (), partial: bool = False) -> etree._Element:
    found = list(violations)
    return write(found, status_for(found, partial))


def read_status(response: etree._Element) -> str:
    return str(response.get("status", ""))


def response_status(response: etree._Element) -> ResponseStatus:
    """The status of a RegistryResponse; one that is not a known status URN counts as Failure."""
    try:
        return ResponseStatus(read_status(response))
    except ValueError:
        return ResponseStatus.FAILURE
