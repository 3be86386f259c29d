"""One test step: prepare its request, send it to the receiver its transaction names, grade the answer.

Per transaction (`conformance.transactions.KINDS`):
- submissions (ITI-42, ITI-41, ITI-57, ITI-92, ITI-61) are prepared as the toolkit prepares metadata
  (`conformance.prepare.prepare_submission`), requests (ITI-18, ITI-43, ITI-51, ITI-62, ITI-86) get the
  substitutions only (`prepare_request`); both are sent over SOAP 1.2 (MTOM for ITI-41 / ITI-43), with the
  wsse:Security header of the run's XUA source when there is one;
- ITI-8 sends ADT^A01, ITI-64 ADT^A43 over MLLP; MSA-1 AA (or CA) is a Success;
- NullTransaction sends nothing: its verdict is its assertions.
The answer is graded by `conformance.grading` (status, errors, contents, retrieve, reports, assertions).
`probe` asks a receiver whether it serves an optional transaction at all, without naming any object.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from conformance.grading import assertions, contents, retrieve, status
from conformance.metadata import Metadata, local
from conformance.prepare import (
    Prepared,
    PrepareError,
    prepare_request,
    prepare_submission,
    replace_symbol,
    standard_linkage,
)
from conformance.results import StepResult, TestResult
from conformance.testplan import Step, Transaction
from conformance.transactions import ACTION_NOT_SUPPORTED, HL7_NOT_SUPPORTED, KINDS, Kind
from conformance.transport import (
    SoapExchange,
    TransportError,
    a43_message,
    a43_probe_message,
    send_feed,
    send_hl7,
)

if TYPE_CHECKING:
    from conformance.runner import Runner, TestRun


def expectations(step: Step) -> list[str]:
    """What the step expects, in words, for the report."""
    out = [f"ExpectedStatus {' or '.join(step.expected_status) or '(none)'}"]
    if step.expected_error_message:
        out.append(f"ExpectedErrorMessage {step.expected_error_message}")
    if step.expected_error_code:
        out.append(f"ExpectedErrorCode {step.expected_error_code}")
    tx = step.transaction
    if tx is not None and tx.expected_contents is not None:
        items = [etree.QName(c).localname + (f"(count={c.get('count')})" if c.get("count") else "")
                 for c in tx.expected_contents if isinstance(c.tag, str)]
        if items:
            out.append("ExpectedContents " + ", ".join(items))
    if tx is not None:
        out += [f"Assert {a.id}: {' '.join(a.xpath.split())}" for a in tx.assertions]
    return out


def execute(run: TestRun, step: Step, res: StepResult) -> None:
    tx = step.transaction
    try:
        patient = run.patient
        if step.new_patient_id:
            run.patient = patient = run.runner.new_patient()
            run.ensure_fed(patient)
        if step.alt_patient_id:
            patient = run.runner.new_patient()  # deliberately never fed
        if tx is None:
            res.failures = status.grade_status(step.expected_status, status.SUCCESS, [], None)
            return
        kind = KINDS[tx.kind]
        if kind.preparation == "none":
            _null(run, step, tx, res)
        elif kind.preparation == "feed":
            _feed(run, step, tx, res, patient)
        elif kind.preparation == "move":
            _move(run, step, tx, res)
        else:
            _soap(run, step, tx, res, patient, kind)
    except PrepareError as exc:
        res.failures.append(f"cannot prepare the request: {exc}")
    except TransportError as exc:
        res.failures.append(f"transport: {exc}")


def endpoint(runner: Runner, kind: Kind) -> str:
    url = getattr(runner.endpoints, kind.receiver)
    if not url:
        raise PrepareError(f"no --{kind.receiver} endpoint configured")
    return str(url)


def _security(runner: Runner, test: TestResult | None, kind: Kind, url: str) -> etree._Element | None:
    if runner.security is None:
        return None
    try:
        return runner.security(test.test_id if test else "probe", test.collections if test else [], kind.receiver, url)
    except ValueError as exc:
        raise PrepareError(f"XUA: {exc}") from None


# --- SOAP transactions ---------------------------------------------------------------------------------


def _soap(run: TestRun, step: Step, tx: Transaction, res: StepResult, patient: str, kind: Kind) -> None:
    runner = run.runner
    if kind.preparation == "submission":
        prepared = prepare_submission(
            tx, run, runner.settings, runner.allocator, patient if tx.assign_patient_id else None
        )
        if tx.assign_patient_id and not step.alt_patient_id:
            run.ensure_fed(patient)
    else:
        prepared = prepare_request(tx, run, runner.settings)
    res.request, res.assigned = prepared.body, prepared.assigned
    if prepared.body.tag != kind.request:
        res.failures.append(
            f"MetadataFile of a {tx.kind} must hold {status.qname_text(kind.request)}, "
            f"not {status.qname_text(prepared.body.tag)}"
        )
        return
    url = endpoint(runner, kind)
    ex = runner.client.call(
        url, kind.action, prepared.body, mtom_message=kind.mtom, documents=prepared.documents,
        security=_security(runner, run.result, kind, url),
    )
    _grade(run, step, tx, res, ex, url, prepared, kind)


def _grade(
    run: TestRun, step: Step, tx: Transaction, res: StepResult, ex: SoapExchange, url: str, prepared: Prepared,
    kind: Kind,
) -> None:
    res.endpoint, res.wire_request, res.wire_response = url, ex.request_bytes, ex.response_bytes
    res.response = ex.body
    if ex.fault is None and ex.body is not None:
        shape = status.check_response_element(ex.body, kind.response)
        if shape:
            res.failures += shape
            return
    errors = status.registry_errors(ex.body) if ex.fault is None else []
    received = status.response_status(ex.body, ex.fault)
    if ex.fault is None and received == "" and ex.body is not None:
        res.failures.append("the response has no status attribute")
        return
    if ex.fault_subcode == ACTION_NOT_SUPPORTED and kind.optional:
        res.failures.append(f"{kind.transaction} is not served at {url}, although it answered the probe: {ex.fault}")
        return
    res.failures += status.grade_status(step.expected_status, received, errors, ex.fault)
    res.failures += status.grade_error_message(step.expected_error_message, step.expected_status, errors)
    res.failures += status.grade_error_code(step.expected_error_code, errors)
    if ex.fault is not None or ex.body is None:
        return
    if kind.response.endswith("}AdhocQueryResponse") and tx.expected_contents is not None:
        res.failures += contents.grade_expected_contents(tx.expected_contents, Metadata.of(ex.body), run.use_id_element)
    if tx.kind == "RetrieveTransaction":
        res.failures += _retrieve_contents(run, step, tx, prepared, ex)
    if not res.failures:
        res.reports.update(prepared.reports)
        res.failures += _reports(tx, res)
    if not res.failures:
        res.failures += _assertions(run, tx, res)


def _retrieve_contents(run: TestRun, step: Step, tx: Transaction, prepared: Prepared, ex: SoapExchange) -> list[str]:
    assert ex.body is not None
    declared = list(tx.expected_contents) if tx.expected_contents is not None else []
    # The toolkit never reads a retrieve's ExpectedContents; the kit accepts it only empty.
    failures = [f"unsupported: ExpectedContents/{local(c)} in a retrieve" for c in declared if isinstance(c.tag, str)]
    expected = {s.strip().lower() for s in step.expected_status}
    if step.expected_error_message or not expected & {"success", "partialsuccess"}:
        return failures
    reference = None
    if tx.reference_metadata:
        testdir, step_id = tx.reference_metadata
        assert run.section_def is not None
        test_id, name = run.runner.kit.locate(run.section_def.directory / testdir)
        ref_step = run.section_result(test_id, name).step(step_id)
        if ref_step is None or ref_step.response is None:
            raise PrepareError(f"ReferenceMetadata: no query result for {testdir} step {step_id}")
        reference = Metadata.of(ref_step.response)
    # As in the toolkit, a ReferenceDocument applies when its uid symbol is bound by a UseId.
    reference_docs: dict[str, bytes] = {}
    for symbol, path in tx.reference_documents:
        for use in tx.use_ids:
            if use.symbol == symbol:
                try:
                    reference_docs[run.use_id(use)] = Path(path).read_bytes()
                except OSError:
                    failures.append(f"cannot read ReferenceDocument {path}")
    failures += retrieve.grade_retrieve(
        prepared.body, ex.body, ex.attachments, reference, tx.expected_mime_type, reference_docs,
        expect_all=expected == {"success"},
    )
    return failures


def _reports(tx: Transaction, res: StepResult) -> list[str]:
    failures = []
    # As in the toolkit, the XPath is evaluated with the named section of this step's output as context
    # node; an absolute path (`//…`) therefore searches the whole step output, request included.
    output = res.log_element()
    for rep in tx.reports:
        context = output.find(f"*/{rep.section}") if rep.section in ("InputMetadata", "Result") else None
        if context is None:
            failures.append(f"unsupported: Report section {rep.section}")
            continue
        try:
            value = assertions.xpath_string(context, rep.xpath)
        except etree.XPathError as exc:
            failures.append(f"Report {rep.name}: invalid XPath ({exc})")
            continue
        if not value.strip():
            failures.append(f"Report {rep.name}: {' '.join(rep.xpath.split())} is empty in {rep.section}")
            continue
        res.reports[rep.name] = value.strip()
    return failures


def _assertions(run: TestRun, tx: Transaction, res: StepResult) -> list[str]:
    if not tx.assertions:
        return []
    checks = []
    for a in tx.assertions:
        holder = etree.Element("Assert")
        holder.text = a.xpath
        for use in tx.use_reports:
            replace_symbol(holder, use.use_as, run.use_report(use))
        for symbol, value in standard_linkage(run.runner.settings).items():
            replace_symbol(holder, symbol, value)
        checks.append((a.id, holder.text or ""))
    assert run.section is not None
    return assertions.grade_assertions(checks, run.section.log(res))


# --- MLLP transactions and the null transaction -----------------------------------------------------------


def _feed_endpoint(runner: Runner) -> tuple[str, int]:
    if runner.endpoints.feed_host is None or runner.endpoints.feed_port is None:
        raise PrepareError("no --patient-feed endpoint configured")
    return runner.endpoints.feed_host, runner.endpoints.feed_port


def _feed(run: TestRun, step: Step, tx: Transaction, res: StepResult, patient: str) -> None:
    if tx.forced_patient_id:
        pid = tx.forced_patient_id
    elif tx.create_new_patient_id:
        pid = run.runner.new_patient()
    else:
        pid = patient
    host, port = _feed_endpoint(run.runner)
    ex = send_feed(host, port, pid)
    res.endpoint = f"mllp://{host}:{port}"
    res.wire_request, res.wire_response = ex.message.encode(), ex.ack.encode()
    received = status.SUCCESS if ex.ack_code in ("AA", "CA") else status.FAILURE
    res.failures += status.grade_status(step.expected_status, received, [], None)
    if received == status.SUCCESS:
        run.runner.fed_patients.add(pid)
    run.patient = pid
    res.reports["$patientid$"] = pid
    if not res.failures:
        res.failures += _assertions(run, tx, res)


def _move(run: TestRun, step: Step, tx: Transaction, res: StepResult) -> None:
    """ITI-64: the toolkit's PatientMoveTransaction reads its four ids from UseReport symbols."""
    values: dict[str, str] = {}
    for use in tx.use_reports:
        values[use.use_as] = run.use_report(use)
    for needed in ("$NewXADPID$", "$OldXADPID$"):
        if needed not in values:
            raise PrepareError(f"PatientMoveTransaction needs a UseReport for {needed}")
    message = a43_message(values["$NewXADPID$"], values["$OldXADPID$"], values.get("$NewLocalPID$", ""),
                          values.get("$OldLocalPID$", ""))
    host, port = _feed_endpoint(run.runner)
    ex = send_hl7(host, port, message)
    res.endpoint = f"mllp://{host}:{port}"
    res.wire_request, res.wire_response = ex.message.encode(), ex.ack.encode()
    received = status.SUCCESS if ex.ack_code in ("AA", "CA") else status.FAILURE
    res.failures += status.grade_status(step.expected_status, received, [], None)
    if not res.failures:
        res.failures += _assertions(run, tx, res)


