"""trivy and its shared vulnerability DB after the trivy role, as the agent user sees them."""

import json

CACHE = "/var/cache/trivy"


def test_the_pinned_version_is_installed(host):
    assert host.file("/usr/local/bin/trivy").is_symlink
    assert "Version: 0.76.0" in host.check_output("/usr/local/bin/trivy --version")


def test_the_wheel_lives_in_its_own_virtualenv(host):
    assert host.file("/usr/local/bin/trivy").linked_to == "/opt/trivy/venv/bin/trivy"
    requirements = host.file("/opt/trivy/requirements.txt").content_string
    assert "--hash=sha256:" in requirements


def test_the_db_was_warmed_into_the_shared_cache(host):
    cache = host.file(CACHE)
    assert cache.user == "trivy"
    assert cache.mode == 0o755
    metadata = json.loads(host.file(f"{CACHE}/db/metadata.json").content_string)
    assert metadata["Version"] == 2
    assert host.file(f"{CACHE}/db/trivy.db").size > 0


def test_the_registry_credentials_are_private(host):
    config = host.file("/etc/claude_stack/trivy/registry-auth/config.json")
    assert config.user == "trivy"
    assert config.mode == 0o600
    script = host.file("/usr/local/libexec/claude_stack/trivy-db-refresh").content_string
    assert "auth" not in script.replace("registry-auth", "")


def test_the_agent_user_scans_with_the_lab_db(host):
    # A tree with just what trivy reads to find the OS packages: the planted lab advisory
    # against coreutils shows that the DB came from the lab's mirror.
    tree = host.check_output("mktemp -d")
    host.check_output(
        f"mkdir -p {tree}/etc {tree}/var/lib/dpkg"
        f" && cp /etc/os-release /etc/debian_version {tree}/etc/"
        f" && cp /var/lib/dpkg/status {tree}/var/lib/dpkg/ && chmod -R a+rX {tree}"
    )
    try:
        scan = host.run(
            "su -s /bin/sh jenkins -c 'cd /tmp && trivy rootfs --quiet --skip-db-update"
            f" --cache-dir {CACHE} --cache-backend memory --scanners vuln --format json {tree}'"
        )
    finally:
        host.run(f"rm -rf {tree}")
    assert scan.rc == 0, scan.stderr
    found = {
        vulnerability["VulnerabilityID"]
        for result in json.loads(scan.stdout).get("Results", [])
        for vulnerability in result.get("Vulnerabilities") or []
    }
    assert "CVE-2099-0002" in found


def test_the_refresh_timer_is_enabled(host):
    timer = host.service("trivy-db-refresh.timer")
    assert timer.is_enabled
    assert timer.is_running
    unit = host.file("/etc/systemd/system/trivy-db-refresh.service").content_string
    assert "User=trivy" in unit
