"""playbooks/build_push.yml as a Jenkins job runs it, on the real engine, registry and trivy.

Every pipeline pushes to a scratch repository of the lab registry, removed afterwards, and
writes its reports into a workspace of its own, as Jenkins gives each job. The service is
examples/claude-terminal-service with the lab's values from inventories/local; its build
is reused between tests, since the inputs do not change.
"""

import concurrent.futures
import json
import os
import pathlib
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, ansible_playbook, docker, play_recap

PLANTED_CONTEXT = ROOT / "tests" / "system" / "images" / "planted-critical"
JENKINS_VARIABLES = ("GIT_COMMIT", "BRANCH_NAME", "TAG_NAME", "CHANGE_ID", "BUILD_NUMBER",
                     "WORKSPACE")
PLANTED_COUNTS = ("1 CRITICAL (block), 1 HIGH (warn), 2 MEDIUM (inform), 1 LOW (ignore), "
                  "0 UNKNOWN (inform)")


def commit():
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


class Pipeline:
    """One job: a workspace, Jenkins' variables, and the scratch repository it pushes to."""

    def __init__(self, lab, workspace, repository, **jenkins):
        self.lab = lab
        self.workspace = workspace
        self.repository = repository
        self.jenkins = jenkins
        workspace.mkdir(parents=True, exist_ok=True)

    def run(self, **extra_vars):
        env = {name: "" for name in JENKINS_VARIABLES}
        env.update(self.jenkins, WORKSPACE=str(self.workspace))
        varsfile = self.workspace / f"vars-{uuid.uuid4().hex[:6]}.json"
        varsfile.write_text(json.dumps({"build_push_repository": self.repository,
                                        **extra_vars}))
        proc = ansible_playbook("-i", "inventories/local", "playbooks/build_push.yml",
                                "-e", f"@{varsfile}", extra_env=env, timeout=1200)
        return proc.returncode, proc.stdout + proc.stderr

    @property
    def reports(self):
        return self.workspace / "reports"

    def summary(self):
        found = list(self.reports.glob("*.summary.json"))
        assert len(found) == 1, found
        return json.loads(found[0].read_text())

    def registry_tags(self):
        listed = self.lab.get(f"/v2/{self.repository}/tags/list")
        if listed.status_code == 404:
            return set()
        assert listed.status_code == 200, listed.text
        return set(listed.json().get("tags") or [])

    def registry_digest(self, tag):
        served = self.lab.manifest(self.repository, tag)
        assert served.status_code == 200, (tag, served.text)
        return served.headers["Docker-Content-Digest"]

    def clean(self):
        for tag in self.registry_tags():
            self.lab.delete_manifest(self.repository, tag)
        name = f"{self.lab.registry}/{self.repository}"
        listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", name)
        for reference in listed.stdout.split():
            docker("rmi", "--no-prune", reference)


@pytest.fixture
def pipelines(lab, tmp_path):
    made = []

    def make(name="job", **jenkins):
        repository = f"pytest/pipeline-{uuid.uuid4().hex[:10]}"
        made.append(Pipeline(lab, tmp_path / name, repository, **jenkins))
        return made[-1]

    yield make
    for pipeline in made:
        pipeline.clean()


def test_feature_branch_build_pushes_exactly_its_tags_at_one_digest(pipelines):
    sha = commit()
    job = pipelines(GIT_COMMIT=sha, BRANCH_NAME="feature/auth-fix", BUILD_NUMBER="17")

    code, output = job.run()

    assert code == 0, output[-4000:]
    expected = {sha[:7], "feature-auth-fix", "feature-auth-fix-build-17"}
    assert job.registry_tags() == expected
    digests = {tag: job.registry_digest(tag) for tag in expected}
    assert len(set(digests.values())) == 1, digests

    summary = job.summary()
    assert set(summary["tags"]) == expected and summary["digests"] == digests
    assert summary["reference"] == f"{job.lab.registry}/{job.repository}@{digests[sha[:7]]}"
    assert summary["blocked"] is False and summary["git"]["branch"] == "feature/auth-fix"
    assert set(summary["seconds"]) == {"build", "tag", "scan", "push"}
    assert {pathlib.Path(p).parent for p in summary["reports"].values()} == {job.reports}
    for path in summary["reports"].values():
        assert pathlib.Path(path).is_file(), path

    name = f"{job.lab.registry}/{job.repository}"
    for tag, digest in digests.items():
        assert f"pushed {name}:{tag} {digest}" in output
    assert "findings: 0 CRITICAL (block), 0 HIGH (warn)" in output
    assert "seconds: build " in output


