"""The registry client's pure parts, and its auth flow against a scripted registry."""

import base64
import json

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils import registry_client
from ansible_collections.midserver.claude_stack.plugins.module_utils.registry_client import (
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryUnreachable,
    api_host,
    default_ca_cert,
    parse_www_authenticate,
    resolve_credentials,
)

SECRET = "s3cr3t-Pa55"
CONFIG_DIGEST = "sha256:" + "c" * 64
MANIFEST_DIGEST = "sha256:" + "d" * 64


@pytest.mark.parametrize(
    "header, scheme, params",
    [
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        ('basic realm="x"', "basic", {"realm": "x"}),
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/debian:pull"',
            "bearer",
            {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
             "scope": "repository:library/debian:pull"},
        ),
        (
            'Bearer realm="https://r.example/token", service="r.example", '
            'scope="repository:a/b:pull,push", error="insufficient_scope"',
            "bearer",
            {"realm": "https://r.example/token", "service": "r.example",
             "scope": "repository:a/b:pull,push", "error": "insufficient_scope"},
        ),
        ("Bearer realm=https://bare.example/token,service=bare",
         "bearer", {"realm": "https://bare.example/token", "service": "bare"}),
        ('Basic realm="with \\"quotes\\""', "basic", {"realm": 'with "quotes"'}),
        ("Basic", "basic", {}),
        ("", "", {}),
        (None, "", {}),
    ],
)
def test_parse_www_authenticate(header, scheme, params):
    assert parse_www_authenticate(header) == (scheme, params)


@pytest.mark.parametrize(
    "registry, host",
    [("docker.io", "registry-1.docker.io"), ("index.docker.io", "registry-1.docker.io"),
     ("127.0.0.1:5443", "127.0.0.1:5443"), ("registry.example.com", "registry.example.com")],
)
def test_api_host(registry, host):
    assert api_host(registry) == host


def test_default_ca_cert(tmp_path):
    (tmp_path / "127.0.0.1:5443").mkdir()
    (tmp_path / "127.0.0.1:5443" / "ca.crt").write_text("pem")
    assert default_ca_cert("127.0.0.1:5443", str(tmp_path)) == str(
        tmp_path / "127.0.0.1:5443" / "ca.crt"
    )
    assert default_ca_cert("other.example", str(tmp_path)) is None


def write_config(directory, auths, **extra):
    config = {"auths": auths}
    config.update(extra)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def auth_entry(username, password):
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.mark.parametrize("use_sdk", [True, False])
@pytest.mark.parametrize(
    "key, registry",
    [
        ("127.0.0.1:5443", "127.0.0.1:5443"),
        ("https://127.0.0.1:5443", "127.0.0.1:5443"),
        ("registry.example.com", "registry.example.com"),
        ("https://index.docker.io/v1/", "docker.io"),
    ],
)
def test_credentials_from_docker_config(tmp_path, key, registry, use_sdk):
    write_config(tmp_path, {key: auth_entry("lab", "pa:ss")})
    assert resolve_credentials(registry, str(tmp_path), use_sdk=use_sdk) == ("lab", "pa:ss")


@pytest.mark.parametrize("use_sdk", [True, False])
def test_credentials_for_another_registry_are_not_used(tmp_path, use_sdk):
    write_config(tmp_path, {"other.example": auth_entry("u", "p"), "empty.example": {}})
    assert resolve_credentials("127.0.0.1:5443", str(tmp_path), use_sdk=use_sdk) == (None, None)
    assert resolve_credentials("empty.example", str(tmp_path), use_sdk=use_sdk) == (None, None)


@pytest.mark.parametrize("use_sdk", [True, False])
def test_missing_config_means_no_credentials(tmp_path, use_sdk):
    assert resolve_credentials("127.0.0.1:5443", str(tmp_path), use_sdk=use_sdk) == (None, None)


def test_docker_config_environment_variable(tmp_path, monkeypatch):
    write_config(tmp_path, {"127.0.0.1:5443": auth_entry("env-user", "p")})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert resolve_credentials("127.0.0.1:5443") == ("env-user", "p")


def test_unreadable_config_names_file_and_registry(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RegistryError) as caught:
        resolve_credentials("127.0.0.1:5443", str(tmp_path), use_sdk=False)
    assert "config.json" in str(caught.value) and "127.0.0.1:5443" in str(caught.value)


