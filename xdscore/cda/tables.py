"""French CI-SIS correspondence tables used to derive XDS metadata from a CDA header, as data.

Facts from the ANS terminology server (published FHIR ConceptMaps, read from `ansforge/IG-terminologie-de-sante`
and its generated pages; the CI-SIS "Volet Partage de Documents de Santé" points at them for each attribute):
- ASS_X04-CorrespondanceType-Classe-CISIS (urn:oid:1.2.250.1.213.1.1.4.249, version 20240426): document type
  (JDV_J07, LOINC or TRE_A05) -> class (TRE_A03). ASS_X16 (the DMP's restriction, J66 -> J57) agrees on every
  code they share.
- ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS (urn:oid:1.2.250.1.213.1.1.4.331, version 20260629): templateId
  of a structured CDA -> formatCode (TRE_A06 CI-SIS codes, or TRE_A11 IHE codes).
- ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-CISIS: nonXMLBody/text@mediaType of a level 1 CDA
  -> formatCode (TRE_A11).
Display names are those of the TRE code systems (TRE_A03, TRE_A06, TRE_A11), as KIT-MSG and DRIMbox send them.
"""

from __future__ import annotations

from xdscore.model import Code

LOINC = "2.16.840.1.113883.6.1"
TRE_A05 = "1.2.250.1.213.1.1.4.12"  # TypeDocComplementaire: French document types outside LOINC
TRE_A03 = "1.2.250.1.213.1.1.4.1"  # ClasseDocument: classCode
TRE_A06 = "1.2.250.1.213.1.1.4.2.282"  # FormatCodeComplementaire: CI-SIS formatCodes
TRE_A11 = "1.3.6.1.4.1.19376.1.2.3"  # IheFormatCode: IHE formatCodes
TRE_A07 = "1.2.250.1.213.1.1.4.13"  # StatutVisibiliteDocument: DMP masking codes
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"

# INS assigning authorities (FR Core, TCDA structuration minimale): INS-NIR, INS-NIA, test and demo INS-NIR.
INS_NIR = "1.2.250.1.213.1.4.8"
INS_NIA = "1.2.250.1.213.1.4.9"
INS_NIR_TEST = "1.2.250.1.213.1.4.10"
INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_AUTHORITIES = frozenset({INS_NIR, INS_NIA, INS_NIR_TEST, INS_NIR_DEMO})

# National identifiers of health professionals (IdNat_PS) and structures (IdNat_Struct), TRE_G07 / RASS.
IDNAT_PS = "1.2.250.1.71.4.2.1"
IDNAT_STRUCT = "1.2.250.1.71.4.2.2"

# TRE_A03-ClasseDocument
CLASS_DISPLAY = {
    "10": "Compte rendu",
    "11": "Synthèse",
    "31": "Imagerie médicale",
    "42": "Prescription",
    "43": "Dispensation",
    "44": "Plan ou protocole de soins",
    "45": "Traitement administré",
    "52": "Certificat, déclaration",
    "60": "Données de remboursement",
    "90": "Autres documents déposés par le patient",
    "95": "Document de gestion",
    "99": "Autre",
}

