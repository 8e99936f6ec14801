"""image_tag on the real engine, with the lab registry (TLS and password) for immutability."""

import json
import uuid

import pytest

from conftest import assert_never_shown, docker, run_module

MODULE = "midserver.claude_stack.image_tag"
COMMIT = "4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
SHA = COMMIT[:7]
# Set to "" so that a run inside a real Jenkins job does not leak its own values in.
NO_JENKINS = {"GIT_COMMIT": "", "BRANCH_NAME": "", "TAG_NAME": "", "CHANGE_ID": "",
              "BUILD_NUMBER": ""}


def build_image(tmp_path, name):
    """A small image of its own (a unique payload gives a unique image ID)."""
    context = tmp_path / name
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    (context / "payload").write_text(uuid.uuid4().hex)
    tag = f"pytest-image-tag-{uuid.uuid4().hex[:10]}:src"
    built = docker("build", "-q", "-t", tag, str(context))
    assert built.returncode == 0, built.stderr
    return tag, image_id(tag)


def image_id(reference):
    found = docker("image", "inspect", "-f", "{{.Id}}", reference)
    return found.stdout.strip() if found.returncode == 0 else None


def local_tags(repository):
    listed = docker("image", "ls", "--format", "{{.Tag}}", repository)
    return sorted(line for line in listed.stdout.split() if line != "<none>")


@pytest.fixture
def repository(lab, scratch_repo):
    """A scratch repository of the lab registry; its local tags and pushed tags go after."""
    name = f"{lab.registry}/{scratch_repo}"
    pushed = []
    yield name, pushed
    for tag in local_tags(name):
        docker("rmi", f"{name}:{tag}")
    for tag in pushed:
        lab.delete_manifest(scratch_repo, tag)


@pytest.fixture
def image(tmp_path):
    tag, ident = build_image(tmp_path, "main")
    yield tag, ident
    docker("rmi", "-f", ident)


@pytest.fixture
def other_image(tmp_path):
    tag, ident = build_image(tmp_path, "other")
    yield tag, ident
    docker("rmi", "-f", ident)


def tag(image_ref, repository, env=None, check=False, diff=False, **args):
    args = dict({"image": image_ref, "repository": repository}, **args)
    return run_module(MODULE, args, check=check, diff=diff, env=dict(NO_JENKINS, **(env or {})))


def tagged(image_ref, repository, **kwargs):
    """The module's result alone."""
    return tag(image_ref, repository, **kwargs)[0]


def push_as(lab, docker_config, source, reference):
    """Push `source` as `reference` with a login of a temporary Docker config."""
    login = docker("login", "--username", lab.username, "--password-stdin", lab.registry,
                   input=lab.password, config=docker_config)
    assert login.returncode == 0, login.stderr
    assert docker("tag", source, reference).returncode == 0
    pushed = docker("push", reference, config=docker_config)
    assert pushed.returncode == 0, pushed.stderr
    assert docker("rmi", reference).returncode == 0


def test_main_branch_build_gets_sha_latest_and_branch_then_changes_nothing(
    lab, repository, image
):
    name = repository[0]
    env = {"GIT_COMMIT": COMMIT, "BRANCH_NAME": "main", "BUILD_NUMBER": "17"}
    result, output = tag(image[0], name, env=env, build_tag=True)
    assert not result.get("failed"), result
    assert result["changed"]
    assert result["tags"] == [SHA, "build-17", "latest", "main"]
    assert result["kinds"] == {SHA: "sha", "build-17": "build", "latest": "latest",
                               "main": "branch"}
    assert result["references"] == [f"{name}:{t}" for t in result["tags"]]
    assert result["immutable_tags"] == [SHA]
    assert result["registry"] == {SHA: None}
    assert result["image_id"] == image[1]
    assert result["git"]["commit"] == COMMIT and result["git"]["main_branch"]
    assert local_tags(name) == sorted(result["tags"])
    assert all(image_id(ref) == image[1] for ref in result["references"])
    assert_never_shown(lab.password, output)

    again = tagged(image[0], name, env=env, build_tag=True)
    assert not again["changed"] and again["changed_tags"] == [], again


