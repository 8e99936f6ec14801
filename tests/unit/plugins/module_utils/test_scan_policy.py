# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scan policy: defaults, validation and evaluation of findings."""

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_policy import (
    ACTIONS,
    DEFAULT_POLICY,
    SEVERITIES,
    PolicyError,
    build_policy,
    evaluate,
    summary,
)


def finding(severity, ident="CVE-2099-0001", package="hello"):
    return {"id": ident, "severity": severity, "package": package}


def test_default_policy_is_the_documented_one():
    assert build_policy() == {
        "CRITICAL": "block",
        "HIGH": "warn",
        "MEDIUM": "inform",
        "LOW": "ignore",
        "UNKNOWN": "inform",
    }
    assert build_policy({}) == DEFAULT_POLICY


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"HIGH": "block"}, dict(DEFAULT_POLICY, HIGH="block")),
        ({"high": "Block"}, dict(DEFAULT_POLICY, HIGH="block")),
        ({" low ": " warn "}, dict(DEFAULT_POLICY, LOW="warn")),
        ({"CRITICAL": "warn", "UNKNOWN": "ignore"},
         dict(DEFAULT_POLICY, CRITICAL="warn", UNKNOWN="ignore")),
        (dict((s, "ignore") for s in SEVERITIES), dict((s, "ignore") for s in SEVERITIES)),
    ],
)
def test_overrides_replace_only_the_severities_they_name(overrides, expected):
    assert build_policy(overrides) == expected


def test_overrides_do_not_change_the_defaults():
    build_policy({"CRITICAL": "ignore"})
    assert DEFAULT_POLICY["CRITICAL"] == "block"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"SEVERE": "block"},
         "unknown severity 'SEVERE' in the scan policy: use CRITICAL, HIGH, MEDIUM, LOW or "
         "UNKNOWN."),
        ({"HIGH": "stop"},
         "unknown action 'stop' for HIGH in the scan policy: use block, warn, inform or "
         "ignore."),
        ({"low": None},
         "unknown action 'None' for LOW in the scan policy: use block, warn, inform or ignore."),
        ({"MEDIUM": True},
         "unknown action 'True' for MEDIUM in the scan policy: use block, warn, inform or "
         "ignore."),
        (["CRITICAL"], "the scan policy must be a mapping of severity to action, not list."),
    ],
)
def test_invalid_policies_are_refused_in_one_sentence(overrides, message):
    with pytest.raises(PolicyError) as error:
        build_policy(overrides)
    assert str(error.value) == message
    assert str(error.value).count(". ") == 0 and str(error.value).endswith(".")


@pytest.mark.parametrize(
    "severities, policy, counts, actions, blocked, warned",
    [
        ([], {}, {}, {}, False, False),
        (["CRITICAL"], {}, {"CRITICAL": 1}, {"block": 1}, True, False),
        (["HIGH", "HIGH", "LOW"], {}, {"HIGH": 2, "LOW": 1}, {"warn": 2, "ignore": 1},
         False, True),
        (["MEDIUM", "UNKNOWN"], {}, {"MEDIUM": 1, "UNKNOWN": 1}, {"inform": 2}, False, False),
        (["CRITICAL", "HIGH"], {"CRITICAL": "ignore"}, {"CRITICAL": 1, "HIGH": 1},
         {"ignore": 1, "warn": 1}, False, True),
        (["LOW"], {"LOW": "block"}, {"LOW": 1}, {"block": 1}, True, False),
    ],
)
def test_evaluation_counts_and_decides(severities, policy, counts, actions, blocked, warned):
    findings = [finding(s, "CVE-2099-%04d" % i) for i, s in enumerate(severities)]
    result = evaluate(findings, build_policy(policy))
    assert result["counts"] == dict(dict((s, 0) for s in SEVERITIES), **counts)
    assert result["actions"] == dict(dict((a, 0) for a in ACTIONS), **actions)
    assert result["blocked"] is blocked
    assert result["warned"] is warned
    assert len(result["findings"]) == len(findings)
    assert [f["action"] for f in result["blocked_findings"]] == ["block"] * actions.get("block", 0)
    assert [f["action"] for f in result["warned_findings"]] == ["warn"] * actions.get("warn", 0)


def test_evaluation_keeps_findings_and_order_and_does_not_mutate_them():
    findings = [finding("LOW", "CVE-B"), finding("CRITICAL", "CVE-A")]
    result = evaluate(findings, DEFAULT_POLICY)
    assert [f["id"] for f in result["findings"]] == ["CVE-B", "CVE-A"]
    assert result["findings"][1] == dict(findings[1], action="block")
    assert "action" not in findings[1]


def test_evaluation_refuses_a_severity_it_does_not_know():
    with pytest.raises(PolicyError, match="finding CVE-X has severity 'SEVERE'"):
        evaluate([finding("SEVERE", "CVE-X")], DEFAULT_POLICY)


def test_summary_lists_every_severity_most_severe_first():
    counts = {"CRITICAL": 1, "HIGH": 2}
    assert summary(counts, DEFAULT_POLICY) == (
        "1 CRITICAL (block), 2 HIGH (warn), 0 MEDIUM (inform), 0 LOW (ignore), "
        "0 UNKNOWN (inform)"
    )
