"""Loads the value sets of the `dmp` profile from SVS files (ITI TF-2b 3.48; ANS's JDV publication format).

`load_value_sets(folders)` reads every `*.xml` of each folder (several folders separated by the OS path
separator; a later folder's set replaces an earlier one of the same JDV), so a deployer drops ANS's
official files (mos.esante.gouv.fr/NOS/<JDV>/<JDV>.xml) beside or instead of the ones shipped in
`valuesets/dmp/`. A file that is not an SVS value set stops the registry at start-up with its name.
"""

from __future__ import annotations

import os
from pathlib import Path

from xdscore.svs import SvsError, SvsValueSet, parse

SHIPPED_DMP = Path(__file__).resolve().parent.parent / "valuesets" / "dmp"


class ValueSetFolderError(ValueError):
    pass


def folders(setting: str) -> list[Path]:
    return [Path(p) for p in setting.split(os.pathsep) if p.strip()] if setting else [SHIPPED_DMP]


def load_value_sets(setting: str) -> list[SvsValueSet]:
    by_jdv: dict[str, SvsValueSet] = {}
    for folder in folders(setting):
        if not folder.is_dir():
            raise ValueSetFolderError(f"value-set folder {folder} does not exist or is not a folder")
        for file in sorted(folder.glob("*.xml")):
            try:
                for vs in parse(file.read_bytes(), what=str(file)):
                    by_jdv[vs.jdv] = vs
            except SvsError as exc:
                raise ValueSetFolderError(str(exc)) from None
    return list(by_jdv.values())
