"""The stack in the target after converge and side_effect, seen from inside the target.

side_effect leaves the stack deployed with the service's second release, after a row was
written to PostgreSQL at each of its steps. The names below are those molecule.yml gives.
"""

import json

PROJECT = "molecule-stack"
PROJECT_DIR = f"/opt/{PROJECT}"
DB_USER = "claude_user"
DB_NAME = "claude_terminal"
REPOSITORY = "molecule-stack"
UPGRADE = "1.1.0"
APP_UID = 10001
SERVICES = ["postgres", "claude-terminal-service", "ecc-poller", "servicenow-mid-server"]
HEALTHCHECKED = ["postgres", "claude-terminal-service", "servicenow-mid-server"]
STEPS = ["converge", "redeploy", "upgrade", "restart", "absent"]
GIB = 1024**3


def inspect(host, service):
    out = host.check_output(f"docker inspect {PROJECT}-{service}-1")
    return json.loads(out)[0]


def registry(host):
    """The lab registry as the target reaches it: through its default gateway."""
    route = host.check_output("ip -4 route show default").split()
    return f"{route[route.index('via') + 1]}:5443"


def psql(host, sql):
    return host.check_output(
        f"docker exec {PROJECT}-postgres-1 psql -v ON_ERROR_STOP=1 -U {DB_USER} -d {DB_NAME} "
        f"-Atc '{sql}'"
    )


def get_health(host):
    """Status and body of GET /health, asked inside the target as the role asks it."""
    script = (
        "import json, urllib.request, urllib.error\n"
        "try:\n"
        "    r = urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=10)\n"
        "except urllib.error.HTTPError as e:\n"
        "    r = e\n"
        "print(json.dumps({'status': r.status, 'body': json.loads(r.read())}))\n"
    )
    return json.loads(host.check_output("python3 -c %s", script))


def test_the_target_runs_its_own_docker_engine(host):
    assert host.service("docker").is_running
    # The engine of the target, not this host's: its containers are the stack's alone.
    names = host.check_output("docker ps --format '{{.Names}}'").split()
    assert sorted(names) == sorted(f"{PROJECT}-{s}-1" for s in SERVICES)


def test_images_came_from_the_lab_registry_through_the_gateway(host):
    images = f"{registry(host)}/{REPOSITORY}"
    expected = {
        "postgres": f"{images}/postgres-stand-in@sha256:",
        "claude-terminal-service": f"{images}/claude-terminal-service:{UPGRADE}",
        "ecc-poller": f"{images}/claude-terminal-service:{UPGRADE}",
        "servicenow-mid-server": f"{images}/mid-server-stand-in:1",
    }
    for service, reference in expected.items():
        assert inspect(host, service)["Config"]["Image"].startswith(reference), service
    # The engine trusts the lab CA for that address, and the role logged in there.
    assert host.file(f"/etc/docker/certs.d/{registry(host)}/ca.crt").contains("BEGIN CERTIFICATE")
    auths = json.loads(host.file("/root/.docker/config.json").content_string)["auths"]
    # docker_login keeps the URL as given; the CLI matches entries by host name either way.
    assert {key.split("://")[-1] for key in auths} >= {registry(host)}, auths
    assert host.file("/root/.docker/config.json").mode == 0o600


def test_mid_server_limits_and_reservations_are_exact(host):
    config = inspect(host, "servicenow-mid-server")
    resources = config["HostConfig"]
    assert resources["NanoCpus"] == 2 * 10**9
    assert resources["Memory"] == 4 * GIB
    assert resources["MemoryReservation"] == 1 * GIB
    assert config["Config"]["Healthcheck"]["StartPeriod"] == 180 * 10**9
    # Outside swarm mode no container setting carries a CPU reservation: compose keeps it
    # in the project, where `docker compose config` reads it back.
    project = json.loads(
        host.check_output(f"cd {PROJECT_DIR} && docker compose config --format json")
    )
    deploy = project["services"]["servicenow-mid-server"]["deploy"]["resources"]
    assert float(deploy["limits"]["cpus"]) == 2.0
    assert int(deploy["limits"]["memory"]) == 4 * GIB
    assert float(deploy["reservations"]["cpus"]) == 0.5
    assert int(deploy["reservations"]["memory"]) == 1 * GIB


def test_the_service_runs_as_non_root(host):
    for service in ("claude-terminal-service", "ecc-poller"):
        assert inspect(host, service)["Config"]["User"] == f"{APP_UID}:{APP_UID}"
        # docker top needs the pid column in what it asks ps for.
        top = host.check_output(f"docker top {PROJECT}-{service}-1 -eo pid,uid,comm")
        uids = {line.split()[1] for line in top.splitlines()[1:]}
        assert uids == {str(APP_UID)}, (service, top)


def test_every_container_is_running_and_healthy(host):
    for service in SERVICES:
        state = inspect(host, service)["State"]
        assert state["Running"] and state["Restarting"] is False, (service, state)
        if service in HEALTHCHECKED:
            assert state["Health"]["Status"] == "healthy", (service, state["Health"])
        else:
            assert "Health" not in state, "the poller's healthcheck should be disabled"


def test_health_answers_200_with_the_database_reachable(host):
    health = get_health(host)
    assert health["status"] == 200, health
    assert health["body"]["database"]["reachable"] is True
    assert health["body"]["version"] == UPGRADE


def test_rows_survived_every_step(host):
    assert psql(host, "SELECT step FROM survival ORDER BY id").splitlines() == STEPS


def test_secrets_stay_in_private_files(host):
    for name in (".env", "postgres.env", "mid-server.env"):
        env = host.file(f"{PROJECT_DIR}/{name}")
        assert env.mode == 0o600, name
        assert env.user == "root", name
    password = host.check_output(f"grep '^POSTGRES_PASSWORD=' {PROJECT_DIR}/postgres.env")
    assert password.split("=", 1)[1].strip('"') not in host.file(
        f"{PROJECT_DIR}/compose.yaml").content_string
