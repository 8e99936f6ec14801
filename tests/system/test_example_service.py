"""The example service and the lab stand-ins, built and run on the real engine.

The images are built once per module with the docker CLI (buildx), the way the
examples' READMEs say: the Go toolchain image from the lab's Debian 13, the
service on `scratch` (the lab's runtime base), the builder stage on its own for
the size comparison, and the PostgreSQL stand-in.
"""

import io
import json
import pathlib
import tarfile
import time
import uuid

import pytest
import requests

from conftest import ROOT, container_logs, docker

SERVICE_DIR = ROOT / "examples" / "claude-terminal-service"
STAND_INS = ROOT / "examples" / "lab-stand-ins"
APP_UID = 10001
DB_USER = "claude_user"
DB_NAME = "claude_terminal"
COMPILERS = {"go", "gofmt", "gcc", "cc", "ld", "as"}


def unique(kind):
    return f"pytest-example-{kind}-{uuid.uuid4().hex[:10]}"


def wait_for(what, predicate, timeout=60, interval=1.0):
    """Poll predicate until it returns something true; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(interval)


def inspect(kind, name):
    out = docker(kind, "inspect", name)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def health_status(container):
    state = inspect("container", container)["State"]
    return (state.get("Health") or {}).get("Status")


@pytest.fixture(scope="module")
def images(lab):
    """Build every image once; yield their references; remove only our tags."""
    tag = f"pytest-{uuid.uuid4().hex[:10]}"
    base = f"{lab.registry}/examples"
    refs = {
        "go": f"{base}/go-builder:{tag}",
        "runtime": f"{base}/claude-terminal-service:{tag}",
        "builder": f"{base}/claude-terminal-service:{tag}-builder",
        "postgres": f"{base}/postgres-stand-in:{tag}",
    }
    service_args = [
        "--build-arg", f"GO_IMAGE={refs['go']}",
        "--build-arg", "RUNTIME_IMAGE=scratch",
        "--build-arg", "VERSION=9.9.9-pytest",
    ]
    builds = [
        ("go", ["-f", str(SERVICE_DIR / "build" / "go-builder.Dockerfile"),
                "--build-arg", f"BASE_IMAGE={lab.registry}/lab/debian:13",
                str(SERVICE_DIR / "build")]),
        ("runtime", [*service_args, str(SERVICE_DIR)]),
        ("builder", [*service_args, "--target", "builder", str(SERVICE_DIR)]),
        ("postgres", ["--build-arg", f"BASE_IMAGE={lab.registry}/lab/debian:12",
                      str(STAND_INS / "postgres")]),
    ]
    try:
        for key, args in builds:
            built = docker("buildx", "build", "--load", "-t", refs[key], *args)
            assert built.returncode == 0, f"building {key} failed:\n{built.stderr[-3000:]}"
        yield refs
    finally:
        for ref in refs.values():
            docker("rmi", ref)


@pytest.fixture
def cleanup():
    """Remove the containers, networks and volumes a test registers, in reverse order."""
    registered = []
    yield lambda kind, name: registered.append((kind, name)) or name
    for kind, name in reversed(registered):
        if kind == "container":
            docker("rm", "-f", "-v", name)
        else:
            docker(kind, "rm", name)


def run_postgres(images, cleanup, network=None, volume=None):
    """Start the PostgreSQL stand-in and wait for its own HEALTHCHECK to pass.

    Returns the container's name and the superuser password it was given.
    """
    name = cleanup("container", unique("postgres"))
    password = f"pytest-{uuid.uuid4().hex}"
    args = ["run", "-d", "--name", name, "-e", f"POSTGRES_USER={DB_USER}",
            "-e", f"POSTGRES_DB={DB_NAME}", "-e", f"POSTGRES_PASSWORD={password}"]
    if network:
        args += ["--network", network, "--network-alias", "postgres"]
    if volume:
        args += ["-v", f"{volume}:/var/lib/postgresql/data"]
    started = docker(*args, images["postgres"])
    assert started.returncode == 0, started.stderr
    wait_for(f"{name} healthy", lambda: health_status(name) == "healthy", timeout=90)
    return name, password


def psql(container, sql):
    return docker("exec", container, "psql", "-v", "ON_ERROR_STOP=1", "-U", DB_USER,
                  "-d", DB_NAME, "-Atc", sql)


def export(ref, path=None):
    """A tar of the image's whole filesystem (`docker export`), or of one path in it
    (`docker cp`), taken from a container that is created and never started."""
    created = docker("create", ref)
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    try:
        if path is None:
            out = docker("export", container, text=False)
        else:
            out = docker("cp", f"{container}:{path}", "-", text=False)
        assert out.returncode == 0, out.stderr
    finally:
        docker("rm", container)
    return tarfile.open(fileobj=io.BytesIO(out.stdout))


def filesystem(ref):
    """Every path in the image's filesystem, without the leading "./"."""
    with export(ref) as tar:
        return {member.name.lstrip("./"): member for member in tar.getmembers()}


