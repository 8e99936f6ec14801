"""Benchmarks: what the collection costs over the raw tools, and what the build cache buys.

Run from the checkout, on the local lab (`make lab`), with the virtualenv's Python:

    .venv/bin/python bench/run.py [--runs N] [--only P1,P3] [--json FILE] [--markdown FILE]

Each measure times the collection's way and the raw tool's way of doing the same work,
side by side in one run: the two sides take turns, so that the load of a shared machine
falls on both alike. A figure is the median of the runs, with their minimum and maximum;
a ratio is the median of our side over the median of the other side, judged against its
goal. Measures that cannot run here say why and the others go on.

Timings of the Ansible side are of whole `ansible-playbook` runs (what a user waits for)
and, where Ansible's start-up would hide the module, of the task alone as the
ansible.posix.json callback reports it (the module's transfer, start and work on
localhost), or of the `duration` the module returns.
"""

import argparse
import base64
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import docker as docker_sdk

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
PREFIX = "bench"
REGISTRY = "127.0.0.1:" + os.environ.get("LAB_REGISTRY_PORT", "5443")
# The lab registry as containers see it, on the docker0 address.
AGENT_REGISTRY = "172.17.0.1:" + os.environ.get("LAB_REGISTRY_PORT", "5443")
LAB_PKI = pathlib.Path(os.environ.get("LAB_CONFIG_DIR", "/etc/claude_stack_lab")) / "pki"
LAB_USER = "lab"
PASSWORD_FILE = pathlib.Path.home() / ".local/share/claude_stack_lab/registry-password"
TRIVY_DB = REGISTRY + "/trivy/db"
SERVICE_DIR = ROOT / "examples" / "claude-terminal-service"
STAND_INS = ROOT / "examples" / "lab-stand-ins"
BENCH_REPO = REGISTRY + "/" + PREFIX
GO_IMAGE = BENCH_REPO + "/go-builder:1.24"
COMMIT = "4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
CACHE_MOUNT = re.compile(r"--mount=type=cache,target=(\S+)")
AGENT_IMAGE = REGISTRY + "/lab/debian-systemd:12"
# Agents are reached with `docker exec`; pipelining, as ansible.cfg sets it for SSH and the
# molecule scenarios for their containers, saves a file copy per task.
AGENT_ENV = {"ANSIBLE_PIPELINING": "true"}
STACK_SERVICES = ["postgres", "claude-terminal-service", "ecc-poller", "servicenow-mid-server"]

MEASURES = {
    "P1": "image_build / docker buildx build, cold and warm",
    "P2": "warm rebuild after a one-line Go change / clean build",
    "P3": "unchanged rebuild through image_build / clean build",
    "P4": "image_push / community.docker.docker_image_push, and / docker push",
    "P5": "image_tag / community.docker.docker_image_tag, and / docker tag",
    "P6": "image_scan / trivy image",
    "P7": "provision_agents second run / first run, changed=0",
    "P8": "runtime image size / builder stage size",
    "P9": "deploy_stack to healthy / docker compose up -d --wait",
    "P10": "four agents provisioned in one run / one agent",
}


class BenchError(Exception):
    """A step the benchmark needs failed; the message says which and why."""


class NotRun(Exception):
    """A measure cannot run on this machine; the message says why."""


def now():
    return time.monotonic()


