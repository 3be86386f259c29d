"""ITI-8 patient identity feed: message interpretation, ACKs, and the MLLP listener on a real socket."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from harness.builders import single_document
from registry import mllp_server, patient_feed
from registry.mllp_server import FeedServer
from registry.sql import patient_number
from registry.sql.store import SqlRegistry
from tests.registry.helpers import RegistryHarness, tick
from xdscore import mllp
from xdscore.model import PatientKey

AA = "1.3.6.1.4.1.21367.2005.3.7"


def adt(trigger: str, pid3: str, version: str = "2.5", control: str = "MSG0001", mrg: str | None = None,
        structure: str | None = None) -> str:
    msh9 = f"ADT^{trigger}" + (f"^{structure}" if structure else ("^ADT_A01" if version.startswith("2.5") and trigger != "A40" else ""))
    segs = [
        f"MSH|^~\\&|SENDER|SFAC|XDSREG|RFAC|20240101120000||{msh9}|{control}|P|{version}",
        f"EVN|{trigger}|20240101120000",
        f"PID|||{pid3}||Doe^John^^^||19560527|M|||100 Main St^^Metropolis^IL^44130^USA",
    ]
    if mrg:
        segs.append(f"MRG|{mrg}")
    else:
        segs.append("PV1||O")
    return "\r".join(segs) + "\r"


def msa(ack: str) -> list[str]:
    seg = next(s for s in ack.split("\r") if s.startswith("MSA"))
    return seg.split("|")


@pytest.mark.parametrize("trigger", ["A01", "A04", "A05", "A08"])
@pytest.mark.parametrize("version", ["2.3.1", "2.5"])
def test_create_or_update(trigger: str, version: str) -> None:
    d = patient_feed.interpret(adt(trigger, f"123^^^&{AA}&ISO~LOCAL9^^^HOSP&1.2.3&ISO^PI", version))
    assert d.reject is None
    assert [a.key for a in d.actions] == [PatientKey("123", AA), PatientKey("LOCAL9", "1.2.3")]
    assert d.actions[0].demographics["name"] == "Doe^John"  # type: ignore[union-attr]


def test_affinity_domain_filters_identifiers() -> None:
    d = patient_feed.interpret(adt("A01", f"123^^^&{AA}&ISO~LOCAL9^^^HOSP&1.2.3&ISO^PI"), affinity_domain=AA)
    assert [a.key for a in d.actions] == [PatientKey("123", AA)]
    d = patient_feed.interpret(adt("A01", "LOCAL9^^^HOSP&1.2.3&ISO^PI"), affinity_domain=AA)
    assert d.reject is not None and d.reject[0] == "AE" and AA in d.reject[1]


def test_merge() -> None:
    d = patient_feed.interpret(adt("A40", f"NEW^^^&{AA}&ISO", mrg=f"OLD^^^&{AA}&ISO", structure="ADT_A39"))
    assert d.reject is None
    assert d.actions == [patient_feed.MergePatient(PatientKey("OLD", AA), PatientKey("NEW", AA), f"NEW^^^&{AA}&ISO")]


@pytest.mark.parametrize(
    "text,code,words",
    [
        (adt("A03", f"1^^^&{AA}&ISO"), "AR", "A03"),
        (adt("A01", f"1^^^&{AA}&ISO", version="3.0"), "AR", "version"),
        ("PID|||x\r", "AR", "MSH"),
        (adt("A01", "no-authority"), "AE", "assigning authority"),
        (adt("A40", f"NEW^^^&{AA}&ISO", structure="ADT_A39"), "AE", "MRG-1"),
    ],
)
def test_refusals_say_why(text: str, code: str, words: str) -> None:
    d = patient_feed.interpret(text)
    assert d.reject is not None and d.reject[0] == code and words in d.reject[1]
    reply = patient_feed.ack(d, "20240101", "ACK1", *d.reject)
    assert msa(reply)[1] == code and any(s.startswith("ERR") for s in reply.split("\r"))


def test_ack_echoes_control_id_and_swaps_applications() -> None:
    d = patient_feed.interpret(adt("A01", f"1^^^&{AA}&ISO", control="CTRL-42"))
    reply = patient_feed.ack(d, "20240101120000", "ACK-1")
    msh = reply.split("\r")[0].split("|")
    assert msh[2:6] == ["XDSREG", "RFAC", "SENDER", "SFAC"]
    assert msh[8] == "ACK^A01^ACK" and msh[9] == "ACK-1"
    assert msa(reply) == ["MSA", "AA", "CTRL-42"]


def test_merge_moves_documents_to_survivor() -> None:
    reg = RegistryHarness()
    old, new = f"OLD{tick()}^^^&{AA}&ISO", f"NEW{tick()}^^^&{AA}&ISO"
    reg.feed(old)
    reg.feed(new)
    assert reg.submit(single_document(old)).accepted
    decision = patient_feed.interpret(adt("A40", new, mrg=old, structure="ADT_A39"))
    with reg.store.write() as tx:
        patient_feed.apply(decision, tx, tick())
    assert {r[0] for r in reg.sql("select distinct patient from objects where patient is not null")} == {
        patient_number.number(str(PatientKey.parse(new)))
    }
    assert not reg.submit(single_document(old)).accepted
    xml = reg.stored_xml("kind = 'DE'")
    assert str(PatientKey.parse(new)).replace("&", "&amp;") in xml and old.split("^")[0] not in xml


def _send(port: int, payloads: list[bytes], expect: int) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for p in payloads:
            s.sendall(p)
        reader = mllp.MllpReader()
        got: list[str] = []
        while len(got) < expect:
            data = s.recv(65536)
            if not data:
                break
            got += [e.payload.decode() for e in reader.feed(data) if isinstance(e, mllp.Frame)]
        return got


def test_mllp_listener_on_a_real_socket(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SqlRegistry(f"sqlite:///{tmp_path}/feed.db")
    store.migrate()
    server = FeedServer(store, "127.0.0.1", 0, tick)

    async def scenario() -> list[str]:
        await server.start()
        try:
            good = mllp.frame(adt("A01", f"ABC^^^&{AA}&ISO", control="C1").encode())
            garbage = mllp.frame(b"\x00\xff not hl7 at all")
            bad_event = mllp.frame(adt("A03", f"ABC^^^&{AA}&ISO", control="C3").encode())
            second = mllp.frame(adt("A08", f"ABC^^^&{AA}&ISO", control="C4").encode())
            # Split the first frame across writes, then a burst of three frames in one write.
            acks = await asyncio.to_thread(_send, server.port, [good[:7], good[7:], garbage + bad_event + second], 4)
            # The listener survives a client that disconnects mid-frame.
            await asyncio.to_thread(lambda: socket.create_connection(("127.0.0.1", server.port)).sendall(b"\x0bMSH|partial"))
            acks += await asyncio.to_thread(_send, server.port, [mllp.frame(adt("A01", f"XYZ^^^&{AA}&ISO", control="C5").encode())], 1)
            return acks
        finally:
            await server.stop()

    acks = asyncio.run(scenario())
    assert [msa(a)[1:3] for a in acks] == [["AA", "C1"], ["AR", ""], ["AR", "C3"], ["AA", "C4"], ["AA", "C5"]]
    with store.read() as tx:
        assert tx.patient(PatientKey("ABC", AA)) is not None
        assert tx.patient(PatientKey("XYZ", AA)) is not None
    store.dispose()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (adt("A01", f"1^^^&{AA}&ISO", version="2.6"), "203^Unsupported version id^HL70357"),
        (adt("A43", f"1^^^&{AA}&ISO", structure="ADT_A43"), "201^Unsupported event code^HL70357"),
        (adt("A01", f"1^^^&{AA}&ISO").replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"), "200^Unsupported message type^HL70357"),
        ("PID|||x\r", "100^Segment sequence error^HL70357"),
    ],
    ids=["version", "event", "message-type", "no-msh"],
)
def test_refusals_carry_the_hl7_error_code(text: str, error: str) -> None:
    """ITI-8 (HL7 v2.5 table 0357): an unsupported version is 203 and the text names the versions accepted."""
    d = patient_feed.interpret(text)
    assert d.reject is not None
    reply = patient_feed.ack(d, "20240101", "ACK1", *d.reject)
    (err,) = [s for s in reply.split("\r") if s.startswith("ERR")]
    assert err.split("|")[3] == error
    if error.startswith("203"):
        assert "2.3, 2.3.1, 2.4, 2.5, 2.5.1" in d.reject[1] and "'2.6'" in d.reject[1]


def test_a_v231_refusal_puts_the_code_in_err_1() -> None:
    d = patient_feed.interpret(adt("A43", f"1^^^&{AA}&ISO", version="2.3.1"))
    assert d.reject is not None
    reply = patient_feed.ack(d, "20240101", "ACK1", *d.reject)
    (err,) = [s for s in reply.split("\r") if s.startswith("ERR")]
    assert err == "ERR|^^^201&Unsupported event code&HL70357"


def test_a_patient_whose_64_bit_key_another_holds_is_refused_with_an_ae(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """registry.sql.patient_number: the hash injected so that every id takes ABC's number."""
    xds, level = logging.getLogger("xds"), logging.getLogger("xds").level
    xds.setLevel(logging.CRITICAL)  # as the fuzz harness leaves it (harness.fuzz): the feed's own level decides
    caplog.set_level(logging.ERROR, logger=mllp_server.log.name)
    abc = PatientKey("ABC", AA)
    store = SqlRegistry(f"sqlite:///{tmp_path}/feed.db", number=lambda _text: patient_number.number(str(abc)))
    store.migrate()
    server = FeedServer(store, "127.0.0.1", 0, tick)
    assert msa(server.handle(adt("A01", f"ABC^^^&{AA}&ISO", control="C1").encode()).decode())[1:3] == ["AA", "C1"]
    for control, text in (("C2", adt("A01", f"XYZ^^^&{AA}&ISO", control="C2")),
                          ("C3", adt("A40", f"ABC^^^&{AA}&ISO", control="C3", mrg=f"XYZ^^^&{AA}&ISO", structure="ADT_A39"))):
        ack = server.handle(text.encode()).decode()
        assert msa(ack)[1:3] == ["AE", control] and "same 64-bit key" in ack, ack
    assert "XYZ" in caplog.text and "refused, patient not stored" in caplog.text
    assert msa(server.handle(adt("A08", f"ABC^^^&{AA}&ISO", control="C4").encode()).decode())[1:3] == ["AA", "C4"]
    with store.read() as tx:
        assert tx.patient(abc) is not None and tx.patient(abc).merged_into is None  # type: ignore[union-attr]
        assert tx.patient(PatientKey("XYZ", AA)) is None
        assert tx.conn.exec_driver_sql("SELECT count(*) FROM patients").scalar() == 1
    store.dispose()
    xds.setLevel(level)
