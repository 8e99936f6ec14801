# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse and check Docker image references and tags, following the distribution grammar.

A reference is ``[registry/]repository[:tag][@digest]``. The first path component is a
registry when it contains a ``.`` or a ``:``, or is ``localhost``, as Docker decides it.
Everything here is pure: no engine, no network.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional, Tuple

DEFAULT_REGISTRY = "docker.io"
MAX_TAG_LENGTH = 128
MAX_NAME_LENGTH = 255

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN_COMPONENT = re.compile(r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])\Z")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")
_DIGEST = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})\Z")
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_FULL_HEX_ID = re.compile(r"[a-f0-9]{64}\Z")


class ImageReference(NamedTuple):
    """An image reference split into its parts, each as written (``None`` when omitted)."""

    registry: Optional[str]
    repository: str
    tag: Optional[str] = None
    digest: Optional[str] = None

    @property
    def domain(self) -> str:
        """The registry the reference points to, ``docker.io`` when none is written."""
        return self.registry or DEFAULT_REGISTRY

    @property
    def name(self) -> str:
        """``[registry/]repository``, without tag or digest."""
        return "%s/%s" % (self.registry, self.repository) if self.registry else self.repository

    @property
    def remote_path(self) -> str:
        """The repository path the registry API uses (Docker Hub's ``library/`` made explicit)."""
        if self.domain == DEFAULT_REGISTRY and "/" not in self.repository:
            return "library/" + self.repository
        return self.repository

    def with_tag(self, tag: str) -> str:
        """The full reference of this repository with ``tag`` (any tag or digest dropped)."""
        return "%s:%s" % (self.name, validate_tag(tag))

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text


def validate_tag(tag) -> str:
    """Return ``tag`` when Docker accepts it as a tag, else raise ValueError saying why."""
    if not isinstance(tag, str):
        raise ValueError("tag %r is not a valid Docker tag: it must be a string." % (tag,))
    if _TAG.match(tag):
        return tag
    if not tag:
        reason = "it is empty"
    elif len(tag) > MAX_TAG_LENGTH:
        reason = "it has %d characters, at most %d are allowed" % (len(tag), MAX_TAG_LENGTH)
    elif tag[0] in ".-":
        reason = "it must start with a letter, a digit or '_'"
    else:
        reason = "use only ASCII letters, digits, '_', '.' and '-'"
    raise ValueError("tag '%s' is not a valid Docker tag: %s." % (tag, reason))


def is_valid_tag(tag) -> bool:
    """Whether ``tag`` is a valid Docker tag."""
    return isinstance(tag, str) and bool(_TAG.match(tag))


def validate_digest(digest) -> str:
    """Return ``digest`` (``algorithm:hex``) when well formed, else raise ValueError."""
    match = _DIGEST.match(digest) if isinstance(digest, str) else None
    if match:
        algorithm, hexpart = match.groups()
        expected = _DIGEST_HEX_LENGTHS.get(algorithm)
        if expected is None or (len(hexpart) == expected and hexpart == hexpart.lower()):
            return digest
    raise ValueError(
        "digest '%s' is not a valid image digest: write it as sha256: followed by 64 "
        "lowercase hexadecimal digits." % (digest,)
    )


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _check_registry(registry: str, text: str) -> None:
    host, port = registry, None
    if registry.startswith("["):
        end = registry.find("]")
        host, rest = registry[: end + 1], registry[end + 1:]
        if end < 0 or not _IPV6.match(host) or (rest and not rest.startswith(":")):
            _invalid(text, "the registry '%s' is not a valid host" % registry)
        port = rest[1:] if rest else None
    elif ":" in registry:
        host, port = registry.rsplit(":", 1)
    if port is not None and not (_PORT.match(port) and 0 < int(port) < 65536):
        _invalid(text, "the registry port '%s' is not a number from 1 to 65535" % port)
    if not host.startswith("[") and not all(_DOMAIN_COMPONENT.match(c) for c in host.split(".")):
        _invalid(text, "the registry host '%s' is not a valid host name or address" % host)


def _check_repository(repository: str, text: str) -> None:
    if not repository:
        _invalid(text, "the repository name is empty")
    for component in repository.split("/"):
        if _PATH_COMPONENT.match(component):
            continue
        if not component:
            _invalid(text, "the repository has an empty path component")
        if component != component.lower() and _PATH_COMPONENT.match(component.lower()):
            _invalid(text, "repository names must be lowercase ('%s')" % component)
        _invalid(
            text,
            "the repository component '%s' must be lowercase letters and digits "
            "separated by '.', '_', '__' or '-'" % component,
        )
    if _FULL_HEX_ID.match(repository):
        _invalid(text, "a 64-character hexadecimal string is an image ID, not a repository")


def _invalid(text: str, reason: str) -> None:
    raise ValueError("image reference '%s' is not valid: %s." % (text, reason))


def split_repository(text: str) -> Tuple[Optional[str], str]:
    """Split ``[registry/]repository`` (no tag, no digest) into registry and repository."""
    if not isinstance(text, str):
        raise ValueError("image reference %r is not valid: it must be a string." % (text,))
    return _split(text, text)


def _split(name: str, text: str) -> Tuple[Optional[str], str]:
    first, sep, rest = name.partition("/")
    if sep and _is_registry(first):
        _check_registry(first, text)
        registry, repository = first, rest
    else:
        registry, repository = None, name
    _check_repository(repository, text)
    if len(name) > MAX_NAME_LENGTH:
        _invalid(text, "the name has %d characters, at most %d are allowed"
                 % (len(name), MAX_NAME_LENGTH))
    return registry, repository


def parse_reference(text) -> ImageReference:
    """Parse ``[registry/]repository[:tag][@digest]``; raise ValueError naming the value."""
    if not isinstance(text, str):
        raise ValueError("image reference %r is not valid: it must be a string." % (text,))
    if not text.strip():
        _invalid(text, "it is empty")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        try:
            validate_digest(digest)
        except ValueError:
            _invalid(text, "the digest '%s' must be sha256: and 64 lowercase hexadecimal "
                     "digits" % digest)
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        try:
            validate_tag(tag)
        except ValueError as exc:
            _invalid(text, str(exc).rstrip("."))
    registry, repository = _split(rest, text)
    return ImageReference(registry, repository, tag, digest)