def run(argv, check=True, timeout=1800, **kwargs):
    """Run a command with text output captured; raise BenchError naming it on failure."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    try:
        proc = subprocess.run(argv, check=False, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise BenchError("%s did not finish within %d s" % (" ".join(argv[:3]), timeout)) from exc
    if check and proc.returncode != 0:
        tail = ((proc.stderr or "") + (proc.stdout or ""))[-2000:]
        raise BenchError("%s failed (rc %d): %s" % (" ".join(argv[:4]), proc.returncode, tail))
    return proc


def timed(argv, **kwargs):
    """(seconds, completed process) of one command."""
    started = now()
    proc = run(argv, **kwargs)
    return now() - started, proc


def docker(*args, **kwargs):
    return run(["docker", *args], **kwargs)


def summary(samples):
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "samples": [round(s, 3) for s in samples]}


class Row:
    """One line of the table: our side against the other side, with a goal for the ratio."""

    def __init__(self, measure, label, ours, theirs, goal, unit="s", note="", miss=False):
        self.measure = measure
        self.miss = miss
        self.label = label
        self.ours = list(ours)
        self.theirs = list(theirs)
        self.goal = goal
        self.unit = unit
        self.note = note

    def ratio(self):
        return statistics.median(self.ours) / statistics.median(self.theirs)

    def paired(self):
        """The median of the per-run ratios, when both sides ran the same number of times:
        steadier than the ratio of medians when the load changes between runs."""
        if len(self.ours) != len(self.theirs) or len(self.ours) < 2:
            return None
        return round(statistics.median(o / t for o, t in zip(self.ours, self.theirs)), 4)

    def verdict(self, ratio):
        if self.goal is None:
            return "info"
        return "pass" if ratio <= self.goal and not self.miss else "miss"

    def as_dict(self):
        ratio = self.ratio()
        return {"measure": self.measure, "label": self.label, "unit": self.unit,
                "ours": summary(self.ours), "theirs": summary(self.theirs),
                "ratio": round(ratio, 4), "paired_ratio": self.paired(), "goal": self.goal,
                "result": self.verdict(ratio), "note": self.note}


class Lab:
    """What the benchmark needs from the lab: registry credentials and the CA."""

    def __init__(self):
        if not PASSWORD_FILE.exists() or not (LAB_PKI / "ca.crt").exists():
            raise BenchError("the lab is not built: run `make lab` first")
        self.password = PASSWORD_FILE.read_text().split()[0]
        self.ca = LAB_PKI / "ca.crt"
        self.context = ssl.create_default_context(cafile=str(self.ca))

    def _request(self, method, path, headers=None):
        request = urllib.request.Request("https://%s%s" % (REGISTRY, path), method=method,
                                         headers=dict(headers or {}))
        token = "%s:%s" % (LAB_USER, self.password)
        request.add_header("Authorization",
                           "Basic " + base64.b64encode(token.encode()).decode())
        return urllib.request.urlopen(request, context=self.context, timeout=30)

    def delete_tag(self, repository, tag):
        """Remove a pushed tag of ours again (the lab registry allows deletes)."""
        accept = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                            "application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.oci.image.index.v1+json",
                            "application/vnd.docker.distribution.manifest.list.v2+json"])
        try:
            with self._request("HEAD", "/v2/%s/manifests/%s" % (repository, tag),
                               {"Accept": accept}) as answer:
                digest = answer.headers["Docker-Content-Digest"]
            with self._request("DELETE", "/v2/%s/manifests/%s" % (repository, digest)):
                pass
        except (urllib.error.URLError, OSError, KeyError):
            pass


class Ansible:
    """Runs playbooks from the checkout with the json callback, timing each run."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.env = dict(os.environ)
        self.env.update({
            "PATH": "%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_NOCOLOR": "1",
        })

    def _file(self, stem, data):
        path = self.workdir / ("%s-%s.json" % (stem, uuid.uuid4().hex[:8]))
        path.write_text(json.dumps(data))
        path.chmod(0o600)
        return path

    def playbook(self, playbook, extra_vars=None, inventory="inventories/local", timeout=3600,
                 check=True, env=None):
        """Run one playbook; return a PlayRun (wall time, per-task times, stats)."""
        argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
        if extra_vars:
            argv += ["-e", "@%s" % self._file("vars", extra_vars)]
        wall, proc = timed(argv, env=dict(self.env, **(env or {})), cwd=ROOT, timeout=timeout,
                           check=False)
        return PlayRun(wall, proc, check)

    def tasks(self, tasks, extra_vars=None, **kwargs):
        """Run tasks in one play on localhost, without fact gathering."""
        play = [{"name": "Benchmark", "hosts": "localhost", "gather_facts": False,
                 "tasks": tasks}]
        return self.playbook(self._file("play", play), extra_vars, **kwargs)


class PlayRun:
    """The outcome of one ansible-playbook run, read from the json callback."""

    def __init__(self, wall, proc, check):
        self.wall = wall
        self.output = proc.stdout + proc.stderr
        try:
            self.report = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError as exc:
            raise BenchError("ansible-playbook printed no report (rc %d): %s"
                             % (proc.returncode, self.output[-2000:])) from exc
        self.failed = proc.returncode != 0
        if check and self.failed:
            raise BenchError("ansible-playbook failed: %s" % self.failure())

    def failure(self):
        for task in self.results():
            for host, result in task["hosts"].items():
                if result.get("failed") or result.get("unreachable"):
                    return "%s on %s: %s" % (task["task"]["name"], host,
                                             str(result.get("msg", ""))[:1500])
        return self.output[-2000:]

    def results(self):
        return [task for play in self.report["plays"] for task in play["tasks"]]

    def result(self, index=0, host="localhost"):
        return self.results()[index]["hosts"][host]

    def task_seconds(self, index=0):
        """Seconds one task took, from the callback's start and end stamps."""
        duration = self.results()[index]["task"]["duration"]
        if "end" not in duration:  # meta tasks are never ended
            return 0.0
        return (parse_stamp(duration["end"]) - parse_stamp(duration["start"])).total_seconds()

    def stats(self):
        return self.report["stats"]

    def changed(self):
        return sum(host["changed"] for host in self.stats().values())

    def profile(self, top=8):
        """The slowest tasks of the run, as (seconds, name), for the report's profile."""
        timings = []
        for index, task in enumerate(self.results()):
            timings.append((round(self.task_seconds(index), 2), task["task"]["name"]))
        return sorted(timings, reverse=True)[:top]


