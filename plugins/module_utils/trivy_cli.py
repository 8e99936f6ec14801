# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The trivy command line: its version, the scan command, and what its errors mean."""

from __future__ import annotations

import json
import os
import re

from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_policy import (
    SEVERITIES,
)

# Releases published by the attackers of trivy's release pipeline in March 2026: the
# v0.69.4 binaries and the Docker Hub images 0.69.5 and 0.69.6.
COMPROMISED_VERSIONS = ((0, 69, 4), (0, 69, 6))

# Where Linux distributions keep the system's CA bundle.
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # SUSE
    "/etc/ssl/cert.pem",  # Alpine, macOS
)

STDERR_TAIL_LINES = 30

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_LOG_LINE = re.compile(r"^\S+\s+(DEBUG|INFO|WARN|ERROR|FATAL)\s+(.*)$")


class TrivyError(ValueError):
    """An answer from trivy that this module cannot use."""


def parse_version(output):
    """The version ("0.76.0") from ``trivy --version --format json``, or TrivyError."""
    try:
        data = json.loads(output)
        version = data["Version"]
    except (TypeError, ValueError, KeyError) as exc:
        raise TrivyError(
            "trivy --version did not print the JSON expected (%s)." % type(exc).__name__
        )
    if not isinstance(version, str) or not _VERSION.match(version):
        raise TrivyError("trivy --version gave '%s', which is not a version number." % version)
    return version.lstrip("v")


def version_tuple(version):
    match = _VERSION.match(version)
    if not match:
        raise TrivyError("'%s' is not a trivy version number." % version)
    return tuple(int(part) for part in match.groups())


def is_compromised(version):
    """Whether a version is one of the malicious releases of March 2026."""
    low, high = COMPROMISED_VERSIONS
    return low <= version_tuple(version) <= high


def scan_command(trivy, subject, archive=False, cache_dir=None, cache_backend="memory",
                 db_repository=None, skip_db_update=False, ignore_unfixed=False,
                 ignore_file=None, docker_host=None, timeout=300, output=None):
    """The argument vector of one ``trivy image`` scan that reports every severity as JSON.

    Exit code 0 whatever trivy finds: the policy decides, from the JSON. Options that
    trivy would otherwise read from the working directory (trivy.yaml, .trivyignore)
    are set explicitly, so that only the caller's options shape the result.
    """
    argv = [
        trivy, "image",
        "--format", "json",
        "--exit-code", "0",
        "--scanners", "vuln",
        "--severity", ",".join(reversed(SEVERITIES)),
        "--cache-backend", cache_backend,
        "--timeout", "%ds" % timeout,
        "--config", "",
        "--ignorefile", ignore_file or "",
        "--no-progress",
        "--skip-version-check",
        "--disable-telemetry",
    ]
    if archive:
        argv += ["--input", subject]
    else:
        argv += ["--image-src", "docker"]
        if docker_host:
            argv += ["--docker-host", docker_host]
    if cache_dir:
        argv += ["--cache-dir", cache_dir]
    # Limitation: images holding Java archives make trivy fetch its Java DB from the
    # internet; offline, that needs --java-db-repository to a mirror, not offered yet.
    if db_repository:
        argv += ["--db-repository", ",".join(db_repository)]
    if skip_db_update:
        argv.append("--skip-db-update")
    if ignore_unfixed:
        argv.append("--ignore-unfixed")
    if output:
        argv += ["--output", output]
    if not archive:
        argv.append(subject)
    return argv


def clean_environment(environ):
    """The environment for trivy: the caller's, without TRIVY_* settings.

    TRIVY_SEVERITY, TRIVY_IGNOREFILE, TRIVY_VEX and the like would change what the
    scan reports behind the module's back.
    """
    return dict((k, v) for k, v in environ.items() if not k.upper().startswith("TRIVY_"))


def stderr_tail(stderr, lines=STDERR_TAIL_LINES):
    """The last lines of trivy's log output."""
    return "\n".join((stderr or "").rstrip().splitlines()[-lines:])


