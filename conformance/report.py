"""Reports of a run: a console line per test with a summary per collection, JUnit XML, and an HTML page
showing, for every step, the request, the response, what was expected and what failed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from conformance.results import StepResult, TestResult

_MAX_SHOWN = 40_000  # characters of a request or response shown in the HTML page


@dataclass
class Group:
    """Tests reported together: a collection, the tests named on the command line, or data loaders."""

    name: str
    results: list[TestResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if r.failed)

    @property
    def not_applicable(self) -> int:
        return sum(1 for r in self.results if r.not_applicable)


def groups(results: list[TestResult], collections: list[str]) -> list[Group]:
    out: list[Group] = []
    selected = [r for r in results if not r.dependency]
    for name in collections:
        out.append(Group(name, [r for r in selected if name in r.collections]))
    rest = [r for r in selected if not any(c in r.collections for c in collections)]
    if rest:
        out.append(Group("selected" if collections else "tests", rest))
    deps = [r for r in results if r.dependency]
    if deps:
        out.append(Group("test data (dependencies)", deps))
    return out


def console_line(r: TestResult) -> str:
    verdict = r.verdict
    tag = " [test data]" if r.dependency else ""
    n = len(r.steps)
    line = f"{verdict:<4} {r.test_id:<26}{tag} {n} step{'s' if n != 1 else ''} {r.seconds:5.1f}s  {r.title[:60]}"
    if not r.passed:
        line += f"\n       ↳ {r.first_failure()}"
    return line


def summary(results: list[TestResult], collections: list[str]) -> str:
    lines = ["", "Summary"]
    for g in groups(results, collections):
        lines.append(_count_line(g.name, g.results))
    lines.append(_count_line("total (selected tests)", [r for r in results if not r.dependency]))
    return "\n".join(lines)


def _count_line(name: str, results: list[TestResult]) -> str:
    passed = sum(1 for r in results if r.passed)
    failed = sum(1 for r in results if r.failed)
    na = len(results) - passed - failed
    return f"  {name:<28} {passed:>4} passed  {failed:>4} failed  {na:>4} not applicable  of {len(results)}"


def _step_text(s: StepResult) -> str:
    where = f"{s.section}/{s.step_id}" if s.section else s.step_id
    return f"{where} [{s.kind or 'no transaction'}]: " + "; ".join(s.failures)


def junit(results: list[TestResult], collections: list[str]) -> bytes:
    root = etree.Element("testsuites", name="NIST XDS Toolkit test plans")
    for g in groups(results, collections):
        suite = etree.SubElement(
            root, "testsuite", name=g.name, tests=str(len(g.results)), failures=str(g.failed),
            errors="0", skipped=str(g.not_applicable), time=f"{sum(r.seconds for r in g.results):.3f}",
        )
        for r in g.results:
            case = etree.SubElement(
                suite, "testcase", classname=f"conformance.{g.name.split()[0]}", name=r.test_id, time=f"{r.seconds:.3f}"
            )
            if r.not_applicable:
                etree.SubElement(case, "skipped", message=r.not_applicable[:500])
            elif not r.passed:
                failed = [s for s in r.steps if not s.passed]
                fail = etree.SubElement(case, "failure", message=r.first_failure()[:500])
                fail.text = "\n".join([r.error] if r.error else [_step_text(s) for s in failed]) or "no step to run"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _pretty(el: etree._Element | None, raw: bytes) -> str:
    if el is not None:
        text = etree.tostring(el, pretty_print=True, encoding="unicode")
    else:
        text = raw.decode("utf-8", errors="replace")
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + f"\n… ({len(text) - _MAX_SHOWN} more characters)"
    return text


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
.pass{color:#176f2c}.fail{color:#b00020}
details{margin:.3em 0}summary{cursor:pointer}
pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em;font-size:12px}
.step{border-left:4px solid #ccc;padding-left:.8em;margin:.6em 0}.step.fail{border-color:#b00020}
.step.pass{border-color:#176f2c}
"""


def html_report(results: list[TestResult], collections: list[str], title: str = "XDS.b conformance report") -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style>",
           f"</head><body><h1>{e(title)}</h1><table><tr><th>group</th><th>passed</th><th>failed</th><th>not applicable</th>"
           "<th>total</th></tr>"]
    for g in groups(results, collections):
        out.append(f"<tr><td>{e(g.name)}</td><td>{g.passed}</td><td>{g.failed}</td><td>{g.not_applicable}</td>"
                   f"<td>{len(g.results)}</td></tr>")
    out.append("</table>")
    for g in groups(results, collections):
        out.append(f"<h2>{e(g.name)}</h2>")
        for r in g.results:
            cls = "fail" if r.failed else "pass"
            out.append(
                f"<details><summary class='{cls}'><b>{r.verdict} {e(r.test_id)}</b> "
                f"{e(r.title)}{' — ' + e(r.first_failure()) if not r.passed else ''}</summary>"
            )
            if r.error:
                out.append(f"<p class='fail'>{e(r.error)}</p>")
            for sec in r.sections:
                out.append(f"<h4>section {e(sec.name or '(top)')}</h4>")
                for s in sec.steps:
                    scls = "pass" if s.passed else "fail"
                    out.append(f"<div class='step {scls}'><b class='{scls}'>{'PASS' if s.passed else 'FAIL'}</b> "
                               f"step <b>{e(s.step_id)}</b> {e(s.kind)} {e(s.endpoint)} ({s.seconds:.2f}s)")
                    out.append("<ul>" + "".join(f"<li>expected: {e(x)}</li>" for x in s.expected) + "</ul>")
                    if s.failures:
                        out.append("<ul>" + "".join(f"<li class='fail'>{e(f)}</li>" for f in s.failures) + "</ul>")
                    if s.request is not None or s.wire_request:
                        out.append(f"<details><summary>request</summary><pre>{e(_pretty(s.request, s.wire_request))}</pre></details>")
                    if s.response is not None or s.wire_response:
                        out.append(f"<details><summary>response</summary><pre>{e(_pretty(s.response, s.wire_response))}</pre></details>")
                    out.append("</div>")
            out.append("</details>")
    out.append("</body></html>")
    return "\n".join(out)


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
