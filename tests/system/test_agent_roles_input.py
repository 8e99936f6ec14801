"""Bad settings of the agent roles stop the run with one sentence naming the variable, and
nothing on the host has changed by then.

Most cases run for real (not in check mode) against a throwaway container made from the
lab's Debian 12 image, and then look for any file the run wrote. The daemon option dockerd
rejects needs a dockerd to ask: that case runs in check mode against this machine, whose
daemon.json and running daemon it must leave alone.
"""

import functools
import hashlib
import http.server
import json
import pathlib
import threading
import uuid

import pytest

from conftest import BIN, ROOT, ansible_playbook, docker, run

IMAGE = "127.0.0.1:5443/lab/debian:12"
# A port nothing listens on: a mirror that does not answer.
DEAD = "127.0.0.1:9"
# Where a run may write without changing the host: Ansible's own temporary files and
# Python's byte-code caches.
IGNORED = ("/root/.ansible", "__pycache__")
CA_BUNDLE_ON_TARGET = "/usr/local/share/claude_stack_lab/ca-bundle.crt"

CONTAINER_CASES = {
    "unknown install source": (
        "docker_engine", {"docker_engine_source": "bogus"}, ["docker_engine_source"]),
    "malformed engine version": (
        "docker_engine", {"docker_engine_source": "upstream", "docker_engine_version": "28.5"},
        ["docker_engine_version"]),
    "engine repository that does not answer": (
        "docker_engine",
        {"docker_engine_source": "upstream",
         "docker_engine_upstream_mirror": f"http://{DEAD}/linux/debian"},
        ["docker_engine_upstream_mirror", "does not answer"]),
    "Debian mirror that does not answer": (
        "docker_engine",
        {"docker_engine_source": "distribution", "docker_engine_debian_mirror": f"http://{DEAD}/debian"},
        ["docker_engine_debian_mirror"]),
    "unknown trivy install method": (
        "trivy", {"trivy_install_method": "brew"}, ["trivy_install_method"]),
    "malformed trivy version": (
        "trivy", {"trivy_version": "latest"}, ["trivy_version"]),
    "refused trivy version": (
        "trivy", {"trivy_version": "0.69.4"}, ["trivy_version", "refused", "compromise"]),
    "package index that does not answer": (
        "trivy", {"trivy_install_method": "pypi", "trivy_pypi_index_url": f"http://{DEAD}/simple"},
        ["trivy_pypi_index_url", "does not answer"]),
    "tarball without a pinned checksum": (
        "trivy", {"trivy_install_method": "tarball"}, ["trivy_tarball_checksums"]),
    "garbage-collection size dockerd cannot read": (
        "buildkit_cache", {"buildkit_cache_gc_policy": [{"keepStorage": "lots"}]},
        ["buildkit_cache_gc_policy"]),
    "volume name Docker refuses": (
        "buildkit_cache", {"buildkit_cache_volumes": [{"name": "/cache"}]},
        ["buildkit_cache_volumes"]),
}


def write_play(tmp_path, role, hosts):
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "name": f"Apply {role} with a bad setting",
        "hosts": hosts,
        "gather_facts": False,
        "roles": [{"role": f"midserver.claude_stack.{role}"}],
    }]))
    return play


def failure_messages(output):
    """The msg of every failed task in the output (YAML result format)."""
    messages = []
    for block in output.split("fatal: [")[1:]:
        text = block.split("\n\n", 1)[0]
        messages.append(" ".join(line.strip() for line in text.splitlines()[1:]))
    return messages


def check_stopped_with(result, expected):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    messages = failure_messages(result.stdout)
    assert len(messages) == 1, output[-3000:]
    for word in expected:
        assert word in messages[0], messages[0]


@pytest.fixture(scope="module")
def target():
    """A Debian 12 container with nothing of the roles on it, and a mark of its start."""
    name = f"cs-input-{uuid.uuid4().hex[:8]}"
    started = docker("run", "--detach", "--name", name, IMAGE, "sleep", "infinity")
    assert started.returncode == 0, started.stderr
    try:
        # After the files Docker writes as the container starts (resolv.conf, hosts, ...):
        # the mark must be newer than those, and find -newer compares to the nanosecond.
        marked = docker("exec", name, "sh", "-c", "sleep 1.5 && touch /run/input-test-mark")
        assert marked.returncode == 0, marked.stderr
        yield name
    finally:
        docker("rm", "--force", name)


def written_since_start(container):
    found = docker("exec", container, "find", "/", "-xdev", "-newer", "/run/input-test-mark",
                   "-not", "-type", "d", "-not", "-path", "/proc/*", "-not", "-path", "/sys/*",
                   "-not", "-path", "/dev/*", "-not", "-path", "/tmp/*")
    assert found.returncode == 0, found.stderr
    return [path for path in found.stdout.split()
            if path != "/run/input-test-mark" and not any(part in path for part in IGNORED)]


