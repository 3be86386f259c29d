"""The `xds` command: feed a patient, submit CDA documents, query and retrieve them.

    xds feed PATIENT_CX [--name FAMILY^GIVEN] [--birth YYYYMMDD] [--sex F|M|U]   ITI-8 over MLLP
    xds submit FILE_OR_FOLDER [--feed] [--key KEY --cert CERT] [--strict]          ITI-41 (MTOM)
    xds query PATIENT_CX [--status ...] [--class CODE^^SCHEME] [--type ...]        ITI-18 FindDocuments
    xds retrieve UNIQUE_ID [-o FILE] [--repository-id OID]                         ITI-43
    xds patient ACTION PATIENT_CX …    the patient's choices on their DMP (xdsclient.cli.patient)

Endpoints default to `make run`'s (`xdsclient.cli.endpoints`). An error is one line on stderr and a
non-zero exit (1: a service refused or failed, 2: bad usage), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from xdsclient.cli import feed as feed_cmd
from xdsclient.cli import patient as patient_cmd
from xdsclient.cli import query as query_cmd
from xdsclient.cli import submit as submit_cmd
from xdsclient.cli.endpoints import endpoints
from xdsclient.cli.terminal import Progress, table
from xdscore.cda.header import NotACda
from xdscore.dsg import ALGORITHMS, SigningError
from xdscore.errors import SoapFault


class CliError(Exception):
    """A failure to report as one line."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xds", description="XDS.b client: feed patients, submit CDA documents, query, "
                                "retrieve, and the patient's choices on their DMP.")
    common = argparse.ArgumentParser(add_help=False)  # the endpoints, accepted after any sub-command
    common.add_argument("--registry", help="registry URL (ITI-18; default $XDS_CLIENT_REGISTRY_URL or make run's)")
    common.add_argument("--repository",
                        help="repository URL (ITI-41, ITI-43; default $XDS_CLIENT_REPOSITORY_URL or make run's)")
    common.add_argument("--feed-address", dest="feed_address", metavar="HOST:PORT",
                        help="patient feed, MLLP (ITI-8; default $XDS_CLIENT_FEED or 127.0.0.1:2575)")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("feed", parents=[common], help="send a patient (HL7 v2.5 ADT^A01) to the registry's patient feed")
    f.add_argument("patient", metavar="PATIENT_CX", help="e.g. 279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH")
    f.add_argument("--name", default="", help="FAMILY^GIVEN")
    f.add_argument("--birth", default="", help="birth date YYYYMMDD")
    f.add_argument("--sex", default="", choices=["", "F", "M", "U"])

    s = sub.add_parser("submit", parents=[common], help="send each CDA of a file or folder by ITI-41")
    s.add_argument("path", metavar="FILE_OR_FOLDER", type=Path)
    s.add_argument("--feed", action="store_true", help="feed each document's patient first (ITI-8)")
    s.add_argument("--key", type=Path, default=os.environ.get("XDS_CLIENT_KEY"),
                   help="PEM private key: signs the VIHF and the XAdES signature document ($XDS_CLIENT_KEY)")
    s.add_argument("--cert", type=Path, default=os.environ.get("XDS_CLIENT_CERT"),
                   help="PEM certificate of the key ($XDS_CLIENT_CERT)")
    s.add_argument("--algorithm", choices=sorted(ALGORITHMS), help="signature algorithm (default by key type, SHA-256)")
    s.add_argument("--no-signature-document", dest="signature_document", action="store_false",
                   help="with a key, sign the VIHF only (no XAdES signature document)")
    s.add_argument("--source-id", default=os.environ.get("XDS_CLIENT_SOURCE_ID", submit_cmd.DEFAULT_SOURCE_ID),
                   help="OID of this document source (SubmissionSet sourceId)")
    s.add_argument("--strict", action="store_true", help="do not send a CDA with structuration minimale problems")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on a terminal, for a folder)")
    s.add_argument("-q", "--quiet", action="store_true", help="no warnings, only the final table")

    q = sub.add_parser("query", parents=[common], help="the patient's documents (ITI-18 FindDocuments)")
    q.add_argument("patient", metavar="PATIENT_CX")
    q.add_argument("--status", choices=sorted(query_cmd.STATUSES), default="approved")
    for flag, param in (("class", "ClassCode"), ("type", "TypeCode"), ("format", "FormatCode"),
                        ("practice", "PracticeSettingCode"), ("facility", "HealthcareFacilityTypeCode")):
        q.add_argument(f"--{flag}", dest=param, action="append", default=[], metavar="CODE^^SCHEME",
                       help=f"{param} filter (repeat for OR)")
    q.add_argument("--created-from", metavar="DTM", help="creationTime from (inclusive, YYYY[MM[DD[hh[mm[ss]]]]])")
    q.add_argument("--created-to", metavar="DTM", help="creationTime to (exclusive)")

    r = sub.add_parser("retrieve", parents=[common], help="a document by its uniqueId (ITI-43)")
    r.add_argument("unique_id", metavar="UNIQUE_ID")
    r.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    r.add_argument("--repository-id", help="repositoryUniqueId (default: asked from the registry, GetDocuments)")

    patient_cmd.add_parser(sub, common)
    return p


