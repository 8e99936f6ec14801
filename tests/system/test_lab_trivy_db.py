"""The lab's Trivy DB: made by tools/trivy-db-gen, served by the lab registry, and read by
the real trivy binary, which scans the lab's images with it.

Set TRIVY_FIXTURES_UPDATE=1 to rewrite the captured scans in tests/unit/fixtures/trivy/
from the live ones; without it, the captured scans are checked against the live ones.
"""

import hashlib
import io
import json
import os
import pathlib
import tarfile
import uuid

import pytest

from conftest import (
    CA_BUNDLE,
    REGISTRY_CONTAINER,
    ROOT,
    ROOT_DOCKER_CONFIG,
    TRIVY,
    TRIVY_DB_REPOSITORY,
    ansible_playbook,
    assert_never_shown,
    container_logs,
    docker,
    play_recap,
    run,
    trivy,
)

LAB_WORK_DIR = pathlib.Path(os.environ.get("LAB_WORK_DIR", "/var/lib/claude_stack_lab"))
DB_DIR = LAB_WORK_DIR / "trivy-db"
GENERATOR = DB_DIR / "bin" / "trivy-db-gen"
ADVISORIES = ROOT / "roles" / "lab" / "files" / "trivy-advisories.json"
PLANTED_DOCKERFILE = ROOT / "tests" / "system" / "images" / "planted-critical"
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "trivy"
LAYER_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Exit code the gate tests ask trivy for: trivy's own errors exit 1.
GATE_EXIT = 3


def findings(report):
    """(ID, package, severity, fixed version, status) of every finding in a trivy report."""
    return sorted(
        (v["VulnerabilityID"], v["PkgName"], v["Severity"], v.get("FixedVersion", ""),
         v.get("Status", ""))
        for result in report.get("Results", [])
        for v in result.get("Vulnerabilities") or []
    )


