# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scan policy: what a finding of each severity does to the build.

A policy maps each severity to one action:

- ``block``: the image must not ship; the scan gate fails.
- ``warn``: the image may ship, but the finding is shown as a warning and a test failure.
- ``inform``: the finding is counted and reported, nothing more.
- ``ignore``: the finding is counted only.
"""

from __future__ import annotations

# Most severe first, the order used in messages and reports.
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
ACTIONS = ("block", "warn", "inform", "ignore")

DEFAULT_POLICY = {
    "CRITICAL": "block",
    "HIGH": "warn",
    "MEDIUM": "inform",
    "LOW": "ignore",
    "UNKNOWN": "inform",
}


class PolicyError(ValueError):
    """A scan policy that names an unknown severity or action."""


def build_policy(overrides=None):
    """The default policy with ``overrides`` (severity -> action) applied, validated.

    Severities are matched without regard to case, as are actions. Severities the
    overrides do not name keep their default action.
    """
    policy = dict(DEFAULT_POLICY)
    if overrides is None:
        return policy
    if not isinstance(overrides, dict):
        raise PolicyError(
            "the scan policy must be a mapping of severity to action, not %s."
            % type(overrides).__name__
        )
    for severity, action in overrides.items():
        key = str(severity).strip().upper()
        if key not in SEVERITIES:
            raise PolicyError(
                "unknown severity '%s' in the scan policy: use %s."
                % (severity, _choices(SEVERITIES))
            )
        value = str(action).strip().lower() if isinstance(action, str) else action
        if value not in ACTIONS:
            raise PolicyError(
                "unknown action '%s' for %s in the scan policy: use %s."
                % (action, key, _choices(ACTIONS))
            )
        policy[key] = value
    return policy


def evaluate(findings, policy):
    """Apply a policy to findings.

    Each finding is a mapping with at least ``severity``. Returns a dict with:

    - ``findings``: copies of the findings, each with its ``action`` added;
    - ``counts``: number of findings per severity (every severity present, zero or more);
    - ``actions``: number of findings per action;
    - ``blocked`` / ``warned``: whether any finding is blocked / warned about;
    - ``blocked_findings`` / ``warned_findings``: those findings.
    """
    counts = dict((severity, 0) for severity in SEVERITIES)
    actions = dict((action, 0) for action in ACTIONS)
    decided = []
    for finding in findings:
        severity = finding.get("severity")
        if severity not in policy:
            # Parsers reject unknown severities; this guards direct callers all the same.
            raise PolicyError(
                "finding %s has severity '%s', which the scan policy does not know."
                % (finding.get("id", "?"), severity)
            )
        action = policy[severity]
        counts[severity] += 1
        actions[action] += 1
        item = dict(finding)
        item["action"] = action
        decided.append(item)
    blocked_findings = [f for f in decided if f["action"] == "block"]
    warned_findings = [f for f in decided if f["action"] == "warn"]
    return {
        "findings": decided,
        "counts": counts,
        "actions": actions,
        "blocked": bool(blocked_findings),
        "warned": bool(warned_findings),
        "blocked_findings": blocked_findings,
        "warned_findings": warned_findings,
    }


def summary(counts, policy):
    """Counts as one phrase, most severe first: '1 CRITICAL (block), 2 HIGH (warn), ...'."""
    return ", ".join(
        "%d %s (%s)" % (counts.get(severity, 0), severity, policy[severity])
        for severity in SEVERITIES
    )


def _choices(values):
    return ", ".join(values[:-1]) + " or " + values[-1]
