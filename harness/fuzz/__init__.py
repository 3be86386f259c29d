"""Fuzzing of every parser that takes network input (issue 16), with hypothesis: SOAP envelope, MTOM
multipart, ebRIM, stored-query parameters, WS-Security header, HL7 v2 / MLLP, syslog frames
(`harness.fuzz.targets` says what each is fed and what a correct answer is; `harness.fuzz.mutate` how
valid messages become hostile ones).

`fuzz(name, inputs, folder)` runs one target for `inputs` generated inputs and reports the outcomes met,
the slowest input and the memory taken. It stops at the first wrong answer, which hypothesis shrinks to a
small input before it is reported. An input taking longer than `hang_seconds` (wall time) does not stop
the run: it is written to `findings` (`slow-<target>-<n>.pickle`, with its repr and timings beside it) and
run a second time, and the report lists it with the wall and CPU seconds of both runs. It is a failure (a
hang) when both runs took more than `hang_seconds` of CPU: on a loaded machine a slow wall clock alone is
the machine's, not the parser's. One input taking more than ten times `hang_seconds` ends the process
(`watchdog`), the input written to `findings`. `replay(name, file, folder)` runs a kept input again.

`python -m harness.fuzz --inputs 100000` is the long run (every target; docs/reliability.md has the
figures); `tests/harness/test_fuzz.py` runs a few hundred inputs of each.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from lxml import etree

from harness.fuzz.targets import TARGETS, Bug


@dataclass
class Report:
    target: str
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failure: str | None = None
    slowest_seconds: float = 0.0
    seconds: float = 0.0
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    slow: list[dict[str, Any]] = field(default_factory=list)  # inputs over the hang limit (wall), kept

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "inputs": self.inputs, "failure": self.failure,
            "inputs_per_second": round(self.inputs / self.seconds, 1) if self.seconds else 0,
            "slowest_ms": round(1000 * self.slowest_seconds, 1), "seconds": round(self.seconds, 1),
            "rss_start_mb": round(self.rss_start_mb, 1), "rss_peak_mb": round(self.rss_peak_mb, 1),
            "outcomes": dict(self.outcomes.most_common(12)), "slow": self.slow,
        }


def _element_from(data: bytes) -> etree._Element:
    """A kept tree input back from its bytes (no entity, DTD or network: it is a hostile input)."""
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                                  huge_tree=True))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:  # lxml elements do not pickle: kept as their bytes
        if isinstance(obj, etree._Element):
            return _element_from, (etree.tostring(obj),)
        return NotImplemented


def keep(case: Any, path: Path) -> None:
    """Write an input so that `replay` can run it again, with its repr beside it for reading."""
    buffer = io.BytesIO()
    _Pickler(buffer).dump(case)
    path.write_bytes(buffer.getvalue())
    path.with_suffix(".txt").write_text(repr(case)[:1_000_000])


def _timed(run: Any, case: Any) -> tuple[str, float, float]:
    """(outcome, wall seconds, CPU seconds of the whole process: the services run in it, in several threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = run(case)
    return outcome, time.perf_counter() - wall, time.process_time() - cpu


def replay(name: str, path: Path, folder: Path) -> dict[str, Any]:
    """Run a kept input (`keep`) once more on a fresh target: its outcome, wall and CPU seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    target = TARGETS[name](folder)
    try:
        outcome, wall, cpu = _timed(target.run, pickle.loads(path.read_bytes()))
    finally:
        target.close()
    return {"input": str(path), "outcome": outcome, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3)}


def _rss(field_name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Watchdog:
    """Ends the process when one input runs past `limit` seconds: a hang must not stall the run silently."""

    def __init__(self, limit: float, dump: Path) -> None:
        self.limit, self.dump = limit, dump  # dump: where `keep` writes the input that hung
        self.started: float | None = None
        self.current: object = None
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            started = self.started
            if started is not None and time.monotonic() - started > self.limit:
                keep(self.current, self.dump)
                print(f"HANG: one input ran for more than {self.limit} s; it is in {self.dump}", flush=True)
                os._exit(3)

    def stop(self) -> None:
        self._stop.set()


def _shown(case: Any) -> str:
    """The input in the report (the one hypothesis shrank to), cut to what a report can hold."""
    text = repr(case)
    return text if len(text) <= 3000 else f"{text[:1500]} ... {text[-1500:]} ({len(text)} characters)"


def fuzz(name: str, inputs: int, folder: Path, seed: int = 0, hang_seconds: float = 5.0,
         findings: Path | None = None) -> Report:
    """`findings`: where slow inputs are kept (default: `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    findings = findings or folder
    findings.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger("xds")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refusals are the point here; xds.soap errors are watched (put back at the end)
    target = TARGETS[name](folder)
    report = Report(name, rss_start_mb=_rss("VmRSS"))
    watchdog = _Watchdog(10 * hang_seconds, findings / f"hang-{name}.pickle")

    def slow(case: Any, seconds: float, cpu_seconds: float) -> None:
        """Keep an input over the limit and time it once more (its answer was checked the first time)."""
        path = findings / f"slow-{name}-{len(report.slow) + 1}.pickle"
        keep(case, path)
        watchdog.started = time.monotonic()
        try:
            _, again, again_cpu = _timed(target.run, case)
        except Exception:  # noqa: BLE001 - only its time is wanted; the first run's answer was judged
            again, again_cpu = float("nan"), float("nan")
        finally:
            watchdog.started = None
        report.slow.append({"input": str(path), "seconds": round(seconds, 6), "cpu_seconds": round(cpu_seconds, 6),
                            "again_seconds": round(again, 6), "again_cpu_seconds": round(again_cpu, 6)})

    @hypothesis_seed(seed)
    @settings(max_examples=inputs, deadline=None, database=None, derandomize=False,
              phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck))
    @given(target.strategy)
    def one(case: Any) -> None:
        watchdog.current, watchdog.started = case, time.monotonic()
        try:
            outcome, elapsed, cpu = _timed(target.run, case)
        except Bug as bug:
            raise Bug(f"{bug}\ninput: {_shown(case)}") from bug
        except Exception as exc:  # out of the code under test: a crash a client would meet as a 500
            where = "".join(traceback.format_exception(exc)[-6:])
            raise Bug(f"{type(exc).__name__}: {exc}\n{where}\ninput: {_shown(case)}") from exc
        finally:
            watchdog.started = None
        if elapsed > hang_seconds:
            slow(case, elapsed, cpu)
        report.slowest_seconds = max(report.slowest_seconds, elapsed)
        report.inputs += 1
        report.outcomes[outcome] += 1

    started = time.monotonic()
    try:
        one()
    except Bug as bug:
        report.failure = str(bug)[:8000]
    except ExceptionGroup as group:  # hypothesis found several distinct failures
        report.failure = " | ".join(f"{type(e).__name__}: {e}" for e in group.exceptions)[:5000]
    except Exception as exc:  # noqa: BLE001 - hypothesis's own (a failure that did not reproduce while shrinking)
        report.failure = f"{type(exc).__name__}: {exc}"[:5000]
    finally:
        report.seconds = time.monotonic() - started
        hangs = [x["input"] for x in report.slow if min(x["cpu_seconds"], x["again_cpu_seconds"]) > hang_seconds]
        if hangs and report.failure is None:
            report.failure = f"{len(hangs)} input(s) took more than {hang_seconds} s of CPU twice: {', '.join(hangs)}"
        report.rss_peak_mb = _rss("VmHWM")
        watchdog.stop()
        target.close()
        quiet.setLevel(level)
    return report