def _feed(args: argparse.Namespace) -> int:
    ends = endpoints(args.registry, args.repository, args.feed_address)
    patient = feed_cmd.Patient(args.patient, args.name, args.birth, args.sex)
    code = feed_cmd.feed(patient, *ends.feed_address)
    print(f"{args.patient}: {code} (accepted by {ends.feed})")
    return 0


def _submit(args: argparse.Namespace) -> int:
    ends = endpoints(args.registry, args.repository, args.feed_address)
    if (args.key is None) != (args.cert is None):
        raise CliError("--key and --cert go together")
    signer = submit_cmd.Signer.load(args.key, args.cert, args.algorithm) if args.key else None
    settings = submit_cmd.Settings(
        repository=ends.repository, feed=ends.feed_address if args.feed else None, source_id=args.source_id,
        signer=signer, signature_document=args.signature_document, strict=args.strict,
    )
    files = submit_cmd.cda_files(args.path)
    if not files:
        raise CliError(f"{args.path}: no *.xml file")
    show = args.progress if args.progress is not None else (len(files) > 1 and sys.stderr.isatty())
    progress = Progress(len(files), sys.stderr, show)
    outcomes: list[submit_cmd.Outcome] = []
    progress.step("")
    for path in files:
        try:
            outcome = next(submit_cmd.submit([path], settings))
        except (NotACda, SigningError) as exc:
            outcome = submit_cmd.Outcome(path, "error", detail=str(exc))
        outcomes.append(outcome)
        progress.advance(path.name)
    progress.close()
    if not args.quiet:
        for o in outcomes:
            for w in o.warnings:
                print(f"warning: {o.file.name}: {w}", file=sys.stderr)
    base = args.path if args.path.is_dir() else args.path.parent
    rows = [(str(o.file.relative_to(base)), o.result, o.unique_id, o.detail) for o in outcomes]
    print(table(("file", "result", "uniqueId", "registry codes / reason"), rows, max_width=100))
    sent = sum(o.ok for o in outcomes)
    print(f"{sent} sent, {len(outcomes) - sent} not sent")
    return 0 if sent == len(outcomes) else 1


def _query(args: argparse.Namespace) -> int:
    ends = endpoints(args.registry, args.repository, args.feed_address)
    filters = {f"$XDSDocumentEntry{name}": getattr(args, name) for name in
               ("ClassCode", "TypeCode", "FormatCode", "PracticeSettingCode", "HealthcareFacilityTypeCode")}
    times = {name: value for name, value in (("$XDSDocumentEntryCreationTimeFrom", args.created_from),
                                             ("$XDSDocumentEntryCreationTimeTo", args.created_to)) if value}
    entries = query_cmd.find_documents(ends.registry, args.patient, args.status, filters, times)
    rows = [(e.unique_id or "", e.creation_time or "", (e.class_code.display or e.class_code.code) if e.class_code else "",
             e.type_code.code if e.type_code else "", e.title or "", (e.availability_status or "").rsplit(":", 1)[-1],
             e.mime_type or "", e.size or "") for e in entries]
    print(table(("uniqueId", "created", "class", "type", "title", "status", "mimeType", "size"), rows))
    print(f"{len(entries)} document{'s' if len(entries) != 1 else ''}")
    return 0


def _retrieve(args: argparse.Namespace) -> int:
    ends = endpoints(args.registry, args.repository, args.feed_address)
    repository_id = args.repository_id
    if not repository_id:
        found = query_cmd.get_documents(ends.registry, args.unique_id)
        if not found:
            raise CliError(f"the registry knows no document {args.unique_id}")
        repository_id = found[0].repository_unique_id
        if not repository_id:
            raise CliError(f"document {args.unique_id} has no repositoryUniqueId in the registry")
    doc = query_cmd.retrieve(ends.repository, args.unique_id, repository_id)
    if args.output:
        args.output.write_bytes(doc.data)
        print(f"{args.unique_id}: {len(doc.data)} bytes ({doc.mime_type}) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(doc.data)
        sys.stdout.buffer.flush()
    return 0


COMMANDS = {"feed": _feed, "submit": _submit, "query": _query, "retrieve": _retrieve, "patient": patient_cmd.run}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except httpx.TransportError as exc:
        url = str(exc.request.url) if exc.request is not None else "the service"
        message = f"cannot reach {url}: {exc or type(exc).__name__}"
    except (CliError, feed_cmd.FeedError, query_cmd.ServiceError, patient_cmd.PatientApiError, NotACda, SigningError,
            ValueError) as exc:
        message = str(exc)
    except SoapFault as exc:
        message = exc.reason
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    except KeyboardInterrupt:
        message = "interrupted"
    print(f"xds: error: {message}", file=sys.stderr)
    return 1
