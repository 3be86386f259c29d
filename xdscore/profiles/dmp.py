"""The French DMP affinity domain (CI-SIS "Partage de documents de santé", DMPi TD2.1): rows and rules.

Facts and sources: ../shared/spec/dmp-cisis.md §1.2-1.7 and dmp-services.md (what the official example
messages send). What this profile adds to the IHE rules, every violation an `XDSRegistryMetadataError`:
- value sets: each coded attribute bound to its JDV, read from SVS files (`BINDINGS`, first JDV found
  wins, so the official DMP file replaces a CI-SIS stand-in when a deployer drops it in the folder);
- patientId: an INS (`INS_AUTHORITIES`, configurable) whose NIR has a valid control key;
- confidentialityCode: 1 to 4 values of J58, exactly one of N / R / V;
- the CI-SIS required attributes (`ROWS`) and the author XCN / XON shapes (`AUTHOR_*`);
- the submission's XAdES signature: a DocumentEntry of the signature class and format, linked by `signs`
  to the SubmissionSet (DMP TD2.1; ITI TF-1 37 DSG SubmissionSet Signature);
- the statuses Archived / Deleted (JDV_J52), set later through ITI-57.
`build_profile(value_sets, ins_authorities)` assembles them on top of the IHE base profile; no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from xdscore.errors import Violation
from xdscore.model import ObjectKind, RimObject, Submission
from xdscore.profiles import Profile
from xdscore.profiles.ihe import PROFILE as IHE
from xdscore.rules.cardinality import Row, Target, ValueSet
from xdscore.svs import SvsValueSet
from xdscore.vocabulary import UUID, AssociationType, DmpStatus, ErrorCode, Slot

MD = ErrorCode.XDSRegistryMetadataError
DE, SS = ObjectKind.DOCUMENT_ENTRY, ObjectKind.SUBMISSION_SET
REF = "CI-SIS Partage de documents de santé / DMP"

# --- value-set bindings: (rule id, object, classification scheme, attribute, JDVs in order of preference) ----
# eventCodeList is not bound: the DMP takes acts (CCAM), pathologies (CIM-10), LOINC... per document model.
# J58 (confidentiality) is applied by `confidentiality` below, with the N/R/V partition.


@dataclass(frozen=True)
class Binding:
    rule_id: str
    kind: ObjectKind
    scheme: str
    label: str
    jdvs: tuple[str, ...]  # "J66" first, then a CI-SIS stand-in ("J07") when the DMP set is not public


BINDINGS: tuple[Binding, ...] = (
    Binding("DMP-classCode-J57", DE, UUID.DE_CLASS_CODE, "classCode", ("J57",)),
    Binding("DMP-typeCode-J66", DE, UUID.DE_TYPE_CODE, "typeCode", ("J66", "J07")),
    Binding("DMP-formatCode-J60", DE, UUID.DE_FORMAT_CODE, "formatCode", ("J60",)),
    Binding("DMP-healthcareFacilityTypeCode-J61", DE, UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE,
            "healthcareFacilityTypeCode", ("J61", "J02")),
    Binding("DMP-practiceSettingCode-J62", DE, UUID.DE_PRACTICE_SETTING_CODE, "practiceSettingCode", ("J62", "J04")),
    Binding("DMP-contentTypeCode-J59", SS, UUID.SS_CONTENT_TYPE_CODE, "contentTypeCode", ("J59",)),
)
CONFIDENTIALITY_JDV = "J58"

# --- patient identifiers (INS) --------------------------------------------------------------------------
INS_NIR, INS_NIA, INS_NIR_TEST, INS_NIR_DEMO = (
    "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
INS_AUTHORITIES = (INS_NIR, INS_NIA, INS_NIR_TEST, INS_NIR_DEMO)
_NIR = re.compile(r"^[1-8]\d{4}(\d{2}|2[AB])\d{6}\d{2}$")  # sex, year, month, department (2A/2B), commune, order, key
_CORSICA = {"2A": 1_000_000, "2B": 2_000_000}  # 2A reads as 19, 2B as 18 in the key computation


def nir_problem(nir: str) -> str | None:
    """Why `nir` is not a NIR (13 characters and a control key 97 - (number mod 97)), or None."""
    nir = nir.upper()
    if not _NIR.match(nir):
        return "is not 15 characters: 13 digits (2A / 2B allowed for the department) and a 2-digit key"
    body, key = nir[:13], int(nir[13:])
    department = body[5:7]
    number = int(body.replace(department, "20", 1) if department in _CORSICA else body) - _CORSICA.get(department, 0)
    expected = 97 - number % 97
    if key != expected:
        return f"has the control key {key:02d}, the NIR's key is {expected:02d}"
    return None


def _cx_parts(cx: str) -> tuple[str, str, str]:
    """(CX.1, CX.4 universal id, CX.5) of `id^^^&OID&ISO^type...`."""
    parts = cx.split("^")
    hd = parts[3].split("&") if len(parts) > 3 else []
    return parts[0], hd[1] if len(hd) > 1 else "", parts[4] if len(parts) > 4 else ""


def patient_id_rule(authorities: frozenset[str]) -> Callable[[RimObject, ObjectKind], Iterator[Violation]]:
    def ins_patient_id(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
        """DMP-INS: the SubmissionSet's patientId is an INS (CX.4 an INS authority, CX.5 NH when given), the
        NIR's key right (CI-SIS; dmp-cisis.md §1.7). CX.7 and later components (the kit sends a date in CX.7)
        are accepted. Every other object has this patientId (IHE: XDSPatientIdDoesNotMatch)."""
        value = obj.external_id(UUID.SS_PATIENT_ID) if kind is SS else None
        if not value:
            return  # missing or malformed: the IHE rows say so
        nir, authority, id_type = _cx_parts(value)
        where = f"{kind.value} {obj.id}: patientId {value}"
        if authority not in authorities:
            yield Violation(MD, f"{where} is not an INS: the assigning authority {authority or '(none)'} is not one "
                            f"of {', '.join(sorted(authorities))}", obj.id)
        elif id_type not in ("", "NH"):
            yield Violation(MD, f"{where}: an INS has the identifier type code NH, not {id_type}", obj.id)
        elif (problem := nir_problem(nir)) is not None:
            yield Violation(MD, f"{where}: the NIR {nir} {problem}", obj.id)
    return ins_patient_id


# --- confidentialityCode ----------------------------------------------------------------------------------
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
J58_BUILT_IN = frozenset({("N", HL7_CONFIDENTIALITY), ("R", HL7_CONFIDENTIALITY), ("V", HL7_CONFIDENTIALITY),
                          ("MASQUE_PS", "1.2.250.1.213.1.1.4.13"), ("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13"),
                          ("INVISIBLE_REPRESENTANTS_LEGAUX", "1.2.250.1.213.1.1.4.13")})
MAX_CONFIDENTIALITY = 4  # PDSM4DMP DocumentEntry: confidentiality 1..4


def confidentiality_rule(allowed: frozenset[tuple[str, str]], vs_label: str) -> Callable[[RimObject, ObjectKind], Iterator[Violation]]:
    def confidentiality(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
        """DMP-confidentiality: 1 to 4 codes of J58, exactly one N / R / V, the others DMP visibility codes."""
        if kind is not DE:
            return
        pairs = [(c.node_representation or "", (c.slot(Slot.CODING_SCHEME) or ("",))[0])
                 for c in obj.classified(UUID.DE_CONFIDENTIALITY_CODE)]
        where = f"DocumentEntry {obj.id}: confidentialityCode"
        if len(pairs) > MAX_CONFIDENTIALITY:
            yield Violation(MD, f"{where} appears {len(pairs)} times, at most {MAX_CONFIDENTIALITY} allowed by the DMP", obj.id)
        for code, scheme in pairs:
            if (code, scheme) not in allowed:
                yield Violation(MD, f"{where} '{code}' (codingScheme {scheme}) is not in the value set {vs_label}", obj.id)
        levels = [code for code, scheme in pairs if scheme == HL7_CONFIDENTIALITY and (code, scheme) in allowed]
        if pairs and len(levels) != 1:
            found = ", ".join(levels) if levels else "none"
            yield Violation(MD, f"{where} must hold exactly one of N, R, V (HL7 {HL7_CONFIDENTIALITY}); found {found}", obj.id)
        if len(set(pairs)) != len(pairs):
            yield Violation(MD, f"{where} repeats a code", obj.id)
    return confidentiality


# --- required attributes (CI-SIS; dmp-cisis.md §1.2-1.3): R ones only, R2 ("if known") cannot be checked -----
CL, SLOT, NAME = Target.CLASSIFICATION, Target.SLOT, Target.NAME
ROWS: tuple[Row, ...] = (
    Row("DMP-SS-author", SS, CL, UUID.SS_AUTHOR, "author", 1, 1, MD, f"{REF}: SubmissionSet author 1..1"),
    Row("DMP-DE-author", DE, CL, UUID.DE_AUTHOR, "author", 1, None, MD, f"{REF}: DocumentEntry authorPerson R"),
    Row("DMP-DE-legalAuthenticator", DE, SLOT, Slot.LEGAL_AUTHENTICATOR, "legalAuthenticator", 1, 1, MD,
        f"{REF}: legalAuthenticator R"),
    Row("DMP-DE-serviceStartTime", DE, SLOT, Slot.SERVICE_START_TIME, "serviceStartTime", 1, 1, MD,
        f"{REF}: serviceStartTime R"),
    Row("DMP-DE-title", DE, NAME, "Name", "title", 1, 1, MD, f"{REF}: title R"),
)

# --- authors (PDSM4DMP ActorPS / ActorSystem / ActorPatient / AuthorInstitution; KIT-MSG TD2.1, TD3.1) -------
IDNAT_PS = "1.2.250.1.71.4.2.1"  # XCN.9 of a health professional or a system: IdNat_PS
IDNAT_STRUCT = "1.2.250.1.71.4.2.2"  # XON.6 of a structure: IdNat_Struct
# IdNat_PS prefixes: 0 + ADELI (9), 8 + RPPS (11), 3 + structure id "/" internal id (staff without RPPS / ADELI)
_IDNAT_PS = re.compile(r"^(0[0-9A-Z]{9}|8\d{11}|3[^/\s]+/[^/\s]+)$")
# IdNat_Struct prefixes: 1 + FINESS (9), 2 + SIREN (9), 3 + SIRET (14), 4 + RPPS (11) and rank (3)
_IDNAT_STRUCT = re.compile(r"^(1[0-9A-Z]{9}|2\d{9}|3\d{14}|4\d{14})$")
PS_TYPE_CODES = frozenset({"IDNPS", "EI", "RI"})  # professional (IDNPS; EI in older messages), system (RI)
AUTHOR_SCHEMES = {DE: UUID.DE_AUTHOR, SS: UUID.SS_AUTHOR}


def _hd_oid(hd: str) -> str:
    parts = hd.split("&")
    return parts[1] if len(parts) == 3 and parts[2] == "ISO" else ""


def xcn_problem(xcn: str, authorities: frozenset[str]) -> str | None:
    """What is wrong with an authorPerson / legalAuthenticator XCN for the DMP, or None."""
    c = xcn.split("^") + [""] * 13
    ident, authority, type_code = c[0].strip(), _hd_oid(c[8]), c[12].strip()
    if not ident:
        return "has no identifier (XCN.1): the DMP identifies authors by IdNat_PS or INS"
    if not authority:
        return "has no assigning authority written &OID&ISO (XCN.9)"
    if type_code == "NH":  # a document written by the patient: the INS
        if authority not in authorities:
            return f"is a patient (NH) whose authority {authority} is not an INS authority"
        problem = nir_problem(ident)
        return f"is a patient whose NIR {ident} {problem}" if problem else None
    if authority == IDNAT_PS:
        if type_code not in PS_TYPE_CODES:
            return f"has the identifier type code (XCN.13) '{type_code}', expected one of {', '.join(sorted(PS_TYPE_CODES))}"
        if not _IDNAT_PS.match(ident):
            return f"has '{ident}', not an IdNat_PS (8 + RPPS, 0 + ADELI, or 3 + structure / internal id)"
    elif not type_code:
        return "has no identifier type code (XCN.13)"
    return None


def xon_problem(xon: str) -> str | None:
    """What is wrong with an authorInstitution XON for the DMP, or None (a name alone is allowed)."""
    c = xon.split("^") + [""] * 10
    name, authority, type_code, ident = c[0].strip(), _hd_oid(c[5]), c[6].strip(), c[9].strip()
    if not name:
        return "has no organization name (XON.1)"
    if not ident:
        return None
    if not authority:
        return "has an identifier (XON.10) but no assigning authority written &OID&ISO (XON.6)"
    if authority == IDNAT_STRUCT:
        if type_code != "IDNST":
            return f"has the identifier type code (XON.7) '{type_code}', an IdNat_Struct is IDNST"
        if not _IDNAT_STRUCT.match(ident):
            return f"has '{ident}', not an IdNat_Struct (1 + FINESS, 2 + SIREN, 3 + SIRET, 4 + RPPS and rank)"
    return None


def author_rule(authorities: frozenset[str]) -> Callable[[RimObject, ObjectKind], Iterator[Violation]]:
    def author_shapes(obj: RimObject, kind: ObjectKind) -> Iterator[Violation]:
        """DMP-author: every author has an authorPerson XCN of the DMP's shapes; institutions are XONs."""
        where = f"{kind.value} {obj.id}"
        scheme = AUTHOR_SCHEMES.get(kind)
        for c in obj.classified(scheme) if scheme else ():
            persons = c.slot(Slot.AUTHOR_PERSON)
            if not persons:
                yield Violation(MD, f"{where}: author has no authorPerson ({REF}: authorPerson R)", obj.id)
            for xcn in persons:
                if (problem := xcn_problem(xcn, authorities)) is not None:
                    yield Violation(MD, f"{where}: authorPerson {xcn} {problem}", obj.id)
            for xon in c.slot(Slot.AUTHOR_INSTITUTION):
                if (problem := xon_problem(xon)) is not None:
                    yield Violation(MD, f"{where}: authorInstitution {xon} {problem}", obj.id)
        if kind is DE:
            for xcn in obj.slot(Slot.LEGAL_AUTHENTICATOR):
                if (problem := xcn_problem(xcn, authorities)) is not None:
                    yield Violation(MD, f"{where}: legalAuthenticator {xcn} {problem}", obj.id)
    return author_shapes