# ASS_X04, group LOINC -> TRE_A03 (class code). Each row: type code, class code.
_X04_LOINC = """
10213-7 10  11369-6 52  11488-4 10  11490-0 10  11493-4 10  11502-2 10  11505-5 10  11506-3 10  11526-1 10
11528-7 10  15507-7 10  15508-5 10  18748-4 31  18761-7 11  18776-5 44  24611-6 10  27899-4 10  28617-9 10
28653-4 10  29274-8 10  29550-1 43  29551-9 42  29554-3 10  34112-3 10  34120-6 10  34133-9 11  34749-2 10
34794-8 10  34842-5 11  34874-8 10  34875-5 10  39256-3 10  46241-6 10  47420-5 10  51851-4 95  51969-4 10
52040-3 31  52063-5 42  52521-2 42  55115-0 42  56445-0 11  56446-8 95  57055-6 11  57057-2 11  57075-4 11
57828-6 42  57832-8 42  57833-6 42  59283-2 10  59284-0 95  60280-5 11  60568-3 10  60591-5 11  60593-1 43
61357-0 42  67851-6 10  68599-0 11  68817-6 11  70004-7 10  74207-2 11  74465-6 90  75468-9 42  75482-0 10
75492-9 10  75497-8 10  75496-0 10  77436-4 10  77604-7 44  78341-5 11  78489-2 11  78513-9 10  78601-2 10
80565-5 45  80771-9 44  80788-3 44  80820-4 11  83836-7 11  83869-8 44  83901-9 11  83981-1 10  85208-7 10
86531-1 95  87273-9 52  89233-1 10  89235-6 11  88348-8 11  89601-9 52  93024-8 10  96349-6 10  96874-3 52
96173-0 52
"""
# ASS_X04, group TRE_A05 -> TRE_A03.
_X04_A05 = """
ATTEST-ASS-COMPL 95  ATTEST-HEBGT 95  ATTEST-RESID 95  ATTEST-DROITS-AM 95  AUTORIS-SOINS 95  BIL_AUTO 10
CERT_DECL 52  CONTACTS-URGENCE 95  DISP_AUT 43  EXPPAT_1 90  EXPPAT_2 90  EXPORT_DUI 11  EXPPAT_3 90
DOCPAT01 11  DOCPAT02 42  DOCPAT03 10  DOCPAT04 31  DOCPAT05 10  DOCPAT06 10  DOCPAT07 52  DOCPAT08 11
DOCPAT09 95  DOCPAT10 90  IMG-KOS 31  PROT_ALD 44  REMB 60  SYNTH 11  PRESC-AAT 42  PIECE-IDENTITE 95
PRESC-BIO 42  PRESC-KINE 42  PRESC-INF 42  PRESC-PEDI 42  PRESC-ORTHOPHO 42  PRESC-ORTHOPTIE 42
FEUILLE-DE-STYLE 99  FICHE-CONTACTS 95
"""


def _pairs(text: str, system: str) -> dict[tuple[str, str], str]:
    words = text.split()
    return {(system, words[i]): words[i + 1] for i in range(0, len(words), 2)}


# (type code system, type code) -> TRE_A03 class code
TYPE_TO_CLASS: dict[tuple[str, str], str] = {**_pairs(_X04_LOINC, LOINC), **_pairs(_X04_A05, TRE_A05)}


def class_code_for(type_system: str, type_code: str) -> Code | None:
    """classCode of a document type (ASS_X04), or None when the type has no class."""
    cls = TYPE_TO_CLASS.get((type_system, type_code))
    return Code(cls, TRE_A03, CLASS_DISPLAY.get(cls, "")) if cls else None


