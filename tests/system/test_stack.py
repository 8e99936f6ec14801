"""The stack role, deployed to this host with playbooks/deploy_stack.yml.

One stack, under a project name, directory and host ports of its own, lives for the
whole module: the tests run in file order and each starts from the state the one
before left (a deployment is the expensive part). Images come from the lab registry,
built and pushed first where it lacks them: the example service (two builds, for the
upgrade), the PostgreSQL stand-in pinned by digest, and the MID Server stand-in with a
short START_DELAY.
"""

import json
import socket
import stat
import uuid

import pytest
import requests

from conftest import ROOT, ansible_playbook, docker, play_recap

PASSWORD = "pytest-" + uuid.uuid4().hex[:12] + "-$x'\"y"
DB_USER = "claude_user"
DB_NAME = "claude_terminal"
APP_UID = 10001
SERVICES = ["postgres", "claude-terminal-service", "ecc-poller", "servicenow-mid-server"]
IMAGES = {
    "service": "examples/claude-terminal-service:0.1.0",
    "service_upgrade": "examples/claude-terminal-service:0.1.0-debian12",
    "postgres": "examples/postgres-stand-in:15",
    "mid_server": "examples/mid-server-stand-in:1",
}
GO_BUILDER = "examples/go-builder:1.24"
GIB = 1024**3


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """The module's stack: its variables, and what a test reads from the host."""

    def __init__(self, lab, tmp):
        self.project = f"pytest-stack-{uuid.uuid4().hex[:8]}"
        self.dir = tmp / "project"
        self.tmp = tmp
        self.outputs = []
        self.service_port = free_port()
        self.vars = {
            "stack_project_name": self.project,
            "stack_project_dir": str(self.dir),
            "stack_service_image": f"{lab.registry}/{IMAGES['service']}",
            "stack_postgres_image": pinned(lab, IMAGES["postgres"]),
            "stack_mid_server_image": f"{lab.registry}/{IMAGES['mid_server']}",
            "stack_postgres_password": PASSWORD,
            "stack_postgres_host_port": free_port(),
            "stack_service_host_address": "127.0.0.1",
            "stack_service_host_port": self.service_port,
            "stack_mid_server_env": {"START_DELAY": "2", "MID_SERVER_NAME": "pytest"},
            "stack_mid_server_secret_env": {"MID_INSTANCE_PASSWORD": PASSWORD},
            "stack_postgres_healthcheck": {"interval": "2s"},
            "stack_service_healthcheck": {"interval": "2s", "start_period": "5s"},
            "stack_mid_server_healthcheck": {"interval": "2s"},
            "stack_poller_interval": "2s",
            "stack_health_timeout": 120,
            "stack_health_check_delay": 1,
            "stack_health_check_retries": 10,
        }

    def deploy(self, **overrides):
        """Run the playbook with the stack's variables and these overrides."""
        extra = self.tmp / f"vars-{uuid.uuid4().hex[:6]}.json"
        extra.write_text(json.dumps({**self.vars, **overrides}))
        extra.chmod(0o600)
        proc = ansible_playbook("-i", "inventories/local", "playbooks/deploy_stack.yml",
                                "-e", f"@{extra}", timeout=600)
        output = proc.stdout + proc.stderr
        self.outputs.append(output)
        return proc.returncode, output

    def deploy_ok(self, **overrides):
        code, output = self.deploy(**overrides)
        assert code == 0, output[-4000:]
        return play_recap(output)

    def container(self, service):
        return f"{self.project}-{service}-1"

    def inspect(self, service):
        out = docker("inspect", self.container(service))
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)[0]

    def ids(self):
        return {service: self.inspect(service)["Id"] for service in SERVICES}

    def psql(self, sql):
        out = docker("exec", self.container("postgres"), "psql", "-v", "ON_ERROR_STOP=1",
                     "-U", DB_USER, "-d", DB_NAME, "-Atc", sql)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def health(self):
        return requests.get(f"http://127.0.0.1:{self.service_port}/health", timeout=10)

    @property
    def volume(self):
        return f"{self.project}_postgres-data"


