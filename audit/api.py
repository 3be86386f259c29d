"""HTTP JSON API of the audit record repository: the access trace of a patient and general searches.

Routes (all GET, JSON):
- `/patients/{patient id as CX, URL-encoded}/accesses` — every audited transaction that names the patient,
  newest first: who (user id, name, roles), organisation, when, which transaction, which documents,
  outcome and access mode (normal, bris_de_glace, centre_15): the trace a DMP patient is entitled to see
  (Code de la santé publique R1111-44/-48).
- `/patients/{patient id}/notifications` — what the patient was (or is to be) told, newest first: a
  professional's first access, every emergency access, a document made visible, the announcement notice
  (DMP, `audit.notify`).
- `/notifications?kind=&limit=&offset=` — every patient's notifications.
- `/events?user=&event_type=&patient=&since=&until=&limit=&offset=` — general search.
- `/events/{id}` — one event, with the AuditMessage XML as received.
- `/rejected?limit=&offset=` — messages that could not be stored as events, with the reason.
- `/health` — counts (two rows the store keeps, never a count over the tables) and the write loop's state
  (backlog, last stored, last error); HTTP 503 with a status other than "ok" when the database cannot be
  used (`database unavailable`, with the reason) or storing has stalled (`stall_seconds`).
A patient is given as a CX in any of its forms (`123^^^&1.2.3&ISO`, `123^^^NS&1.2.3&ISO^NH`: matched on CX.1
and the authority's universal id, `audit.record.patient_key`), as a token `urn:oid:1.2.3|123`, or as the bare
id with `?authority=1.2.3` (a NIR and the INS OID, as DMP callers hold them). A bare id without an authority
is refused: it could name another domain's patient.
`since` / `until` are ISO 8601 date-times (inclusive, UTC when no offset is given); `limit` is at most 1000.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from audit.record import patient_key
from audit.store import AuditStore, EventFilter

MAX_LIMIT = 1000
HEALTH_TIMEOUT = 5.0  # seconds /health waits for the database's counts


class BadRequest(Exception):
    pass


def _time(params: Any, name: str) -> datetime | None:
    text = params.get(name)
    if not text:
        return None
    # a '+' left unencoded in a query string arrives as a space: 10:00:00 01:00 means 10:00:00+01:00
    try:
        return datetime.fromisoformat(re.sub(r" (\d{2}:\d{2})$", r"+\1", text.strip()))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date-time, not {text!r}") from None


def _int(params: Any, name: str, default: int, maximum: int | None = None) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, not {text!r}")
    value = int(text)
    return min(value, maximum) if maximum is not None else value


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


def _patient(text: str, authority: str | None) -> str:
    """The patient a request names (see the module docstring), as its key."""
    text = text.strip()
    if "^" in text:
        return patient_key(text)
    if "|" in text:  # a token system|value, the system an OID (urn:oid: or bare)
        system, value = text.split("|", 1)
        authority = system.removeprefix("urn:oid:")
        text = value
    if not authority or not text:
        raise BadRequest(f"patient {text!r}: give a CX (id^^^&authority&ISO), urn:oid:authority|id, or the id "
                         f"with ?authority=")
    if not _OID.fullmatch(authority):
        raise BadRequest(f"authority {authority[:80]!r} is not an OID")
    return f"{text}^^^&{authority}&ISO"


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in event.items() if k not in ("message", "digest")}
    for key in ("event_time", "received_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    if "message" in event:
        out["message"] = event["message"].decode("utf-8", "replace")
    return out


def _access_json(event: dict[str, Any]) -> dict[str, Any]:
    """The patient-facing view of one event."""
    return {
        "id": event["id"],
        "time": event["event_time"].isoformat(),
        "transaction": event["event_type"],
        "transaction_name": event["event_type_name"],
        "action": event["event_action"],
        "outcome": event["outcome"],
        "user": {"id": event["user_id"], "name": event["user_name"], "roles": event["user_roles"]},
        "organisation": {"id": event["organisation_id"], "name": event["organisation"]},
        "access_mode": event["access_mode"] or None,
        "purposes_of_use": event["purposes"],
        "documents": event["documents"],
        "submission_set": event["submission_set_id"] or None,
        "query": event["query_id"] or None,
        "source": {"id": event["source_user_id"], "address": event["source_address"]},
        "decision": event.get("outcome_description") or None,  # DMP: what the access rules decided
    }


def _notification_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "event": row["event_id"], "patient_id": row["patient_id"], "kind": row["kind"],
        "time": row["event_time"].isoformat(), "text": row["text"],
        "user": {"id": row["user_id"], "name": row["user_name"]} if row["user_id"] else None,
        "access_mode": row["access_mode"] or None, "transaction": row["transaction"],
        "document": row["document_unique_id"] or None,
    }


def create_app(store: AuditStore, status: Callable[[], dict[str, Any]] | None = None) -> Starlette:
    """The API over `store`; `status` gives the write loop's state for /health (`AuditReceiver.status`)."""
    async def accesses(request: Request) -> JSONResponse:
        p = request.query_params
        patient_id = _patient(request.path_params["patient_id"], p.get("authority"))
        events = await run_in_threadpool(
            store.accesses, patient_id, _time(p, "since"), _time(p, "until"),
            _int(p, "limit", 100, MAX_LIMIT), _int(p, "offset", 0),
        )
        return JSONResponse({"patient_id": patient_id, "accesses": [_access_json(e) for e in events]})

    async def notifications(request: Request) -> JSONResponse:
        p = request.query_params
        named = request.path_params.get("patient_id")
        patient_id = None if named is None else _patient(named, p.get("authority"))
        rows = await run_in_threadpool(store.notifications, patient_id, p.get("kind") or None,
                                       _int(p, "limit", 100, MAX_LIMIT), _int(p, "offset", 0))
        return JSONResponse({"notifications": [_notification_json(r) for r in rows]})

    async def events(request: Request) -> JSONResponse:
        p = request.query_params
        criteria = EventFilter(
            patient_id=_patient(p["patient"], p.get("authority")) if p.get("patient") else None,
            user_id=p.get("user") or None,
            event_type=p.get("event_type") or None, since=_time(p, "since"), until=_time(p, "until"),
            limit=_int(p, "limit", 100, MAX_LIMIT), offset=_int(p, "offset", 0),
        )
        found = await run_in_threadpool(store.search, criteria)
        return JSONResponse({"events": [_event_json(e) for e in found]})

    async def event(request: Request) -> JSONResponse:
        text = request.path_params["event_id"]
        found = await run_in_threadpool(store.get, int(text)) if text.isdigit() else None
        if found is None:
            return JSONResponse({"error": f"no audit event {text}"}, status_code=404)
        return JSONResponse(_event_json(found))

    async def rejected(request: Request) -> JSONResponse:
        p = request.query_params
        rows = await run_in_threadpool(store.rejected, _int(p, "limit", 100, MAX_LIMIT), _int(p, "offset", 0))
        return JSONResponse({"rejected": [
            {"id": r["id"], "received_at": r["received_at"].isoformat(), "transport": r["transport"],
             "peer": r["peer"], "reason": r["reason"], "data_base64": base64.b64encode(r["data"]).decode()}
            for r in rows
        ]})

    async def health(_request: Request) -> JSONResponse:
        body: dict[str, Any] = {"status": "ok"}
        writer = status() if status is not None else None
        if writer is not None and writer["state"] == "database unavailable":
            body["status"] = "database unavailable"  # the write loop knows: no need to wait on the database
            body["database_error"] = writer["last_error"]
        else:
            try:
                body.update(await asyncio.wait_for(asyncio.to_thread(store.counts), HEALTH_TIMEOUT))
            except Exception as exc:  # noqa: BLE001 - the database cannot even answer: unhealthy, the reason shown
                body["status"] = "database unavailable"
                body["database_error"] = f"{type(exc).__name__}: {exc}"[:500]
        if writer is not None:
            body["writer"] = writer
            if writer["stalled"] and body["status"] == "ok":
                body["status"] = "stalled"
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    async def bad_request(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def database_error(_request: Request, exc: Exception) -> JSONResponse:
        # the database is down or refused the query: say so, never a stack trace
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return JSONResponse({"error": f"audit database unavailable: {reason}"}, status_code=503)

    return Starlette(
        routes=[
            Route("/patients/{patient_id:path}/accesses", accesses),
            Route("/patients/{patient_id:path}/notifications", notifications),
            Route("/notifications", notifications),
            Route("/events", events),
            Route("/events/{event_id}", event),
            Route("/rejected", rejected),
            Route("/health", health),
        ],
        exception_handlers={BadRequest: bad_request, DBAPIError: database_error},
    )
