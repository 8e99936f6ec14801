# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read trivy's JSON report and write it again as SARIF 2.1.0 and JUnit XML.

Reading fails closed: a report this code does not fully understand raises ReportError,
it is never taken for a clean scan.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not a supported target
    from urllib import quote

from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_policy import (
    SEVERITIES,
)

SCHEMA_VERSION = 2
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TRIVY_URI = "https://github.com/aquasecurity/trivy"

# SARIF levels and GitHub's security-severity scores for each action and severity.
SARIF_LEVELS = {"block": "error", "warn": "warning", "inform": "note", "ignore": "none"}
SECURITY_SEVERITY = {
    "CRITICAL": "9.5",
    "HIGH": "8.0",
    "MEDIUM": "5.5",
    "LOW": "2.0",
    "UNKNOWN": "0.0",
}

# Finding kinds a report may hold besides vulnerabilities; a report holding any is refused.
# Limitation: secrets, misconfigurations and licenses are not evaluated; lifting it needs a
# finding shape for each (no package, no fixed version) and scanners to choose from.
UNSUPPORTED_KINDS = ("Misconfigurations", "Secrets", "Licenses")

# XML 1.0 forbids most control characters, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ReportError(ValueError):
    """A trivy report that cannot be read with certainty."""


def parse_trivy_json(text):
    """Parse trivy's ``--format json`` output into the artifact, its targets and findings.

    Returns a dict with ``artifact`` (name), ``artifact_type``, ``image_id``,
    ``repo_digests``, ``os`` ("debian 12.5", or "" when trivy detected none), ``eosl``,
    ``targets`` (one dict per result: target, class, type, vulnerabilities) and
    ``findings`` (see normalise_vulnerability). Raises ReportError for anything else.
    """
    try:
        report = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ReportError("trivy's output is not valid JSON (%s)." % exc)
    if not isinstance(report, dict):
        raise ReportError(
            "trivy's output is a JSON %s, not the report object expected."
            % type(report).__name__
        )
    schema = report.get("SchemaVersion")
    if schema != SCHEMA_VERSION:
        raise ReportError(
            "trivy's report has schema version %r, and only version %d is understood."
            % (schema, SCHEMA_VERSION)
        )
    artifact = _text(report, "ArtifactName", "the report", required=True)
    metadata = _mapping(report.get("Metadata"), "the report's Metadata")
    os_info = _mapping(metadata.get("OS"), "the report's Metadata.OS")
    results = report.get("Results")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise ReportError(
            "trivy's report has Results of type %s, not a list." % type(results).__name__
        )
    targets, findings = [], []
    for index, result in enumerate(results):
        where = "result %d" % index
        if not isinstance(result, dict):
            raise ReportError("trivy's report has a %s that is not an object." % where)
        target = _text(result, "Target", where, required=True)
        for kind in UNSUPPORTED_KINDS:
            if result.get(kind):
                raise ReportError(
                    "trivy's report lists %s for %s, which this module does not evaluate: "
                    "scan with vulnerability scanning only." % (kind, target)
                )
        vulnerabilities = result.get("Vulnerabilities")
        if vulnerabilities is None:
            vulnerabilities = []
        if not isinstance(vulnerabilities, list):
            raise ReportError("trivy's report has Vulnerabilities for %s that are not a list."
                              % target)
        for position, vulnerability in enumerate(vulnerabilities):
            findings.append(
                normalise_vulnerability(vulnerability, target, "%s, vulnerability %d"
                                        % (target, position))
            )
        targets.append(
            {
                "target": target,
                "class": _text(result, "Class", target),
                "type": _text(result, "Type", target),
                "vulnerabilities": len(vulnerabilities),
            }
        )
    family = _text(os_info, "Family", "Metadata.OS")
    name = _text(os_info, "Name", "Metadata.OS")
    if family and not any(t["class"] == "os-pkgs" for t in targets):
        # trivy recognised the OS but could not look at its packages (an unsupported
        # release, say): a report without them would read as a clean image.
        raise ReportError(
            "trivy detected %s in %s but reported no OS packages, so its vulnerabilities "
            "were not looked for." % (("%s %s" % (family, name)).strip(), artifact or "the image")
        )
    digests = metadata.get("RepoDigests") or []
    if not isinstance(digests, list):
        raise ReportError("trivy's report has Metadata.RepoDigests that are not a list.")
    return {
        "artifact": artifact,
        "artifact_type": _text(report, "ArtifactType", "the report"),
        "image_id": _text(metadata, "ImageID", "Metadata"),
        "repo_digests": [str(d) for d in digests],
        "os": ("%s %s" % (family, name)).strip(),
        "eosl": bool(os_info.get("EOSL")),
        "targets": targets,
        "findings": findings,
    }


