"""An agent provisioned by playbooks/provision_agents.yml, as a Jenkins job would use it."""

import json

LAB_REGISTRY = "172.17.0.1:5443"


def as_jenkins(host, command):
    return host.run(f"su -s /bin/sh jenkins -c {json.dumps(command)}")


def test_jenkins_runs_a_lab_image(host):
    release = host.system_info.release.split(".")[0]
    result = as_jenkins(host, "docker version --format '{{.Server.Version}}' && docker ps")
    assert result.rc == 0, result.stderr
    pulled = host.run(f"docker run --rm {LAB_REGISTRY}/lab/debian:{release} true")
    assert pulled.rc == 0, pulled.stderr


def test_buildx_and_compose_are_there_for_jenkins(host):
    assert as_jenkins(host, "docker buildx version").rc == 0
    assert as_jenkins(host, "docker compose version").rc == 0


def test_daemon_json_holds_both_roles_options(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["live-restore"] is True
    assert len(config["builder"]["gc"]["policy"]) == 2


def test_the_cache_volumes_exist(host):
    names = host.check_output(
        "docker volume ls -q --filter label=io.midserver.claude_stack.managed-by=buildkit_cache"
    ).split()
    assert sorted(names) == [
        "claude-stack-go-build-cache",
        "claude-stack-go-mod-cache",
        "claude-stack-layer-cache",
    ]


def test_trivy_is_pinned_and_its_db_warmed(host):
    assert "Version: 0.76.0" in as_jenkins(host, "trivy --version").stdout
    assert host.file("/var/cache/trivy/db/trivy.db").exists
    assert host.service("trivy-db-refresh.timer").is_enabled
