"""The JUnit XML report of a policy test run, the format CI systems read: one
``<testsuite>``, one ``<testcase>`` per case (its test file as the class name, with
``file`` and ``line``), a ``<failure>`` per failing case, an ``<error>`` per load problem.
Pure: a ``SuiteOutcome`` in, bytes out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from engine.policy_tests.suite import SuiteOutcome

SUITE_NAME = "turnout policy tests"


def junit_xml(outcome: SuiteOutcome, directory: str) -> bytes:
    failures = len(outcome.failed)
    root = ET.Element("testsuites", tests=str(len(outcome.results)), failures=str(failures))
    suite = ET.SubElement(
        root,
        "testsuite",
        name=SUITE_NAME,
        tests=str(len(outcome.results) + len(outcome.errors)),
        failures=str(failures),
        errors=str(len(outcome.errors)),
        skipped="0",
    )
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="policy_directory", value=directory)
    for problem in outcome.errors:
        case = ET.SubElement(suite, "testcase", classname=problem.file, name=f"load {problem.file}")
        case.set("file", problem.file)
        case.set("line", str(problem.line))
        error = ET.SubElement(case, "error", message=problem.message, type="load_error")
        error.text = str(problem)
    for result in outcome.results:
        case = ET.SubElement(suite, "testcase", classname=result.case.file, name=result.case.name)
        case.set("file", result.case.file)
        case.set("line", str(result.case.line))
        if not result.passed:
            first = result.mismatches[0]
            failure = ET.SubElement(
                case, "failure", message=f"{first.what}: expected {first.expected}, got {first.got}", type="mismatch"
            )
            details = [f"{m.what}: expected {m.expected}, got {m.got}" for m in result.mismatches]
            said = result.got.describe()
            if all(m.got != said for m in result.mismatches):
                details.append(said)
            failure.text = "\n".join([f"{result.case.where}: {result.case.name}", *details])
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