def test_feature_branch_build_from_jenkins_environment(repository, image):
    name = repository[0]
    env = {"GIT_COMMIT": COMMIT, "BRANCH_NAME": "Feature/Auth-Fix", "BUILD_NUMBER": "3"}
    result = tagged(image[0], name, env=env)
    assert result["changed"], result
    assert result["tags"] == [SHA, "feature-auth-fix"]
    assert result["git"]["branch"] == "Feature/Auth-Fix"
    assert local_tags(name) == sorted([SHA, "feature-auth-fix"])


def test_pull_request_and_release_builds(repository, image):
    name = repository[0]
    pull = tagged(image[0], name, env={"GIT_COMMIT": COMMIT, "BRANCH_NAME": "PR-12",
                                       "CHANGE_ID": "12"})
    assert pull["tags"] == [SHA, "pr-12"] and pull["git"]["pull_request"], pull
    release = tagged(image[0], name, semver_aliases=True,
                     env={"GIT_COMMIT": COMMIT, "BRANCH_NAME": "v1.4.2", "TAG_NAME": "v1.4.2"})
    assert release["tags"] == [SHA, "1.4.2", "1.4", "1"], release
    assert release["changed_tags"] == ["1.4.2", "1.4", "1"]
    assert release["immutable_tags"] == [SHA, "1.4.2"]
    assert local_tags(name) == sorted([SHA, "pr-12", "1.4.2", "1.4", "1"])


def test_check_mode_predicts_and_changes_nothing_with_a_diff(repository, image, other_image):
    name = repository[0]
    env = {"GIT_COMMIT": COMMIT, "BRANCH_NAME": "feature/x"}
    first = tagged(other_image[0], name, env=env)
    assert first["changed"], first
    result = tagged(image[0], name, env=env, check=True, diff=True)
    assert result["changed"] and result["changed_tags"] == [SHA, "feature-x"], result
    assert result["diff"]["before"] == f"{SHA} -> {other_image[1]}\nfeature-x -> {other_image[1]}\n"
    assert result["diff"]["after"] == f"{SHA} -> {image[1]}\nfeature-x -> {image[1]}\n"
    assert image_id(f"{name}:{SHA}") == other_image[1]
    assert image_id(f"{name}:feature-x") == other_image[1]

    fresh = tagged(image[0], name, env=dict(env, BRANCH_NAME="feature/y"), check=True,
                   diff=True)
    assert "feature-y -> none\n" in fresh["diff"]["before"]
    assert f"feature-y -> {image[1]}\n" in fresh["diff"]["after"]
    assert "feature-y" not in local_tags(name)


def test_immutable_tag_conflict_refuses_and_changes_nothing(
    lab, repository, image, other_image, docker_config
):
    name, pushed = repository
    repo = name.split("/", 1)[1]
    push_as(lab, docker_config, other_image[0], f"{name}:{SHA}")
    pushed.append(SHA)
    served = lab.manifest(repo, SHA).headers["Docker-Content-Digest"]

    env = {"GIT_COMMIT": COMMIT, "BRANCH_NAME": "main", "DOCKER_CONFIG": str(docker_config)}
    result, output = tag(image[0], name, env=env)
    assert result.get("failed"), result
    assert result["msg"] == (
        f"Tag '{SHA}' is immutable and registry {lab.registry} already holds it for image "
        f"{other_image[1]}, not {image[1]}: nothing was tagged; build from a new commit or "
        "version, or set allow_overwrite to replace it."
    )
    assert "Traceback" not in output and lab.password not in output
    assert local_tags(name) == []
    assert lab.manifest(repo, SHA).headers["Docker-Content-Digest"] == served

    check = tagged(image[0], name, env=env, check=True)
    assert check.get("failed") and "is immutable" in check["msg"], check

    # The same image the registry holds is no conflict.
    same = tagged(other_image[0], name, env=env)
    assert not same.get("failed") and same["registry"] == {SHA: served}, same

    # allow_overwrite tags locally, says which tag it replaced, and pushes nothing.
    forced = tagged(image[0], name, env=env, allow_overwrite=True)
    assert not forced.get("failed"), forced
    assert forced["overwritten_tags"] == [SHA] and image_id(f"{name}:{SHA}") == image[1]
    assert lab.manifest(repo, SHA).headers["Docker-Content-Digest"] == served


