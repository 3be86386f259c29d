"""XPath 1.0 over the section log: `Assertions` (toolkit engine/Validator.run_test_assertion), and the
string / boolean helpers `Report` and `UseXPath` use (XPath 1.0 §4.2 string(), §4.3 boolean()).
"""

from __future__ import annotations

import math

from lxml import etree


def xpath_true(doc: etree._Element, expr: str) -> bool:
    """XPath 1.0 boolean() of an expression's result."""
    result = doc.xpath(expr)
    if isinstance(result, bool):
        return result
    if isinstance(result, float):
        return result != 0 and not math.isnan(result)
    if isinstance(result, str):
        return bool(result)
    return bool(result)


def xpath_string(doc: etree._Element, expr: str) -> str:
    """XPath 1.0 string() of an expression's result (first node's string value)."""
    result = doc.xpath(expr)
    if isinstance(result, list):
        if not result:
            return ""
        first = result[0]
        if isinstance(first, etree._Element):
            return "".join(first.itertext())
        return str(first)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return str(int(result)) if result.is_integer() else str(result)
    return str(result)


def grade_assertions(assertions: list[tuple[str, str]], log: etree._Element) -> list[str]:
    failures = []
    for aid, expr in assertions:
        try:
            ok = xpath_true(log, expr)
        except etree.XPathError as exc:
            failures.append(f"assertion {aid}: invalid XPath ({exc})")
            continue
        if not ok:
            failures.append(f"assertion {aid} is false: {' '.join(expr.split())}")
    return failures