# --- the XAdES signature of the submission (DMP TD2.1; ITI TF-1 37 DSG) ----------------------------------
SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
SIGNATURE_FORMATS = frozenset({"http://www.w3.org/2000/09/xmldsig#", "urn:ihe:iti:dsg:detached:2014"})


def submission_signature(sub: Submission) -> Iterator[Violation]:
    """DMP-signature: a submission of documents carries the XAdES signature of its SubmissionSet."""
    ss = sub.submission_set
    if ss is None or not sub.document_entries:
        return
    signatures = {
        d.entry_uuid for d in sub.document_entries
        if d.class_code is not None and d.class_code.code == SIGNATURE_CLASS
        and d.format_code is not None and d.format_code.code in SIGNATURE_FORMATS
    }
    signs = {a.source_uuid for a in sub.associations
             if a.association_type == AssociationType.SIGNS.value and a.target_uuid == ss.entry_uuid}
    if signatures & signs:
        return
    what = (f"its signature DocumentEntry {', '.join(sorted(signatures))} is not linked to the SubmissionSet by a "
            "signs association" if signatures else "it has no signature DocumentEntry")
    yield Violation(
        MD,
        f"a DMP submission carries the XAdES signature of its SubmissionSet (DMP TD2.1, IHE DSG): a DocumentEntry "
        f"with classCode {SIGNATURE_CLASS} and formatCode {' or '.join(sorted(SIGNATURE_FORMATS))}, source of a signs "
        f"association to the SubmissionSet; {what}",
        ss.entry_uuid,
    )


