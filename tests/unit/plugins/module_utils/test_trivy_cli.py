# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""trivy's command line: versions, the scan command and its errors, on real trivy output."""

import pathlib

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.trivy_cli import (
    TrivyError,
    clean_environment,
    explain_failure,
    is_compromised,
    log_messages,
    parse_version,
    scan_command,
    stderr_tail,
    system_ca_bundle,
)

LOGS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "trivy-logs"


@pytest.mark.parametrize(
    "output, version",
    [
        ('{"Version":"0.76.0"}', "0.76.0"),
        ('{"Version":"v0.69.3","VulnerabilityDB":{"Version":2}}', "0.69.3"),
        ('{"Version":"0.77.0-rc1"}', "0.77.0-rc1"),
    ],
)
def test_parse_version(output, version):
    assert parse_version(output) == version


@pytest.mark.parametrize(
    "output, message",
    [
        ("Version: 0.76.0", "trivy --version did not print the JSON expected (JSONDecodeError)."),
        ("{}", "trivy --version did not print the JSON expected (KeyError)."),
        ('{"Version":"dev"}', "trivy --version gave 'dev', which is not a version number."),
        ("", "trivy --version did not print the JSON expected (JSONDecodeError)."),
    ],
)
def test_parse_version_refuses_what_it_cannot_read(output, message):
    with pytest.raises(TrivyError) as error:
        parse_version(output)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "version, compromised",
    [
        ("0.69.3", False),
        ("0.69.4", True),
        ("0.69.5", True),
        ("0.69.6", True),
        ("0.69.7", False),
        ("0.70.0", False),
        ("0.76.0", False),
        ("0.6.94", False),
        ("1.69.4", False),
    ],
)
def test_compromised_releases_are_recognised(version, compromised):
    assert is_compromised(version) is compromised


def test_default_scan_command_asks_for_everything_as_json_from_the_engine():
    argv = scan_command("/usr/bin/trivy", "app:1")
    assert argv[:2] == ["/usr/bin/trivy", "image"]
    assert argv[-1] == "app:1"
    pairs = dict(zip(argv[2:-1], argv[3:]))
    assert pairs["--format"] == "json"
    assert pairs["--exit-code"] == "0"
    assert pairs["--scanners"] == "vuln"
    assert pairs["--severity"] == "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    assert pairs["--cache-backend"] == "memory"
    assert pairs["--image-src"] == "docker"
    assert pairs["--timeout"] == "300s"
    # Nothing from the working directory shapes the result.
    assert pairs["--config"] == "" and pairs["--ignorefile"] == ""
    for absent in ("--input", "--skip-db-update", "--ignore-unfixed", "--cache-dir",
                   "--db-repository", "--output", "--docker-host"):
        assert absent not in argv


def test_scan_command_with_every_option():
    argv = scan_command(
        "trivy", "/tmp/app.tar", archive=True, cache_dir="/c", cache_backend="fs",
        db_repository=["mirror:5000/trivy/db", "ghcr.io/aquasecurity/trivy-db"],
        skip_db_update=True, ignore_unfixed=True, ignore_file="/x/.trivyignore.yaml",
        timeout=42, output="/o/report.json",
    )
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--input"] == "/tmp/app.tar"
    assert "--image-src" not in argv and argv[-1] != "/tmp/app.tar"
    assert pairs["--cache-dir"] == "/c"
    assert pairs["--cache-backend"] == "fs"
    assert pairs["--db-repository"] == "mirror:5000/trivy/db,ghcr.io/aquasecurity/trivy-db"
    assert pairs["--ignorefile"] == "/x/.trivyignore.yaml"
    assert pairs["--timeout"] == "42s"
    assert pairs["--output"] == "/o/report.json"
    assert "--skip-db-update" in argv and "--ignore-unfixed" in argv


def test_docker_host_is_passed_for_images_only():
    assert "--docker-host" in scan_command("trivy", "a:1", docker_host="unix:///d.sock")
    assert "--docker-host" not in scan_command("trivy", "a.tar", archive=True,
                                               docker_host="unix:///d.sock")


def test_clean_environment_drops_trivy_settings_only():
    env = {"PATH": "/bin", "TRIVY_SEVERITY": "CRITICAL", "trivy_ignorefile": "x",
           "HOME": "/root", "DOCKER_CONFIG": "/d"}
    assert clean_environment(env) == {"PATH": "/bin", "HOME": "/root", "DOCKER_CONFIG": "/d"}