# ASS_A11, group TRE_R220 -> TRE_A06 (CI-SIS formatCodes): templateId root, formatCode.
_A11_CISIS = """
1.2.250.1.213.1.1.1.5.1 urn:asip:ci-sis:cse-cs8:2017        1.2.250.1.213.1.1.1.5.2 urn:asip:ci-sis:cse-cs9:2017
1.2.250.1.213.1.1.1.5.3 urn:asip:ci-sis:cse-cs24:2017       1.2.250.1.213.1.1.1.5.4 urn:ans:ci-sis:cse-mde:2023
1.2.250.1.213.1.1.1.8 urn:asip:ci-sis:frcp:2011             1.2.250.1.213.1.1.1.9 urn:asip:ci-sis:idap:2011
1.2.250.1.213.1.1.1.10 urn:asip:ci-sis:cva:2017             1.2.250.1.213.1.1.1.12.1 urn:asip:ci-sis:obp-sap:2023
1.2.250.1.213.1.1.1.12.2 urn:asip:ci-sis:obp-snm:2023       1.2.250.1.213.1.1.1.12.3 urn:asip:ci-sis:obp-sne:2023
1.2.250.1.213.1.1.1.12.4 urn:asip:ci-sis:obp-scm:2023       1.2.250.1.213.1.1.1.12.5 urn:asip:ci-sis:obp-sem:2023
1.2.250.1.213.1.1.1.13 urn:asip:ci-sis:vsm:2012             1.2.250.1.213.1.1.1.15 urn:asip:ci-sis:aunv:2013
1.2.250.1.213.1.1.1.16 urn:asip:ci-sis:eunv:2013            1.2.250.1.213.1.1.1.17 urn:asip:ci-sis:sunv:2013
1.2.250.1.213.1.1.1.18 urn:asip:ci-sis:crrtn:2013           1.2.250.1.213.1.1.1.2.1.1 urn:asip:ci-sis:avk:2009
1.2.250.1.213.1.1.1.2.1.2 urn:asip:ci-sis:tap:2009          1.2.250.1.213.1.1.1.2.1.3 urn:asip:ci-sis:dci:2009
1.2.250.1.213.1.1.1.2.1.4 urn:asip:ci-sis:psc:2009          1.2.250.1.213.1.1.1.2.1.5 urn:asip:ci-sis:ppv:2009
1.2.250.1.213.1.1.1.20 urn:asip:ci-sis:pps-paerpa:2017      1.2.250.1.213.1.1.1.21 urn:asip:ci-sis:ldl-ees:2017
1.2.250.1.213.1.1.1.22 urn:asip:ci-sis:dlu:2015             1.2.250.1.213.1.1.1.23 urn:asip:ci-sis:fludt:2017
1.2.250.1.213.1.1.1.24 urn:asip:ci-sis:fludr:2017           1.2.250.1.213.1.1.1.25 urn:asip:ci-sis:pavc:2016
1.2.250.1.213.1.1.1.26 urn:asip:ci-sis:pps-cancer:2017      1.2.250.1.213.1.1.1.27 urn:asip:ci-sis:d2lm-fin:2017
1.2.250.1.213.1.1.1.28 urn:asip:ci-sis:d2lm-fidd:2017       1.2.250.1.213.1.1.1.29 urn:asip:ci-sis:ldl-ses:2017
1.2.250.1.213.1.1.1.30 urn:asip:ci-sis:sdm-mr:2017          1.2.250.1.213.1.1.1.32 urn:asip:ci-sis:crgm:2018
1.2.250.1.213.1.1.1.36 urn:asip:ci-sis:hr:2019              1.2.250.1.213.1.1.1.37 urn:asip:ci-sis:vac:2019
1.2.250.1.213.1.1.1.38 urn:asip:ci-sis:tlm-da:2020          1.2.250.1.213.1.1.1.40 urn:asip:ci-sis:cr-anest:2020
1.2.250.1.213.1.1.1.41 urn:asip:ci-sis:cr-cpa:2020          1.2.250.1.213.1.1.1.46 urn:asip:ci-sis:vac-note:2021
1.2.250.1.213.1.1.1.47 urn:ans:ci-sis:img-da:2022           1.2.250.1.213.1.1.1.48 urn:asip:ci-sis:dlu-dlu-dom:2022
1.2.250.1.213.1.1.1.49 urn:asip:ci-sis:dlu-fludt-dom:2022   1.2.250.1.213.1.1.1.50 urn:asip:ci-sis:dlu-fludr-dom:2022
1.2.250.1.213.1.1.1.52 urn:ans:ci-sis:bio-ep-bio:2022       1.2.250.1.213.1.1.1.58 urn:asip:ci-sis:export-dui:2023
1.2.250.1.213.1.1.1.56 urn:asip:ci-sis:ppp:2023             1.2.250.1.213.1.11.1.19.1 urn:ans:ci-sis:mso-rougeole:2026
1.2.250.1.213.1.11.1.19.2 urn:ans:ci-sis:mso-dengue:2026    1.2.250.1.213.1.11.1.19.3 urn:ans:ci-sis:mso-chikungunya:2026
1.2.250.1.213.1.11.1.19.4 urn:ans:ci-sis:mso-zika:2026      1.2.250.1.213.1.11.1.19.5 urn:ans:ci-sis:mso-westnile:2026
1.2.250.1.213.1.1.1.59 urn:ans:ci-sis:trod:2024
"""
# The last row is not in ASS_A11 (20260629): the BIO-TROD volet's templateId 1.2.250.1.213.1.1.1.59 and the
# J60 code urn:ans:ci-sis:trod:2024 (dmp-cisis.md §1.6) are paired here by inference, the only TROD formatCode.

