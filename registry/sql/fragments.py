"""Stored XML fragments, packed: raw DEFLATE with a preset dictionary of the ebRIM vocabulary.

The registry keeps each object as registered (one ebRIM element, UTF-8) and answers LeafClass queries by
sending those fragments back. A 100-document FindDocuments answer is ~550 KiB of XML; moving it from the
database in that form cost more than the query itself (PostgreSQL detoasting and sending it, psycopg
reading it in ~70 chunks). Most of a fragment is vocabulary every fragment repeats (element and slot
names, the classification and identification scheme UUIDs), so DEFLATE primed with that vocabulary packs
a DocumentEntry to a few hundred bytes: it stays in the table row (no TOAST), and unpacking 100 of them
costs well under a millisecond.

Format: one version byte, then the DEFLATE stream (RFC 1951, no header) compressed with that version's
dictionary. A dictionary is frozen once released: data written with it must stay readable, so a better
dictionary is a new version, and `unpack` keeps reading the old ones.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

# Version 1: the skeleton of the objects the registry stores, as `xdscore.ebrim.rim` writes them (no
# whitespace), values left out except the vocabulary of ITI TF-3 4.2.5 and a few code systems common in
# French DMP and IHE affinity domains. DEFLATE codes nearby matches in fewer bits, so the DocumentEntry,
# by far the most frequent object, comes last. Never edit: add DICTIONARY_V2 instead.
_V1_PARTS = (
    # Association, Folder and SubmissionSet
    '<rim:Association xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:" lid="urn:uuid:"'
    ' associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" sourceObject="urn:uuid:"'
    ' targetObject="urn:uuid:"><rim:Slot name="SubmissionSetStatus"><rim:ValueList><rim:Value>Original'
    "</rim:Value></rim:ValueList></rim:Slot><rim:VersionInfo versionName=\"1\"/></rim:Association>"
    "urn:ihe:iti:2007:AssociationType:RPLC urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
    " urn:ihe:iti:2007:AssociationType:APND urn:ihe:iti:2007:AssociationType:XFRM"
    " urn:ihe:iti:2007:AssociationType:signs urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
    '<rim:RegistryPackage xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:" lid="urn:uuid:">'
    '<rim:Slot name="lastUpdateTime"><rim:ValueList><rim:Value>20</rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Classification classificationScheme="urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation=""><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>'
    "</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value=\"\"/></rim:Name></rim:Classification>"
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSFolder.patientId"/></rim:Name>'
    "</rim:ExternalIdentifier>"
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSFolder.uniqueId"/></rim:Name>'
    "</rim:ExternalIdentifier>"
    '<rim:Classification classificationScheme="urn:uuid:" classificationNode="urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"'
    ' classifiedObject="urn:uuid:" id="urn:uuid:" nodeRepresentation=""/>'
    '<rim:RegistryPackage xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:" lid="urn:uuid:">'
    '<rim:Slot name="submissionTime"><rim:ValueList><rim:Value>20</rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="intendedRecipient"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Name><rim:LocalizedString value=""/></rim:Name><rim:Description><rim:LocalizedString value=""/>'
    '</rim:Description><rim:VersionInfo versionName="1"/>'
    '<rim:Classification classificationScheme="urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:aa543740-bdda-424e-8c96-df4873be8500" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSSubmissionSet.sourceId"/></rim:Name>'
    "</rim:ExternalIdentifier>"
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSSubmissionSet.patientId"/></rim:Name>'
    "</rim:ExternalIdentifier>"
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSSubmissionSet.uniqueId"/></rim:Name>'
    "</rim:ExternalIdentifier>"
    '<rim:Classification classificationScheme="urn:uuid:" classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"'
    ' classifiedObject="urn:uuid:" id="urn:uuid:" nodeRepresentation=""/></rim:RegistryPackage>'
    # code systems of the IHE and French CI-SIS XDS value sets (JDV_J01..J08, J197: LOINC, SNOMED CT, HL7
    # Confidentiality, TRE-R*, NOS), the INS and RPPS authorities of French patient and author ids
    " 2.16.840.1.113883.6.1 2.16.840.1.113883.6.96 2.16.840.1.113883.5.25 1.2.250.1.213.1.1.4.5"
    " 1.2.250.1.213.1.1.4.6 1.2.250.1.213.1.1.4.9 1.2.250.1.213.1.1.4.12 1.2.250.1.213.1.1.4.13"
    " 1.2.250.1.213.1.1.4.347 1.2.250.1.213.1.6.1.107 1.2.250.1.71.4.2.4 MASQUE_PS INVISIBLE_PATIENT"
    " urn:ihe:iti:xds-sd:pdf:2008 urn:ihe:iti:xds-sd:text:2008 ^^^&amp;1.2.250.1.213.1.4.8&amp;ISO^NH"
    " ^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH ^^^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO^D^^^^IDNPS"
    " ^^^^^^^^&amp;1.2.250.1.71.4.2.2&amp;ISO^^^^IDNST text/xml application/pdf en-US fr-FR"
    # DocumentEntry
    '<rim:ExtrinsicObject xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:" lid="urn:uuid:"'
    ' objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1" mimeType="">'
    '<rim:Slot name="creationTime"><rim:ValueList><rim:Value>20</rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="serviceStartTime"><rim:ValueList><rim:Value>20</rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="serviceStopTime"><rim:ValueList><rim:Value>20</rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="hash"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="size"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="repositoryUniqueId"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="languageCode"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="legalAuthenticator"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="referenceIdList"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="sourcePatientId"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="sourcePatientInfo"><rim:ValueList><rim:Value>PID-3|</rim:Value><rim:Value>PID-5|</rim:Value>'
    "<rim:Value>PID-7|</rim:Value><rim:Value>PID-8|</rim:Value><rim:Value>PID-11|</rim:Value></rim:ValueList></rim:Slot>"
    '<rim:Name><rim:LocalizedString value=""/></rim:Name><rim:Description><rim:LocalizedString value=""/>'
    '</rim:Description><rim:VersionInfo versionName="1"/>'
    '<rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation=""><rim:Slot name="authorPerson"><rim:ValueList><rim:Value></rim:Value>'
    '</rim:ValueList></rim:Slot><rim:Slot name="authorInstitution"><rim:ValueList><rim:Value></rim:Value>'
    '</rim:ValueList></rim:Slot><rim:Slot name="authorRole"><rim:ValueList><rim:Value></rim:Value></rim:ValueList>'
    '</rim:Slot><rim:Slot name="authorSpecialty"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    '<rim:Slot name="authorTelecommunication"><rim:ValueList><rim:Value></rim:Value></rim:ValueList></rim:Slot>'
    "</rim:Classification>"
    '<rim:Classification classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:f0306f51-975f-434e-a61c-c59651d33983" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation="">'
    '<rim:Classification classificationScheme="urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f" classifiedObject="urn:uuid:"'
    ' id="urn:uuid:" nodeRepresentation=""><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>'
    '</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value=""/></rim:Name></rim:Classification>'
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name>'
    "</rim:ExternalIdentifier>"
    '<rim:ExternalIdentifier id="urn:uuid:" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"'
    ' registryObject="urn:uuid:" value=""><rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name>'
    "</rim:ExternalIdentifier></rim:ExtrinsicObject>"
)
DICTIONARY_V1 = "".join(_V1_PARTS).encode("utf-8")

VERSION_V1 = 1
_DICTIONARIES = {VERSION_V1: DICTIONARY_V1}
_CURRENT = VERSION_V1
_WBITS = -15  # raw DEFLATE: no zlib header, the version byte says how to read it


class CorruptFragment(ValueError):
    """A stored value that no known format reads (an unknown version, or a damaged stream)."""


# The compressor of the current version, primed with its dictionary once: each fragment is packed by a
# copy of it. A fresh compressor hashed the 8 KB dictionary and cleared its tables at every call, which
# cost more than compressing the fragment (callgrind: 1.16 M instructions for the three fragments of a
# one-document registration; 0.72 M with this). An 8 KB window (wbits 13) holds the whole dictionary and
# any fragment's back references; memLevel 4 hashes these few KB as well as 8 does. `unpack` reads with
# the full 32 KB window, which reads streams made with any smaller one: the stored format is unchanged.
_PRIMED = zlib.compressobj(6, zlib.DEFLATED, -13, 4, zlib.Z_DEFAULT_STRATEGY, _DICTIONARIES[_CURRENT])


def pack(xml: bytes) -> bytes:
    """One UTF-8 fragment → its stored form."""
    c = _PRIMED.copy()
    return bytes((_CURRENT,)) + c.compress(xml) + c.flush()


def packer(level: int) -> Callable[[bytes], bytes]:
    """`pack` at another DEFLATE level (1 fastest, 9 smallest): the same stored format, which `unpack` reads
    whatever the level. For the bulk loader (`bench.load --level 1`): level 1 packs a DocumentEntry in about
    three quarters of level 6's CPU, into a fragment about 20 % larger."""
    primed = zlib.compressobj(level, zlib.DEFLATED, -13, 4, zlib.Z_DEFAULT_STRATEGY, _DICTIONARIES[_CURRENT])
    version = bytes((_CURRENT,))

    def pack_at(xml: bytes) -> bytes:
        c = primed.copy()
        return version + c.compress(xml) + c.flush()

    return pack_at


def unpack(stored: bytes) -> bytes:
    """The stored form → the UTF-8 fragment, exactly as packed."""
    dictionary = _DICTIONARIES.get(stored[0]) if stored else None
    if dictionary is None:
        raise CorruptFragment(f"stored fragment has unknown format {stored[:1]!r}")
    d = zlib.decompressobj(_WBITS, dictionary)
    try:
        xml = d.decompress(stored[1:])
    except zlib.error as exc:
        raise CorruptFragment(f"stored fragment is damaged: {exc}") from exc
    if not d.eof:
        raise CorruptFragment("stored fragment is truncated")
    return xml