# --- assembly -----------------------------------------------------------------------------------------------


def find(value_sets: Iterable[SvsValueSet], jdvs: tuple[str, ...]) -> SvsValueSet | None:
    """The first of `jdvs` ("J66", then "J07") present among the loaded value sets."""
    by_jdv = {vs.jdv: vs for vs in value_sets}
    return next((by_jdv[j] for j in jdvs if j in by_jdv), None)


def unbound(value_sets: Iterable[SvsValueSet]) -> list[str]:
    """Attributes left unchecked because no file of their JDVs was loaded (the registry logs them)."""
    sets = list(value_sets)
    missing = [f"{b.label} ({' or '.join(b.jdvs)})" for b in BINDINGS if find(sets, b.jdvs) is None]
    if find(sets, (CONFIDENTIALITY_JDV,)) is None:
        missing.append(f"confidentialityCode ({CONFIDENTIALITY_JDV}: the built-in six codes are used)")
    return missing


def build_profile(value_sets: Iterable[SvsValueSet], ins_authorities: Iterable[str] = INS_AUTHORITIES) -> Profile:
    sets = list(value_sets)
    authorities = frozenset(a.strip() for a in ins_authorities if a.strip())
    rows = []
    for b in BINDINGS:
        vs = find(sets, b.jdvs)
        if vs is not None:
            rows.append(ValueSet(b.rule_id, b.kind, b.scheme, b.label, vs.pairs, MD, vs.label))
    j58 = find(sets, (CONFIDENTIALITY_JDV,))
    confidentiality = confidentiality_rule(
        j58.pairs if j58 else J58_BUILT_IN, j58.label if j58 else "JDV_J58-ConfidentialityCode-DMP (OID 1.2.250.1.213.1.1.5.9)"
    )
    return IHE.extended(
        "dmp",
        rows=ROWS,
        value_sets=tuple(rows),
        object_rules=(patient_id_rule(authorities), confidentiality, author_rule(authorities)),
        submission_rules=(submission_signature,),
        statuses=frozenset({DmpStatus.ARCHIVED.value, DmpStatus.DELETED.value}),
        # archived and deleted documents come back only to a query naming their status (PDSM4DMP, KIT-CS)
        hidden_statuses=frozenset({DmpStatus.ARCHIVED.value, DmpStatus.DELETED.value}),
    )
