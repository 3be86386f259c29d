"""Where the standard artefacts this project ships are (the IHE WSDLs in `wsdl/`, the ebRS / XDS.b / DICOM
audit schemas in `schemas/`), for the services that publish them (`xdsservice.wsdl`) and the clients that
compile them (`xdsclient`). Only paths are computed here; the callers read the files.
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def artefact_dir(name: str) -> Path:
    """`wsdl/` or `schemas/`: in the source tree (checkout, editable install), else where
    `pip install .` put them (setup.cfg data_files: <prefix>/share/pyxds/<name>)."""
    local = SOURCE_ROOT / name
    return local if local.is_dir() else Path(sys.prefix) / "share" / "pyxds" / name
