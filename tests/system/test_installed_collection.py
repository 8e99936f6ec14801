"""The collection as users get it: built with ansible-galaxy, installed into an empty
collections path, its playbooks run by their full names with nothing of the source tree on
any path - no checkout, no ansible.cfg of the checkout, no collection link.
"""

import json
import os
import pathlib
import sysconfig
import tarfile
import uuid

import pytest

from conftest import BIN, ROOT, assert_never_shown, docker, run

JENKINS_VARIABLES = ("GIT_COMMIT", "BRANCH_NAME", "TAG_NAME", "CHANGE_ID", "BUILD_NUMBER",
                     "WORKSPACE")
# What a tarball must never carry: the checkout's state and tooling, and the system tests.
KEPT_OUT = (".venv/", ".build/", ".collections/", ".ansible/", ".pytest_cache/", ".git/",
            "tests/output/", "tests/system/", "hack/")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The tarball and the collections path it was installed into, with an environment
    that sees only that path."""
    home = tmp_path_factory.mktemp("installed")
    collections = home / "collections"
    collections.mkdir()
    (home / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANSIBLE_") and k not in JENKINS_VARIABLES}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        # Not the collections bundled in the ansible package beside the interpreter either:
        # the playbook must run on what the tarball carries and ansible-core alone.
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    built = run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path",
                 str(home), str(ROOT)], cwd=home, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next(home.glob("midserver-claude_stack-*.tar.gz"))
    installed = run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps",
                     "-p", str(collections), str(tarball)], cwd=home, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return home, tarball, collections, env


def test_tarball_carries_the_collection_and_none_of_the_checkout(installed):
    tarball = installed[1]
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for wanted in ("MANIFEST.json", "playbooks/build_push.yml", "playbooks/site.yml",
                   "roles/build_push/tasks/main.yml", "plugins/modules/image_scan.py",
                   "examples/claude-terminal-service/Dockerfile", "examples/Jenkinsfile",
                   "inventories/example/hosts.yml"):
        assert wanted in names, wanted
    leaked = [n for n in names if any((n + "/").startswith(p) for p in KEPT_OUT)]
    assert leaked == []
    assert not [n for n in names if n.endswith(".tar.gz") or "__pycache__" in n]


def test_installed_playbook_runs_build_push_by_its_full_name(installed, lab):
    home, collections, env = installed[0], installed[2], installed[3]
    listed = run([str(BIN / "ansible-galaxy"), "collection", "list", "midserver.claude_stack",
                  "--format", "json"], cwd=home, env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert list(json.loads(listed.stdout)) == [str(collections / "ansible_collections")]

    collection = collections / "ansible_collections" / "midserver" / "claude_stack"
    service = collection / "examples" / "claude-terminal-service"
    (home / "hosts.json").write_text(json.dumps({"agents": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python")}}}}))
    repository = f"pytest/installed-{uuid.uuid4().hex[:10]}"
    varsfile = home / "vars.json"
    varsfile.write_text(json.dumps({
        "build_push_context": str(service),
        "build_push_base_images": [{
            "build_arg": "GO_IMAGE", "context": str(service / "build"),
            "dockerfile": "go-builder.Dockerfile", "tag": "claude-stack-lab/go-builder:1.24",
            "build_args": {"BASE_IMAGE": f"{lab.registry}/lab/debian:13"}}],
        "build_push_build_args": {"RUNTIME_IMAGE": "scratch"},
        "build_push_registry": lab.registry,
        "build_push_repository": repository,
        "build_push_registry_username": lab.username,
        "build_push_registry_password": lab.password,
        "build_push_scan_db_repository": [f"{lab.registry}/trivy/db"],
        "build_push_scan_ca_cert": str(lab.ca),
    }))
    varsfile.chmod(0o600)
    sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    workspace = home / "workspace"
    expected = {sha[:7], "feature-installed", "feature-installed-build-5"}
    job_env = dict(env, GIT_COMMIT=sha, BRANCH_NAME="feature/installed", BUILD_NUMBER="5",
                   WORKSPACE=str(workspace))
    try:
        proc = run([str(BIN / "ansible-playbook"), "-i", str(home / "hosts.json"),
                    "midserver.claude_stack.build_push", "-e", f"@{varsfile}"],
                   cwd=home, env=job_env, timeout=1200)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        # Every role, module and example came from the installed copy.
        assert str(ROOT) not in output
        assert_never_shown(lab.password, output)
        tags = lab.get(f"/v2/{repository}/tags/list")
        assert tags.status_code == 200 and set(tags.json()["tags"]) == expected, tags.text
        summaries = list((workspace / "reports").glob("*.summary.json"))
        assert len(summaries) == 1
        assert set(json.loads(summaries[0].read_text())["tags"]) == expected
    finally:
        for tag in expected:
            lab.delete_manifest(repository, tag)
            docker("rmi", "--no-prune", f"{lab.registry}/{repository}:{tag}")


def test_installed_playbook_runs_deploy_stack_by_its_full_name(installed, tmp_path):
    """deploy_stack from the installed copy, with community.docker (its dependency) from the
    ansible package beside the interpreter, as a user who installed both has them: taking
    down a stack that a project directory of its own holds, volume included."""
    home, collections, env = installed[0], installed[2], installed[3]
    # The site-packages of this interpreter, where the ansible package keeps its collections
    # (not ansible_collections' search path, which Ansible's loader rewrites once imported).
    bundled = pathlib.Path(sysconfig.get_paths()["purelib"])
    assert (bundled / "ansible_collections" / "community" / "docker").is_dir(), bundled
    env = dict(env, ANSIBLE_COLLECTIONS_PATH=f"{collections}{os.pathsep}{bundled}")
    project = f"pytest-installed-{uuid.uuid4().hex[:8]}"
    project_dir = tmp_path / project
    project_dir.mkdir()
    (project_dir / "compose.yaml").write_text("services: {}\n")
    volume = f"{project}_postgres-data"
    assert docker("volume", "create", volume).returncode == 0
    (home / "targets.json").write_text(json.dumps({"targets": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python")}}}}))
    try:
        proc = run([str(BIN / "ansible-playbook"), "-i", str(home / "targets.json"),
                    "midserver.claude_stack.deploy_stack", "-e", "stack_state=absent",
                    "-e", "stack_remove_volumes=true", "-e", f"stack_project_name={project}",
                    "-e", f"stack_project_dir={project_dir}"], cwd=home, env=env, timeout=600)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        assert str(ROOT) not in output
        assert "midserver.claude_stack.stack : Remove the PostgreSQL data volume" in output
        assert not project_dir.exists()
        assert docker("volume", "inspect", volume).returncode != 0
    finally:
        docker("volume", "rm", volume)
