"""xdscore.wssec: WS-Security / SAML verification as a pure function (no HTTP)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import xmlsec
from lxml import etree

from tests.security import fixtures
from xdscore import soap, vihf, wssec, xmlsafe, xua
from xdscore.errors import FaultCode
from xdscore.principal import Principal
from xdscore.vocabulary import NS
from xdscore.wsse_faults import SecurityFault, WsseFault
from xuatool import variants
from xuatool.assertion import AssertionSpec, build_assertion, sign_assertion
from xuatool.header import request, security_header, timestamp_for
from xuatool.pki import SEAL_SUBJECT, TestPki, issue

pki, ec_pki, now = fixtures.pki, fixtures.ec_pki, fixtures.now
AUDIENCE = "https://registry.example.org/xds"
_S = f"{{{NS.SAML2}}}"


def header_of(security: etree._Element | None) -> etree._Element | None:
    body = etree.Element("{urn:example:echo}Echo")
    data = request(body, "urn:example:echo:Echo", security)
    return soap.read_envelope(xmlsafe.parse_bytes(data)).header


def policy(pki: TestPki, now: dt.datetime, **kw: object) -> wssec.Policy:
    base = wssec.Policy(trust_anchors=pki.trust_anchors, now=now, profile=wssec.Profile.VIHF, audiences=frozenset({AUDIENCE}))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def refused(security: etree._Element | None, pol: wssec.Policy, kind: WsseFault, reason_part: str = "") -> SecurityFault:
    with pytest.raises(SecurityFault) as info:
        wssec.verify(header_of(security), pol)
    fault = info.value
    assert fault.code is FaultCode.SENDER and fault.http_status == 400
    assert fault.subcode == (NS.WSSE, kind.value), fault.reason
    assert reason_part in fault.reason
    return fault


def accepted(security: etree._Element | None, pol: wssec.Policy) -> Principal:
    principal = wssec.verify(header_of(security), pol)
    assert isinstance(principal, Principal)
    return principal


def signed(pki: TestPki, now: dt.datetime, spec: AssertionSpec, signer: str = "seal", **kw: object) -> etree._Element:
    cred = getattr(pki, signer)
    return security_header(sign_assertion(build_assertion(spec, cred, now), cred, **kw), timestamp_for(now))  # type: ignore[arg-type]


# --- accepted assertions and the Principal they give ---


def test_vihf_signed_by_seal_gives_the_principal(pki: TestPki, now: dt.datetime) -> None:
    p = accepted(signed(pki, now, AssertionSpec(audiences=[AUDIENCE])), policy(pki, now))
    assert (p.name_id, p.subject_id) == ("899700000001", "MEDECIN, TEST")
    assert p.vihf_version == "4.0" and p.is_vihf and p.authentication_mode == "INDIRECTE"
    assert p.structure_id == "10B0012345" and p.activity_sector == "SA07^1.2.250.1.71.4.2.4"
    assert p.resource_urn == "urn:dmp" and p.access_mode == "normal" and not p.is_emergency_access
    assert p.resource_id.startswith("279035121518989^^^&1.2.250.1.213.1.4.10")
    assert p.profession is not None and p.profession.code == "10"
    assert p.specialty is not None and p.specialty.code == "SM26"
    assert p.software["LPS_Nom"] == "pyxds-xuatool" and p.software["LPS_ID_HOMOLOGATION_DMP"] == "XUATOOL-TEST"
    assert p.signer is not None and "CN=DMP SIGN TEST" in p.signer.subject
    assert p.issuer == pki.seal.certificate.subject.rfc4514_string()
    assert p.audit_user_id == f"<899700000001@{p.issuer}>"
    assert p.attributes[xua.ROLE] == ("10^1.2.250.1.71.1.2.7", "SM26^1.2.250.1.71.4.2.5")


def test_vihf_signed_by_card_directe(pki: TestPki, now: dt.datetime) -> None:
    ctx = variants.VariantContext(pki=pki, now=now, audience=AUDIENCE, signer="card")
    p = accepted(variants.make("valid", ctx), policy(pki, now))
    assert p.authentication_mode == "DIRECTE"
    assert p.authn_context.endswith("SmartcardPKI")
    assert p.signer is not None and "899700000001/MEDECIN TEST" in p.signer.subject


def test_plain_xua_assertion(pki: TestPki, now: dt.datetime) -> None:
    sec = signed(pki, now, AssertionSpec.xua(audiences=[AUDIENCE], sp_provided_id="alias"))
    p = accepted(sec, policy(pki, now, profile=wssec.Profile.XUA))
    assert (p.subject_id, p.name_id, p.organization, p.organization_id) == (
        "Alice Martin", "alice", "Test Hospital", "urn:oid:1.2.3.4.5",
    )
    assert [r.code for r in p.roles] == ["112247003"] and p.purpose_of_use[0].code == "TREATMENT"
    assert not p.is_vihf and p.access_mode == "normal"
    assert p.audit_user_id == "alias<alice@https://sts.example.org/xua>"


def test_bris_de_glace_is_an_emergency_access(pki: TestPki, now: dt.datetime) -> None:
    p = accepted(variants.make("bris_de_glace", variants.VariantContext(pki=pki, now=now)), policy(pki, now))
    assert p.access_mode == "bris_de_glace" and p.is_emergency_access


# --- every named variant, both profiles: the table the conformance kit relies on ---


@pytest.mark.parametrize("profile", ["vihf", "xua"])
def test_named_variants_get_their_fault(pki: TestPki, now: dt.datetime, profile: str) -> None:
    ctx = variants.VariantContext(pki=pki, now=now, profile=profile, audience=AUDIENCE)
    pol = policy(pki, now, profile=wssec.Profile(profile))
    checked = 0
    for name in variants.names(profile):
        expected = variants.expected_fault(name)
        security = variants.make(name, ctx)
        if expected is None:
            accepted(security, pol)
        else:
            refused(security, pol, expected)
        checked += 1
    assert checked >= 16


def test_unknown_audience_is_accepted_when_no_audience_is_configured(pki: TestPki, now: dt.datetime) -> None:
    sec = variants.make("unknownaudience", variants.VariantContext(pki=pki, now=now))
    assert variants.expected_fault("unknownaudience", audience_enforced=False) is None
    accepted(sec, policy(pki, now, audiences=frozenset()))


def test_assertion_without_audience_restriction_is_for_anyone(pki: TestPki, now: dt.datetime) -> None:
    accepted(signed(pki, now, AssertionSpec()), policy(pki, now))


def test_reasons_say_what_was_wrong(pki: TestPki, now: dt.datetime) -> None:
    ctx = variants.VariantContext(pki=pki, now=now, audience=AUDIENCE)
    pol = policy(pki, now)
    refused(variants.make("expired", ctx), pol, WsseFault.INVALID_SECURITY_TOKEN, "has expired")
    refused(variants.make("notyetvalid", ctx), pol, WsseFault.INVALID_SECURITY_TOKEN, "not yet valid")
    refused(variants.make("unsigned", ctx), pol, WsseFault.INVALID_SECURITY_TOKEN, "not signed")
    refused(variants.make("untrusted", ctx), pol, WsseFault.FAILED_AUTHENTICATION, "not trusted")
    refused(variants.make("tampered", ctx), pol, WsseFault.FAILED_CHECK, "does not verify")
    refused(variants.make("unknownaudience", ctx), pol, WsseFault.FAILED_AUTHENTICATION, "audience")
    refused(variants.make("missingattribute", ctx), pol, WsseFault.INVALID_SECURITY_TOKEN, vihf.IDENTIFIANT_STRUCTURE)
    refused(variants.make("secondrole", ctx), pol, WsseFault.INVALID_SECURITY_TOKEN, "appears 2 times")


# --- algorithms and keys ---


def test_ecdsa_signed_assertion(ec_pki: TestPki, now: dt.datetime) -> None:
    ctx = variants.VariantContext(pki=ec_pki, now=now, audience=AUDIENCE)
    pol = policy(ec_pki, now)
    assert accepted(variants.make("valid", ctx), pol).signer is not None
    refused(variants.make("tampered", ctx), pol, WsseFault.FAILED_CHECK)
    refused(variants.make("untrusted", ctx), pol, WsseFault.FAILED_AUTHENTICATION)


def test_sha1_can_be_refused(pki: TestPki, now: dt.datetime) -> None:
    sec = variants.make("sha1", variants.VariantContext(pki=pki, now=now))
    accepted(sec, policy(pki, now))
    refused(sec, policy(pki, now, allow_sha1=False), WsseFault.FAILED_CHECK, "SHA-1")


def test_signature_method_must_match_the_key(pki: TestPki, ec_pki: TestPki, now: dt.datetime) -> None:
    sec = signed(pki, now, AssertionSpec())
    method = sec.find(f".//{{{NS.DS}}}SignatureMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
    refused(sec, policy(pki, now), WsseFault.FAILED_CHECK, "key type")


# --- certificates ---


def test_no_trust_anchor_configured(pki: TestPki, now: dt.datetime) -> None:
    sec = signed(pki, now, AssertionSpec())
    refused(sec, policy(pki, now, trust_anchors=()), WsseFault.FAILED_AUTHENTICATION, "XDS_TRUST_DIR")


def test_intermediate_ca_sent_in_key_info(pki: TestPki, now: dt.datetime) -> None:
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=300)
    intermediate = issue(SEAL_SUBJECT.__class__([*SEAL_SUBJECT][:3]), pki.ca, start, end, is_ca=True)
    seal = issue(SEAL_SUBJECT, intermediate, start, end - dt.timedelta(days=1))
    spec = AssertionSpec()
    with_chain = security_header(
        sign_assertion(build_assertion(spec, seal, now), seal, chain=(intermediate.certificate,)), None
    )
    p = accepted(with_chain, policy(pki, now))
    assert p.signer is not None and p.signer.issuer == intermediate.certificate.subject.rfc4514_string()
    without_chain = security_header(sign_assertion(build_assertion(spec, seal, now), seal), None)
    refused(without_chain, policy(pki, now), WsseFault.FAILED_AUTHENTICATION, "not trusted")


def test_issuer_dn_written_windows_style_matches(pki: TestPki, now: dt.datetime) -> None:
    # ANS's example and .NET clients write "C=FR, ST=..., O=..., OU=..., CN=..." (reversed, S= for ST).
    issuer = "C=FR, S=Paris (75), O=STRUCTURE DE TEST, OU=10B0012345, CN=DMP SIGN TEST"
    accepted(signed(pki, now, AssertionSpec(issuer=issuer)), policy(pki, now))


def test_issuer_check_can_be_disabled(pki: TestPki, now: dt.datetime) -> None:
    sec = variants.make("issuermismatch", variants.VariantContext(pki=pki, now=now))
    accepted(sec, policy(pki, now, check_issuer_dn=False))


# --- time ---


def test_clock_skew_applies_to_conditions(pki: TestPki, now: dt.datetime) -> None:
    spec = AssertionSpec(not_before=now - dt.timedelta(hours=1), not_on_or_after=now - dt.timedelta(minutes=2))
    sec = signed(pki, now, spec)
    accepted(sec, policy(pki, now, clock_skew=dt.timedelta(minutes=5)))
    refused(sec, policy(pki, now, clock_skew=dt.timedelta(0)), WsseFault.INVALID_SECURITY_TOKEN, "expired")


def test_max_assertion_age(pki: TestPki, now: dt.datetime) -> None:
    sec = signed(pki, now, AssertionSpec(issue_instant=now - dt.timedelta(hours=3), lifetime=None))
    accepted(sec, policy(pki, now))
    refused(sec, policy(pki, now, max_assertion_age=dt.timedelta(hours=1)), WsseFault.INVALID_SECURITY_TOKEN, "older")


def test_timestamp_rules(pki: TestPki, now: dt.datetime) -> None:
    assertion = sign_assertion(build_assertion(AssertionSpec(), pki.seal, now), pki.seal)
    future = security_header(assertion, (now + dt.timedelta(hours=1), now + dt.timedelta(hours=2)))
    refused(future, policy(pki, now), WsseFault.INVALID_SECURITY, "in the future")
    no_stamp = security_header(sign_assertion(build_assertion(AssertionSpec(), pki.seal, now), pki.seal), None)
    accepted(no_stamp, policy(pki, now))
    refused(no_stamp, policy(pki, now, require_timestamp=True), WsseFault.INVALID_SECURITY, "Timestamp")
    two = security_header(sign_assertion(build_assertion(AssertionSpec(), pki.seal, now), pki.seal), timestamp_for(now))
    two.insert(0, security_header(None, timestamp_for(now))[0])
    refused(two, policy(pki, now), WsseFault.INVALID_SECURITY, "Timestamp")


# --- header shape and modes ---


def test_no_security_header(pki: TestPki, now: dt.datetime) -> None:
    refused(None, policy(pki, now), WsseFault.INVALID_SECURITY, "no wsse:Security")
    assert wssec.verify(header_of(None), policy(pki, now, require_assertion=False)) is None


def test_security_header_without_assertion(pki: TestPki, now: dt.datetime) -> None:
    only_stamp = security_header(None, timestamp_for(now))
    refused(only_stamp, policy(pki, now), WsseFault.INVALID_SECURITY, "no saml2:Assertion")
    assert wssec.verify(header_of(only_stamp), policy(pki, now, require_assertion=False)) is None
    # optional mode still checks what is there
    stale = security_header(None, (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)))
    refused(stale, policy(pki, now, require_assertion=False), WsseFault.MESSAGE_EXPIRED)


def test_optional_mode_still_verifies_a_present_assertion(pki: TestPki, now: dt.datetime) -> None:
    sec = variants.make("tampered", variants.VariantContext(pki=pki, now=now))
    refused(sec, policy(pki, now, require_assertion=False), WsseFault.FAILED_CHECK)


def test_saml1_and_encrypted_assertions_are_unsupported(pki: TestPki, now: dt.datetime) -> None:
    sec = security_header(etree.Element("{urn:oasis:names:tc:SAML:1.0:assertion}Assertion"), None)
    refused(sec, policy(pki, now), WsseFault.UNSUPPORTED_SECURITY_TOKEN, "SAML 1")
    sec = security_header(etree.Element(f"{_S}EncryptedAssertion"), None)
    refused(sec, policy(pki, now), WsseFault.UNSUPPORTED_SECURITY_TOKEN, "encrypted")


def test_required_attributes_can_be_configured_for_xua(pki: TestPki, now: dt.datetime) -> None:
    sec = signed(pki, now, AssertionSpec.xua(omit_attributes={xua.PURPOSE_OF_USE}))
    pol = policy(pki, now, profile=wssec.Profile.XUA)
    accepted(sec, pol)
    refused(sec, dataclasses.replace(pol, required_attributes=frozenset({xua.PURPOSE_OF_USE})),
            WsseFault.INVALID_SECURITY_TOKEN, xua.PURPOSE_OF_USE)


def test_vihf_values_are_checked_even_under_the_xua_profile(pki: TestPki, now: dt.datetime) -> None:
    sec = signed(pki, now, AssertionSpec(vihf_version="9.9"))
    refused(sec, policy(pki, now, profile=wssec.Profile.XUA), WsseFault.INVALID_SECURITY_TOKEN, "VIHF_Version")


def test_role_value_must_be_an_hl7_ce(pki: TestPki, now: dt.datetime) -> None:
    spec = AssertionSpec(roles=[], extra_attributes={xua.ROLE: ["10"]})
    refused(signed(pki, now, spec), policy(pki, now), WsseFault.INVALID_SECURITY_TOKEN, "hl7:Role")


def test_access_mode_code_system_336_is_accepted(pki: TestPki, now: dt.datetime) -> None:
    from xuatool.assertion import Code

    spec = AssertionSpec(purpose_of_use=[Code("centre_15", "1.2.250.1.213.1.1.4.336")])
    assert accepted(signed(pki, now, spec), policy(pki, now)).access_mode == "centre_15"


# --- the ANS example's layout: default namespaces and InclusiveNamespaces PrefixList ---

ANS_LAYOUT = """<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_ans-layout-1" IssueInstant="{now}" Version="2.0">
  <Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">{issuer}</Issuer>
  <Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
    <SignedInfo>
      <CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <Reference URI="#_ans-layout-1">
        <Transforms>
          <Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">
            <InclusiveNamespaces xmlns="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="ds saml #default xsi"/>
          </Transform>
        </Transforms>
        <DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
        <DigestValue/>
      </Reference>
    </SignedInfo>
    <SignatureValue/>
    <KeyInfo><X509Data><X509Certificate/></X509Data></KeyInfo>
  </Signature>
  <Subject><!-- automaton: the person responsible --><NameID>10B0012345/RESP01</NameID></Subject>
  <AuthnStatement AuthnInstant="{now}"><AuthnContext>
    <AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</AuthnContextClassRef>
  </AuthnContext></AuthnStatement>
  <AttributeStatement>
    <Attribute Name="VIHF_Version"><AttributeValue>3.0</AttributeValue></Attribute>
    <Attribute Name="Authentification_Mode"><AttributeValue>INDIRECTE</AttributeValue></Attribute>
    <Attribute Name="Secteur_Activite"><AttributeValue>SA41^1.2.250.1.71.4.2.4</AttributeValue></Attribute>
    <Attribute Name="Ressource_URN"><AttributeValue>urn:dmp</AttributeValue></Attribute>
    <Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><AttributeValue>ROBOT, MODELE, SERVICE</AttributeValue></Attribute>
    <Attribute Name="Identifiant_Structure"><AttributeValue>10B0012345</AttributeValue></Attribute>
    <Attribute Name="LPS_Nom"><AttributeValue>TEST-LPS</AttributeValue></Attribute>
    <Attribute Name="LPS_ID_HOMOLOGATION_DMP"><AttributeValue>TEST-0001</AttributeValue></Attribute>
    <Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"><AttributeValue>
      <PurposeOfUse xmlns="urn:hl7-org:v3" code="normal" codeSystem="1.2.250.1.213.1.1.4.248" xsi:type="CE"/>
    </AttributeValue></Attribute>
    <Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role"><AttributeValue>
      <Role xmlns="urn:hl7-org:v3" code="AUTOMATE" codeSystem="1.2.250.1.213.1.1.4.6" xsi:type="CE"/>
    </AttributeValue></Attribute>
  </AttributeStatement>
</Assertion>"""


def test_ans_example_layout_with_inclusive_namespaces(pki: TestPki, now: dt.datetime) -> None:
    text = ANS_LAYOUT.format(now=now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", issuer="C=FR, ST=Paris (75), "
                             "O=STRUCTURE DE TEST, OU=10B0012345, CN=DMP SIGN TEST")
    assertion = etree.fromstring(text.encode())
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(pki.seal.key_pem(), xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(pki.seal.cert_pem(), xmlsec.constants.KeyDataFormatCertPem)
    ctx.key = key
    ctx.register_id(assertion, "ID")
    ctx.sign(assertion.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    p = accepted(security_header(assertion, None), policy(pki, now))
    assert p.vihf_version == "3.0" and p.name_id == "10B0012345/RESP01"
    assert p.roles[0].code == "AUTOMATE" and p.subject_id == "ROBOT, MODELE, SERVICE"