def normalise_vulnerability(vulnerability, target, where="a vulnerability"):
    """One trivy vulnerability as a finding.

    A finding has ``id``, ``package``, ``installed_version``, ``fixed_version`` ("" when
    unfixed), ``status`` (trivy's: fixed, affected, will_not_fix, ...), ``severity``,
    ``title``, ``target``, ``package_path`` (language packages; "" for OS packages) and
    ``url``.
    """
    if not isinstance(vulnerability, dict):
        raise ReportError("trivy's report has an entry in %s that is not an object." % where)
    severity = _text(vulnerability, "Severity", where, required=True)
    if severity not in SEVERITIES:
        raise ReportError(
            "trivy's report gives %s the severity '%s', which is none of %s."
            % (where, severity, ", ".join(SEVERITIES))
        )
    title = _text(vulnerability, "Title", where)
    if not title:
        description = _text(vulnerability, "Description", where).strip()
        title = description.splitlines()[0][:200] if description else ""
    return {
        "id": _text(vulnerability, "VulnerabilityID", where, required=True),
        "package": _text(vulnerability, "PkgName", where, required=True),
        "installed_version": _text(vulnerability, "InstalledVersion", where),
        "fixed_version": _text(vulnerability, "FixedVersion", where),
        "status": _text(vulnerability, "Status", where),
        "severity": severity,
        "title": title,
        "target": target,
        "package_path": _text(vulnerability, "PkgPath", where),
        "url": _text(vulnerability, "PrimaryURL", where),
    }


def report_name(subject, label=None):
    """A file name stem for the reports on one image or archive.

    Readable, safe in a path, and distinct for distinct subjects: a short hash of the
    subject follows its legible form (``label``, by default the subject itself), since
    different references can read alike.
    """
    legible = re.sub(r"[^A-Za-z0-9._-]+", "_", label or subject).strip("._-")[:100]
    legible = legible or "image"
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:8]
    return "%s-%s" % (legible, digest)