def test_client_takes_credentials_from_config_when_no_username(tmp_path):
    write_config(tmp_path, {"127.0.0.1:5443": auth_entry("lab", SECRET)})
    client = RegistryClient("127.0.0.1:5443", config_dir=str(tmp_path))
    assert client.username == "lab"
    assert SECRET not in repr(client)
    explicit = RegistryClient("127.0.0.1:5443", username="me", password="x",
                              config_dir=str(tmp_path))
    assert explicit.username == "me"


class Scripted(RegistryClient):
    """A client whose HTTP exchanges are answered from a script, recording each request."""

    def __init__(self, answers, **kwargs):
        kwargs.setdefault("username", "lab")
        kwargs.setdefault("password", SECRET)
        super().__init__("registry.example", **kwargs)
        self.answers = list(answers)
        self.requests = []

    def _transport(self, method, url, headers, ca_cert):
        self.requests.append((method, url, dict(headers)))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer
        return status, registry_client._Headers(headers), body


def manifest_body(media_type=MEDIA_TYPE_DOCKER_MANIFEST):
    if media_type == MEDIA_TYPE_OCI_INDEX:
        return json.dumps({"mediaType": media_type, "manifests": []}).encode()
    return json.dumps({"mediaType": media_type, "config": {"digest": CONFIG_DIGEST}}).encode()


BASIC_CHALLENGE = (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"")
BEARER_CHALLENGE = (
    401,
    {"WWW-Authenticate": 'Bearer realm="https://auth.example/token",service="reg",'
                         'scope="repository:ns/app:pull"'},
    b"",
)
MANIFEST = (200, {"Docker-Content-Digest": MANIFEST_DIGEST}, manifest_body())


def test_basic_auth_answers_the_challenge_then_is_sent_up_front():
    client = Scripted([BASIC_CHALLENGE, MANIFEST, MANIFEST])
    assert client.image_config_digest("ns/app", "abc1234") == CONFIG_DIGEST
    assert client.manifest_digest("ns/app", "abc1234") == MANIFEST_DIGEST
    first, second, third = client.requests
    assert "Authorization" not in first[2]
    expected = "Basic " + base64.b64encode(f"lab:{SECRET}".encode()).decode()
    assert second[2]["Authorization"] == expected == third[2]["Authorization"]
    assert second[1] == "https://registry.example/v2/ns/app/manifests/abc1234"
    assert "application/vnd.oci.image.index.v1+json" in second[2]["Accept"]
    assert third[0] == "HEAD"


def test_bearer_token_is_fetched_with_basic_credentials_for_the_scope():
    client = Scripted([BEARER_CHALLENGE, (200, {}, b'{"token": "tok"}'), MANIFEST])
    assert client.image_config_digest("ns/app", "1.2.3") == CONFIG_DIGEST
    _first, token, retry = client.requests
    assert token[1] == ("https://auth.example/token?service=reg&"
                        "scope=repository%3Ans%2Fapp%3Apull")
    assert token[2]["Authorization"].startswith("Basic ")
    assert retry[2]["Authorization"] == "Bearer tok"


def test_anonymous_bearer_token_uses_access_token():
    client = Scripted([BEARER_CHALLENGE, (200, {}, b'{"access_token": "anon"}'), MANIFEST],
                      username="", password=None)
    client.manifest("ns/app", "latest")
    assert "Authorization" not in client.requests[1][2]
    assert client.requests[2][2]["Authorization"] == "Bearer anon"


