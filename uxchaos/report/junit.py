"""junit.xml for CI systems: one testcase per expectation and one per failed attempt. Playwright traces
kept in the run folder are named in <system-out> (a failed attempt's in its testcase, all of them in the
suite's), as `[[ATTACHMENT|path]]` lines, the form CI attachment plugins pick up."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from uxchaos.analysis.summary import Analysis
from uxchaos.report.markdown import traces
from uxchaos.results.rundata import RunData


def _attachment(run: RunData, file: str) -> str:
    return f"[[ATTACHMENT|{run.run_dir / file if run.run_dir is not None else file}]]"


def render_junit(run: RunData, analysis: Analysis) -> str:
    name = str(run.meta.get("scenario", {}).get("name", "scenario"))
    kept = {t["file"] for t in traces(run)}
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
        trace = s.captured.trace
        if trace in kept:
            ET.SubElement(case, "system-out").text = f"Playwright trace: {trace}\n{_attachment(run, trace)}\n"
    if kept:
        ET.SubElement(suite, "system-out").text = "".join(
            f"Playwright trace ({t['phase']} #{t['attempt']}, {t['what']}): {t['file']}\n"
            f"{_attachment(run, t['file'])}\n" for t in traces(run))
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
