"""Command line: `python -m xuatool {pki,assertion,variant,variants,wrapping-corpus} ...`.

Examples:
  python -m xuatool pki /tmp/pki                          # CA, card, seal (+ untrusted/expired look-alikes)
  python -m xuatool assertion --cert /tmp/pki/seal.pem --key /tmp/pki/seal.key --header > sec.xml
  python -m xuatool assertion --profile xua --cert c.pem --key k.pem --audience https://reg/xds
  python -m xuatool variant expired --pki /tmp/pki        # a NIST-style negative variant
  python -m xuatool variants                              # list variants and the fault each expects
  python -m xuatool wrapping-corpus tests/security/wrapping_corpus
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from lxml import etree

from xuatool.assertion import (
    ALGORITHMS,
    AssertionSpec,
    Code,
    build_assertion,
    sign_assertion,
)
from xuatool.header import security_header, timestamp_for
from xuatool.pki import Credential, TestPki, generate
from xuatool.variants import VARIANTS, VariantContext, make


def _emit(el: etree._Element, out: str | None) -> None:
    data = etree.tostring(el, encoding="UTF-8")
    if out:
        Path(out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data + b"\n")


def _cmd_pki(args: argparse.Namespace) -> int:
    trust = generate(key_type="ec" if args.ec else "rsa", years=args.years).write(args.folder)
    print(f"test PKI written to {args.folder}; trust folder (XDS_TRUST_DIR): {trust}")
    return 0


def _cmd_assertion(args: argparse.Namespace) -> int:
    signer = Credential.load(args.cert, args.key, args.password.encode() if args.password else None)
    chain = tuple(x509.load_pem_x509_certificate(Path(f).read_bytes()) for f in args.chain or ())
    spec = AssertionSpec.xua() if args.profile == "xua" else AssertionSpec()
    changes: dict[str, object] = {}
    for field_name in ("name_id", "subject_id", "resource_id", "structure_id", "organization", "organization_id"):
        value = getattr(args, field_name)
        if value is not None:
            changes[field_name] = value
    if args.mode:
        changes["authentication_mode"] = args.mode
    if args.sector:
        changes["activity_sector"] = args.sector
    if args.role:
        changes["roles"] = [Code.parse(r) for r in args.role]
    if args.purpose:
        changes["purpose_of_use"] = [Code.parse(p) for p in args.purpose]
    if args.audience:
        changes["audiences"] = args.audience
    if args.lifetime is not None:
        changes["lifetime"] = dt.timedelta(seconds=args.lifetime) if args.lifetime > 0 else None
    spec = replace(spec, **changes)  # type: ignore[arg-type]
    assertion = build_assertion(spec, signer)
    if not args.unsigned:
        assertion = sign_assertion(assertion, signer, args.algorithm, chain)
    if args.header:
        stamp = timestamp_for(ttl=dt.timedelta(seconds=args.timestamp_ttl)) if args.timestamp_ttl > 0 else None
        _emit(security_header(assertion, stamp), args.output)
    else:
        _emit(assertion, args.output)
    return 0


def _cmd_variant(args: argparse.Namespace) -> int:
    pki = TestPki.load(args.pki)
    ctx = VariantContext(
        pki=pki, now=dt.datetime.now(dt.UTC), profile=args.profile, audience=args.audience, signer=args.signer
    )
    _emit(make(args.name, ctx), args.output)
    return 0


def _cmd_variants(args: argparse.Namespace) -> int:
    for v in VARIANTS.values():
        fault = f"wsse:{v.expected.value}" if v.expected else "accepted"
        note = " (when the service enforces an audience)" if v.needs_audience else ""
        print(f"{v.name:22} {fault:28} {'/'.join(v.profiles):9} {v.description}{note}")
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    from xuatool.corpus import write_corpus

    pki = TestPki.load(args.pki) if args.pki else None
    files = write_corpus(args.folder, pki)
    print(f"{len(files)} messages written to {args.folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xuatool", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pki", help="generate a test PKI (CA, card, seal, untrusted and expired look-alikes)")
    p.add_argument("folder")
    p.add_argument("--ec", action="store_true", help="ECDSA P-256 keys instead of RSA 2048")
    p.add_argument("--years", type=int, default=20)
    p.set_defaults(func=_cmd_pki)

    p = sub.add_parser("assertion", help="build and sign one assertion with a given key and certificate")
    p.add_argument("--cert", required=True, help="signer certificate (PEM)")
    p.add_argument("--key", required=True, help="signer private key (PEM)")
    p.add_argument("--password", help="private key password")
    p.add_argument("--chain", action="append", help="intermediate CA certificate (PEM) to add to KeyInfo")
    p.add_argument("--profile", choices=("vihf", "xua"), default="vihf")
    p.add_argument("--algorithm", choices=sorted(ALGORITHMS), help="default: rsa-sha256 or ecdsa-sha256")
    p.add_argument("--name-id")
    p.add_argument("--subject-id")
    p.add_argument("--organization")
    p.add_argument("--organization-id")
    p.add_argument("--resource-id", help="patient id (CX), e.g. 'NIR^^^&1.2.250.1.213.1.4.10&ISO^NH'")
    p.add_argument("--structure-id", help="VIHF Identifiant_Structure")
    p.add_argument("--mode", choices=("DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE"), help="VIHF Authentification_mode")
    p.add_argument("--sector", help="VIHF Secteur_Activite code^codeSystem")
    p.add_argument("--role", action="append", help="code^codeSystem[^displayName]; repeat for several")
    p.add_argument("--purpose", action="append", help="purposeofuse code^codeSystem[^displayName]")
    p.add_argument("--audience", action="append")
    p.add_argument("--lifetime", type=int, help="seconds of validity (Conditions); 0 for none")
    p.add_argument("--unsigned", action="store_true")
    p.add_argument("--header", action="store_true", help="wrap in wsse:Security with a wsu:Timestamp")
    p.add_argument("--timestamp-ttl", type=int, default=300, help="Timestamp lifetime in seconds; 0 for none")
    p.add_argument("-o", "--output")
    p.set_defaults(func=_cmd_assertion)

    p = sub.add_parser("variant", help="a named test variant as a wsse:Security header (see `variants`)")
    p.add_argument("name", choices=sorted(VARIANTS))
    p.add_argument("--pki", required=True, help="folder written by `python -m xuatool pki`")
    p.add_argument("--profile", choices=("vihf", "xua"), default="vihf")
    p.add_argument("--signer", choices=("seal", "card"), default="seal")
    p.add_argument("--audience")
    p.add_argument("-o", "--output")
    p.set_defaults(func=_cmd_variant)

    p = sub.add_parser("variants", help="list the named variants and the fault each expects")
    p.set_defaults(func=_cmd_variants)

    p = sub.add_parser("wrapping-corpus", help="write the signature-wrapping corpus to a folder")
    p.add_argument("folder")
    p.add_argument("--pki", help="reuse this test PKI folder instead of a fresh one")
    p.set_defaults(func=_cmd_corpus)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
