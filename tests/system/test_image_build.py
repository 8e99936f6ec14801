"""image_build on the real engine: content idempotence, labels, secrets, bad input."""

import hashlib
import json
import uuid

import pytest

from conftest import assert_never_shown, docker, run_module

BASE = "127.0.0.1:5443/lab/debian:12"
MODULE = "midserver.claude_stack.image_build"


@pytest.fixture
def repo():
    name = f"pytest-build-{uuid.uuid4().hex[:10]}"
    yield name
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", name)
    for ref in listed.stdout.split():
        docker("rmi", "-f", ref)


@pytest.fixture
def context(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"ARG BASE={BASE}\n"
        "FROM ${BASE} AS build\n"
        "ARG GREETING=hello\n"
        "COPY app.txt /app/app.txt\n"
        "RUN echo \"$GREETING\" > /app/greeting\n"
        "FROM build AS runtime\n"
        "CMD [\"cat\", \"/app/greeting\"]\n"
    )
    (ctx / "app.txt").write_text("version one\n")
    # The engine reuses any image with the same build digest, from any earlier run: a
    # payload of this run's own keeps each test's first build a real one.
    (ctx / "run-id").write_text(uuid.uuid4().hex)
    (ctx / "notes.md").write_text("not sent\n")
    (ctx / ".dockerignore").write_text("*.md\n")
    return ctx


def build(context, repo, tags=("one",), **extra):
    args = {"context": str(context), "tags": [f"{repo}:{t}" for t in tags]}
    check = extra.pop("_check", False)
    env = extra.pop("_env", None)
    args.update(extra)
    return run_module(MODULE, args, check=check, env=env)


def inspect(ref):
    out = docker("image", "inspect", ref)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def test_second_build_of_unchanged_context_is_skipped(context, repo):
    first, dummy = build(context, repo, tags=("one", "two"))
    assert first["changed"] and first["built"], first
    assert first["builder"] in ("buildx", "classic")
    assert inspect(f"{repo}:one")["Id"] == inspect(f"{repo}:two")["Id"] == first["image_id"]
    assert first["size"] > 0

    second, dummy = build(context, repo, tags=("one", "two"))
    assert not second["changed"] and not second["built"], second
    assert second["image_id"] == first["image_id"]
    assert second["duration"] == 0 and second["command"] == []


def test_ignored_file_does_not_rebuild_but_a_sent_file_does(context, repo):
    first, dummy = build(context, repo)
    (context / "notes.md").write_text("changed, still ignored\n")
    assert not build(context, repo)[0]["changed"]
    (context / "app.txt").write_text("version two\n")
    third, dummy = build(context, repo)
    assert third["changed"] and third["built"]
    assert third["image_id"] != first["image_id"]
    assert third["build_digest"] != first["build_digest"]


def test_new_tag_for_unchanged_content_only_tags(context, repo):
    first, dummy = build(context, repo)
    second, dummy = build(context, repo, tags=("one", "extra"))
    assert second["changed"] and not second["built"]
    assert inspect(f"{repo}:extra")["Id"] == first["image_id"]


