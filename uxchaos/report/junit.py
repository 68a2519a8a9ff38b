"""junit.xml for CI systems: one testcase per expectation and one per failed attempt."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from uxchaos.analysis import Analysis
from uxchaos.report.data import RunData


def render_junit(run: RunData, analysis: Analysis) -> str:
    name = str(run.meta.get("scenario", {}).get("name", "scenario"))
    suite = ET.Element("testsuite", name=f"uxchaos.{name}")
    failures = 0
    for e in analysis.expectations:
        case = ET.SubElement(suite, "testcase", classname=f"uxchaos.{name}.expect", name=e.text)
        if not e.passed:
            failures += 1
            measured = ", ".join(f"{k} = {v}" for k, v in e.values.items()) or e.message
            ET.SubElement(case, "failure", message=f"expectation failed: {e.text}").text = measured
    for s in run.samples:
        if s.ok:
            continue
        failures += 1
        case = ET.SubElement(suite, "testcase", classname=f"uxchaos.{name}.{s.phase}",
                             name=f"attempt {s.attempt}: {s.failed_action or '?'}")
        ET.SubElement(case, "failure", message=s.failure or "failed").text = s.failure or ""
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