# ASS_A11, group TRE_R220 -> TRE_A11 (IHE formatCodes).
_A11_IHE = """
1.2.250.1.213.1.1.1.39 urn:ihe:pharm:pre:2010               1.2.250.1.213.1.1.1.54 urn:ihe:pharm:dis:2010
1.2.250.1.213.1.1.1.42 urn:ihe:eyecare:geneyeevalcn:2014    1.2.250.1.213.1.1.1.43 urn:ihe:eyecare:geneyeevalcn:2014
1.2.250.1.213.1.1.1.44 urn:ihe:eyecare:geneyeevalcn:2014    1.2.250.1.213.1.1.1.45 urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013
1.2.250.1.213.1.1.1.55 urn:ihe:lab:xd-lab:2008              1.2.250.1.213.1.1.1.57 urn:ihe:palm:apsr:2016
1.3.6.1.4.1.19376.1.3.3 urn:ihe:lab:xd-lab:2008             1.2.250.1.213.1.1.1.51 urn:ihe:pcc:ips:2020
1.3.6.1.4.1.19376.1.8.1.1.1 urn:ihe:pat:apsr:all:2010       1.3.6.1.4.1.19376.1.8.1.1.2.1 urn:ihe:pat:apsr:breast:2010
1.3.6.1.4.1.19376.1.8.1.1.2.2 urn:ihe:pat:apsr:colon:2010   1.3.6.1.4.1.19376.1.8.1.1.2.3 urn:ihe:pat:apsr:prostate:2010
1.3.6.1.4.1.19376.1.8.1.1.2.4 urn:ihe:pat:apsr:thyroid:2010 1.3.6.1.4.1.19376.1.8.1.1.2.5 urn:ihe:pat:apsr:lung:2010
1.3.6.1.4.1.19376.1.8.1.1.2.6 urn:ihe:pat:apsr:skin:2010    1.3.6.1.4.1.19376.1.8.1.1.2.7 urn:ihe:pat:apsr:kidney:2010
1.3.6.1.4.1.19376.1.8.1.1.2.8 urn:ihe:pat:apsr:cervix:2010  1.3.6.1.4.1.19376.1.8.1.1.2.9 urn:ihe:pat:apsr:endometrium:2010
1.3.6.1.4.1.19376.1.8.1.1.2.10 urn:ihe:pat:apsr:ovary:2010  1.3.6.1.4.1.19376.1.8.1.1.2.11 urn:ihe:pat:apsr:esophagus:2010
1.3.6.1.4.1.19376.1.8.1.1.2.12 urn:ihe:pat:apsr:stomach:2010 1.3.6.1.4.1.19376.1.8.1.1.2.13 urn:ihe:pat:apsr:liver:2010
1.3.6.1.4.1.19376.1.8.1.1.2.14 urn:ihe:pat:apsr:pancreas:2010 1.3.6.1.4.1.19376.1.8.1.1.2.15 urn:ihe:pat:apsr:testis:2010
1.3.6.1.4.1.19376.1.8.1.1.2.16 urn:ihe:pat:apsr:urinary_bladder:2010
1.3.6.1.4.1.19376.1.8.1.1.2.17 urn:ihe:pat:apsr:lip_oral_cavity:2010
1.3.6.1.4.1.19376.1.8.1.1.2.18 urn:ihe:pat:apsr:pharynx:2010
1.3.6.1.4.1.19376.1.8.1.1.2.19 urn:ihe:pat:apsr:salivary_gland:2010
1.3.6.1.4.1.19376.1.8.1.1.2.20 urn:ihe:pat:apsr:larynx:2010
"""

