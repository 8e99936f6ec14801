# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading trivy's JSON (failing closed) and writing SARIF 2.1.0 and JUnit XML.

The conversions run on trivy's real output, captured into tests/unit/fixtures/trivy/ from
scans of the lab's images against the lab's planted advisories.
"""

import copy
import json
import pathlib
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_policy import (
    SEVERITIES,
    build_policy,
    evaluate,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_reports import (
    ReportError,
    parse_trivy_json,
    report_name,
    to_junit,
    to_sarif,
)

FIXTURES = sorted((pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "trivy").glob(
    "*.json"))
POLICIES = [
    {},
    {"CRITICAL": "warn", "HIGH": "block", "MEDIUM": "ignore", "LOW": "inform"},
    dict((s, "ignore") for s in SEVERITIES),
]


def vulnerability(**overrides):
    """A vulnerability as trivy 0.76 reports it for a Debian package."""
    entry = {
        "VulnerabilityID": "CVE-2099-0001",
        "PkgID": "hello@2.10-3",
        "PkgName": "hello",
        "PkgIdentifier": {"PURL": "pkg:deb/debian/hello@2.10-3?arch=amd64", "UID": "5ed8"},
        "InstalledVersion": "2.10-3",
        "FixedVersion": "2.10-3+lab1",
        "Status": "fixed",
        "Layer": {"DiffID": "sha256:" + "1" * 64},
        "SeveritySource": "debian",
        "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2099-0001",
        "Title": "hello: planted lab advisory, not a real vulnerability",
        "Description": "Planted in the lab.",
        "Severity": "CRITICAL",
        "VendorSeverity": {"debian": 4},
    }
    entry.update(overrides)
    return dict((k, v) for k, v in entry.items() if v is not None)


def report(vulnerabilities=None, **overrides):
    """A report shaped as trivy 0.76 writes it, for one image with one OS target."""
    data = {
        "SchemaVersion": 2,
        "Trivy": {"Version": "0.76.0"},
        "CreatedAt": "2026-12-03T19:18:44.921725709Z",
        "ArtifactName": "app:1",
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.15"},
            "ImageID": "sha256:" + "4" * 64,
            "RepoTags": ["app:1"],
            "RepoDigests": ["127.0.0.1:5443/app@sha256:" + "5" * 64],
        },
        "Results": [
            {
                "Target": "app:1 (debian 12.15)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [vulnerability()] if vulnerabilities is None
                else vulnerabilities,
            }
        ],
    }
    data.update(overrides)
    return data


# --- reading ---------------------------------------------------------------------------


def test_a_report_is_read_into_artifact_targets_and_findings():
    parsed = parse_trivy_json(json.dumps(report()))
    assert parsed["artifact"] == "app:1"
    assert parsed["artifact_type"] == "container_image"
    assert parsed["os"] == "debian 12.15"
    assert parsed["eosl"] is False
    assert parsed["image_id"] == "sha256:" + "4" * 64
    assert parsed["targets"] == [
        {"target": "app:1 (debian 12.15)", "class": "os-pkgs", "type": "debian",
         "vulnerabilities": 1}
    ]
    assert parsed["findings"] == [
        {
            "id": "CVE-2099-0001",
            "package": "hello",
            "installed_version": "2.10-3",
            "fixed_version": "2.10-3+lab1",
            "status": "fixed",
            "severity": "CRITICAL",
            "title": "hello: planted lab advisory, not a real vulnerability",
            "target": "app:1 (debian 12.15)",
            "package_path": "",
            "url": "https://avd.aquasec.com/nvd/cve-2099-0001",
        }
    ]


@pytest.mark.parametrize(
    "changes, expected",
    [
        # Unfixed: trivy leaves FixedVersion out.
        (dict(FixedVersion=None, Status="affected"),
         dict(fixed_version="", status="affected")),
        # No title: the first line of the description stands in.
        (dict(Title=None, Description="First line.\nSecond line."), dict(title="First line.")),
        (dict(Title=None, Description=None), dict(title="")),
        # A language package carries the file it was found in.
        (dict(PkgPath="usr/lib/node_modules/npm/package.json"),
         dict(package_path="usr/lib/node_modules/npm/package.json")),
        (dict(Severity="UNKNOWN"), dict(severity="UNKNOWN")),
    ],
)
def test_optional_fields(changes, expected):
    parsed = parse_trivy_json(json.dumps(report([vulnerability(**changes)])))
    for key, value in expected.items():
        assert parsed["findings"][0][key] == value


@pytest.mark.parametrize(
    "results,os_info",
    [
        (None, None),
        ([], None),
        ([{"Target": "app:1 (debian 12.15)", "Class": "os-pkgs", "Type": "debian"}],
         {"Family": "debian", "Name": "12.15"}),
    ],
)
def test_nothing_found_is_an_empty_list_of_findings(results, os_info):
    data = report()
    data["Metadata"]["OS"] = os_info
    if results is None:
        del data["Results"]
    else:
        data["Results"] = results
    parsed = parse_trivy_json(json.dumps(data))
    assert parsed["findings"] == []
    assert len(parsed["targets"]) == len(results or [])


@pytest.mark.parametrize("results", [None, []])
def test_a_detected_os_without_its_packages_is_refused(results):
    """An OS trivy recognised but whose packages it did not report must not read as clean."""
    data = report()
    if results is None:
        del data["Results"]
    else:
        data["Results"] = results
    with pytest.raises(ReportError, match="detected debian 12.15 in app:1 but reported no OS"):
        parse_trivy_json(json.dumps(data))


def _mutate(path, value):
    """A report with the value at path (keys and indexes) replaced, or removed for ...."""
    data = report()
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is Ellipsis:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(data)


VULN = ("Results", 0, "Vulnerabilities", 0)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "trivy's output is not valid JSON (Expecting value: line 1 column 1 (char 0))."),
        ("{\"SchemaVersion\": 2,", "trivy's output is not valid JSON"),
        ("2026-12-03T19:18:44Z\tINFO\tDetected OS", "trivy's output is not valid JSON"),
        ("[]", "trivy's output is a JSON list, not the report object expected."),
        ("null", "trivy's output is a JSON NoneType, not the report object expected."),
        (_mutate(("SchemaVersion",), 3),
         "trivy's report has schema version 3, and only version 2 is understood."),
        (_mutate(("SchemaVersion",), Ellipsis),
         "trivy's report has schema version None, and only version 2 is understood."),
        (_mutate(("ArtifactName",), Ellipsis), "trivy's report has no ArtifactName"),
        (_mutate(("Metadata",), []), "trivy's report has the report's Metadata that is not"),
        (_mutate(("Results",), {}), "trivy's report has Results of type dict, not a list."),
        (_mutate(("Results", 0), "x"), "trivy's report has a result 0 that is not an object."),
        (_mutate(("Results", 0, "Target"), Ellipsis), "trivy's report has no Target in result 0"),
        (_mutate(("Results", 0, "Vulnerabilities"), {}),
         "trivy's report has Vulnerabilities for app:1 (debian 12.15) that are not a list."),
        (_mutate(VULN, "CVE-1"), "that is not an object."),
        (_mutate(VULN + ("Severity",), "SEVERE"),
         "trivy's report gives app:1 (debian 12.15), vulnerability 0 the severity 'SEVERE', "
         "which is none of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN."),
        (_mutate(VULN + ("Severity",), "critical"), "the severity 'critical'"),
        (_mutate(VULN + ("Severity",), Ellipsis), "trivy's report has no Severity in"),
        (_mutate(VULN + ("VulnerabilityID",), Ellipsis), "has no VulnerabilityID in"),
        (_mutate(VULN + ("VulnerabilityID",), ""), "has no VulnerabilityID in"),
        (_mutate(VULN + ("PkgName",), Ellipsis), "has no PkgName in"),
        (_mutate(VULN + ("InstalledVersion",), 2.10), "has a value of InstalledVersion in"),
        (_mutate(("Results", 0, "Secrets"), [{"RuleID": "aws-access-key-id"}]),
         "trivy's report lists Secrets for app:1 (debian 12.15), which this module does not "
         "evaluate: scan with vulnerability scanning only."),
        (_mutate(("Results", 0, "Misconfigurations"), [{"ID": "DS002"}]),
         "lists Misconfigurations"),
        (_mutate(("Results", 0, "Licenses"), [{"Name": "GPL-3.0"}]), "lists Licenses"),
    ],
)
def test_anything_unexpected_fails_closed(text, message):
    with pytest.raises(ReportError) as error:
        parse_trivy_json(text)
    assert message in str(error.value)
    assert str(error.value).startswith("trivy's ") and str(error.value).endswith(".")


# --- report names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject, label, expected",
    [
        ("127.0.0.1:5443/lab/debian:12", None, r"^127\.0\.0\.1_5443_lab_debian_12-[0-9a-f]{8}$"),
        ("app@sha256:" + "a" * 64, None, r"^app_sha256_a{64}-[0-9a-f]{8}$"),
        ("/tmp/x/ecc poller.tar", "ecc poller", r"^ecc_poller-[0-9a-f]{8}$"),
        ("../..", None, r"^image-[0-9a-f]{8}$"),
        ("x" * 300, None, r"^x{100}-[0-9a-f]{8}$"),
    ],
)
def test_report_names_are_legible_and_safe(subject, label, expected):
    assert re.match(expected, report_name(subject, label))


def test_report_names_of_different_subjects_differ_even_when_they_read_alike():
    names = {report_name(s) for s in ("a/b:c", "a_b:c", "a/b_c", "a_b_c")}
    assert len(names) == 4
    assert report_name("a/b:c") == report_name("a/b:c")


# --- SARIF -----------------------------------------------------------------------------

_MESSAGE = {
    "type": "object",
    "properties": {"text": {"type": "string", "minLength": 1}},
    "required": ["text"],
    "additionalProperties": False,
}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
# The parts of the SARIF 2.1.0 schema (OASIS, sarif-schema-2.1.0.json) that these reports
# use, with its names, types, required members and enumerations; unknown members are
# refused, as the full schema refuses them.
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "pattern": "^https://"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "additionalProperties": False,
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "additionalProperties": False,
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "fullName": {"type": "string"},
                                    "version": {"type": "string"},
                                    "informationUri": {"type": "string", "pattern": "^https://"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "id": {"type": "string"},
                                                "name": {"type": "string"},
                                                "shortDescription": _MESSAGE,
                                                "fullDescription": _MESSAGE,
                                                "help": _MESSAGE,
                                                "helpUri": {"type": "string",
                                                            "pattern": "^https?://"},
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "additionalProperties": False,
                                                    "properties": {"level": _LEVEL},
                                                },
                                                "properties": {"type": "object"},
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {"executionSuccessful": {"type": "boolean"}},
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "additionalProperties": False,
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": _LEVEL,
                                "message": _MESSAGE,
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "properties": {
                                            "message": _MESSAGE,
                                            "physicalLocation": {
                                                "type": "object",
                                                "additionalProperties": False,
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                        "properties": {
                                                            "uri": {"type": "string"},
                                                        },
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "properties": dict(
                                                            (k, {"type": "integer",
                                                                 "minimum": 1})
                                                            for k in ("startLine", "startColumn",
                                                                      "endLine", "endColumn")
                                                        ),
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                                "properties": {"type": "object"},
                            },
                        },
                    },
                    "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                    "properties": {"type": "object"},
                },
            },
        },
    },
}
# RFC 3986 relative reference whose first segment has no colon, or an absolute URI.
_URI_REFERENCE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|[^:/?#]*(?:/|$)|/)[^\s]*$")


def check_sarif(sarif, evaluation):
    jsonschema.validate(sarif, SARIF_SUBSET)
    json.dumps(sarif)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    assert len(run["results"]) == len(evaluation["findings"])
    levels = {"block": "error", "warn": "warning", "inform": "note", "ignore": "none"}
    for result, finding in zip(run["results"], evaluation["findings"]):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding["id"]
        assert result["level"] == levels[finding["action"]]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert _URI_REFERENCE.match(uri) and " " not in uri, uri
    for rule in rules:
        assert float(rule["properties"]["security-severity"]) >= 0


def test_sarif_of_a_planted_critical():
    parsed = parse_trivy_json(json.dumps(report([
        vulnerability(),
        vulnerability(VulnerabilityID="CVE-2099-0002", PkgName="coreutils", Severity="HIGH"),
        vulnerability(VulnerabilityID="CVE-2099-0002", PkgName="coreutils-extra",
                      Severity="HIGH"),
        vulnerability(VulnerabilityID="CVE-2099-0004", PkgName="sed", Severity="LOW"),
    ])))
    evaluation = evaluate(parsed["findings"], build_policy())
    sarif = to_sarif(parsed, evaluation, "0.76.0")
    check_sarif(sarif, evaluation)
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["version"] == "0.76.0"
    assert [r["level"] for r in run["results"]] == ["error", "warning", "warning", "none"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0004"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "app%3A1"}
    assert run["properties"]["blocked"] is True


def test_sarif_of_a_clean_image_has_no_results():
    parsed = parse_trivy_json(json.dumps(report([])))
    evaluation = evaluate(parsed["findings"], build_policy())
    sarif = to_sarif(parsed, evaluation, "0.76.0")
    check_sarif(sarif, evaluation)
    assert sarif["runs"][0]["results"] == []


# --- JUnit -----------------------------------------------------------------------------


def check_junit(xml, parsed, evaluation):
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    findings = evaluation["findings"]
    failing = [f for f in findings if f["action"] in ("block", "warn")]
    ignored = [f for f in findings if f["action"] == "ignore"]
    empty_suites = [s for s in root.findall("testsuite")
                    if s.find("testcase/failure") is None and len(s) == 1
                    and s.find("testcase").get("name") == "no vulnerabilities found"]
    assert len(cases) == len(findings) + len(empty_suites)
    assert len(root.findall("./testsuite/testcase/failure")) == len(failing)
    assert len(root.findall("./testsuite/testcase/skipped")) == len(ignored)
    assert int(root.get("tests")) == len(cases)
    assert int(root.get("failures")) == len(failing)
    assert int(root.get("skipped")) == len(ignored)
    assert root.get("errors") == "0"
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests")) == len(suite.findall("testcase")) > 0
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))
    assert {s.get("name") for s in root.findall("testsuite")} >= {
        t["target"] for t in parsed["targets"]}
    for failure in root.findall("./testsuite/testcase/failure"):
        assert failure.get("type") in SEVERITIES
        assert failure.get("message").endswith("by the scan policy")
    return root


def test_junit_of_a_planted_critical():
    parsed = parse_trivy_json(json.dumps(report([
        vulnerability(),
        vulnerability(VulnerabilityID="CVE-2099-0002", PkgName="coreutils", Severity="HIGH"),
        vulnerability(VulnerabilityID="CVE-2099-0003", PkgName="gzip", Severity="MEDIUM",
                      FixedVersion=None),
        vulnerability(VulnerabilityID="CVE-2099-0004", PkgName="sed", Severity="LOW"),
    ])))
    evaluation = evaluate(parsed["findings"], build_policy())
    root = check_junit(to_junit(parsed, evaluation), parsed, evaluation)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "[CRITICAL] CVE-2099-0001 hello 2.10-3",
        "[HIGH] CVE-2099-0002 coreutils 2.10-3",
        "[MEDIUM] CVE-2099-0003 gzip 2.10-3",
        "[LOW] CVE-2099-0004 sed 2.10-3",
    ]
    assert cases[0].get("classname") == "trivy.app_1_debian_12_15"
    assert cases[0].find("failure").get("message") == (
        "CRITICAL CVE-2099-0001 in hello 2.10-3 (fixed in 2.10-3+lab1): blocked by the scan "
        "policy")
    assert cases[1].find("failure").get("message").endswith("warned about by the scan policy")
    assert "Fixed version: none" in cases[2].find("system-out").text
    assert cases[3].find("skipped") is not None


def test_junit_of_a_clean_image_still_has_a_test_case():
    parsed = parse_trivy_json(json.dumps(report([])))
    evaluation = evaluate([], build_policy())
    root = check_junit(to_junit(parsed, evaluation), parsed, evaluation)
    assert [c.get("name") for c in root.iter("testcase")] == ["no vulnerabilities found"]
    data = report(Results=None)
    data["Metadata"]["OS"] = None
    parsed = parse_trivy_json(json.dumps(data))
    root = check_junit(to_junit(parsed, evaluation), parsed, evaluation)
    assert root.find("testsuite").get("name") == "app:1"


def test_junit_survives_characters_xml_cannot_hold():
    parsed = parse_trivy_json(json.dumps(report([
        vulnerability(Title="bad \x01 title <&> \"quoted\" \u00e9"),
    ])))
    evaluation = evaluate(parsed["findings"], build_policy())
    root = ET.fromstring(to_junit(parsed, evaluation))
    assert "Title: bad ? title <&> \"quoted\" \u00e9" in root.find(".//failure").text


# --- trivy's real output ---------------------------------------------------------------


def test_real_trivy_fixtures_are_present():
    assert FIXTURES, "no captured trivy JSON in tests/unit/fixtures/trivy/"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
@pytest.mark.parametrize("policy", POLICIES, ids=["default", "shuffled", "ignore-all"])
def test_real_trivy_output_converts(fixture, policy):
    text = fixture.read_text()
    raw = json.loads(text)
    parsed = parse_trivy_json(text)
    expected = [
        (v["VulnerabilityID"], v["PkgName"], v["Severity"])
        for result in raw.get("Results") or []
        for v in result.get("Vulnerabilities") or []
    ]
    assert [(f["id"], f["package"], f["severity"]) for f in parsed["findings"]] == expected
    assert parsed["artifact"] == raw["ArtifactName"]
    evaluation = evaluate(parsed["findings"], build_policy(policy))
    assert sum(evaluation["counts"].values()) == len(expected)
    check_sarif(to_sarif(parsed, evaluation, raw["Trivy"]["Version"]), evaluation)
    check_junit(to_junit(parsed, evaluation), parsed, evaluation)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_real_trivy_output_survives_no_mutation_unnoticed(fixture):
    """Every vulnerability's severity changed to nonsense is caught, one at a time."""
    raw = json.loads(fixture.read_text())
    places = [
        (r, v)
        for r, result in enumerate(raw.get("Results") or [])
        for v in range(len(result.get("Vulnerabilities") or []))
    ]
    for r, v in places:
        mutated = copy.deepcopy(raw)
        mutated["Results"][r]["Vulnerabilities"][v]["Severity"] = "NEGLIGIBLE"
        with pytest.raises(ReportError):
            parse_trivy_json(json.dumps(mutated))


