"""DMP access rules (DMPi TD2.1, TD3.1, TD3.2, TD3.3a-d): the patient record model and the access decision.

`record.py` holds the patient record the rules read (filled by `dmp/`); the decision function is a pure
function of caller, record, entry and operation. See `docs/dmp-access.md`.
"""