def test_only_main_gets_latest_and_pull_requests_never(pipelines):
    sha = commit()
    main = pipelines("main", GIT_COMMIT=sha, BRANCH_NAME="main", BUILD_NUMBER="3")
    pull = pipelines("pr", GIT_COMMIT=sha, BRANCH_NAME="PR-12", CHANGE_ID="12",
                     BUILD_NUMBER="1")

    for job in (main, pull):
        code, output = job.run()
        assert code == 0, output[-4000:]

    assert main.registry_tags() == {sha[:7], "main", "main-build-3", "latest"}
    assert pull.registry_tags() == {sha[:7], "pr-12", "pr-12-build-1"}


def test_planted_critical_is_blocked_and_nothing_reaches_the_registry(pipelines, lab):
    sha = commit()
    job = pipelines(GIT_COMMIT=sha, BRANCH_NAME="feature/auth-fix", BUILD_NUMBER="18")

    code, output = job.run(build_push_context=str(PLANTED_CONTEXT),
                           build_push_base_images=[],
                           build_push_build_args={"BASE_IMAGE": f"{lab.registry}/lab/debian:12"})

    assert code != 0
    recap = play_recap(output)
    assert recap["failed"] == 1, output[-4000:]
    name = f"{lab.registry}/{job.repository}:{sha[:7]}"
    assert f"The scan policy blocks image {name}: {PLANTED_COUNTS}; nothing was pushed" in output
    assert job.registry_tags() == set()
    assert lab.get(f"/v2/{job.repository}/manifests/{sha[:7]}").status_code == 404

    summary = job.summary()
    assert summary["blocked"] is True and summary["pushed"] == [] and summary["digests"] == {}
    assert summary["blocked_by"] == ["CVE-2099-0001 hello"]
    assert summary["warned"] == ["CVE-2099-0002 coreutils"]
    # The HIGH finding is a warning: shown in the play and recorded in the reports.
    assert "CVE-2099-0002" in output

    junit = ET.parse(summary["reports"]["junit"]).getroot()
    failures = {case.get("name"): case.find("failure") for case in junit.iter("testcase")
                if case.find("failure") is not None}
    assert len(failures) == 2, failures
    blocked = [f for f in failures.values() if f.get("type") == "CRITICAL"]
    assert len(blocked) == 1 and "CVE-2099-0001" in blocked[0].get("message")
    assert "blocked by the scan policy" in blocked[0].get("message")
    assert junit.get("failures") == "2"


def test_two_pipelines_at_once_on_one_agent_both_push_their_own_tags(pipelines):
    jobs = {
        "auth": pipelines("auth", GIT_COMMIT=commit(), BRANCH_NAME="feature/auth-fix",
                          BUILD_NUMBER="21"),
        "poller": pipelines("poller", GIT_COMMIT=commit(), BRANCH_NAME="feature/poller",
                            BUILD_NUMBER="7"),
    }
    # Both push to one repository, as two branches of one multibranch job do. The poller
    # branch builds other inputs (its own VERSION), so both jobs really build at once.
    jobs["poller"].repository = jobs["auth"].repository
    extra_vars = {
        "auth": {},
        "poller": {"build_push_build_args": {"RUNTIME_IMAGE": "scratch",
                                             "VERSION": "poller-" + uuid.uuid4().hex[:8]}},
    }

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(job.run, **extra_vars[key]) for key, job in jobs.items()}
        results = {key: future.result() for key, future in futures.items()}

    for key, (code, output) in results.items():
        assert code == 0, (key, output[-4000:])
    auth, poller = jobs["auth"], jobs["poller"]
    expected = {
        "auth": {auth.jenkins["GIT_COMMIT"][:7], "feature-auth-fix", "feature-auth-fix-build-21"},
        "poller": {poller.jenkins["GIT_COMMIT"][:7], "feature-poller", "feature-poller-build-7"},
    }
    assert auth.registry_tags() == expected["auth"] | expected["poller"]
    for key, job in jobs.items():
        summary = job.summary()
        assert set(summary["tags"]) == expected[key]
        served = {tag: job.registry_digest(tag) for tag in expected[key]}
        assert served == summary["digests"] and len(set(served.values())) == 1, served
    # Two builds of different inputs: two images, each behind its own job's tags.
    assert auth.summary()["digests"].keys().isdisjoint(poller.summary()["digests"])
    assert set(auth.summary()["digests"].values()) != set(poller.summary()["digests"].values())
    # Each job wrote only into its own workspace.
    assert not set(os.listdir(auth.reports)) & set(os.listdir(poller.reports))
