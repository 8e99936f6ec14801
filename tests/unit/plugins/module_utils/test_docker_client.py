"""The login image_push hands the engine: given, from the client configuration, or empty."""

import base64
import json
import types

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.docker_client import (
    push_auth_config,
)

docker = pytest.importorskip("docker")

REGISTRY = "registry.example:5443"


def client_with_config(monkeypatch, tmp_path, auths):
    (tmp_path / "config.json").write_text(json.dumps({"auths": auths}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    # A fixed API version: nothing is asked of an engine.
    api = docker.APIClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    return types.SimpleNamespace(api=api)


def test_the_given_login_wins(monkeypatch, tmp_path):
    client = client_with_config(monkeypatch, tmp_path, {})
    login = push_auth_config(client, REGISTRY, "ci", "s3cret")
    assert login == {"username": "ci", "password": "s3cret"}


def test_a_login_in_the_client_configuration_is_left_to_the_sdk(monkeypatch, tmp_path):
    token = base64.b64encode(b"ci:s3cret").decode()
    client = client_with_config(monkeypatch, tmp_path, {REGISTRY: {"auth": token}})
    assert push_auth_config(client, REGISTRY) is None


def test_no_login_anywhere_sends_an_empty_one(monkeypatch, tmp_path):
    token = base64.b64encode(b"ci:s3cret").decode()
    client = client_with_config(monkeypatch, tmp_path, {"other.example": {"auth": token}})
    assert push_auth_config(client, REGISTRY) == {}