def parse_stamp(stamp):
    return datetime.datetime.strptime(stamp.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")


class Bench:
    """The measures, their shared set-up, and the clean-up of what they made."""

    def __init__(self, runs, workdir):
        self.runs = runs
        self.workdir = workdir
        self.lab = Lab()
        self.ansible = Ansible(workdir)
        self.images = set()
        self.containers = set()
        self.pushed = []
        self.cache_ids = set()
        self.cache_mounts_before = None
        self.profiles = {}
        self._builds = None
        self._first_agents = []

    # --- helpers ---------------------------------------------------------------------

    def tag(self, name):
        reference = "%s/%s" % (BENCH_REPO, name)
        self.images.add(reference)
        return reference

    def order(self, index, sides):
        """The sides in turn, the other way round every second run."""
        return sides if index % 2 == 0 else list(reversed(sides))

    def ensure_image(self, reference):
        if docker("image", "inspect", reference, check=False).returncode != 0:
            docker("pull", reference)

    def small_image(self, name, payload_mb=0):
        """Build a unique image (a payload of its own) and return its reference."""
        context = self.workdir / ("img-" + uuid.uuid4().hex[:10])
        context.mkdir()
        if payload_mb:
            self.ensure_image(REGISTRY + "/lab/debian:12")
            (context / "payload").write_bytes(os.urandom(payload_mb * 1024 * 1024))
            base = REGISTRY + "/lab/debian:12"
        else:
            (context / "payload").write_text(uuid.uuid4().hex)
            base = "scratch"
        (context / "Dockerfile").write_text("FROM %s\nCOPY payload /payload\n" % base)
        reference = self.tag(name)
        docker("buildx", "build", "--load", "-q", "-t", reference, str(context))
        shutil.rmtree(context)
        return reference

    def go_builder(self):
        """The lab's Go toolchain image (Debian 13's Go), built once from the example."""
        self.images.add(GO_IMAGE)
        docker("buildx", "build", "--load", "-q", "-t", GO_IMAGE,
               "-f", str(SERVICE_DIR / "build" / "go-builder.Dockerfile"),
               "--build-arg", "BASE_IMAGE=%s/lab/debian:13" % REGISTRY,
               str(SERVICE_DIR / "build"), timeout=1800)
        return GO_IMAGE

    def service_context(self):
        """A copy of the example service whose cache mounts have ids of their own.

        BuildKit keys a cache mount by its id (by default its target): fresh ids give a
        build that starts with empty Go module and build caches, as on a new agent,
        without pruning the caches other builds on this engine use.
        """
        generation = uuid.uuid4().hex[:10]
        context = self.workdir / ("service-" + generation)
        shutil.copytree(SERVICE_DIR, context, ignore=shutil.ignore_patterns("bin", "*.md"))
        dockerfile = context / "Dockerfile"
        text, count = CACHE_MOUNT.subn(
            lambda m: "--mount=type=cache,id=%s-%s%s,target=%s"
            % (PREFIX, generation, m.group(1), m.group(1)), dockerfile.read_text())
        if not count:
            raise NotRun("the example's Dockerfile has no RUN --mount=type=cache steps")
        dockerfile.write_text(text)
        self.cache_ids.add("%s-%s" % (PREFIX, generation))
        return context

    @staticmethod
    def edit_one_line(context):
        """Change one line of Go: a new value in the service's main package."""
        main = context / "cmd" / "claude-terminal-service" / "main.go"
        with main.open("a") as handle:
            handle.write('\nvar _ = "%s"\n' % uuid.uuid4().hex)

    @staticmethod
    def service_build_args():
        return {"GO_IMAGE": GO_IMAGE, "RUNTIME_IMAGE": "scratch", "VERSION": "0.0.0-bench"}

    def raw_build(self, context, reference, target=None):
        argv = ["docker", "buildx", "build", "--load", "-t", reference]
        for key, value in self.service_build_args().items():
            argv += ["--build-arg", "%s=%s" % (key, value)]
        if target:
            argv += ["--target", target]
        return timed(argv + [str(context)], timeout=1800)[0]

    def module_build(self, context, reference, force=False):
        args = {"context": str(context), "tags": [reference],
                "build_args": self.service_build_args(), "force": force}
        play = self.ansible.tasks([{"name": "Build", "midserver.claude_stack.image_build": args}])
        return play

    # --- P1, P2, P3, P8: the build series --------------------------------------------

    def build_series(self):
        """Cold, warm, unchanged and one-line-change builds, shared by P1, P2, P3 and P8."""
        if self._builds is not None:
            return self._builds
        self.cache_mounts_before = cache_mounts()
        self.go_builder()
        series = {key: [] for key in ("raw_cold", "mod_cold_wall", "mod_cold_duration",
                                      "mod_cold_task", "raw_warm", "mod_warm_wall",
                                      "mod_warm_duration", "mod_warm_task", "mod_skip_wall",
                                      "mod_skip_task", "raw_edit")}
        last = None
        for index in range(self.runs):
            raw_ctx, mod_ctx = self.service_context(), self.service_context()
            raw_ref = self.tag("service:raw-%d" % index)
            mod_ref = self.tag("service:module-%d" % index)
            for side in self.order(index, ["raw", "module"]):
                if side == "raw":
                    series["raw_cold"].append(self.raw_build(raw_ctx, raw_ref))
                else:
                    play = self.module_build(mod_ctx, mod_ref)
                    if not play.result()["built"]:
                        raise BenchError("image_build did not build a fresh context")
                    series["mod_cold_wall"].append(play.wall)
                    series["mod_cold_duration"].append(play.result()["duration"])
                    series["mod_cold_task"].append(play.task_seconds())
            for side in self.order(index, ["raw", "module"]):
                if side == "raw":
                    series["raw_warm"].append(self.raw_build(raw_ctx, raw_ref))
                else:
                    play = self.module_build(mod_ctx, mod_ref, force=True)
                    series["mod_warm_wall"].append(play.wall)
                    series["mod_warm_duration"].append(play.result()["duration"])
                    series["mod_warm_task"].append(play.task_seconds())
            play = self.module_build(mod_ctx, mod_ref)
            if play.result()["built"] or play.result()["changed"]:
                raise BenchError("image_build rebuilt an unchanged context")
            series["mod_skip_wall"].append(play.wall)
            series["mod_skip_task"].append(play.task_seconds())
            self.profiles["P3 unchanged rebuild"] = play.profile()
            self.edit_one_line(raw_ctx)
            series["raw_edit"].append(self.raw_build(raw_ctx, raw_ref))
            last = (raw_ctx, mod_ref)
        builder_ref = self.tag("service:builder")
        self.raw_build(last[0], builder_ref, target="builder")
        series["sizes"] = {"runtime": image_size(last[1]), "builder": image_size(builder_ref)}
        self._builds = series
        return series

    def p1(self):
        s = self.build_series()
        return [
            Row("P1", "cold: image_build run / docker buildx build", s["mod_cold_wall"],
                s["raw_cold"], 1.10),
            Row("P1", "cold: image_build's own build time / docker buildx build",
                s["mod_cold_duration"], s["raw_cold"], 1.10),
            Row("P1", "warm (all layers cached, force): image_build run / docker buildx build",
                s["mod_warm_wall"], s["raw_warm"], 1.10),
            Row("P1", "warm: image_build task / docker buildx build", s["mod_warm_task"],
                s["raw_warm"], 1.10, note="task = module start + digest + build + inspect"),
            Row("P1", "warm: image_build's own build time / docker buildx build",
                s["mod_warm_duration"], s["raw_warm"], 1.10),
        ]

    def p2(self):
        s = self.build_series()
        return [Row("P2", "one-line Go change, cache mounts warm / clean build (buildx)",
                    s["raw_edit"], s["raw_cold"], 0.15)]

    def p3(self):
        s = self.build_series()
        return [
            Row("P3", "unchanged: image_build run / clean image_build run", s["mod_skip_wall"],
                s["mod_cold_wall"], 0.05),
            Row("P3", "unchanged: image_build task / clean image_build task",
                s["mod_skip_task"], s["mod_cold_task"], 0.05),
        ]

    def p8(self):
        sizes = self.build_series()["sizes"]
        return [Row("P8", "runtime image / builder stage image (MB)",
                    [sizes["runtime"] / 1e6], [sizes["builder"] / 1e6], 1 / 6, unit="MB")]

    # --- P4: push ----------------------------------------------------------------------

    def p4(self):
        times = {"image_push": [], "image_push_task": [], "docker_image_push": [],
                 "docker_image_push_task": [], "docker push": []}
        for index in range(self.runs):
            refs = {side: self.small_image("push-%s:%d" % (uuid.uuid4().hex[:8], index), 8)
                    for side in ("image_push", "docker_image_push", "docker push")}
            for side in self.order(index, list(refs)):
                name, tag = refs[side].rsplit(":", 1)
                self.pushed.append((name.split("/", 1)[1], tag))
                if side == "docker push":
                    times[side].append(timed(["docker", "push", refs[side]])[0])
                    continue
                if side == "image_push":
                    task = {"midserver.claude_stack.image_push": {
                        "name": name, "tags": [tag], "username": LAB_USER,
                        "password": "{{ bench_password }}"}, "no_log": True}
                else:
                    task = {"community.docker.docker_image_push": {"name": name, "tag": tag}}
                play = self.ansible.tasks([dict(task, name="Push")],
                                          {"bench_password": self.lab.password})
                if not play.result()["changed"]:
                    raise BenchError("%s pushed nothing" % side)
                times[side].append(play.wall)
                times[side + "_task"].append(play.task_seconds())
        return [
            Row("P4", "image_push run / docker_image_push run", times["image_push"],
                times["docker_image_push"], 1.0),
            Row("P4", "image_push task / docker_image_push task", times["image_push_task"],
                times["docker_image_push_task"], 1.0),
            Row("P4", "image_push run / docker push", times["image_push"], times["docker push"],
                1.0),
            Row("P4", "image_push task / docker push", times["image_push_task"],
                times["docker push"], 1.0),
        ]

    # --- P5: tag -----------------------------------------------------------------------

    def p5(self):
        times = {"image_tag": [], "image_tag_task": [], "docker_image_tag": [],
                 "docker_image_tag_task": [], "docker tag": []}
        for index in range(self.runs):
            for side in self.order(index, ["image_tag", "docker_image_tag", "docker tag"]):
                source = self.small_image("tag-src-%s:src" % uuid.uuid4().hex[:8])
                repository = "%s/tag-%s" % (BENCH_REPO, uuid.uuid4().hex[:10])
                target = "%s:%s" % (repository, COMMIT[:7])
                self.images.add(target)
                if side == "docker tag":
                    times[side].append(timed(["docker", "tag", source, target])[0])
                    continue
                if side == "image_tag":
                    task = {"midserver.claude_stack.image_tag": {
                        "image": source, "repository": repository, "git_commit": COMMIT,
                        "branch": "", "release_tag": "", "change_id": "", "build_number": "",
                        "latest": "never", "check_registry": False}}
                else:
                    task = {"community.docker.docker_image_tag": {
                        "name": source, "repository": [target]}}
                play = self.ansible.tasks([dict(task, name="Tag")])
                if not play.result()["changed"]:
                    raise BenchError("%s tagged nothing" % side)
                times[side].append(play.wall)
                times[side + "_task"].append(play.task_seconds())
        return [
            Row("P5", "image_tag run / docker_image_tag run", times["image_tag"],
                times["docker_image_tag"], 1.0),
            Row("P5", "image_tag task / docker_image_tag task", times["image_tag_task"],
                times["docker_image_tag_task"], 1.0),
            Row("P5", "image_tag task / docker tag (no goal)", times["image_tag_task"],
                times["docker tag"], None),
        ]

    # --- P6: scan ----------------------------------------------------------------------

    def p6(self):
        image = REGISTRY + "/lab/debian:12"
        self.ensure_image(image)
        cache = self.workdir / "trivy-cache"
        cache.mkdir(exist_ok=True)
        args = {"image": image, "cache_dir": str(cache), "fail_on_block": False}
        # Warm-up: the module downloads the lab's DB once; both sides then skip updates.
        self.ansible.tasks([{"name": "Scan", "midserver.claude_stack.image_scan": dict(
            args, db_repository=[TRIVY_DB], ca_cert=str(self.lab.ca))}])
        args["skip_db_update"] = True
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRIVY_")}
        times = {"module": [], "task": [], "raw": []}
        argv = None
        for index in range(self.runs):
            for side in self.order(index, ["module", "raw"]):
                if side == "module":
                    play = self.ansible.tasks([{"name": "Scan",
                                                "midserver.claude_stack.image_scan": args}])
                    argv = play.result()["cmd"]
                    times["module"].append(play.wall)
                    times["task"].append(play.task_seconds())
                    self.profiles["P6 image_scan"] = play.profile()
                elif argv is None:
                    argv = self.raw_scan_argv(image, cache)
                    times["raw"].append(timed(argv, env=env, cwd=self.workdir)[0])
                else:
                    times["raw"].append(timed(self.swap_output(argv), env=env,
                                              cwd=self.workdir)[0])
        return [
            Row("P6", "image_scan run / trivy image", times["module"], times["raw"], 1.10),
            Row("P6", "image_scan task / trivy image", times["task"], times["raw"], 1.10,
                note="the raw side runs the exact trivy command the module ran"),
        ]

    def swap_output(self, argv):
        argv = list(argv)
        if "--output" in argv:
            argv[argv.index("--output") + 1] = str(self.workdir / "trivy-raw.json")
        return argv

    def raw_scan_argv(self, image, cache):
        return [str(BIN / "trivy"), "image", "--format", "json", "--exit-code", "0",
                "--scanners", "vuln", "--cache-backend", "memory", "--cache-dir", str(cache),
                "--skip-db-update", "--no-progress", "--skip-version-check",
                "--disable-telemetry", "--output", str(self.workdir / "trivy-raw.json"), image]

    # --- P7, P10: agents ---------------------------------------------------------------

    def agents(self, count):
        """Start `count` systemd containers as agents, prepared as a real agent host is."""
        names = ["%s-agent-%s" % (PREFIX, uuid.uuid4().hex[:8]) for dummy in range(count)]
        for name in names:
            self.containers.add(name)
            docker("run", "--detach", "--name", name, "--hostname", name,
                   "--label", "owner=%s" % PREFIX,
                   "--cap-add=SYS_ADMIN", "--cap-add=NET_ADMIN",
                   "--security-opt=seccomp=unconfined", "--security-opt=apparmor=unconfined",
                   "--security-opt=systempaths=unconfined", "--cgroupns=host",
                   "--tmpfs=/run", "--tmpfs=/run/lock",
                   "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw", "--volume=/var/lib/docker",
                   AGENT_IMAGE, "/lib/systemd/systemd")
        inventory = self.workdir / ("agents-%s.json" % uuid.uuid4().hex[:8])
        inventory.write_text(json.dumps({"all": {"children": {"agents": {
            "hosts": {name: {} for name in names},
            "vars": {
                "ansible_connection": "community.docker.docker",
                "docker_engine_source": "distribution",
                "docker_engine_users": ["jenkins"],
                "trivy_install_method": "pypi",
                "trivy_ca_bundle": "/usr/local/share/claude_stack_lab/ca-bundle.crt",
                "trivy_db_repositories": [AGENT_REGISTRY + "/trivy/db"],
                "trivy_db_registry_username": LAB_USER,
                "trivy_db_registry_password": "{{ bench_password }}",
            }}}}}))
        prepared = self.ansible.playbook(ROOT / "molecule" / "shared" / "prepare.yml",
                                         {"bench_password": self.lab.password},
                                         inventory=inventory, check=False, env=AGENT_ENV)
        if prepared.failed:
            raise NotRun("preparing the agent containers failed: %s" % prepared.failure())
        return names, inventory

    def remove_agents(self, names):
        for name in names:
            docker("rm", "-f", "-v", name, check=False)
            self.containers.discard(name)

    def provision(self, inventory):
        play = self.ansible.playbook(ROOT / "playbooks" / "provision_agents.yml",
                                     {"bench_password": self.lab.password},
                                     inventory=inventory, check=False, env=AGENT_ENV)
        if play.failed:
            raise NotRun("playbooks/provision_agents.yml failed: %s" % play.failure())
        return play

    def check_agent_playbook(self):
        playbook = ROOT / "playbooks" / "provision_agents.yml"
        if not playbook.exists():
            raise NotRun("playbooks/provision_agents.yml does not exist")
        self.ensure_image(AGENT_IMAGE)

    def p7(self):
        self.check_agent_playbook()
        first, second, changed = [], [], []
        for dummy in range(self.runs):
            names, inventory = self.agents(1)
            try:
                play = self.provision(inventory)
                first.append(play.wall)
                self.profiles["P7 first run"] = play.profile()
                play = self.provision(inventory)
                second.append(play.wall)
                changed.append(play.changed())
                self.profiles["P7 second run"] = play.profile()
            finally:
                self.remove_agents(names)
        self._first_agents = list(first)
        note = "changed tasks on the second runs: %s" % changed
        return [Row("P7", "provision_agents second run / first run (one agent)", second, first,
                    0.25, note=note, miss=any(changed))]

    def p10(self):
        self.check_agent_playbook()
        one = list(self._first_agents)
        four = []
        for index in range(self.runs):
            sides = ["four"] if len(one) >= self.runs else ["one", "four"]
            for side in self.order(index, sides):
                names, inventory = self.agents(4 if side == "four" else 1)
                try:
                    play = self.provision(inventory)
                    (four if side == "four" else one).append(play.wall)
                    if side == "four":
                        self.profiles["P10 four agents"] = play.profile()
                finally:
                    self.remove_agents(names)
        return [Row("P10", "four agents in one run / one agent (first runs)", four, one, 1.6)]

    # --- P9: stack ---------------------------------------------------------------------

    def stack_images(self):
        images = {
            "stack_service_image": ("service:stack", SERVICE_DIR, self.service_build_args()),
            "stack_postgres_image": ("postgres-stand-in:15", STAND_INS / "postgres",
                                     {"BASE_IMAGE": REGISTRY + "/lab/debian:12"}),
            "stack_mid_server_image": ("mid-server-stand-in:1", STAND_INS / "mid-server",
                                       {"BASE_IMAGE": REGISTRY + "/lab/debian:12"}),
        }
        self.go_builder()
        refs = {}
        for variable, (name, context, build_args) in images.items():
            reference = self.tag(name)
            argv = ["docker", "buildx", "build", "--load", "-q", "-t", reference]
            for key, value in build_args.items():
                argv += ["--build-arg", "%s=%s" % (key, value)]
            run(argv + [str(context)])
            docker("push", "-q", reference)
            repo, tag = reference.split("/", 1)[1].rsplit(":", 1)
            self.pushed.append((repo, tag))
            refs[variable] = reference
        return refs

    def p9(self):
        if docker("compose", "version", check=False).returncode != 0:
            raise NotRun("the docker compose v2 plugin is missing")
        project = "%s-stack-%s" % (PREFIX, uuid.uuid4().hex[:8])
        project_dir = self.workdir / "stack"
        raw_dir = self.workdir / "stack-raw"
        stack_vars = dict(self.stack_images(), **{
            "stack_project_name": project,
            "stack_project_dir": str(project_dir),
            "stack_registry_url": REGISTRY,
            "stack_registry_username": LAB_USER,
            "stack_registry_password": self.lab.password,
            "stack_postgres_password": "bench-" + uuid.uuid4().hex,
            "stack_postgres_host_port": free_port(),
            "stack_service_host_address": "127.0.0.1",
            "stack_service_host_port": free_port(),
            "stack_mid_server_env": {"START_DELAY": "2", "MID_SERVER_NAME": "bench"},
            "stack_postgres_healthcheck": {"interval": "2s"},
            "stack_service_healthcheck": {"interval": "2s", "start_period": "5s"},
            "stack_mid_server_healthcheck": {"interval": "2s"},
            "stack_poller_interval": "2s",
            "stack_health_timeout": 180,
            "stack_health_check_delay": 1,
            "stack_health_check_retries": 20,
        })
        compose = ["docker", "compose", "--project-name", project]
        deploy = dict(stack_vars, stack_hosts="localhost")
        times = {"playbook": [], "raw": []}
        try:
            # Warm-up, not timed: renders the project that the raw side starts too, and
            # pulls the images once.
            self.ansible.playbook(ROOT / "playbooks" / "deploy_stack.yml", deploy)
            shutil.copytree(project_dir, raw_dir)
            run(compose + ["down", "--volumes", "--remove-orphans"])
            for index in range(self.runs):
                for side in self.order(index, ["playbook", "raw"]):
                    if side == "playbook":
                        shutil.rmtree(project_dir)
                        play = self.ansible.playbook(ROOT / "playbooks" / "deploy_stack.yml",
                                                     deploy)
                        times["playbook"].append(play.wall)
                        self.profiles["P9 deploy_stack"] = play.profile()
                    else:
                        # `up --wait` refuses a service without a healthcheck (the poller):
                        # wait for the others, then start the poller, whose dependency is
                        # healthy by then.
                        up = compose + ["--project-directory", str(raw_dir), "up", "--detach"]
                        started = now()
                        run(up + ["--wait"] + [s for s in STACK_SERVICES if s != "ecc-poller"],
                            timeout=600)
                        run(up + ["ecc-poller"])
                        times["raw"].append(now() - started)
                    run(compose + ["down", "--volumes", "--remove-orphans"])
        finally:
            run(compose + ["down", "--volumes", "--remove-orphans"], check=False)
        return [Row("P9", "deploy_stack run to healthy / docker compose up -d --wait, "
                    "then the poller",
                    times["playbook"], times["raw"], 1.3)]

    # --- clean-up ------------------------------------------------------------------------

    def floor(self):
        """ansible-playbook's own cost: one play with one task that does nothing."""
        samples = []
        for dummy in range(self.runs):
            play = self.ansible.tasks([{"name": "Nothing", "ansible.builtin.meta": "noop"}])
            samples.append(play.wall)
        return summary(samples)

    def cleanup(self):
        for name in sorted(self.containers):
            docker("rm", "-f", "-v", name, check=False)
        for repository, tag in self.pushed:
            self.lab.delete_tag(repository, tag)
        for reference in sorted(self.images):
            docker("rmi", "-f", reference, check=False)
        # Cache mounts that appeared while the bench ran and that no build uses now: the
        # engine does not say whose they are (their descriptions name the command, not the
        # mount id), so a mount another build created meanwhile may go too; it is a cache.
        if self.cache_ids and self.cache_mounts_before is not None:
            for record in (cache_mounts() or set()) - self.cache_mounts_before:
                docker("builder", "prune", "--force", "--filter", "id=" + record, check=False)


def cache_mounts():
    """IDs of the engine's build cache records that are cache mounts not in use, or None
    when the engine cannot tell now (it runs one disk usage count at a time)."""
    for dummy in range(10):
        try:
            records = docker_sdk.from_env().df().get("BuildCache") or []
        except docker_sdk.errors.DockerException:
            time.sleep(3)
            continue
        return {r["ID"] for r in records
                if r.get("Type") == "exec.cachemount" and not r.get("InUse")}
    return None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def image_size(reference):
    return int(docker("image", "inspect", "--format", "{{.Size}}", reference).stdout.strip())


def machine():
    """What the figures were measured on."""
    def first_line(argv):
        proc = run(argv, check=False)
        return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.stdout else ""

    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memory_kb = int(handle.readline().split()[1])
    with open("/proc/loadavg", encoding="utf-8") as handle:
        load = handle.read().split()[:3]
    debian = pathlib.Path("/etc/debian_version")
    ansible_version = run([str(BIN / "ansible"), "--version"], check=False).stdout
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "debian": debian.read_text().strip() if debian.exists() else platform.platform(),
        "kernel": platform.release(),
        "docker_engine": docker("version", "--format", "{{.Server.Version}}",
                                check=False).stdout.strip(),
        "docker_client": docker("version", "--format", "{{.Client.Version}}",
                                check=False).stdout.strip(),
        "buildx": first_line(["docker", "buildx", "version"]),
        "compose": first_line(["docker", "compose", "version"]),
        "ansible_core": ansible_version.splitlines()[0] if ansible_version else "",
        "trivy": first_line([str(BIN / "trivy"), "--version"]),
        "python": platform.python_version(),
        "load_average_at_start": load,
    }