@pytest.mark.parametrize(
    "log, options, message",
    [
        ("no-db-skip-update.log", dict(cache_dir="/var/cache/trivy"),
         "trivy has no vulnerability DB in /var/cache/trivy and skip_db_update forbids "
         "downloading it: unset skip_db_update or set cache_dir to a cache that holds the DB."),
        ("no-db-skip-update.log", {},
         "trivy has no vulnerability DB in trivy's default cache directory and skip_db_update "
         "forbids downloading it: unset skip_db_update or set cache_dir to a cache that holds "
         "the DB."),
        ("db-old-schema.log", dict(cache_dir="/c"),
         "the vulnerability DB in /c has a schema this trivy no longer reads and skip_db_update "
         "forbids replacing it: unset skip_db_update."),
        ("db-corrupt.log", dict(cache_dir="/c"),
         "trivy could not open the vulnerability DB in /c (invalid database): remove its db "
         "directory so that trivy downloads the DB again."),
        ("db-unreachable.log", dict(db_repository=["127.0.0.1:1/trivy/db"]),
         'trivy could not download its vulnerability DB from 127.0.0.1:1/trivy/db: Get '
         '"https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused.'),
        ("db-untrusted-ca.log", dict(db_repository=["127.0.0.1:5443/trivy/db"]),
         'trivy could not download its vulnerability DB from 127.0.0.1:5443/trivy/db: Get '
         '"https://127.0.0.1:5443/v2/": tls: failed to verify certificate: x509: certificate '
         'signed by unknown authority (set ca_cert to the CA certificate of that registry).'),
        ("db-unauthorized.log", dict(db_repository=["127.0.0.1:5443/trivy/db"]),
         "trivy could not download its vulnerability DB from 127.0.0.1:5443/trivy/db: GET "
         "https://127.0.0.1:5443/v2/trivy/db/manifests/2: UNAUTHORIZED: authentication "
         "required (log in to that registry with docker login as the user that scans)."),
        ("db-unreachable.log", {},
         'trivy could not download its vulnerability DB from its default repositories: Get '
         '"https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused.'),
        ("java-db-unreachable.log", {},
         'trivy needs its Java DB for the Java archives in image app:1 and could not download '
         'it: Get "https://mirror.gcr.io/v2/": dial tcp: lookup mirror.gcr.io on '
         '10.255.255.53:53: no such host.'),
        ("image-not-found.log", {},
         "trivy found no image app:1 on the Docker engine: build or pull it first."),
        ("archive-missing.log", dict(archive=True),
         "trivy could not read image archive app:1 as a Docker or OCI image archive: write it "
         "with docker save."),
        ("archive-garbage.log", dict(archive=True),
         "trivy could not read image archive app:1 as a Docker or OCI image archive: write it "
         "with docker save."),
        ("ignorefile-bad-yaml.log", dict(ignore_file="/x/bad.yaml"),
         "trivy could not apply ignore_file /x/bad.yaml: yaml decode error: yaml: line 1: did "
         "not find expected node content."),
    ],
)
def test_failures_are_explained_in_one_sentence(log, options, message):
    stderr = (LOGS / log).read_text()
    assert explain_failure(stderr, "app:1", **options) == message


def test_unknown_failures_quote_trivy_and_silent_ones_point_to_the_log():
    stderr = "2026-12-03T19:19:05Z\tFATAL\tFatal error\trun error: something new\n"
    assert explain_failure(stderr, "app:1") == (
        "trivy could not scan image app:1: run error: something new.")
    assert explain_failure("", "/a.tar", archive=True) == (
        "trivy could not scan image archive /a.tar and logged no fatal error: see stderr_tail.")


def test_log_messages_join_continuation_lines():
    stderr = (LOGS / "db-unreachable.log").read_text()
    fatal = log_messages(stderr, ("FATAL",))
    assert len(fatal) == 1
    assert fatal[0].startswith("Fatal error run error: init error: DB error:")
    assert "connection refused; Get" in fatal[0]
    assert len(log_messages(stderr, ("INFO",))) == 4


def test_stderr_tail_keeps_the_last_lines():
    stderr = "".join("line %d\n" % i for i in range(100))
    assert stderr_tail(stderr, 3) == "line 97\nline 98\nline 99"
    assert stderr_tail(None) == ""


def test_system_ca_bundle_takes_the_first_that_exists(tmp_path):
    bundle = tmp_path / "b.pem"
    bundle.write_text("x")
    assert system_ca_bundle([str(tmp_path / "none.pem"), str(bundle)]) == str(bundle)
    assert system_ca_bundle([str(tmp_path / "none.pem")]) is None