def log_messages(stderr, levels=("FATAL", "ERROR")):
    """trivy's log messages of the given levels, oldest first, tabs made spaces."""
    messages, current = [], None
    for line in (stderr or "").splitlines():
        match = _LOG_LINE.match(line)
        if match:
            current = [match.group(2)] if match.group(1) in levels else None
            if current is not None:
                messages.append(current)
        elif current is not None and line.strip():
            # A multi-line message: trivy prints chained errors on the lines below.
            current.append(line)
    return [re.sub(r"\s+", " ", " ".join(parts)).strip() for parts in messages]


def describe(subject, archive=False):
    """How messages name what is scanned: "image app:1" or "image archive /x/app.tar"."""
    return ("image archive %s" if archive else "image %s") % subject


def explain_failure(stderr, subject, archive=False, cache_dir=None, db_repository=None,
                    ignore_file=None):
    """One sentence on why a scan failed, from trivy's log output."""
    fatal = log_messages(stderr, ("FATAL",))
    reason = re.sub(r"^Fatal error\s*", "", fatal[-1]) if fatal else ""
    cache = cache_dir or "trivy's default cache directory"
    if "cannot be specified on the first run" in reason:
        return (
            "trivy has no vulnerability DB in %s and skip_db_update forbids downloading it: "
            "unset skip_db_update or set cache_dir to a cache that holds the DB." % cache
        )
    if "cannot be specified with the old DB schema" in reason:
        return (
            "the vulnerability DB in %s has a schema this trivy no longer reads and "
            "skip_db_update forbids replacing it: unset skip_db_update." % cache
        )
    if "vulnerability DB initialization" in reason or "failed to open db" in reason:
        return (
            "trivy could not open the vulnerability DB in %s (%s): remove its db directory so "
            "that trivy downloads the DB again." % (cache, _last_cause(reason))
        )
    if "Unable to initialize the Java DB" in reason:
        return (
            "trivy needs its Java DB for the Java archives in %s and could not download it: "
            "%s." % (describe(subject, archive), _download_cause(reason))
        )
    if "failed to download vulnerability DB" in reason:
        cause = _download_cause(reason)
        hint = ""
        if "x509" in cause or "certificate" in cause:
            hint = " (set ca_cert to the CA certificate of that registry)"
        elif "UNAUTHORIZED" in cause or "DENIED" in cause:
            hint = " (log in to that registry with docker login as the user that scans)"
        return "trivy could not download its vulnerability DB from %s: %s%s." % (
            ", ".join(db_repository) if db_repository else "its default repositories",
            cause, hint,
        )
    if "unable to find the specified image" in reason:
        return "trivy found no %s on the Docker engine: build or pull it first." % (
            describe(subject))
    if "unable to initialize archive image" in reason:
        return (
            "trivy could not read %s as a Docker or OCI image archive: write it with "
            "docker save." % describe(subject, archive=True)
        )
    if "filter error" in reason and ignore_file:
        return "trivy could not apply ignore_file %s: %s." % (ignore_file, _last_cause(reason))
    if reason:
        return "trivy could not scan %s: %s." % (describe(subject, archive), _shorten(reason))
    return "trivy could not scan %s and logged no fatal error: see stderr_tail." % (
        describe(subject, archive))


def system_ca_bundle(candidates=SYSTEM_CA_BUNDLES):
    """The path of the system's CA bundle, or None."""
    for path in candidates:
        if os.path.isfile(path):
            return path
    return None


def _download_cause(reason):
    # trivy retries a registry over plain HTTP; that attempt's error only confuses, as does
    # the Go dump of the scopes asked for.
    causes = [c for c in _last_cause(reason).split("; ")
              if not re.match(r'(?i)get "?http://|\[map\[', c)]
    return "; ".join(causes).rstrip(".")


def _last_cause(reason):
    # trivy wraps the cause in its call chain ("run error: init error: DB error: ..."):
    # keep what follows the last wrapper it is known to add.
    for marker in ("OCI repository error:", "failed to download vulnerability DB:",
                   "failed to download Java DB:", "failed to open db:", "parse error:"):
        if marker in reason:
            reason = reason.rsplit(marker, 1)[1]
            break
    reason = re.sub(r"^\s*\d+ errors? occurred:\s*\*?\s*", "", reason)
    return _shorten(reason)


def _shorten(text, limit=400):
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 3] + "..."
