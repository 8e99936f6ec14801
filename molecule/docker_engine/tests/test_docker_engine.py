"""The Docker engine of an agent after the docker_engine role, seen from inside the target."""

import json

LAB_REGISTRY = "172.17.0.1:5443"


def systemd_booted(host):
    return host.file("/run/systemd/system").is_directory


def docker_info(host):
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def test_the_daemon_is_active(host):
    if systemd_booted(host):
        service = host.service("docker")
        assert service.is_running
        assert service.is_enabled
    else:
        status = host.run("/usr/local/libexec/claude_stack/dockerd-service status")
        assert status.rc == 0, status.stdout + status.stderr


def test_a_lab_image_runs_in_the_target(host):
    release = host.system_info.release.split(".")[0]
    image = f"{LAB_REGISTRY}/lab/debian:{release}"
    result = host.run(f"docker run --rm {image} cat /etc/debian_version")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip().startswith(release)


def test_buildx_and_compose_report_their_versions(host):
    assert host.check_output("docker buildx version").startswith("github.com/docker/buildx ")
    assert host.check_output("docker compose version --short")[0].isdigit()


def test_daemon_json_is_live(host):
    info = docker_info(host)
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-opts"] == {"max-size": "20m", "max-file": "5"}
    assert config["builder"]["gc"]["enabled"] is True


def test_a_container_gets_the_log_rotation(host):
    release = host.system_info.release.split(".")[0]
    cid = host.check_output(f"docker create {LAB_REGISTRY}/lab/debian:{release} true")
    try:
        fmt = "'{{json .HostConfig.LogConfig}}'"
        config = json.loads(host.check_output(f"docker inspect --format {fmt} {cid}"))
    finally:
        host.run(f"docker rm {cid}")
    assert config == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "20m"}}


def test_jenkins_can_use_docker(host):
    assert "docker" in host.user("jenkins").groups
    result = host.run("su -s /bin/sh jenkins -c 'docker ps'")
    assert result.rc == 0, result.stderr


def test_the_docker_sdk_for_python_is_installed(host):
    assert host.run("python3 -c 'import docker'").rc == 0


def test_service_settings_live_in_a_drop_in(host):
    if not systemd_booted(host):
        return
    dropin = host.file("/etc/systemd/system/docker.service.d/50-claude_stack.conf")
    assert dropin.exists
    assert "[Service]" in dropin.content_string


def test_no_backup_of_daemon_json_is_left(host):
    leftovers = host.run("ls /etc/docker | grep -c '^daemon.json\\..*~$'")
    assert leftovers.stdout.strip() == "0"
