"""docker_engine removes the Docker apt sources and keys other installers left, and nothing
else, on a real Debian 12 container: by well-known path (dangling links included), by a
source's contents whatever its name, and the lines of /etc/apt/sources.list naming Docker's
repository. The role's own upstream source and key stay while the engine comes from
Docker's repository and go when it comes from Debian.
"""

import json
import uuid

import pytest

from conftest import ansible_playbook, docker, play_recap

IMAGE = "127.0.0.1:5443/lab/debian:12"
DOCKER_LINE = "deb [signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/debian bookworm stable"
DEBIAN_LINE = "deb http://deb.debian.org/debian bookworm main"
OWN_SOURCE = "/etc/apt/sources.list.d/claude_stack-docker.sources"
OWN_KEY = "/etc/apt/keyrings/claude_stack-docker.asc"

PLANTED = f"""
set -e
mkdir -p /etc/apt/keyrings /usr/share/keyrings
echo '{DOCKER_LINE}' > /etc/apt/sources.list.d/docker.list
printf 'Types: deb\\nURIs: https://download.docker.com/linux/debian\\nSuites: bookworm\\n' \\
  > /etc/apt/sources.list.d/vendor-mirror.sources
echo key > /etc/apt/keyrings/docker.gpg
ln -sf /nonexistent/docker.gpg /usr/share/keyrings/docker.gpg
echo '{DEBIAN_LINE}' > /etc/apt/sources.list.d/other.list
echo key > /etc/apt/keyrings/other.gpg
printf '%s\\n%s\\n' '{DEBIAN_LINE}' '{DOCKER_LINE}' > /etc/apt/sources.list
printf 'Types: deb\\nURIs: https://download.docker.com/linux/debian\\n' > {OWN_SOURCE}
echo key > {OWN_KEY}
"""

REMOVED = ["/etc/apt/sources.list.d/docker.list", "/etc/apt/sources.list.d/vendor-mirror.sources",
           "/etc/apt/keyrings/docker.gpg", "/usr/share/keyrings/docker.gpg"]
KEPT = ["/etc/apt/sources.list.d/other.list", "/etc/apt/keyrings/other.gpg",
        "/etc/apt/sources.list"]


@pytest.fixture
def target():
    name = f"cs-apt-cleanup-{uuid.uuid4().hex[:8]}"
    started = docker("run", "--detach", "--name", name, IMAGE, "sleep", "infinity")
    assert started.returncode == 0, started.stderr
    try:
        planted = docker("exec", name, "sh", "-c", PLANTED)
        assert planted.returncode == 0, planted.stderr
        yield name
    finally:
        docker("rm", "--force", name)


def cleanup(tmp_path, target, source, *options):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {target: {
        "ansible_connection": "community.docker.docker",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "name": "Remove stale Docker apt files",
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {"name": "Apply the apt clean-up of docker_engine",
             "ansible.builtin.include_role": {"name": "midserver.claude_stack.docker_engine",
                                              "tasks_from": "apt_cleanup"},
             "vars": {"docker_engine_source": source}},
            {"name": "Show whether apt must forget sources",
             "ansible.builtin.debug": {"msg": "sources changed: {{ __docker_engine_apt_sources_changed }}"}},
        ],
    }]))
    result = ansible_playbook("-i", str(inventory), *options, str(play), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    return output


def present(target, path):
    return docker("exec", target, "test", "-e", path, "-o", "-L", path).returncode == 0


def test_stale_files_go_and_the_rest_stays(tmp_path, target):
    output = cleanup(tmp_path, target, "upstream")
    assert "sources changed: True" in output
    for path in REMOVED:
        assert not present(target, path), path
    for path in KEPT + [OWN_SOURCE, OWN_KEY]:
        assert present(target, path), path
    sources_list = docker("exec", target, "cat", "/etc/apt/sources.list").stdout
    assert sources_list.splitlines() == [DEBIAN_LINE]

    output = cleanup(tmp_path, target, "distribution")
    assert not present(target, OWN_SOURCE) and not present(target, OWN_KEY)
    for path in KEPT:
        assert present(target, path), path

    output = cleanup(tmp_path, target, "distribution")
    assert play_recap(output)["changed"] == 0
    assert "sources changed: False" in output


def test_check_mode_reports_the_removals_and_removes_nothing(tmp_path, target):
    output = cleanup(tmp_path, target, "distribution", "--check")
    assert "sources changed: True" in output
    for path in REMOVED + KEPT + [OWN_SOURCE, OWN_KEY]:
        assert present(target, path), path
    sources_list = docker("exec", target, "cat", "/etc/apt/sources.list").stdout
    assert sources_list.splitlines() == [DEBIAN_LINE, DOCKER_LINE]


def test_a_host_without_sources_list_is_left_without_one(tmp_path, target):
    removed = docker("exec", target, "sh", "-c",
                     "rm /etc/apt/sources.list " + " ".join(REMOVED + [OWN_SOURCE, OWN_KEY]))
    assert removed.returncode == 0, removed.stderr
    output = cleanup(tmp_path, target, "distribution")
    assert not present(target, "/etc/apt/sources.list")
    assert play_recap(output)["changed"] == 0
    assert "sources changed: False" in output


def test_an_empty_list_of_stale_files_still_finds_sources_by_content(tmp_path, target):
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"docker_engine_stale_apt_files": []}))
    cleanup(tmp_path, target, "upstream", "-e", f"@{extra}")
    assert not present(target, "/etc/apt/sources.list.d/docker.list")
    assert not present(target, "/etc/apt/sources.list.d/vendor-mirror.sources")
    # Known only by path, so kept when the list of paths is empty.
    assert present(target, "/etc/apt/keyrings/docker.gpg")
    assert present(target, OWN_SOURCE) and present(target, OWN_KEY)