def table(rows, skipped):
    """The table printed at the end: each ratio with its goal and the verdict."""
    head = "%-4s %-64s %24s %24s %7s %7s %7s %s"
    lines = [head % ("id", "measure", "ours median (min-max)", "theirs median (min-max)",
                     "ratio", "paired", "goal", "result")]
    for data in rows:
        paired = data.get("paired_ratio")
        lines.append(head % (
            data["measure"], data["label"][:64], spread(data["ours"], data["unit"]),
            spread(data["theirs"], data["unit"]), "%.3f" % data["ratio"],
            "-" if paired is None else "%.3f" % paired, goal_text(data["goal"], "<="),
            data["result"]))
    for measure, reason in skipped.items():
        lines.append("%-4s %-64s not run: %s" % (measure, MEASURES[measure][:64], reason))
    return "\n".join(lines)


def goal_text(goal, sign):
    return "-" if goal is None else "%s%.3g" % (sign, goal)


def spread(side, unit):
    return "%.2f (%.2f-%.2f) %s" % (side["median"], side["min"], side["max"], unit)


def markdown(results):
    """The results as the Markdown table that docs/benchmarks.md carries."""
    out = ["| id | measure | ours: median (min–max) | theirs: median (min–max) | ratio "
           "| paired | goal | result |", "|---|---|---|---|---|---|---|---|"]
    for data in results["rows"]:
        paired = data.get("paired_ratio")
        out.append("| %s | %s | %s | %s | %.3f | %s | %s | %s |" % (
            data["measure"], data["label"], spread(data["ours"], data["unit"]).replace("-", "–"),
            spread(data["theirs"], data["unit"]).replace("-", "–"), data["ratio"],
            "-" if paired is None else "%.3f" % paired, goal_text(data["goal"], "≤ "),
            data["result"]))
    for measure, reason in sorted(results["not_run"].items()):
        out.append("| %s | %s | | | | | | not run: %s |"
                   % (measure, MEASURES[measure], reason.replace("|", "/")))
    return "\n".join(out)