def scan(image, cache_dir, *args):
    """A vulnerability scan of a local image with the lab's DB, as JSON on stdout. The
    report leaves out packages without findings, which trivy lists by default."""
    return trivy("image", "--scanners", "vuln", "--image-src", "docker", "--format", "json",
                 "--list-all-pkgs=false", *args, image, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def planted_image(lab):
    """An image that apt-installs GNU hello on lab/debian:12, removed after the module."""
    tag = f"claude-stack-test/planted-critical:pytest-{uuid.uuid4().hex[:8]}"
    built = docker("build", "--build-arg", f"BASE_IMAGE={lab.registry}/lab/debian:12",
                   "-t", tag, str(PLANTED_DOCKERFILE))
    assert built.returncode == 0, built.stderr[-3000:]
    yield tag
    docker("rmi", tag)


@pytest.fixture(scope="module")
def reports(lab, planted_image, tmp_path_factory):
    """Live JSON reports (trivy's own text) of the lab's Debian images and the planted
    image, each made with an empty cache, so each one downloads the DB from the lab."""
    images = {
        "debian12-base": f"{lab.registry}/lab/debian:12",
        "debian13-base": f"{lab.registry}/lab/debian:13",
        "planted-critical": planted_image,
    }
    out = {}
    for name, image in images.items():
        result = scan(image, tmp_path_factory.mktemp(f"cache-{name}"))
        assert result.returncode == 0, result.stderr[-3000:]
        out[name] = result.stdout
    return out


def test_registry_serves_the_db_as_a_trivy_artifact(lab):
    served = lab.get(f"/v2/{TRIVY_DB_REPOSITORY.split('/', 1)[1]}/manifests/2",
                     headers={"Accept": OCI_MANIFEST})
    assert served.status_code == 200, served.text
    manifest = served.json()
    assert manifest["mediaType"] == OCI_MANIFEST
    assert len(manifest["layers"]) == 1
    layer = manifest["layers"][0]
    assert layer["mediaType"] == LAYER_TYPE
    assert layer["annotations"] == {"org.opencontainers.image.title": "db.tar.gz"}
    archive = (DB_DIR / "out" / "db.tar.gz").read_bytes()
    assert layer["digest"] == "sha256:" + hashlib.sha256(archive).hexdigest()

    blob = lab.get(f"/v2/trivy/db/blobs/{layer['digest']}")
    assert blob.status_code == 200
    assert blob.content == archive
    # Reproducible: gzip without a time stamp, tar members with fixed times and owners.
    assert blob.content[4:8] == b"\0\0\0\0"
    with tarfile.open(fileobj=io.BytesIO(blob.content), mode="r:gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["trivy.db", "metadata.json"]
        assert {(m.uid, m.gid, m.mode, m.mtime) for m in members} == {
            (0, 0, 0o644, members[0].mtime)
        }
        metadata = json.load(tar.extractfile("metadata.json"))
    assert metadata["Version"] == 2
    assert metadata["UpdatedAt"] == json.loads(ADVISORIES.read_text())["updated_at"]


def test_generator_output_is_reproducible(tmp_path):
    outputs = []
    for name in ("first", "second"):
        result = run([str(GENERATOR), "generate", "-input", str(ADVISORIES),
                      "-output", str(tmp_path / name)])
        assert result.returncode == 0, result.stderr
        outputs.append({f: (tmp_path / name / f).read_bytes()
                        for f in ("trivy.db", "metadata.json", "db.tar.gz")})
    assert outputs[0] == outputs[1]
    served = {f: (DB_DIR / "out" / f).read_bytes() for f in outputs[0]}
    assert outputs[0] == served, "the lab's DB was not made from the advisories in the checkout"


def test_generator_rejects_a_bad_severity(tmp_path):
    data = json.loads(ADVISORIES.read_text())
    data["advisories"][0]["severity"] = "SEVERE"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = run([str(GENERATOR), "generate", "-input", str(bad), "-output", str(tmp_path / "out")])
    assert result.returncode == 1
    assert "has severity 'SEVERE': use UNKNOWN, LOW, MEDIUM, HIGH or CRITICAL" in result.stderr
    assert not (tmp_path / "out" / "trivy.db").exists()


def test_trivy_downloads_the_db_from_the_lab(lab, tmp_path):
    result = trivy("image", "--download-db-only", cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert TRIVY_DB_REPOSITORY in result.stderr
    downloaded = (tmp_path / "db" / "trivy.db").read_bytes()
    assert downloaded == (DB_DIR / "out" / "trivy.db").read_bytes()


def test_download_without_credentials_fails_closed(lab, tmp_path, docker_config):
    result = trivy("image", "--download-db-only", cache_dir=tmp_path, config=docker_config)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "401" in output or "UNAUTHORIZED" in output.upper(), output[-3000:]
    assert not (tmp_path / "db" / "trivy.db").exists()


def test_scan_without_the_lab_ca_fails_closed(lab, tmp_path):
    # The system bundle alone does not hold the lab CA: trivy must refuse the registry.
    env = {**os.environ, "SSL_CERT_FILE": SYSTEM_CA_BUNDLE,
           "DOCKER_CONFIG": str(ROOT_DOCKER_CONFIG)}
    result = run([str(TRIVY), "image", "--download-db-only", "--cache-dir", str(tmp_path),
                  "--db-repository", TRIVY_DB_REPOSITORY], env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "certificate" in output, output[-3000:]
    assert not (tmp_path / "db" / "trivy.db").exists()


def test_ca_bundle_adds_the_lab_ca_to_the_system_bundle(lab):
    bundle = CA_BUNDLE.read_text()
    system = pathlib.Path(SYSTEM_CA_BUNDLE).read_text()
    assert bundle.startswith(system.strip())
    assert bundle.rstrip().endswith(lab.ca.read_text().strip())
    assert CA_BUNDLE.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name", ["debian12-base", "debian13-base"])
def test_base_images_have_the_high_and_no_critical(reports, name):
    found = findings(json.loads(reports[name]))
    severities = {f[2] for f in found}
    assert "CRITICAL" not in severities, found
    assert ("CVE-2099-0002", "coreutils", "HIGH") in {f[:3] for f in found}
    # Every other planted severity shows too, and the advisory without a fix is "affected".
    assert {"HIGH", "MEDIUM", "LOW"} <= severities
    assert ("CVE-2099-0005", "bash", "MEDIUM", "", "affected") in found
    assert "CVE-2099-0001" not in {f[0] for f in found}


def test_planted_image_has_the_critical_hello_advisory(reports):
    report = json.loads(reports["planted-critical"])
    found = findings(report)
    assert ("CVE-2099-0001", "hello", "CRITICAL", "2.10-3+lab1", "fixed") in found
    assert [f for f in found if f[2] == "CRITICAL"] == [
        ("CVE-2099-0001", "hello", "CRITICAL", "2.10-3+lab1", "fixed")
    ]
    hello = next(v for r in report["Results"]
                 for v in r.get("Vulnerabilities") or [] if v["PkgName"] == "hello")
    assert "planted lab advisory, not a real vulnerability" in hello["Title"]


@pytest.mark.parametrize("image,expected", [("base", 0), ("planted", GATE_EXIT)])
def test_only_the_planted_image_fails_a_critical_gate(
    lab, planted_image, tmp_path, image, expected
):
    ref = planted_image if image == "planted" else f"{lab.registry}/lab/debian:12"
    result = scan(ref, tmp_path, "--severity", "CRITICAL", "--exit-code", str(GATE_EXIT))
    assert result.returncode == expected, result.stderr[-3000:]


@pytest.mark.parametrize("name", ["debian12-base", "planted-critical"])
def test_captured_reports_match_a_live_scan(reports, name):
    fixture = FIXTURES / f"{name}.json"
    if os.environ.get("TRIVY_FIXTURES_UPDATE") == "1":
        FIXTURES.mkdir(parents=True, exist_ok=True)
        fixture.write_text(reports[name])
    captured = json.loads(fixture.read_text())
    assert "Packages" not in captured["Results"][0]
    # Only what the DB decides is compared: installed versions move with point releases.
    assert findings(captured) == findings(json.loads(reports[name])), (
        f"{fixture} is stale: rerun this test with TRIVY_FIXTURES_UPDATE=1"
    )


def test_lab_pushes_a_missing_db_once_and_never_shows_the_password(lab, scratch_repo):
    args = ["playbooks/lab.yml", "--tags", "lab_trivy_db", "-e",
            f"lab_trivy_db_repository={scratch_repo}", "-vvv"]
    try:
        first = ansible_playbook(*args)
        second = ansible_playbook(*args)
    finally:
        lab.delete_manifest(scratch_repo, "2")
    for result in (first, second):
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert_never_shown(lab.password, output)
    assert play_recap(first.stdout)["changed"] == 1, first.stdout[-3000:]
    assert play_recap(second.stdout)["changed"] == 0, second.stdout[-3000:]
    assert lab.password not in container_logs(REGISTRY_CONTAINER)


def test_refused_push_names_the_registry_but_never_the_password(lab, scratch_repo, tmp_path):
    secret = "Wr0ng-" + uuid.uuid4().hex + "-pw"
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"lab_registry_password": secret,
                                 "lab_trivy_db_repository": scratch_repo}))
    result = ansible_playbook("playbooks/lab.yml", "--tags", "lab_trivy_db", "-e", f"@{extra}",
                              "-vvv")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert f"Pushing the Trivy DB to {lab.registry}/{scratch_repo}:2 failed" in output
    assert f"refused the credentials of user '{lab.username}'" in output
    assert_never_shown(secret, output)
    assert secret not in container_logs(REGISTRY_CONTAINER)
    assert lab.manifest(scratch_repo, "2").status_code == 404