@pytest.mark.parametrize(
    "name, counts, blocked, failures, levels",
    [
        ("planted-critical.json", {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 2, "LOW": 1}, True, 2,
         ["error", "none", "note", "note", "warning"]),
        ("debian12-base.json", {"HIGH": 1, "MEDIUM": 2, "LOW": 1}, False, 1,
         ["none", "note", "note", "warning"]),
    ],
)
def test_captured_lab_scans_under_the_default_policy(name, counts, blocked, failures, levels):
    fixture = FIXTURES[0].parent / name
    parsed = parse_trivy_json(fixture.read_text())
    evaluation = evaluate(parsed["findings"], build_policy())
    assert evaluation["counts"] == dict(dict((s, 0) for s in SEVERITIES), **counts)
    assert evaluation["blocked"] is blocked and evaluation["warned"] is True
    assert parsed["os"].startswith("debian 12.")
    unfixed = [f for f in parsed["findings"] if not f["fixed_version"]]
    assert [(f["id"], f["package"], f["status"]) for f in unfixed] == [
        ("CVE-2099-0005", "bash", "affected")]
    sarif = to_sarif(parsed, evaluation, "0.76.0")
    assert sorted(r["level"] for r in sarif["runs"][0]["results"]) == levels
    root = ET.fromstring(to_junit(parsed, evaluation))
    assert int(root.get("failures")) == failures
    assert int(root.get("skipped")) == 1
