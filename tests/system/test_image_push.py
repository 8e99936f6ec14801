"""image_push against the lab registry (TLS and password) on the real engine."""

import json
import uuid

import pytest

from conftest import assert_never_shown, docker, run_module

MODULE = "midserver.claude_stack.image_push"


@pytest.fixture
def image(lab, tmp_path):
    """A small unique image tagged a and b under a scratch repository of the lab registry."""
    name = f"{lab.registry}/pytest/push-{uuid.uuid4().hex[:10]}"
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    (tmp_path / "payload").write_text(uuid.uuid4().hex)
    built = docker("build", "-q", "-t", f"{name}:a", "-t", f"{name}:b", str(tmp_path))
    assert built.returncode == 0, built.stderr
    yield name
    repo = name.split("/", 1)[1]
    for tag in ("a", "b", "c"):
        lab.delete_manifest(repo, tag)
        docker("rmi", "-f", f"{name}:{tag}")


def push(lab, name, tags, check=False, **extra):
    args = {"name": name, "tags": tags, "username": lab.username, "password": lab.password}
    args.update(extra)
    return run_module(MODULE, args, check=check)


def test_push_returns_the_digest_the_registry_serves(lab, image):
    result, output = push(lab, image, ["a", "b"])
    assert result["changed"] and result["pushed"] == ["a", "b"], result
    repo = image.split("/", 1)[1]
    for tag in ("a", "b"):
        served = lab.manifest(repo, tag)
        assert served.status_code == 200
        assert result["digests"][tag] == served.headers["Docker-Content-Digest"]
    assert result["references"] == [f"{image}@{result['digests']['a']}"]
    assert lab.password not in output


def test_second_push_changes_nothing(lab, image):
    push(lab, image, ["a"])
    result, dummy = push(lab, image, ["a"])
    assert not result["changed"]
    assert result["unchanged"] == ["a"] and result["pushed"] == []


def test_check_mode_reports_and_pushes_nothing(lab, image):
    push(lab, image, ["a"])
    result, dummy = push(lab, image, ["a", "b"], check=True)
    assert result["changed"] and result["pushed"] == ["b"] and result["unchanged"] == ["a"]
    assert lab.manifest(image.split("/", 1)[1], "b").status_code == 404


def test_credentials_from_the_docker_config(lab, image):
    """Root's Docker config holds the lab login that the lab play made."""
    result, dummy = run_module(MODULE, {"name": image, "tags": ["a"]})
    assert result["changed"], result.get("msg")


def test_retagged_image_is_pushed_again(lab, image, tmp_path):
    push(lab, image, ["a"])
    (tmp_path / "payload").write_text("other content")
    assert docker("build", "-q", "-t", f"{image}:a", str(tmp_path)).returncode == 0
    result, dummy = push(lab, image, ["a"])
    assert result["changed"] and result["pushed"] == ["a"]


def test_wrong_password_fails_naming_the_registry(lab, image):
    secret = "not-the-password-" + uuid.uuid4().hex[:8]
    result, output = push(lab, image, ["a"], password=secret)
    assert result["failed"]
    assert lab.registry in result["msg"]
    assert_never_shown(secret, output, json.dumps(result))
    assert lab.manifest(image.split("/", 1)[1], "a").status_code == 404


def test_missing_local_tag_pushes_nothing(lab, image):
    result, dummy = push(lab, image, ["a", "c"])
    assert result["failed"]
    assert result["msg"] == (
        f"The local image '{image}:c' does not exist: build and tag it before pushing."
    )
    assert lab.manifest(image.split("/", 1)[1], "a").status_code == 404


def test_unreachable_registry_is_one_sentence(lab, image):
    ref = f"127.0.0.1:1/pytest/{uuid.uuid4().hex[:8]}"
    assert docker("tag", f"{image}:a", f"{ref}:a").returncode == 0
    try:
        result, output = run_module(MODULE, {"name": ref, "tags": ["a"]})
    finally:
        docker("rmi", f"{ref}:a")
    assert result["failed"]
    assert "127.0.0.1:1" in result["msg"]
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "args,message",
    [
        ({"name": "Reg.example.com/UPPER", "tags": ["a"]}, "is not valid"),
        ({"name": "127.0.0.1:5443/x/y:tag", "tags": ["a"]}, "must not carry a tag or digest"),
        ({"name": "127.0.0.1:5443/x/y", "tags": ["-bad"]}, "tag '-bad' is not a valid Docker tag"),
        ({"name": "127.0.0.1:5443/x/y", "tags": []}, "tags is empty"),
    ],
)
def test_bad_input(args, message):
    result, output = run_module(MODULE, args)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert "Traceback" not in output
