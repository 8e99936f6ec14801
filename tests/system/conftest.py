"""Fixtures for tests that run against the real lab on this machine.

They expect `make lab` (or `make test`, which runs it first) to have built the
lab with its default settings.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import uuid

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
LAB_CONFIG_DIR = pathlib.Path(os.environ.get("LAB_CONFIG_DIR", "/etc/claude_stack_lab"))
LAB_PORT = int(os.environ.get("LAB_REGISTRY_PORT", "5443"))
LAB_USER = os.environ.get("LAB_REGISTRY_USERNAME", "lab")
PASSWORD_FILE = pathlib.Path.home() / ".local/share/claude_stack_lab/registry-password"
REGISTRY_CONTAINER = "claude-stack-lab-registry"
# The lab's Trivy DB and the CA bundle that lets Go programs such as Trivy trust the lab.
TRIVY = BIN / "trivy"
TRIVY_DB_REPOSITORY = f"127.0.0.1:{LAB_PORT}/trivy/db"
CA_BUNDLE = LAB_CONFIG_DIR / "pki" / "ca-bundle.crt"
ROOT_DOCKER_CONFIG = pathlib.Path.home() / ".docker"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class Lab:
    """What a test needs to know about the lab registry."""

    def __init__(self):
        self.registry = f"127.0.0.1:{LAB_PORT}"
        self.ca = LAB_CONFIG_DIR / "pki" / "ca.crt"
        self.username = LAB_USER
        self.password = PASSWORD_FILE.read_text().split()[0]

    def url(self, path):
        return f"https://{self.registry}{path}"

    def get(self, path, auth=True, **kwargs):
        creds = (self.username, self.password) if auth else None
        return requests.get(self.url(path), auth=creds, verify=str(self.ca), timeout=30, **kwargs)

    def manifest(self, repo, reference):
        return self.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES})

    def delete_manifest(self, repo, reference):
        """Remove a test's manifest again; the registry allows deletes."""
        served = self.manifest(repo, reference)
        if served.status_code == 200:
            digest = served.headers["Docker-Content-Digest"]
            requests.delete(
                self.url(f"/v2/{repo}/manifests/{digest}"),
                auth=(self.username, self.password), verify=str(self.ca), timeout=30,
            )


@pytest.fixture(scope="session")
def lab():
    if not PASSWORD_FILE.exists() or not (LAB_CONFIG_DIR / "pki" / "ca.crt").exists():
        pytest.fail("the lab is not built: run `make lab` first")
    return Lab()


def run(argv, **kwargs):
    """Run a command, capturing text output, never raising on a non-zero exit."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 900)
    return subprocess.run(argv, check=False, **kwargs)


@pytest.fixture
def docker_config(tmp_path):
    """An empty Docker client configuration: no stored credentials."""
    path = tmp_path / "docker-config"
    path.mkdir()
    return path


@pytest.fixture
def scratch_repo(lab):
    """A repository name in the lab registry that no other test uses."""
    return f"pytest/{uuid.uuid4().hex[:12]}"


def docker(*args, config=None, **kwargs):
    env = dict(os.environ)
    if config is not None:
        env["DOCKER_CONFIG"] = str(config)
    return run(["docker", *args], env=env, **kwargs)


def ansible_playbook(*args, extra_env=None, timeout=1800):
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra_env or {})
    return run(["ansible-playbook", *args], env=env, cwd=ROOT, timeout=timeout)


def play_recap(output):
    """The PLAY RECAP counters of one host, as a dict of ints."""
    for line in output.splitlines():
        if " : ok=" in line:
            counters = line.split(" : ", 1)[1]
            return {k: int(v) for k, v in (c.split("=") for c in counters.split())}
    raise AssertionError(f"no PLAY RECAP in output:\n{output[-3000:]}")


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def container_logs(name):
    result = docker("logs", name)
    return result.stdout + result.stderr


def trivy(command, *args, cache_dir, config=ROOT_DOCKER_CONFIG, **kwargs):
    """Run the real trivy with the lab's DB, a cache of the test's own, the lab CA bundle,
    and the Docker client configuration `config` for the registry login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIVY_")}
    env["SSL_CERT_FILE"] = str(CA_BUNDLE)
    env["DOCKER_CONFIG"] = str(config)
    argv = [str(TRIVY), command, "--cache-dir", str(cache_dir), "--cache-backend", "memory",
            "--db-repository", TRIVY_DB_REPOSITORY, "--no-progress", *args]
    return run(argv, env=env, **kwargs)


def require(tool):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: run `make bootstrap`")


def run_module(module, args, check=False, diff=False, env=None, timeout=1800):
    """Run one module of the collection on localhost, as a user's task would.

    Returns (result, output): the module's result as a dict (with "failed" set on
    failure) and the whole text Ansible printed, to check what reaches a log.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="run-module-") as tmp:
        argsfile = pathlib.Path(tmp) / "args.json"
        argsfile.write_text(json.dumps({"module_args": args}))
        playbook = pathlib.Path(tmp) / "play.yml"
        playbook.write_text(
            "- hosts: localhost\n"
            "  gather_facts: false\n"
            "  tasks:\n"
            f"    - {module}: '{{{{ module_args }}}}'\n"
            "      environment: '{{ module_env | default({}) }}'\n"
        )
        extra = ["-e", f"@{argsfile}"]
        if env:
            envfile = pathlib.Path(tmp) / "env.json"
            envfile.write_text(json.dumps({"module_env": env}))
            extra += ["-e", f"@{envfile}"]
        flags = (["--check"] if check else []) + (["--diff"] if diff else [])
        proc = ansible_playbook(
            "-i", "inventories/local", str(playbook), *extra, *flags,
            extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                       "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"},
            timeout=timeout,
        )
    output = proc.stdout + proc.stderr
    try:
        report = json.loads(proc.stdout[proc.stdout.index("{"):])
        result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError) as exc:
        raise AssertionError(f"no module result in output ({exc}):\n{output[-3000:]}") from exc
    return result, output


# Ansible masks no_log values as exactly eight asterisks. Its banner lines ("TASK [x] ***")
# are padded with asterisks too, sometimes eight, so they are left out of the search.
_MASK = re.compile(r"(?<!\*)\*{8}(?!\*)")
_BANNER = re.compile(r"^(TASK|PLAY|PLAY RECAP|RUNNING HANDLER|HANDLER|TASKS RECAP)\b.*\*+$")


def assert_never_shown(secret, *texts):
    """A secret appears in none of the texts, neither as itself nor as Ansible's mask."""
    for text in texts:
        assert secret not in text
        lines = [line for line in text.splitlines() if not _BANNER.match(line)]
        masked = [line for line in lines if _MASK.search(line)]
        assert not masked, "a no_log value reached the output, masked: %s" % masked[:3]