FORMAT_DISPLAY = {
    "urn:ihe:lab:xd-lab:2008": "CR d'examens biologiques",
    "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013": "Compte rendu d'imagerie médicale",
    "urn:ihe:pcc:ips:2020": "Synthèse médicale (IPS)",
    "urn:ihe:pharm:pre:2010": "Prescription de produits de santé",
    "urn:ihe:pharm:dis:2010": "Dispensation de produits de santé",
    "urn:ihe:iti:xds-sd:pdf:2008": "Document à corps non structuré en Pdf/A-1",
    "urn:ihe:iti:xds-sd:text:2008": "Document à corps non structuré en texte brut",
    "urn:ihe:iti-fr:xds-sd:rtf:2010": "Document à corps non structuré en RTF",
    "urn:ihe:iti-fr:xds-sd:jpeg:2010": "Document à corps non structuré en JPEG",
    "urn:ihe:iti-fr:xds-sd:tiff:2010": "Document à corps non structuré en TIFF",
    "urn:asipSante:modelesHorsProfils:2011": "Document utilisant un modèle non référencé dans le CI-SIS",
}

# templateId root -> (formatCode, its code system)
TEMPLATE_TO_FORMAT: dict[str, tuple[str, str]] = {
    **{k: (v, TRE_A06) for k, v in zip(_A11_CISIS.split()[::2], _A11_CISIS.split()[1::2], strict=True)},
    **{k: (v, TRE_A11) for k, v in zip(_A11_IHE.split()[::2], _A11_IHE.split()[1::2], strict=True)},
}

# The CDA level 1 (non-structured body) templateId, and ASS_A12: nonXMLBody/text@mediaType -> formatCode.
XDS_SD_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"
MEDIA_TYPE_TO_FORMAT = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
}
# formatCode of a document whose model the CI-SIS does not reference (TRE_A06, in J60).
OUT_OF_PROFILE_FORMAT = Code(
    "urn:asipSante:modelesHorsProfils:2011", TRE_A06, FORMAT_DISPLAY["urn:asipSante:modelesHorsProfils:2011"]
)


def format_code_for(template_roots: list[str], media_type: str | None) -> Code | None:
    """formatCode from the templateIds (ASS_A11), or from the level 1 body's media type (ASS_A12).

    The most specific templateId (the volet's, written last by every CI-SIS example) wins."""
    if XDS_SD_TEMPLATE in template_roots:
        fmt = MEDIA_TYPE_TO_FORMAT.get(media_type or "")
        return Code(fmt, TRE_A11, FORMAT_DISPLAY[fmt]) if fmt else None
    for root in reversed(template_roots):
        found = TEMPLATE_TO_FORMAT.get(root)
        if found:
            return Code(found[0], found[1], FORMAT_DISPLAY.get(found[0], ""))
    return None


# SubmissionSet contentTypeCode (JDV_J59) from the encounter's ActEncounterCode, through the class of stay the
# CI-SIS HL7 v2 mapping gives for PV1-2 (I -> 03, O and E -> 07): TRE_R209-TypeActivite.
TRE_R209 = "1.2.250.1.213.2.2"
ENCOUNTER_TO_ACTIVITY = {
    "IMP": Code("03", TRE_R209, "Hospitalisation complète (non compris hospitalisation de semaine)"),
    "ACUTE": Code("03", TRE_R209, "Hospitalisation complète (non compris hospitalisation de semaine)"),
    "NONAC": Code("03", TRE_R209, "Hospitalisation complète (non compris hospitalisation de semaine)"),
    "SS": Code("04", TRE_R209, "Hospitalisation de Jour"),
    "AMB": Code("07", TRE_R209, "Consultation Soins Externes"),
    "EMER": Code("07", TRE_R209, "Consultation Soins Externes"),
}
DEFAULT_ACTIVITY = ENCOUNTER_TO_ACTIVITY["AMB"]
# A document written by the patient: contentType, practice setting and facility type EXP_PATIENT (TRE_A00).
TRE_A00 = "1.2.250.1.213.1.1.4.6"
EXP_PATIENT = "EXP_PATIENT"