@pytest.mark.parametrize("case", CONTAINER_CASES, ids=list(CONTAINER_CASES))
def test_bad_setting_stops_before_changing_the_target(case, target, tmp_path):
    role, variables, expected = CONTAINER_CASES[case]
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {target: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}))
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(variables))
    result = ansible_playbook("-i", str(inventory), "-e", f"@{extra}",
                              str(write_play(tmp_path, role, "all")), timeout=300)
    check_stopped_with(result, expected)
    assert written_since_start(target) == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def debian_mirror(tmp_path):
    """A mirror on 127.0.0.1 that serves the pool paths of the plugin packages docker_engine
    looks for on Debian 12 (empty files: only their presence is asked)."""
    defaults = (ROOT / "roles/docker_engine/defaults/main.yml").read_text()
    import yaml  # ansible's dependency, in the same virtualenv

    debs = yaml.safe_load(defaults)["docker_engine_bookworm_plugin_debs"]
    root = tmp_path / "mirror"
    for name, pin in debs.items():
        for arch in pin["sha256"]:
            path = root / "pool/main/d" / name / f"{name}_{pin['version']}_{arch}.deb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def fingerprint(path):
    path = pathlib.Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def test_daemon_option_dockerd_rejects_stops_the_run(tmp_path, debian_mirror):
    if not pathlib.Path("/usr/sbin/dockerd").exists():
        pytest.fail("dockerd is not installed on this machine: run `make bootstrap`")
    before = fingerprint("/etc/docker/daemon.json")
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "docker_engine_source": "distribution",
        "docker_engine_debian_mirror": debian_mirror,
        "docker_engine_daemon_options": {"log-driver": "json-file", "no-such-option": True},
    }))
    # The virtualenv's Python, as the local inventory uses: interpreter discovery on this
    # machine would find whatever python3 comes first on PATH.
    result = ansible_playbook("-i", "localhost,", "-c", "local", "--check", "-e", f"@{extra}",
                              "-e", f"ansible_python_interpreter={BIN / 'python'}",
                              str(write_play(tmp_path, "docker_engine", "localhost")),
                              timeout=300)
    check_stopped_with(result, ["docker_engine_daemon_options", "no-such-option"])
    assert fingerprint("/etc/docker/daemon.json") == before
    assert run(["docker", "info", "--format", "{{.ServerVersion}}"]).returncode == 0


def bridge_gateway():
    found = docker("network", "inspect", "bridge", "--format",
                   "{{(index .IPAM.Config 0).Gateway}}")
    assert found.returncode == 0 and found.stdout.strip(), found.stderr
    return found.stdout.strip()


@pytest.fixture
def fresh_agent():
    """A Debian 12 container that has never seen the roles, with only what an agent host
    has before provisioning here: the CA bundle that lets pip reach PyPI through this
    network's proxy. Its mark comes after that."""
    name = f"cs-check-{uuid.uuid4().hex[:8]}"
    started = docker("run", "--detach", "--name", name, IMAGE, "sleep", "infinity")
    assert started.returncode == 0, started.stderr
    try:
        assert docker("exec", name, "mkdir", "-p", CA_BUNDLE_ON_TARGET.rsplit("/", 1)[0]
                      ).returncode == 0
        copied = docker("cp", "/etc/claude_stack_lab/pki/ca-bundle.crt",
                        f"{name}:{CA_BUNDLE_ON_TARGET}")
        assert copied.returncode == 0, copied.stderr
        marked = docker("exec", name, "sh", "-c", "sleep 1.5 && touch /run/input-test-mark")
        assert marked.returncode == 0, marked.stderr
        yield name
    finally:
        docker("rm", "--force", name)


def test_provisioning_a_fresh_agent_in_check_mode_succeeds_and_changes_nothing(
        fresh_agent, tmp_path):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"agents": {"hosts": {fresh_agent: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
        # The container runs as root and has no sudo.
        "ansible_become": False,
    }}}}))
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({
        "docker_engine_source": "distribution",
        "trivy_install_method": "pypi",
        "trivy_ca_bundle": CA_BUNDLE_ON_TARGET,
        # The lab registry as containers reach it: on the default bridge's gateway.
        "trivy_db_repositories": [f"{bridge_gateway()}:5443/trivy/db"],
    }))
    result = ansible_playbook("-i", str(inventory), "-e", f"@{extra}", "--check",
                              str(ROOT / "playbooks" / "provision_agents.yml"), timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    # Check mode says what it could not look at rather than failing on it.
    assert "Check mode on a host without a running Docker engine" in output
    assert written_since_start(fresh_agent) == []