def test_runtime_image_holds_the_binaries_and_no_compiler(images):
    files = filesystem(images["runtime"])
    assert {"app/claude-terminal-service", "app/ecc-poller", "app/.env.example",
            "etc/ssl/certs/ca-certificates.crt"} <= set(files)
    found = sorted(p for p in files if pathlib.PurePath(p).name in COMPILERS
                   or p.startswith(("usr/lib/go", "usr/local/go", "go/")))
    assert not found, f"the runtime image holds build tools: {found}"
    assert files["tmp/claude-sessions"].uid == APP_UID
    assert files["app/claude-terminal-service"].uid == 0, "the service must not own its binary"
    # The same check would have caught a compiler: the builder stage has one.
    version = docker("run", "--rm", images["builder"], "go", "version")
    assert version.stdout.startswith("go version go1."), version.stderr


def test_runtime_image_is_far_smaller_than_the_builder(images):
    runtime = inspect("image", images["runtime"])["Size"]
    builder = inspect("image", images["builder"])["Size"]
    print(f"runtime {runtime / 1e6:.1f} MB, builder {builder / 1e6:.1f} MB")
    assert runtime < builder / 3, (runtime, builder)


def test_runtime_image_runs_as_appuser(images, cleanup):
    config = inspect("image", images["runtime"])["Config"]
    assert config["User"] == f"{APP_UID}:{APP_UID}"
    assert config["Healthcheck"]["Test"] == ["CMD", "/app/claude-terminal-service",
                                             "-healthcheck"]
    with export(images["runtime"], "/etc/passwd") as tar:
        passwd = tar.extractfile("passwd").read().decode()
    assert f"appuser:x:{APP_UID}:{APP_UID}:" in passwd
    version = docker("run", "--rm", images["runtime"], "./claude-terminal-service", "-version")
    assert version.stdout.strip() == "claude-terminal-service 9.9.9-pytest", version.stderr

    name = cleanup("container", unique("uid"))
    started = docker("run", "-d", "--name", name, images["runtime"])
    assert started.returncode == 0, started.stderr
    top = docker("top", name, "-eo", "uid,pid,comm")
    assert top.returncode == 0, top.stderr
    uids = {line.split()[0] for line in top.stdout.splitlines()[1:]}
    assert uids == {str(APP_UID)}, top.stdout


def test_health_and_poller_follow_postgres(images, cleanup):
    network = cleanup("network", unique("net"))
    assert docker("network", "create", network).returncode == 0
    postgres, dummy = run_postgres(images, cleanup, network=network)

    service = cleanup("container", unique("service"))
    started = docker("run", "-d", "--name", service, "--network", network,
                     "--network-alias", "claude-terminal-service", "-p", "127.0.0.1::3000",
                     "-e", "DB_HOST=postgres", "-e", "DB_PORT=5432",
                     "--health-interval", "2s", images["runtime"])
    assert started.returncode == 0, started.stderr
    poller = cleanup("container", unique("poller"))
    started = docker("run", "-d", "--name", poller, "--network", network,
                     "-e", "NODE_SERVICE_HOST=claude-terminal-service", "-e", "POLL_INTERVAL=1s",
                     images["runtime"], "./ecc-poller")
    assert started.returncode == 0, started.stderr

    address = docker("port", service, "3000/tcp").stdout.split()[0]
    assert address.startswith("127.0.0.1:")
    url = f"http://{address}/health"

    def answer(code):
        """The JSON body of /health if it answers with code (a 503 Response is falsy)."""
        try:
            response = requests.get(url, timeout=5)
        except requests.ConnectionError:
            return None
        return response.json() if response.status_code == code else None

    body = wait_for("/health answering 200", lambda: answer(200), timeout=30)
    assert body["service"] == "claude-terminal-service"
    assert body["version"] == "9.9.9-pytest"
    assert body["database"] == {"address": "postgres:5432", "reachable": True}
    wait_for(f"{service} healthy", lambda: health_status(service) == "healthy", timeout=30)

    assert docker("stop", postgres).returncode == 0
    down = wait_for("/health answering 503", lambda: answer(503), timeout=30)
    assert down.keys() == body.keys()
    assert down["status"] == "unavailable" and down["database"]["reachable"] is False
    wait_for(f"{service} unhealthy", lambda: health_status(service) == "unhealthy", timeout=30)

    wait_for("the poller logging a 503",
             lambda: "status=503" in container_logs(poller), timeout=10)
    polls = [line for line in container_logs(poller).splitlines() if "msg=poll " in line]
    assert any("status=200" in line and "health=ok" in line for line in polls), polls
    assert all("latency_ms=" in line for line in polls), polls

    assert docker("stop", "-t", "5", service, poller).returncode == 0
    for name in (service, poller):
        assert inspect("container", name)["State"]["ExitCode"] == 0, container_logs(name)
    requests_logged = [line for line in container_logs(service).splitlines()
                       if "msg=request" in line]
    assert any("path=/health" in line and "status=503" in line for line in requests_logged)


def test_postgres_stand_in_keeps_data_across_recreation(images, cleanup):
    volume = cleanup("volume", unique("pgdata"))
    assert docker("volume", "create", volume).returncode == 0

    first, password = run_postgres(images, cleanup, volume=volume)
    created = psql(first, "CREATE TABLE notes (body text); "
                          "INSERT INTO notes VALUES ('survives recreation');")
    assert created.returncode == 0, created.stderr
    assert password not in container_logs(first)
    assert docker("rm", "-f", first).returncode == 0

    second, dummy = run_postgres(images, cleanup, volume=volume)
    selected = psql(second, "SELECT body FROM notes")
    assert selected.stdout.strip() == "survives recreation", selected.stderr
    assert "using the existing database cluster" in container_logs(second)