def build_arguments(lab, key):
    """The `docker buildx build` arguments of one of the IMAGES, from the lab's bases."""
    service = ROOT / "examples" / "claude-terminal-service"
    stand_ins = ROOT / "examples" / "lab-stand-ins"
    go_image = f"{lab.registry}/{GO_BUILDER}"
    service_args = ["--build-arg", f"GO_IMAGE={go_image}", "--build-arg", "VERSION=0.1.0"]
    return {
        "go": ["-f", str(service / "build" / "go-builder.Dockerfile"),
               "--build-arg", f"BASE_IMAGE={lab.registry}/lab/debian:13", str(service / "build")],
        "service": [*service_args, "--build-arg", "RUNTIME_IMAGE=scratch", str(service)],
        # Another image of the same release, for the upgrade: Debian 12 as runtime base.
        "service_upgrade": [*service_args, "--build-arg",
                            f"RUNTIME_IMAGE={lab.registry}/lab/debian:12", str(service)],
        "postgres": ["--build-arg", f"BASE_IMAGE={lab.registry}/lab/debian:12",
                     str(stand_ins / "postgres")],
        "mid_server": ["--build-arg", f"BASE_IMAGE={lab.registry}/lab/debian:12",
                       str(stand_ins / "mid-server")],
    }[key]


def ensure_images(lab):
    """Build and push whichever of the IMAGES the lab registry lacks, as a pipeline would
    have before a deployment; the Go builder first, since the service is built with it."""
    wanted = {"go": GO_BUILDER, **IMAGES}
    for key, repo_tag in wanted.items():
        repo, tag = repo_tag.rsplit(":", 1)
        if lab.manifest(repo, tag).status_code == 200:
            continue
        reference = f"{lab.registry}/{repo_tag}"
        built = docker("buildx", "build", "--load", "-t", reference, *build_arguments(lab, key))
        assert built.returncode == 0, f"building {reference} failed:\n{built.stderr[-3000:]}"
        pushed = docker("push", reference)
        assert pushed.returncode == 0, f"pushing {reference} failed:\n{pushed.stderr[-3000:]}"


def pinned(lab, repo_tag):
    """repo@sha256:... of an image the lab registry serves."""
    repo, tag = repo_tag.rsplit(":", 1)
    served = lab.manifest(repo, tag)
    assert served.status_code == 200, f"{lab.registry}/{repo_tag} is not in the lab registry"
    return f"{lab.registry}/{repo}@{served.headers['Docker-Content-Digest']}"


@pytest.fixture(scope="module")
def stack(lab, tmp_path_factory):
    ensure_images(lab)
    deployed = Stack(lab, tmp_path_factory.mktemp("stack"))
    try:
        yield deployed
    finally:
        deployed.deploy(stack_state="absent", stack_remove_volumes=True)
        # Whatever the role left behind, should a test have broken it.
        docker("compose", "--project-name", deployed.project, "down", "--volumes",
               "--remove-orphans")
        docker("volume", "rm", deployed.volume)


def test_first_deploy_brings_every_service_up_healthy(stack):
    recap = stack.deploy_ok()
    assert recap["changed"] > 0 and recap["failed"] == 0

    for service in SERVICES:
        state = stack.inspect(service)["State"]
        assert state["Running"], (service, state)
        if service == "ecc-poller":
            assert "Health" not in state, "the poller's healthcheck should be disabled"
        else:
            assert state["Health"]["Status"] == "healthy", (service, state["Health"])

    response = stack.health()
    assert response.status_code == 200
    assert response.json()["database"] == {"address": "postgres:5432", "reachable": True}

    networks = {s: set(stack.inspect(s)["NetworkSettings"]["Networks"]) for s in SERVICES}
    assert all(n == {f"{stack.project}_mid-network"} for n in networks.values()), networks
    mounts = stack.inspect("postgres")["Mounts"]
    assert [(m["Type"], m["Name"]) for m in mounts] == [("volume", stack.volume)]
    assert stack.inspect("postgres")["Config"]["Image"] == stack.vars["stack_postgres_image"]

    stack.psql("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('first deploy');")