def test_registry_login_from_options_and_a_wrong_password(lab, repository, image):
    name = repository[0]
    env = {"GIT_COMMIT": COMMIT, "DOCKER_CONFIG": "/nonexistent"}
    ok = tagged(image[0], name, env=env, username=lab.username, password=lab.password,
                ca_cert=str(lab.ca))
    assert not ok.get("failed") and ok["registry"] == {SHA: None}, ok

    wrong = "not-the-" + uuid.uuid4().hex
    result, output = tag(image[0], name, env=env, username=lab.username, password=wrong)
    assert result.get("failed"), result
    assert result["msg"] == (
        f"Registry {lab.registry} refused the credentials of user 'lab' (HTTP 401): check "
        "the username and password."
    )
    assert_never_shown(wrong, output, json.dumps(result))


def test_unreachable_registry_is_one_sentence_unless_not_checked(image, scratch_repo):
    name = f"127.0.0.1:1/{scratch_repo}"
    env = {"GIT_COMMIT": COMMIT}
    result = tagged(image[0], name, env=env)
    assert result.get("failed"), result
    assert result["msg"] == (
        "Registry 127.0.0.1:1 cannot be reached over HTTPS: [Errno 111] Connection refused."
    )
    assert local_tags(name) == []
    skipped = tagged(image[0], name, env=env, check_registry=False)
    try:
        assert not skipped.get("failed") and skipped["registry"] == {}, skipped
        assert local_tags(name) == [SHA]
    finally:
        docker("rmi", f"{name}:{SHA}")


@pytest.mark.parametrize(
    "args, env, message",
    [
        ({"extra_tags": ["Bad/Tag"]}, {},
         "tag 'Bad/Tag' is not a valid Docker tag: use only ASCII letters, digits, '_', '.' "
         "and '-'."),
        ({"version": "1.2"}, {}, "version '1.2' is not a semantic version: "),
        ({"release_tag": "release-1"}, {}, "release tag 'release-1' is not a semantic version"),
        ({}, {"GIT_COMMIT": "HEAD"}, "git commit 'HEAD' is not a commit hash: use 7 to 40 "
         "hexadecimal digits."),
        ({}, {"GIT_COMMIT": ""}, "no git commit was given: set git_commit or the GIT_COMMIT "
         "environment variable."),
        ({"sha_length": 50}, {}, "sha_length 50 is not valid: use a whole number from 7 to 40."),
        ({"build_tag": True}, {}, "build_tag needs a build number: set build_number or "
         "BUILD_NUMBER."),
        ({"repository": "127.0.0.1:5443/Pytest/App"}, {},
         "image reference '127.0.0.1:5443/Pytest/App' is not valid: repository names must be "
         "lowercase ('Pytest')."),
        ({"repository": "127.0.0.1:5443/pytest/app:v1"}, {},
         "repository '127.0.0.1:5443/pytest/app:v1' must not carry a tag or digest: the "
         "module adds the tags."),
        ({"image": "pytest-image-tag-missing:nothing"}, {},
         "Image 'pytest-image-tag-missing:nothing' is not in the local Docker engine: build "
         "or pull it first."),
        ({"latest": "sometimes"}, {}, "value of latest must be one of: auto, always, never"),
    ],
)
def test_bad_input_is_one_sentence_and_tags_nothing(repository, image, args, env, message):
    name = repository[0]
    args = dict({"branch": "feature/bad-input"}, **args)
    result, output = tag(args.pop("image", image[0]), args.pop("repository", name),
                         env=dict({"GIT_COMMIT": COMMIT}, **env), **args)
    assert result.get("failed"), result
    assert result["msg"].startswith(message), result["msg"]
    # Ansible 2.19 marks every failure "(traceback unavailable)" unless asked for tracebacks.
    assert "Traceback" not in output
    assert result.get("exception") in (None, "(traceback unavailable)"), result["exception"]
    assert local_tags(name) == []
