"""The patient's choices as an HTTP JSON API, served by the registry beside the DMP's services (`/dmp/api`).
What Mon espace santé lets a patient do, for a test platform: `xds patient …` is its command line.

Routes (the patient as CX, URL-encoded, e.g. `279035121518989%5E%5E%5E%261.2.250.1.213.1.4.10%26ISO`):
- `GET  /patients/{cx}`                         the record: status, choices, médecin traitant, who is authorised / blocked
- `POST /patients/{cx}/open`, `/close`           open (create or reactivate) or close the DMP
- `PUT  /patients/{cx}/oppositions`              `{"bris_de_glace": bool, "centre_15": bool}` (either or both)
- `PUT  /patients/{cx}/hidden`                   `{"hidden": bool}`: hide every document from everyone
- `PUT  /patients/{cx}/masked-in-emergency`      `{"visible": bool}`: emergency access sees MASQUE_PS documents
- `PUT|DELETE /patients/{cx}/blocked/{idnat}`    block / unblock a professional (`{"first_name", "last_name"}`)
- `PUT|DELETE /patients/{cx}/medecin-traitant/{idnat}`  name / remove a médecin traitant DMP
- `PUT|DELETE /patients/{cx}/authorised/{ps|structure}/{id}`  authorise / withdraw
- `GET  /patients/{cx}/history`                  every change: when, what, who, through what
Each change is written to the record's history and audited (a Patient Record event, EventTypeCode
`CHOIX_PATIENT`). A body may say who acts (`"by": "…"`, default `patient`, e.g. a legal representative).
Access: `Authorization: Bearer <api_token>`; without a configured token, loopback clients only.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dmp.choices import ChoiceError, Choices, Named
from dmp.model import HistoryEntry, Who
from dmp.sql.store import SqlRecords
from xdscore.access.record import ActorKind
from xdscore.model import PatientKey

Audit = Callable[[str, list[HistoryEntry], str], None]  # (patient, changes, client address)


def record_json(tx: Any, patient: str) -> dict[str, Any] | None:
    record = tx.record(patient)
    if record is None:
        return None
    actors = tx.actors(patient)

    def person(a: Any) -> dict[str, Any]:
        return {"id": a.actor_id, "first_name": a.first_name, "last_name": a.last_name,
                "since": a.authorised_at or a.last_action_at, "specialities": [list(s) for s in a.specialities]}

    name = record.person.name
    return {
        "patient": patient,
        "status": record.status.value,
        "name": {"family": name.family, "given": list(name.given), "birth_family": name.birth_family},
        "birth_date": record.person.birth_time,
        "opposes_bris_de_glace": record.opposes_bris_de_glace,
        "opposes_centre_15": record.opposes_centre_15,
        "hidden_from_everyone": record.hidden_from_everyone,
        "masked_visible_in_emergency": record.masked_visible_in_emergency,
        "medecins_traitants": [person(a) for a in actors if a.medecin_traitant and not a.blocked],
        "authorised_professionals": [person(a) for a in actors if a.kind is ActorKind.PROFESSIONAL and a.active],
        "authorised_structures": [person(a) for a in actors if a.kind is ActorKind.STRUCTURE and a.active],
        "blocked_professionals": [person(a) for a in actors if a.blocked],
        "legal_representatives": [{"name": r.name, "relationship": r.relationship}
                                  for r in record.view(actors).legal_representatives],
        "created_at": record.created_at, "updated_at": record.updated_at, "closed_at": record.closed_at,
        "closure_reason": record.closure_reason,
    }


def history_json(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [{"at": e.at, "change": e.change.value, "by": e.who.id, "by_name": e.who.name, "via": e.who.via,
             "detail": e.detail} for e in entries]


class PatientApi:
    def __init__(self, records: SqlRecords, audit: Audit, now: Callable[[], str], token: str = "") -> None:
        self.records, self.audit, self.now, self.token = records, audit, now, token
        self.app = Starlette(routes=[
            Route("/patients/{cx}", self.get, methods=["GET"]),
            Route("/patients/{cx}/history", self.history, methods=["GET"]),
            Route("/patients/{cx}/open", self.change(lambda c, b, p: c.open()), methods=["POST"]),
            Route("/patients/{cx}/close", self.change(lambda c, b, p: c.close()), methods=["POST"]),
            Route("/patients/{cx}/oppositions", self.change(self._oppose), methods=["PUT"]),
            Route("/patients/{cx}/hidden", self.change(lambda c, b, p: c.hide_from_everyone(_bool(b, "hidden", True))),
                  methods=["PUT"]),
            Route("/patients/{cx}/masked-in-emergency",
                  self.change(lambda c, b, p: c.show_masked_in_emergency(_bool(b, "visible", True))), methods=["PUT"]),
            Route("/patients/{cx}/blocked/{idnat}", self.change(lambda c, b, p: c.block(_named(b, p["idnat"]))),
                  methods=["PUT"]),
            Route("/patients/{cx}/blocked/{idnat}", self.change(lambda c, b, p: c.unblock(p["idnat"])),
                  methods=["DELETE"]),
            Route("/patients/{cx}/medecin-traitant/{idnat}",
                  self.change(lambda c, b, p: c.name_medecin_traitant(_named(b, p["idnat"]))), methods=["PUT"]),
            Route("/patients/{cx}/medecin-traitant/{idnat}",
                  self.change(lambda c, b, p: c.remove_medecin_traitant(p["idnat"])), methods=["DELETE"]),
            Route("/patients/{cx}/authorised/{kind}/{id}",
                  self.change(lambda c, b, p: c.authorise(_kind(p["kind"]), _named(b, p["id"]))), methods=["PUT"]),
            Route("/patients/{cx}/authorised/{kind}/{id}",
                  self.change(lambda c, b, p: c.withdraw(_kind(p["kind"]), p["id"])), methods=["DELETE"]),
        ])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            await JSONResponse({"error": "the patient API needs its bearer token (api_token)"}, 401,
                               headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: dict[str, Any]) -> bool:
        if not self.token:
            client = (scope.get("client") or ("",))[0]
            return client in ("127.0.0.1", "::1", "localhost", "testclient")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), self.token)

    async def get(self, request: Request) -> Response:
        patient = _patient(request)
        if isinstance(patient, Response):
            return patient

        def read() -> dict[str, Any] | None:
            with self.records.read() as tx:
                return record_json(tx, patient)

        found = await run_in_threadpool(read)
        return JSONResponse(found) if found is not None else _error(404, f"patient {patient} has no DMP")

    async def history(self, request: Request) -> Response:
        patient = _patient(request)
        if isinstance(patient, Response):
            return patient

        def read() -> list[dict[str, Any]] | None:
            with self.records.read() as tx:
                return history_json(tx.history(patient)) if tx.record(patient) is not None else None

        found = await run_in_threadpool(read)
        return JSONResponse(found) if found is not None else _error(404, f"patient {patient} has no DMP")

    def _oppose(self, choices: Choices, body: dict[str, Any], _params: dict[str, str]) -> None:
        if "bris_de_glace" not in body and "centre_15" not in body:
            raise ChoiceError(400, "give bris_de_glace and/or centre_15 (true or false)")
        choices.oppose(_bool(body, "bris_de_glace", None), _bool(body, "centre_15", None))

    def change(self, apply: Callable[[Choices, dict[str, Any], dict[str, str]], object]
               ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            patient = _patient(request)
            if isinstance(patient, Response):
                return patient
            try:
                body = await request.json() if (await request.body()).strip() else {}
            except ValueError:
                return _error(400, "the body is not JSON")
            if not isinstance(body, dict):
                return _error(400, "the body is a JSON object")
            params = dict(request.path_params)

            def run() -> tuple[dict[str, Any] | None, list[HistoryEntry]]:
                who = Who(_str(body, "by") or "patient", _str(body, "by_name"), "api")
                with self.records.write(patient) as tx:
                    choices = Choices(tx, patient, who, self.now())
                    apply(choices, body, params)
                    return record_json(tx, patient), choices.changes

            try:
                record, changes = await run_in_threadpool(run)
            except ChoiceError as exc:
                return _error(exc.status, exc.message)
            if changes:
                self.audit(patient, changes, (request.client.host if request.client else ""))
            return JSONResponse({"record": record, "changes": history_json(changes)})

        return endpoint


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _patient(request: Request) -> str | Response:
    cx = unquote(request.path_params["cx"])
    key = PatientKey.parse(cx)
    if key is None:
        return _error(400, f"{cx!r} is not a patient id written as CX (id^^^&authority&ISO)")
    return str(key)


def _str(body: dict[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ChoiceError(400, f"{name} must be a string")
    if required and not value.strip():
        raise ChoiceError(400, f"{name} is required")
    return value.strip()


def _bool(body: dict[str, Any], name: str, default: bool | None) -> Any:
    value = body.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise ChoiceError(400, f"{name} must be true or false")
    return value


def _named(body: dict[str, Any], national_id: str) -> Named:
    if not national_id.strip():
        raise ChoiceError(400, "the professional's national id is required")
    return Named(national_id.strip(), _str(body, "first_name"), _str(body, "last_name"))


def _kind(text: str) -> ActorKind:
    kinds = {"ps": ActorKind.PROFESSIONAL, "professional": ActorKind.PROFESSIONAL, "structure": ActorKind.STRUCTURE}
    if text.lower() not in kinds:
        raise ChoiceError(404, f"authorised/{text}: the kind is ps or structure")
    return kinds[text.lower()]