@pytest.mark.parametrize(
    "answers, exception, fragment",
    [
        ([BASIC_CHALLENGE, (401, {}, b"")], RegistryAuthError,
         "Registry registry.example refused the credentials of user 'lab' (HTTP 401)"),
        ([(403, {}, b"")], RegistryAuthError, "refused the credentials of user 'lab' (HTTP 403)"),
        ([BEARER_CHALLENGE, (401, {}, b"")], RegistryAuthError,
         "Registry registry.example (its token service) refused the credentials"),
        ([BEARER_CHALLENGE, (200, {}, b"not json")], RegistryError, "did not return a token"),
        ([(401, {"WWW-Authenticate": "Negotiate"}, b"")], RegistryAuthError,
         "authentication scheme this client does not speak (negotiate)"),
        ([(500, {}, b"")], RegistryError, "answered HTTP 500 to GET"),
        ([(200, {}, b"<html>")], RegistryError, "served a manifest for ns/app:x that is not JSON"),
        ([ConnectionRefusedError(111, "Connection refused")], RegistryUnreachable,
         "Registry registry.example cannot be reached over HTTPS: [Errno 111] Connection "
         "refused."),
    ],
)
def test_errors_are_one_sentence_naming_the_registry_never_the_password(
    answers, exception, fragment
):
    client = Scripted(answers)
    with pytest.raises(exception) as caught:
        client.manifest("ns/app", "x")
    message = str(caught.value)
    assert fragment in message
    assert "registry.example" in message
    assert SECRET not in message and "\n" not in message


def test_a_login_wanted_without_credentials():
    client = Scripted([BASIC_CHALLENGE], username="", password=None)
    with pytest.raises(RegistryAuthError, match="wants a login and none was given"):
        client.ping()


def test_missing_manifest_or_repository_is_none():
    client = Scripted([(404, {}, b""), (404, {}, b""), (404, {}, b"")], username="")
    assert client.manifest("ns/app", "abc1234") is None
    assert client.manifest_digest("ns/app", "abc1234") is None
    assert client.image_config_digest("ns/app", "abc1234") is None


def test_index_has_no_config_digest():
    client = Scripted([(200, {"Docker-Content-Digest": MANIFEST_DIGEST},
                        manifest_body(MEDIA_TYPE_OCI_INDEX))] * 2, username="")
    manifest = client.manifest("ns/app", "1.2.3")
    assert manifest.is_index and manifest.config_digest is None
    assert manifest.digest == MANIFEST_DIGEST
    assert client.image_config_digest("ns/app", "1.2.3") is None


def test_digest_is_computed_when_the_header_is_missing():
    body = manifest_body()
    client = Scripted([(200, {}, body)], username="")
    assert client.manifest("ns/app", "x").digest.startswith("sha256:")


def test_ping_on_a_server_without_the_v2_api():
    client = Scripted([(404, {}, b"")], username="")
    with pytest.raises(RegistryError, match="does not serve the Docker Registry HTTP API v2"):
        client.ping()


REGISTRY_CHALLENGE = (401, {"WWW-Authenticate": 'Basic realm="r"',
                            "Docker-Distribution-Api-Version": "registry/2.0"}, b"")


def test_ping_without_the_login_check_sends_no_credentials():
    client = Scripted([REGISTRY_CHALLENGE, (200, {}, manifest_body())])
    client.ping(check_login=False)
    assert len(client.requests) == 1
    assert "Authorization" not in client.requests[0][2]
    # The challenge told the scheme: the next request sends the login at once.
    assert client.manifest("ns/app", "x").config_digest == CONFIG_DIGEST
    assert len(client.requests) == 2
    assert client.requests[1][2]["Authorization"].startswith("Basic ")


def test_ping_without_the_login_check_checks_a_challenge_that_is_not_a_registry_s():
    client = Scripted([BASIC_CHALLENGE, BASIC_CHALLENGE, (404, {}, b"")])
    with pytest.raises(RegistryError, match="does not serve the Docker Registry HTTP API v2"):
        client.ping(check_login=False)
    assert client.requests[2][2]["Authorization"].startswith("Basic ")


def test_ping_without_the_login_check_still_finds_a_server_without_the_v2_api():
    client = Scripted([(404, {}, b"")])
    with pytest.raises(RegistryError, match="does not serve the Docker Registry HTTP API v2"):
        client.ping(check_login=False)


def test_ping_without_the_login_check_reports_a_server_error_as_ping_does():
    client = Scripted([(502, {}, b""), (502, {}, b"")])
    with pytest.raises(RegistryError, match="answered HTTP 502 to GET /v2/"):
        client.ping(check_login=False)


def test_ping_checks_the_login_by_default():
    client = Scripted([BASIC_CHALLENGE, (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"")])
    with pytest.raises(RegistryAuthError):
        client.ping()
    assert client.requests[1][2]["Authorization"].startswith("Basic ")
