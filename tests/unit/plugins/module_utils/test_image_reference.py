"""Image references and tags, against the distribution grammar."""

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.image_reference import (
    ImageReference,
    parse_reference,
    split_repository,
    validate_digest,
    validate_tag,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("debian", None, "debian", None, None),
        ("debian:12", None, "debian", "12", None),
        ("library/debian:12", None, "library/debian", "12", None),
        ("docker.io/library/debian", "docker.io", "library/debian", None, None),
        ("127.0.0.1:5443/lab/debian:12", "127.0.0.1:5443", "lab/debian", "12", None),
        (f"127.0.0.1:5443/ns/repo:tag@{DIGEST}", "127.0.0.1:5443", "ns/repo", "tag", DIGEST),
        (f"host.example:5000/ns/repo@{DIGEST}", "host.example:5000", "ns/repo", None, DIGEST),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app:v1.2.3", "localhost:5000", "app", "v1.2.3", None),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        (
            "registry.example.com/midserver/claude-terminal-service",
            "registry.example.com", "midserver/claude-terminal-service", None, None,
        ),
        ("a/b/c/d:Mixed_Case.tag-1", None, "a/b/c/d", "Mixed_Case.tag-1", None),
        ("a__b/c--d/e.f_g:1", None, "a__b/c--d/e.f_g", "1", None),
        ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
        ("app:" + "t" * 128, None, "app", "t" * 128, None),
    ],
)
def test_parse_valid_references(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert ref == ImageReference(registry, repository, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("Debian", "repository names must be lowercase ('Debian')"),
        ("lab/Debian:12", "repository names must be lowercase ('Debian')"),
        ("app:", "tag '' is not a valid Docker tag"),
        ("app:.hidden", "must start with a letter, a digit or '_'"),
        ("app:-x", "must start with a letter, a digit or '_'"),
        ("app:" + "t" * 129, "it has 129 characters"),
        ("app:tag/x", "the registry port 'tag' is not a number"),
        ("app@sha256:abc", "the digest 'sha256:abc' must be sha256:"),
        ("app@sha256:" + "A" * 64, "the digest"),
        ("app@" + "0" * 64, "the digest"),
        ("host:99999/app", "the registry port '99999'"),
        ("host:port/app", "the registry port 'port'"),
        ("-host.example/app", "the registry host '-host.example'"),
        ("/app", "the repository has an empty path component"),
        ("lab//app", "the repository has an empty path component"),
        ("lab/app/", "the repository has an empty path component"),
        ("127.0.0.1:5443/", "the repository name is empty"),
        ("lab/-app", "the repository component '-app'"),
        ("lab/app-", "the repository component 'app-'"),
        ("lab/a..b", "the repository component 'a..b'"),
        ("lab/a___b", "the repository component 'a___b'"),
        ("lab/ünïcode", "the repository component 'ünïcode'"),
        ("my app", "the repository component 'my app'"),
        ("0" * 64, "is an image ID, not a repository"),
        ("a/" * 130 + "b", "at most 255 are allowed"),
    ],
)
def test_parse_invalid_references(text, reason):
    with pytest.raises(ValueError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert message.startswith(f"image reference '{text}' is not valid: ")
    assert reason in message
    assert message.endswith(".") and "\n" not in message


@pytest.mark.parametrize("value", [None, 5, ["a"]])
def test_parse_rejects_non_strings(value):
    with pytest.raises(ValueError, match="must be a string"):
        parse_reference(value)


@pytest.mark.parametrize(
    "text, domain, name, remote_path",
    [
        ("debian:12", "docker.io", "debian", "library/debian"),
        ("midserver/app", "docker.io", "midserver/app", "midserver/app"),
        ("docker.io/debian", "docker.io", "docker.io/debian", "library/debian"),
        ("127.0.0.1:5443/lab/debian:12", "127.0.0.1:5443", "127.0.0.1:5443/lab/debian",
         "lab/debian"),
        ("localhost/app", "localhost", "localhost/app", "app"),
    ],
)
def test_reference_properties(text, domain, name, remote_path):
    ref = parse_reference(text)
    assert (ref.domain, ref.name, ref.remote_path) == (domain, name, remote_path)


def test_with_tag_replaces_tag_and_digest():
    ref = parse_reference(f"127.0.0.1:5443/lab/app:old@{DIGEST}")
    assert ref.with_tag("abc1234") == "127.0.0.1:5443/lab/app:abc1234"
    with pytest.raises(ValueError, match="tag 'Bad/Tag' is not a valid Docker tag"):
        ref.with_tag("Bad/Tag")


@pytest.mark.parametrize("tag", ["latest", "1.2.3", "v1.2.3-rc.1", "_x", "A", "a" * 128,
                                 "feature-auth-fix", "1.2.3_build.5"])
def test_valid_tags(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag, reason",
    [
        ("", "it is empty"),
        (".x", "it must start with a letter, a digit or '_'"),
        ("-x", "it must start with a letter, a digit or '_'"),
        ("a" * 129, "it has 129 characters, at most 128 are allowed"),
        ("feature/x", "use only ASCII letters, digits, '_', '.' and '-'"),
        ("1.2.3+build", "use only ASCII letters, digits, '_', '.' and '-'"),
        ("ünï", "use only ASCII letters, digits, '_', '.' and '-'"),
        ("a b", "use only ASCII letters, digits, '_', '.' and '-'"),
    ],
)
def test_invalid_tags(tag, reason):
    with pytest.raises(ValueError) as caught:
        validate_tag(tag)
    assert str(caught.value) == f"tag '{tag}' is not a valid Docker tag: {reason}."


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lab/debian", (None, "lab/debian")),
        ("127.0.0.1:5443/lab/debian", ("127.0.0.1:5443", "lab/debian")),
        ("localhost/a", ("localhost", "a")),
        ("registry.example.com/midserver/claude-terminal-service",
         ("registry.example.com", "midserver/claude-terminal-service")),
    ],
)
def test_split_repository(text, expected):
    assert split_repository(text) == expected


def test_digest_validation():
    assert validate_digest(DIGEST) == DIGEST
    assert validate_digest("sha512:" + "ab" * 64)
    with pytest.raises(ValueError, match="digest 'md5:xyz' is not a valid image digest"):
        validate_digest("md5:xyz")