def to_sarif(parsed, evaluation, trivy_version):
    """A SARIF 2.1.0 log (as a dict) of the evaluated findings of one scan."""
    rules, rule_index, results = [], {}, []
    for finding in evaluation["findings"]:
        rule_id = finding["id"]
        if rule_id not in rule_index:
            rule_index[rule_id] = len(rules)
            rules.append(_sarif_rule(finding))
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": rule_index[rule_id],
                "level": SARIF_LEVELS[finding["action"]],
                "message": {"text": _finding_text(finding)},
                "locations": [_sarif_location(parsed, finding)],
                "properties": {
                    "severity": finding["severity"],
                    "action": finding["action"],
                    "package": finding["package"],
                    "installedVersion": finding["installed_version"],
                    "fixedVersion": finding["fixed_version"],
                    "target": finding["target"],
                },
            }
        )
    run = {
        "tool": {
            "driver": {
                "name": "Trivy",
                "fullName": "Trivy Vulnerability Scanner",
                "version": trivy_version,
                "informationUri": TRIVY_URI,
                "rules": rules,
            }
        },
        "invocations": [{"executionSuccessful": True}],
        "results": results,
        "columnKind": "utf16CodeUnits",
        "properties": {
            "artifactName": parsed["artifact"],
            "artifactType": parsed["artifact_type"],
            "imageID": parsed["image_id"],
            "repoDigests": parsed["repo_digests"],
            "os": parsed["os"],
            "counts": evaluation["counts"],
            "blocked": evaluation["blocked"],
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def to_junit(parsed, evaluation):
    """JUnit XML (bytes, UTF-8) of the evaluated findings: one test case per finding.

    Findings the policy blocks or warns about are failures, ignored ones are skipped and
    the rest pass. Each target (OS packages, each language's packages) is a test suite;
    a target without findings holds one passing test case, so that no suite is empty.
    """
    artifact = parsed["artifact"]
    root = ET.Element("testsuites", name="trivy %s" % _xml_text(artifact))
    by_target = dict((t["target"], []) for t in parsed["targets"])
    for finding in evaluation["findings"]:
        by_target.setdefault(finding["target"], []).append(finding)
    if not by_target:
        by_target[artifact] = []
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for target, findings in by_target.items():
        suite = ET.SubElement(root, "testsuite", name=_xml_text(target))
        classname = "trivy." + re.sub(r"[^A-Za-z0-9_-]+", "_", target).strip("_")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for finding in findings:
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=_xml_text(_case_name(finding)),
                time="0",
            )
            action = finding["action"]
            detail = _xml_text(_finding_detail(finding))
            if action in ("block", "warn"):
                verdict = "blocked" if action == "block" else "warned about"
                failure = ET.SubElement(
                    case, "failure", type=finding["severity"],
                    message=_xml_text("%s: %s by the scan policy"
                                      % (_finding_text(finding), verdict)),
                )
                failure.text = detail
                counts["failures"] += 1
            elif action == "ignore":
                ET.SubElement(
                    case, "skipped",
                    message="%s findings are ignored by the scan policy" % finding["severity"],
                )
                counts["skipped"] += 1
            else:
                ET.SubElement(case, "system-out").text = detail
            counts["tests"] += 1
        if not findings:
            ET.SubElement(suite, "testcase", classname=classname, time="0",
                          name="no vulnerabilities found")
            counts["tests"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    _indent(root)
    return ET.tostring(root, encoding="utf-8")


def _sarif_rule(finding):
    return {
        "id": finding["id"],
        "name": "OsPackageVulnerability" if not finding["package_path"]
        else "LanguagePackageVulnerability",
        "shortDescription": {"text": finding["title"] or finding["id"]},
        "fullDescription": {"text": finding["title"] or finding["id"]},
        "defaultConfiguration": {"level": SARIF_LEVELS[finding["action"]]},
        "helpUri": finding["url"] or TRIVY_URI,
        "help": {"text": _finding_detail(finding)},
        "properties": {
            "precision": "very-high",
            "security-severity": SECURITY_SEVERITY[finding["severity"]],
            "tags": ["vulnerability", "security", finding["severity"]],
        },
    }


def _sarif_location(parsed, finding):
    # OS packages have no file of their own: trivy's convention is the image name.
    where = finding["package_path"] or parsed["artifact"]
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": quote(where.lstrip("/"), safe="/-._~")},
            "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1},
        },
        "message": {"text": "%s: %s@%s" % (finding["target"], finding["package"],
                                           finding["installed_version"])},
    }


def _case_name(finding):
    name = "[%s] %s %s %s" % (finding["severity"], finding["id"], finding["package"],
                              finding["installed_version"])
    if finding["package_path"]:
        name += " (%s)" % finding["package_path"]
    return name


def _finding_text(finding):
    fixed = finding["fixed_version"]
    return "%s %s in %s %s (%s)" % (
        finding["severity"], finding["id"], finding["package"], finding["installed_version"],
        "fixed in %s" % fixed if fixed else "no fix available",
    )


def _finding_detail(finding):
    lines = [
        "Vulnerability: %s" % finding["id"],
        "Severity: %s (scan policy: %s)" % (finding["severity"], finding["action"]),
        "Package: %s" % finding["package"],
        "Installed version: %s" % finding["installed_version"],
        "Fixed version: %s" % (finding["fixed_version"] or "none"),
        "Target: %s" % finding["target"],
    ]
    if finding["package_path"]:
        lines.append("Path: %s" % finding["package_path"])
    if finding["title"]:
        lines.append("Title: %s" % finding["title"])
    if finding["url"]:
        lines.append("Link: %s" % finding["url"])
    return "\n".join(lines)


def _xml_text(value):
    return _XML_INVALID.sub("?", value)


def _indent(element, level=0):
    # ElementTree.indent exists from Python 3.9 only; targets may run 3.8.
    pad = "\n" + "  " * level
    if len(element):
        if not (element.text or "").strip():
            element.text = pad + "  "
        for child in element:
            _indent(child, level + 1)
        if not (child.tail or "").strip():
            child.tail = pad
    if level and not (element.tail or "").strip():
        element.tail = pad


def _mapping(value, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReportError("trivy's report has %s that is not an object." % where)
    return value


def _text(container, key, where, required=False):
    value = container.get(key)
    if value is None or value == "":
        if required:
            raise ReportError("trivy's report has no %s in %s." % (key, where))
        return ""
    if not isinstance(value, str):
        raise ReportError(
            "trivy's report has a value of %s in %s that is not a string." % (key, where)
        )
    return value
