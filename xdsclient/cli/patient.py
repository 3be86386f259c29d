"""`xds patient …`: the patient's choices on their DMP, through the registry's patient API (dmp.api,
docs/dmp-services.md): show the record and who is authorised, open or close it, block or unblock a
professional, oppose emergency access, name or remove a médecin traitant, authorise or withdraw a
professional or structure, hide everything, the history of changes.

    xds patient show CX                              the record, who is authorised, who is blocked
    xds patient authorised CX                        who is authorised (professionals, structures) and blocked
    xds patient history CX                           every change: when, what, who, through what
    xds patient open CX | close CX
    xds patient block CX IDNAT [--first-name F --last-name L]   /  unblock CX IDNAT
    xds patient oppose CX [--bris-de-glace yes|no] [--centre-15 yes|no]
    xds patient medecin-traitant CX IDNAT [--remove] [--first-name F --last-name L]
    xds patient authorise CX ID [--structure] [--remove] [--first-name F --last-name L]
    xds patient hide CX yes|no                       hide every document from everyone (or show them again)

The API is `--api URL` ($XDS_CLIENT_DMP_API, default make run's http://127.0.0.1:8081/dmp/api), with the
bearer token `--token` ($XDS_CLIENT_DMP_TOKEN) when the registry has one.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import quote

import httpx

from xdsclient.cli.terminal import table

API = "http://127.0.0.1:8081/dmp/api"


class PatientApiError(Exception):
    """The API refused (its error message) or answered something else than JSON."""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    api = argparse.ArgumentParser(add_help=False, parents=[common])
    api.add_argument("--api", default=os.environ.get("XDS_CLIENT_DMP_API") or API,
                     help="the registry's patient API (default $XDS_CLIENT_DMP_API or make run's)")
    api.add_argument("--token", default=os.environ.get("XDS_CLIENT_DMP_TOKEN", ""),
                     help="its bearer token ($XDS_CLIENT_DMP_TOKEN)")
    api.add_argument("--by", default="", help="who acts (default: the patient), e.g. a legal representative")
    p = sub.add_parser("patient", help="the patient's choices on their DMP (block, oppose, médecin traitant, …)")
    acts = p.add_subparsers(dest="action", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = acts.add_parser(name, parents=[api], help=help_text)
        a.add_argument("patient", metavar="PATIENT_CX", help="the INS, e.g. 279035121518989^^^&1.2.250.1.213.1.4.10&ISO")
        return a

    def named(a: argparse.ArgumentParser, what: str) -> None:
        a.add_argument("national_id", metavar="IDNAT", help=f"the {what}'s national id (IdNat_PS / IdNat_Struct)")
        a.add_argument("--first-name", default="")
        a.add_argument("--last-name", default="")

    action("show", "the record: status, choices, médecins traitants, who is authorised or blocked")
    action("authorised", "who is authorised on the DMP, and who is blocked")
    action("history", "every change of the record")
    action("open", "open the DMP (create it, or reactivate a closed one)")
    action("close", "close the DMP")
    named(action("block", "block a professional: they never get in"), "professional")
    u = action("unblock", "unblock a professional (no authorisation comes back)")
    u.add_argument("national_id", metavar="IDNAT")
    o = action("oppose", "oppose (yes) or allow (no) emergency access")
    o.add_argument("--bris-de-glace", choices=["yes", "no"])
    o.add_argument("--centre-15", choices=["yes", "no"])
    m = action("medecin-traitant", "name a médecin traitant DMP (authorises them), or --remove")
    named(m, "professional")
    m.add_argument("--remove", action="store_true")
    a = action("authorise", "authorise a professional (or --structure), or --remove the authorisation")
    named(a, "professional or structure")
    a.add_argument("--structure", action="store_true")
    a.add_argument("--remove", action="store_true")
    h = action("hide", "hide every document from everyone (yes) or not (no)")
    h.add_argument("hidden", choices=["yes", "no"])


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"{args.api.rstrip('/')}/patients/{quote(args.patient, safe='')}{path}"
    headers = {"authorization": f"Bearer {args.token}"} if args.token else {}
    payload = dict(body or {}, **({"by": args.by} if args.by else {}))
    response = httpx.request(method, url, json=payload if method != "GET" else None, headers=headers, timeout=30)
    try:
        data = response.json()
    except ValueError:
        raise PatientApiError(f"{url} answered HTTP {response.status_code} without JSON") from None
    if response.status_code >= 400:
        raise PatientApiError(data.get("error", f"HTTP {response.status_code}") if isinstance(data, dict) else str(data))
    return data


def _people(record: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for key, what in (("medecins_traitants", "médecin traitant"), ("authorised_professionals", "authorised"),
                      ("authorised_structures", "authorised structure"), ("blocked_professionals", "blocked")):
        for p in record.get(key, []):
            rows.append((p["id"], " ".join(x for x in (p["first_name"], p["last_name"]) if x), what, p.get("since", "")))
    return rows


def _show(record: dict[str, Any]) -> None:
    name = record["name"]
    print(f"patient       {record['patient']}  {' '.join(name['given'])} {name['family']}".rstrip())
    print(f"DMP           {'open' if record['status'] == 'active' else 'closed'}")
    yes = {True: "yes", False: "no"}
    print(f"opposes       bris de glace: {yes[record['opposes_bris_de_glace']]}, "
          f"centre 15: {yes[record['opposes_centre_15']]}")
    print(f"hidden        from everyone: {yes[record['hidden_from_everyone']]}, "
          f"masked documents in emergency: {'shown' if record['masked_visible_in_emergency'] else 'hidden'}")
    rows = _people(record)
    if rows:
        print(table(("national id", "name", "as", "since"), rows))


def run(args: argparse.Namespace) -> int:
    act = args.action
    if act == "show":
        _show(_call(args, "GET", ""))
        return 0
    if act == "authorised":
        rows = _people(_call(args, "GET", ""))
        print(table(("national id", "name", "as", "since"), rows) if rows else "nobody is authorised or blocked")
        return 0
    if act == "history":
        entries = _call(args, "GET", "/history")
        print(table(("at", "change", "by", "via", "detail"),
                    [(e["at"], e["change"], e["by_name"] or e["by"], e["via"],
                      ", ".join(f"{k}={v}" for k, v in sorted(e["detail"].items()))) for e in entries]))
        return 0
    names = {"first_name": getattr(args, "first_name", ""), "last_name": getattr(args, "last_name", "")}
    who = quote(getattr(args, "national_id", ""), safe="")
    calls = {
        "open": ("POST", "/open", {}),
        "close": ("POST", "/close", {}),
        "block": ("PUT", f"/blocked/{who}", names),
        "unblock": ("DELETE", f"/blocked/{who}", {}),
        "hide": ("PUT", "/hidden", {"hidden": getattr(args, "hidden", "") == "yes"}),
        "medecin-traitant": ("DELETE" if getattr(args, "remove", False) else "PUT", f"/medecin-traitant/{who}", names),
        "authorise": ("DELETE" if getattr(args, "remove", False) else "PUT",
                      f"/authorised/{'structure' if getattr(args, 'structure', False) else 'ps'}/{who}", names),
    }
    if act == "oppose":
        body = {k: v == "yes" for k, v in (("bris_de_glace", args.bris_de_glace), ("centre_15", args.centre_15)) if v}
        if not body:
            raise PatientApiError("give --bris-de-glace yes|no and/or --centre-15 yes|no")
        calls["oppose"] = ("PUT", "/oppositions", body)
    method, path, body = calls[act]
    answer = _call(args, method, path, body)
    changes = answer.get("changes", [])
    for change in changes:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(change["detail"].items()))
        print(f"{change['at']}  {change['change']}" + (f"  ({detail})" if detail else ""))
    if not changes:
        print("nothing to change: already so")
    return 0