def test_mid_server_limits_and_reservations_are_exact(stack):
    host = stack.inspect("servicenow-mid-server")["HostConfig"]
    assert host["NanoCpus"] == 2 * 10**9
    assert host["Memory"] == 4 * GIB
    assert host["MemoryReservation"] == 1 * GIB
    # Compose applies no CPU reservation outside swarm mode: the weight stays the default.
    assert host["CpuShares"] == 0
    health = stack.inspect("servicenow-mid-server")["Config"]["Healthcheck"]
    assert health["StartPeriod"] == 180 * 10**9
    compose = (stack.dir / "compose.yaml").read_text()
    assert 'cpus: "0.5"' in compose and 'memory: "1G"' in compose


def test_service_runs_as_non_root(stack):
    for service in ("claude-terminal-service", "ecc-poller"):
        top = docker("top", stack.container(service), "-eo", "uid,pid,comm")
        assert top.returncode == 0, top.stderr
        uids = {line.split()[0] for line in top.stdout.splitlines()[1:]}
        assert uids == {str(APP_UID)}, (service, top.stdout)
    assert stack.inspect("claude-terminal-service")["Config"]["User"] == f"{APP_UID}:{APP_UID}"


def test_secrets_stay_in_private_files_and_out_of_the_output(stack):
    for name in (".env", "postgres.env", "mid-server.env"):
        info = (stack.dir / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o600, name
        assert info.st_uid == 0, name
    assert PASSWORD not in (stack.dir / "compose.yaml").read_text()
    assert stat.S_IMODE(stack.dir.stat().st_mode) == 0o750
    # The password reached PostgreSQL exactly, quotes and "$" included.
    env = stack.inspect("postgres")["Config"]["Env"]
    assert f"POSTGRES_PASSWORD={PASSWORD}" in env
    for output in stack.outputs:
        assert PASSWORD not in output


def test_second_deploy_changes_nothing(stack):
    before = stack.ids()
    recap = stack.deploy_ok()
    assert recap["changed"] == 0, recap
    assert stack.ids() == before


def test_mid_server_memory_change_recreates_only_the_mid_server(stack):
    before = stack.ids()
    recap = stack.deploy_ok(stack_mid_server_limits_memory="3G")
    assert recap["changed"] > 0
    after = stack.ids()
    assert [s for s in SERVICES if before[s] != after[s]] == ["servicenow-mid-server"]
    assert stack.inspect("servicenow-mid-server")["HostConfig"]["Memory"] == 3 * GIB


def test_image_upgrade_of_the_service_keeps_the_data(stack, lab):
    upgrade = f"{lab.registry}/{IMAGES['service_upgrade']}"
    before = stack.ids()
    stack.deploy_ok(stack_service_image=upgrade)
    stack.vars["stack_service_image"] = upgrade
    after = stack.ids()
    assert before["postgres"] == after["postgres"]
    assert before["claude-terminal-service"] != after["claude-terminal-service"]
    assert stack.inspect("claude-terminal-service")["Config"]["Image"] == upgrade
    assert stack.inspect("ecc-poller")["Config"]["Image"] == upgrade
    assert stack.health().status_code == 200
    assert stack.psql("SELECT body FROM notes") == "first deploy"
    record = json.loads((stack.dir / "deployed-images.json").read_text())
    assert record["images"]["service"] == upgrade


def test_data_survives_a_restart_of_postgres(stack):
    stack.psql("INSERT INTO notes VALUES ('before restart')")
    assert docker("restart", stack.container("postgres")).returncode == 0
    stack.deploy_ok()
    assert stack.psql("SELECT count(*) FROM notes") == "2"


@pytest.mark.parametrize("variable", ["stack_postgres_password", "stack_mid_server_image"])
def test_missing_required_variable_fails_before_anything_is_touched(stack, variable):
    before = stack.ids()
    compose = (stack.dir / "compose.yaml").read_text()
    code, output = stack.deploy(**{variable: ""})
    assert code != 0
    assert f"{variable} is not set" in output
    assert "Pull the image" not in output
    assert stack.ids() == before
    assert (stack.dir / "compose.yaml").read_text() == compose


@pytest.mark.parametrize("overrides, message", [
    ({"stack_mid_server_limits_memory": "4X"},
     "stack_mid_server_limits_memory '4X' is not a memory size"),
    ({"stack_mid_server_reservations_cpus": "half"},
     "stack_mid_server_reservations_cpus 'half' is not a number of CPUs"),
    ({"stack_mid_server_limits_cpus": "0"}, "stack_mid_server_limits_cpus '0' is not"),
    ({"stack_mid_server_reservations_memory": "6G"}, "The MID Server reserves more than"),
    # Compose's binary units (Gi, GiB) as well: 6Gi does not fit in the 4G limit.
    ({"stack_mid_server_reservations_memory": "6Gi"}, "The MID Server reserves more than"),
    ({"stack_mid_server_reservations_cpus": "1.5", "stack_mid_server_limits_cpus": "1"},
     "The MID Server reserves more than"),
    ({"stack_mid_server_limits_cpus": "4096"}, "lower stack_mid_server_limits_cpus"),
])
def test_bad_mid_server_resources_fail_before_anything_is_touched(stack, overrides, message):
    before = stack.ids()
    compose = (stack.dir / "compose.yaml").read_text()
    code, output = stack.deploy(**overrides)
    assert code != 0
    # The YAML callback folds long messages and doubles the quotes inside them.
    assert message in " ".join(output.replace("''", "'").split()), output[-3000:]
    assert "Traceback" not in output
    assert stack.ids() == before
    assert (stack.dir / "compose.yaml").read_text() == compose


def test_image_the_registry_lacks_fails_naming_it_and_leaves_the_stack(stack, lab):
    missing = f"{lab.registry}/examples/claude-terminal-service:pytest-missing-{uuid.uuid4().hex[:6]}"
    before = stack.ids()
    compose = (stack.dir / "compose.yaml").read_text()
    code, output = stack.deploy(stack_service_image=missing)
    assert code != 0
    assert f"Image '{missing}' (stack_service_image) could not be pulled" in output
    assert stack.ids() == before
    assert (stack.dir / "compose.yaml").read_text() == compose
    assert stack.health().status_code == 200


def test_unhealthy_release_names_the_service_and_rolls_back(stack, lab):
    """A "release" that never becomes healthy: the MID Server stand-in's image as the
    service's, which has no /app/claude-terminal-service for the healthcheck to run."""
    good = stack.vars["stack_service_image"]
    broken = f"{lab.registry}/{IMAGES['mid_server']}"
    code, output = stack.deploy(stack_service_image=broken, stack_rollback=True)
    assert code != 0
    assert "service claude-terminal-service is unhealthy" in output
    assert "Last 30 log lines of claude-terminal-service" in output
    assert "LAB STAND-IN for a ServiceNow MID Server" in output  # its last log lines
    assert "Rolled back to the last healthy deployment" in output, output[-5000:]
    for service in ("claude-terminal-service", "ecc-poller"):
        assert stack.inspect(service)["Config"]["Image"] == good
    assert stack.inspect("claude-terminal-service")["State"]["Health"]["Status"] == "healthy"
    assert stack.health().status_code == 200
    record = json.loads((stack.dir / "deployed-images.json").read_text())
    assert record["images"]["service"] == good


def test_port_in_use_fails_naming_the_service_and_the_reason(stack):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, output = stack.deploy(stack_service_host_port=port)
    assert code != 0
    assert "service claude-terminal-service was created but not started" in output
    assert "address already in use" in output or "port is already allocated" in output
    assert f"127.0.0.1:{port}" in output


def test_absent_keeps_the_data_volume_and_a_redeploy_finds_the_rows(stack):
    recap = stack.deploy_ok(stack_state="absent")
    assert recap["changed"] > 0
    for service in SERVICES:
        assert docker("inspect", stack.container(service)).returncode != 0, service
    assert docker("volume", "inspect", stack.volume).returncode == 0
    assert not stack.dir.exists()
    assert stack.deploy_ok(stack_state="absent")["changed"] == 0

    stack.deploy_ok()
    assert stack.psql("SELECT body FROM notes ORDER BY body") == "before restart\nfirst deploy"
    assert stack.health().status_code == 200


def test_absent_with_volume_removal_removes_the_data(stack):
    stack.deploy_ok(stack_state="absent", stack_remove_volumes=True)
    assert docker("volume", "inspect", stack.volume).returncode != 0
    assert docker("network", "inspect", f"{stack.project}_mid-network").returncode != 0