def write_markdown(path, results):
    """Replace the part of `path` between the bench markers with the results."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = path.read_text()
    if begin not in text or end not in text:
        raise BenchError("%s has no %s ... %s markers for the results" % (path, begin, end))
    info = results["machine"]
    body = "\n".join([
        begin,
        "",
        "Measured %s with %d run(s) per figure; load average at the start %s." % (
            results["finished"], results["runs"], " ".join(info["load_average_at_start"])),
        "",
        "| machine | |",
        "|---|---|",
        "| CPU | %s, %s cores |" % (info["cpu"], info["cores"]),
        "| memory | %s GiB |" % info["memory_gib"],
        "| Debian | %s (kernel %s) |" % (info["debian"], info["kernel"]),
        "| Docker | engine %s, client %s |" % (info["docker_engine"], info["docker_client"]),
        "| buildx, compose | %s; %s |" % (info["buildx"], info["compose"]),
        "| Ansible | %s, Python %s |" % (info["ansible_core"], info["python"]),
        "| trivy | %s |" % info["trivy"],
        "| ansible-playbook floor (one no-op task) | %s |" % (
            spread(results["floor"], "s").replace("-", "–") if results.get("floor") else "-"),
        "",
        markdown(results),
        "",
        end,
    ])
    path.write_text(text[:text.index(begin)] + body + text[text.index(end) + len(end):])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3,
                        help="runs per figure; the median of at least 3 is reported")
    parser.add_argument("--only", default="",
                        help="comma-separated measures to run, for example P1,P3 (default all)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"),
                        help="file for the results; measures not run now keep their last result")
    parser.add_argument("--markdown", default="",
                        help="also write the results table into this file (docs/benchmarks.md)")
    args = parser.parse_args(argv)
    selected = [m.strip().upper() for m in args.only.split(",") if m.strip()] or list(MEASURES)
    unknown = [m for m in selected if m not in MEASURES]
    if unknown:
        parser.error("unknown measures %s: choose from %s"
                     % (", ".join(unknown), ", ".join(MEASURES)))
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.selected = selected
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.runs < 3:
        print("note: fewer than 3 runs: the figures are indications, not results")
    out = pathlib.Path(args.json)
    previous = json.loads(out.read_text()) if out.exists() else {}
    results = {"runs": args.runs, "started": stamp(), "machine": machine(),
               "rows": [r for r in previous.get("rows", []) if r["measure"] not in args.selected],
               "not_run": {k: v for k, v in previous.get("not_run", {}).items()
                           if k not in args.selected},
               "profiles": {k: v for k, v in previous.get("profiles", {}).items()
                            if k.split()[0] not in args.selected},
               "floor": previous.get("floor")}
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="claude-stack-bench-"))
    workdir.chmod(0o700)
    bench = None
    try:
        bench = Bench(args.runs, workdir)
        results["floor"] = bench.floor()
        for measure in args.selected:
            print("%s: %s ..." % (measure, MEASURES[measure]), flush=True)
            started = now()
            try:
                rows = getattr(bench, measure.lower())()
            except (NotRun, BenchError) as exc:
                results["not_run"][measure] = str(exc)
                print("%s not run: %s" % (measure, exc), flush=True)
                continue
            for row in rows:
                results["rows"].append(row.as_dict())
            print("%s done in %.0f s" % (measure, now() - started), flush=True)
        results["profiles"].update(bench.profiles)
    except BenchError as exc:
        print("bench: %s" % exc, file=sys.stderr)
        return 1
    finally:
        if bench is not None:
            bench.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    order = list(MEASURES)
    results["rows"].sort(key=lambda r: order.index(r["measure"]))
    results["finished"] = stamp()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results["rows"], results["not_run"]))
    print("\nansible-playbook floor (one no-op task): %s" % spread(results["floor"], "s"))
    print("results: %s" % out)
    if args.markdown:
        write_markdown(pathlib.Path(args.markdown), results)
        print("table written into %s" % args.markdown)
    return 0


def stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


if __name__ == "__main__":
    sys.exit(main())