def test_labels_args_and_target(context, repo):
    result, dummy = build(
        context, repo, target="build", build_args={"GREETING": "bonjour"},
        labels={"com.example.team": "mid"}, version="1.2.3",
        _env={"GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567",
              "GIT_URL": "https://git.example.com/mid/service.git"},
    )
    assert result["built"], result
    labels = inspect(f"{repo}:one")["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert labels["org.opencontainers.image.source"] == "https://git.example.com/mid/service.git"
    assert labels["org.opencontainers.image.version"] == "1.2.3"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["com.example.team"] == "mid"
    assert labels["io.midserver.claude_stack.build-digest"] == result["build_digest"]
    run = docker("run", "--rm", f"{repo}:one", "cat", "/app/greeting")
    assert run.stdout.strip() == "bonjour"
    assert "--target" in result["command"]


def test_secret_reaches_the_build_and_nothing_else(context, repo):
    secret = "s3cr3t-" + uuid.uuid4().hex
    (context / "Dockerfile").write_text(
        f"FROM {BASE}\n"
        # BuildKit's layer cache ignores secret values: this run's payload busts it.
        "COPY run-id /run-id\n"
        "RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -d' ' -f1 > /sum\n"
    )
    result, output = build(context, repo, secrets=[{"id": "token", "value": secret}])
    assert result["built"], result.get("msg")
    inside = docker("run", "--rm", f"{repo}:one", "cat", "/sum").stdout.strip()
    assert inside == hashlib.sha256(secret.encode()).hexdigest()
    assert_never_shown(secret, output, json.dumps(result))
    history = docker("history", "--no-trunc", f"{repo}:one").stdout
    assert secret not in history
    assert secret not in json.dumps(inspect(f"{repo}:one"))


def test_new_commit_with_unchanged_context_reuses_the_image(context, repo):
    first, dummy = build(context, repo, tags=("aaaaaaa",), _env={"GIT_COMMIT": "a" * 40})
    second, dummy = build(context, repo, tags=("bbbbbbb",), _env={"GIT_COMMIT": "b" * 40})
    assert second["changed"] and not second["built"], second
    assert second["image_id"] == first["image_id"]
    assert inspect(f"{repo}:bbbbbbb")["Id"] == first["image_id"]


def test_check_mode_builds_nothing(context, repo):
    result, dummy = build(context, repo, _check=True)
    assert result["changed"] and result["built"]
    assert inspect(f"{repo}:one") is None


def test_failing_build_fails_with_the_error(context, repo):
    (context / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo broken-step && exit 3\n")
    result, dummy = build(context, repo)
    assert result["failed"]
    assert result["msg"].startswith(f"The {result['builder']} build of '{context}' failed")
    assert inspect(f"{repo}:one") is None


@pytest.mark.parametrize(
    "change,message",
    [
        ({"context": "/nonexistent/ctx"}, "build context '/nonexistent/ctx' is not a directory."),
        ({"dockerfile": "Missing.Dockerfile"}, "Dockerfile '.*Missing.Dockerfile' does not exist."),
        ({"tags": ["Bad:Tag"]}, "image reference 'Bad:Tag' is not valid"),
        ({"tags": ["ok:bad tag"]}, "is not valid"),
        ({"secrets": [{"id": "x"}]}, "secret 'x' needs exactly one of value, src or env."),
        ({"cache_to": ["type=local,dest=/tmp/cache"]}, "cache_to 'type=local,dest=/tmp/cache' needs"),
    ],
)
def test_bad_input_is_one_sentence_and_builds_nothing(context, repo, change, message):
    args = {"context": str(context), "tags": [f"{repo}:one"]}
    args.update(change)
    result, output = run_module(MODULE, args)
    assert result["failed"]
    assert __import__("re").search(message, result["msg"]), result["msg"]
    assert "Traceback" not in output
    assert inspect(f"{repo}:one") is None


def test_classic_builder_with_buildkit(context, repo):
    result, dummy = build(context, repo, builder="classic", docker_cli="/usr/bin/docker")
    assert result["built"] and result["builder"] == "classic", result.get("msg")
    assert result["command"][1] == "build"
    assert inspect(f"{repo}:one")["Id"] == result["image_id"]


def test_inline_cache_is_used_through_cache_from(lab, context, repo):
    """The previous image in the registry seeds the cache of a fresh build."""
    first, dummy = build(context, repo)
    remote = f"{lab.registry}/pytest/{repo}"
    assert docker("tag", f"{repo}:one", f"{remote}:latest").returncode == 0
    try:
        assert docker("push", f"{remote}:latest").returncode == 0
        docker("rmi", "-f", f"{repo}:one", f"{remote}:latest", first["image_id"])
        second, dummy = build(context, repo, cache_from=[f"{remote}:latest"], force=True)
        assert second["built"], second.get("msg")
        assert "--cache-from" in second["command"]
        assert "importing cache manifest from " + remote in second["stderr"]
    finally:
        lab.delete_manifest(f"pytest/{repo}", "latest")
        docker("rmi", "-f", f"{remote}:latest")
