"""The lab registry, exercised through its real TLS endpoint and a real Docker engine."""

import base64
import json
import pathlib
import socket
import subprocess

import pytest
import requests

from conftest import (
    LAB_CONFIG_DIR,
    REGISTRY_CONTAINER,
    ansible_playbook,
    container_logs,
    docker,
    play_recap,
    write_json,
)

BASE_IMAGES = [
    ("lab/debian", "12"),
    ("lab/debian", "13"),
    ("lab/debian-systemd", "12"),
    ("lab/debian-systemd", "13"),
]


def bridge_address():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True,
                         text=True, check=True)
    return out.stdout.split()[3].split("/")[0]


def test_registry_demands_credentials(lab):
    response = lab.get("/v2/", auth=False)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert lab.get("/v2/").status_code == 200


def test_registry_speaks_only_tls(lab):
    response = requests.get(f"http://{lab.registry}/v2/", timeout=10)
    assert response.status_code == 400
    assert "HTTPS" in response.text


@pytest.mark.parametrize("address", ["127.0.0.1", "bridge"])
def test_certificate_is_trusted_for_each_address(lab, address):
    host = bridge_address() if address == "bridge" else address
    response = requests.get(
        f"https://{host}:{lab.registry.split(':')[1]}/v2/", verify=str(lab.ca), timeout=10
    )
    assert response.status_code == 401
    certs_d = f"/etc/docker/certs.d/{host}:{lab.registry.split(':')[1]}/ca.crt"
    with open(certs_d, encoding="ascii") as trusted:
        assert trusted.read() == lab.ca.read_text()


def test_push_without_credentials_is_refused(lab, docker_config, scratch_repo):
    ref = f"{lab.registry}/{scratch_repo}:nocreds"
    assert docker("tag", f"{lab.registry}/lab/debian:12", ref).returncode == 0
    try:
        pushed = docker("push", ref, config=docker_config)
    finally:
        docker("rmi", ref)
    assert pushed.returncode != 0
    assert "no basic auth credentials" in pushed.stdout + pushed.stderr
    assert lab.manifest(scratch_repo, "nocreds").status_code == 404


def test_push_with_credentials_round_trips(lab, docker_config, scratch_repo):
    login = docker(
        "login", "--username", lab.username, "--password-stdin", lab.registry,
        config=docker_config, input=lab.password,
    )
    assert login.returncode == 0, login.stderr
    ref = f"{lab.registry}/{scratch_repo}:withcreds"
    assert docker("tag", f"{lab.registry}/lab/debian:12", ref).returncode == 0
    try:
        pushed = docker("push", ref, config=docker_config)
        assert pushed.returncode == 0, pushed.stderr
        served = lab.manifest(scratch_repo, "withcreds")
        assert served.status_code == 200
        assert f"digest: {served.headers['Docker-Content-Digest']}" in pushed.stdout
    finally:
        docker("rmi", ref)
        lab.delete_manifest(scratch_repo, "withcreds")


@pytest.mark.parametrize("repo,tag", BASE_IMAGES)
def test_base_images_are_served(lab, repo, tag):
    served = lab.manifest(repo, tag)
    assert served.status_code == 200, served.text
    digest = served.headers["Docker-Content-Digest"]
    local = docker("image", "inspect", f"{lab.registry}/{repo}:{tag}", "-f", "{{json .RepoDigests}}")
    assert f"{lab.registry}/{repo}@{digest}" in local.stdout
    manifest = served.json()
    for blob in [manifest["config"]] + manifest["layers"]:
        head = lab.get(f"/v2/{repo}/blobs/{blob['digest']}", stream=True)
        assert head.status_code == 200
        head.close()


def test_base_images_run(lab):
    for repo, tag in BASE_IMAGES[:2]:
        out = docker("run", "--rm", f"{lab.registry}/{repo}:{tag}", "python3", "-c",
                     "import platform; print(platform.freedesktop_os_release()['VERSION_ID'])")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == tag


def test_wrong_password_is_refused_without_leaking_it(lab, tmp_path):
    secret = "Wr0ng-" + "x" * 12 + "-pw"
    playbook = tmp_path / "login.yml"
    playbook.write_text(
        "- hosts: lab\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - ansible.builtin.include_role:\n"
        "        name: midserver.claude_stack.lab\n"
        "        tasks_from: login\n"
    )
    extra = write_json(tmp_path / "vars.json", {"lab_registry_password": secret})
    result = ansible_playbook("-i", "inventories/local", str(playbook), "-e", f"@{extra}", "-vvv")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert f"The registry {lab.registry} refused the login of user 'lab'" in output
    assert secret not in output
    assert secret not in container_logs(REGISTRY_CONTAINER)
    stored = pathlib.Path.home() / ".docker" / "config.json"
    if stored.exists():
        auths = json.loads(stored.read_text()).get("auths", {})
        decoded = [base64.b64decode(a.get("auth", "")).decode() for a in auths.values()]
        assert not any(secret in d for d in decoded)
        assert f"{lab.username}:{lab.password}" in decoded


def test_lab_port_in_use_fails_before_changing_anything(lab):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        before = docker("inspect", REGISTRY_CONTAINER, "-f", "{{.Id}} {{.State.StartedAt}}")
        snapshot = sorted(p.name for p in LAB_CONFIG_DIR.rglob("*"))
        result = ansible_playbook("playbooks/lab.yml", "-e", f"lab_registry_port={port}")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert f"Port {port} is already in use on 127.0.0.1" in output
    assert "set lab_registry_port to a free port" in output
    assert play_recap(output)["changed"] == 0
    assert docker("inspect", REGISTRY_CONTAINER, "-f", "{{.Id}} {{.State.StartedAt}}").stdout == before.stdout
    assert sorted(p.name for p in LAB_CONFIG_DIR.rglob("*")) == snapshot
    assert not any(str(port) in p.name for p in pathlib.Path("/etc/docker/certs.d").iterdir())


def test_second_lab_run_changes_nothing(lab):
    result = ansible_playbook("playbooks/lab.yml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    recap = play_recap(output)
    assert recap["changed"] == 0, output[-6000:]
    assert recap["failed"] == 0
    assert lab.password not in output