def _null(run: TestRun, step: Step, tx: Transaction, res: StepResult) -> None:
    # A NullTransaction sends nothing: its verdict is its assertions (the toolkit evaluates no status
    # for it, and the kit's plans often give none).
    if step.expected_status:
        res.failures += status.grade_status(step.expected_status, status.SUCCESS, [], None)
    res.failures += _assertions(run, tx, res)


# --- actor options -------------------------------------------------------------------------------------


def probe(runner: Runner, kind: Kind) -> str | None:
    """None when the receiver serves the optional transaction `kind`, else the reason it does not.

    SOAP: the action with an empty request element (it names no object, so a receiver that serves the
    transaction answers an error and changes nothing); only the WS-Addressing ActionNotSupported fault
    means "not served". MLLP (ITI-64): an ADT^A43 without PID and MRG segments; only HL7 error 200 / 201
    (message type / event not supported) means "not served".
    """
    try:
        if kind.soap:
            url = endpoint(runner, kind)
            body = etree.Element(kind.request)
            ex = runner.client.call(url, kind.action, body, mtom_message=kind.mtom,
                                    security=_security(runner, None, kind, url))
            if ex.fault_subcode == ACTION_NOT_SUPPORTED:
                return f"not applicable: the {kind.receiver} does not serve {kind.transaction} ({ex.fault})"
            return None
        host, port = _feed_endpoint(runner)
        ex_feed = send_hl7(host, port, a43_probe_message())
        refused = set(ex_feed.error_codes) & HL7_NOT_SUPPORTED
        if ex_feed.ack_code in ("AR", "CR") and refused:
            return (f"not applicable: the registry does not implement {kind.transaction} (ADT^A43 acknowledged "
                    f"{ex_feed.ack_code} with HL7 error {', '.join(sorted(refused))})")
        return None
    except (PrepareError, TransportError):
        return None  # unreachable or unconfigured: the test runs and reports the problem itself
