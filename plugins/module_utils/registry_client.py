# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for the Docker Registry HTTP API v2: ping, manifest and config digests.

It speaks HTTPS through ansible.module_utils.urls, answers both Basic and Bearer token
challenges, and takes credentials from its arguments or from the Docker client
configuration. Passwords and tokens never appear in an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
from typing import Dict, NamedTuple, Optional, Tuple
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlparse

from ansible.module_utils.urls import open_url

try:
    from docker import auth as docker_auth
    from docker.errors import DockerException
except ImportError:
    docker_auth = None
    DockerException = Exception

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
CERTS_D = "/etc/docker/certs.d"

MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_ACCEPT = ", ".join(
    [
        MEDIA_TYPE_DOCKER_MANIFEST,
        MEDIA_TYPE_DOCKER_LIST,
        MEDIA_TYPE_OCI_MANIFEST,
        MEDIA_TYPE_OCI_INDEX,
    ]
)
INDEX_MEDIA_TYPES = (MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_INDEX)

_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


class RegistryError(Exception):
    """A registry answered in a way the caller cannot use; str() is one sentence."""


class RegistryUnreachable(RegistryError):
    """The registry cannot be reached: connection refused, DNS, TLS or a timeout."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials in use, or wanted some and none were found."""


class Manifest(NamedTuple):
    """What the registry serves for one tag or digest."""

    digest: str
    media_type: str
    config_digest: Optional[str]

    @property
    def is_index(self) -> bool:
        """Whether this is a manifest list or OCI index (several platforms)."""
        return self.media_type in INDEX_MEDIA_TYPES

    def holds(self, image_id, repo_digests=None) -> bool:
        """Whether this manifest is the local image with that ID and those RepoDigests.

        A single-image manifest names its config, whose digest is the image ID. The
        containerd image store uses the manifest digest as the ID instead, and an index
        can only be matched through the digests the engine recorded on push or pull.
        """
        if self.config_digest and self.config_digest == image_id:
            return True
        if self.digest == image_id:
            return True
        return self.digest in [d.rpartition("@")[2] for d in repo_digests or []]


def parse_www_authenticate(header: str) -> Tuple[str, Dict[str, str]]:
    """Split a WWW-Authenticate challenge into its lowercase scheme and its parameters."""
    header = (header or "").strip()
    scheme, _sep, rest = header.partition(" ")
    params = {}
    position = 0
    while position < len(rest):
        match = _CHALLENGE_PARAM.match(rest, position)
        if not match or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value
        position = match.end()
    return scheme.lower(), params


def api_host(registry: str) -> str:
    """The host[:port] that serves the API of a registry as it is written in references."""
    if registry in (DOCKER_HUB, "index.docker.io"):
        return DOCKER_HUB_API
    return registry


def default_ca_cert(registry: str, certs_d: str = CERTS_D) -> Optional[str]:
    """The CA file dockerd itself trusts for this registry, when there is one."""
    path = os.path.join(certs_d, registry, "ca.crt")
    return path if os.path.isfile(path) else None


def docker_config_path(config_dir: Optional[str] = None) -> str:
    """The Docker client configuration file: $DOCKER_CONFIG or ~/.docker, as docker uses."""
    config_dir = (
        config_dir
        or os.environ.get("DOCKER_CONFIG")
        or os.path.join(os.path.expanduser("~"), ".docker")
    )
    return os.path.join(config_dir, "config.json")


def _config_keys(registry: str):
    if registry in (DOCKER_HUB, "index.docker.io", DOCKER_HUB_API):
        return ["https://index.docker.io/v1/", "index.docker.io", DOCKER_HUB]
    return [
        registry,
        "https://" + registry,
        "http://" + registry,
        "https://%s/v1/" % registry,
        "https://%s/v2/" % registry,
    ]


def _credentials_from_auths(registry: str, path: str) -> Tuple[Optional[str], Optional[str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        raise RegistryError(
            "The Docker configuration %s cannot be read for registry %s: %s."
            % (path, registry, exc.__class__.__name__)
        )
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None, None
    for key in _config_keys(registry):
        entry = auths.get(key)
        if isinstance(entry, dict) and entry.get("auth"):
            try:
                decoded = base64.b64decode(entry["auth"]).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise RegistryError(
                    "The Docker configuration %s holds an unreadable login for registry %s."
                    % (path, registry)
                )
            username, sep, password = decoded.partition(":")
            if sep:
                return username, password
    return None, None


def resolve_credentials(
    registry: str, config_dir: Optional[str] = None, use_sdk: bool = True
) -> Tuple[Optional[str], Optional[str]]:
    """The username and password the Docker configuration holds for a registry, or Nones.

    The Docker SDK's reader is used when it is importable, so that credential helpers
    (``credsStore``, ``credHelpers``) are consulted; otherwise only the ``auths`` entries.
    """
    path = docker_config_path(config_dir)
    if not os.path.isfile(path):
        return None, None
    if not use_sdk or docker_auth is None:
        return _credentials_from_auths(registry, path)
    try:
        entry = docker_auth.resolve_authconfig(docker_auth.load_config(path), registry) or {}
    except (DockerException, ValueError, TypeError) as exc:
        raise RegistryError(
            "The Docker configuration %s gives no usable login for registry %s: %s."
            % (path, registry, exc.__class__.__name__)
        )
    username = entry.get("username") or entry.get("Username")
    password = entry.get("password") or entry.get("Password")
    # Limitation: identity tokens (OAuth refresh tokens) are not exchanged; lifting it
    # needs the token endpoint's POST grant flow.
    if username and password is not None:
        return username, password
    return None, None


class RegistryClient:
    """Talk to one registry over HTTPS with the Docker Registry HTTP API v2."""

    def __init__(
        self,
        registry,
        username=None,
        password=None,
        ca_cert=None,
        validate_certs=True,
        timeout=30,
        config_dir=None,
    ):
        self.registry = registry
        self.host = api_host(registry)
        if username is None:
            username, password = resolve_credentials(registry, config_dir=config_dir)
        self.username = username
        self._password = password
        self.ca_cert = ca_cert or default_ca_cert(registry)
        self.validate_certs = validate_certs
        self.timeout = timeout
        self._tokens = {}
        self._basic = False

    def __repr__(self):
        return "RegistryClient(%r, username=%r)" % (self.registry, self.username)

    def ping(self, check_login=True) -> None:
        """Check that the registry answers the v2 API and accepts the credentials in use.

        With check_login false, a registry's authentication challenge to the anonymous
        request is taken as the answer, so that no credential is checked: the next request
        checks them anyway, and a registry that hashes passwords pays the hash once less. A
        challenge without the registry's API version header gets the full check.
        """
        status = None
        if not check_login and not (self._basic or self._tokens):
            status, headers, _body = self._send("GET", "/v2/", {})
            challenge = headers.get("WWW-Authenticate") or ""
            if status == 401 and challenge and headers.get("Docker-Distribution-API-Version"):
                if self.username and parse_www_authenticate(challenge)[0] == "basic":
                    self._basic = True
                return
        if status not in (200, 404):
            status, _headers, _body = self._request("GET", "/v2/", scope=None)
        if status == 404:
            raise RegistryError(
                "Registry %s does not serve the Docker Registry HTTP API v2 at /v2/."
                % self.registry
            )

    def manifest(self, repository: str, reference: str) -> Optional[Manifest]:
        """The manifest a tag or digest points to, or None when the registry has none."""
        path = "/v2/%s/manifests/%s" % (quote(repository), quote(reference, safe=":"))
        status, headers, body = self._request(
            "GET",
            path,
            scope="repository:%s:pull" % repository,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if status == 404:
            return None
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(
                "Registry %s served a manifest for %s:%s that is not JSON."
                % (self.registry, repository, reference)
            )
        media_type = (document.get("mediaType") or headers.get("Content-Type") or "").split(";")[0]
        if "manifests" in document and media_type not in INDEX_MEDIA_TYPES:
            media_type = MEDIA_TYPE_OCI_INDEX
        digest = headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(body).hexdigest()
        )
        config = document.get("config")
        config_digest = config.get("digest") if isinstance(config, dict) else None
        if media_type in INDEX_MEDIA_TYPES:
            config_digest = None
        return Manifest(digest, media_type, config_digest)

    def manifest_digest(self, repository: str, reference: str) -> Optional[str]:
        """The digest of the manifest a tag points to, or None when the registry has none."""
        path = "/v2/%s/manifests/%s" % (quote(repository), quote(reference, safe=":"))
        status, headers, _body = self._request(
            "HEAD",
            path,
            scope="repository:%s:pull" % repository,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if status == 404:
            return None
        digest = headers.get("Docker-Content-Digest")
        if digest:
            return digest
        found = self.manifest(repository, reference)
        return found.digest if found else None

    def image_config_digest(self, repository: str, reference: str) -> Optional[str]:
        """The config digest (the image ID) of a single-image manifest, else None."""
        found = self.manifest(repository, reference)
        return found.config_digest if found else None

    def _request(self, method, path, scope, headers=None):
        """Send a request, answering one auth challenge; return status, headers, body."""
        headers = dict(headers or {})
        auth = self._authorization(scope)
        if auth:
            headers["Authorization"] = auth
        status, response_headers, body = self._send(method, path, headers)
        if status == 401 and auth and auth.startswith("Bearer "):
            # A cached token may have expired during a long push: answer afresh once.
            self._tokens.pop(scope, None)
            auth = None
        if status == 401 and not auth:
            challenge = response_headers.get("WWW-Authenticate", "")
            auth = self._answer(challenge, scope)
            headers["Authorization"] = auth
            status, response_headers, body = self._send(method, path, headers)
        if status in (401, 403):
            raise RegistryAuthError(self._refused(status))
        if 300 <= status < 400:
            raise RegistryError(
                "Registry %s answered %s %s with a redirect (HTTP %d), which is not followed."
                % (self.registry, method, path, status)
            )
        if status >= 400 and status != 404:
            raise RegistryError(
                "Registry %s answered HTTP %d to %s %s." % (self.registry, status, method, path)
            )
        return status, response_headers, body

    def _authorization(self, scope):
        if self._basic:
            return self._basic_header()
        return self._tokens.get(scope)

    def _basic_header(self):
        pair = "%s:%s" % (self.username, self._password or "")
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def _answer(self, challenge, scope):
        scheme, params = parse_www_authenticate(challenge)
        if scheme == "basic":
            if not self.username:
                raise RegistryAuthError(
                    "Registry %s wants a login and none was given or found in the Docker "
                    "configuration: set the username and password." % self.registry
                )
            self._basic = True
            return self._basic_header()
        if scheme == "bearer" and params.get("realm"):
            token = self._fetch_token(params, scope)
            self._tokens[scope] = "Bearer " + token
            return self._tokens[scope]
        raise RegistryAuthError(
            "Registry %s asks for an authentication scheme this client does not speak (%s)."
            % (self.registry, scheme or "none")
        )

    def _fetch_token(self, params, scope):
        if urlparse(params["realm"]).scheme != "https":
            raise RegistryAuthError(
                "Registry %s names a token service that is not HTTPS (%s): refusing to send "
                "credentials there." % (self.registry, params["realm"])
            )
        query = {}
        if params.get("service"):
            query["service"] = params["service"]
        if params.get("scope") or scope:
            query["scope"] = params.get("scope") or scope
        url = params["realm"] + ("?" + urlencode(query) if query else "")
        headers = {"Authorization": self._basic_header()} if self.username else {}
        same_host = urlparse(params["realm"]).netloc == self.host
        ca_cert = self.ca_cert if same_host else None
        status, _headers, body = self._open("GET", url, headers, ca_cert)
        if status in (401, 403):
            raise RegistryAuthError(self._refused(status, " (its token service)"))
        if status >= 400:
            raise RegistryError(
                "Registry %s's token service answered HTTP %d." % (self.registry, status)
            )
        try:
            document = json.loads(body.decode("utf-8"))
            return document.get("token") or document["access_token"]
        except (ValueError, KeyError, AttributeError, UnicodeDecodeError):
            raise RegistryError(
                "Registry %s's token service did not return a token." % self.registry
            )

    def _refused(self, status, where=""):
        who = "Registry %s%s" % (self.registry, where)
        if self.username:
            return (
                "%s refused the credentials of user '%s' (HTTP %d): check the username "
                "and password." % (who, self.username, status)
            )
        return (
            "%s refused anonymous access (HTTP %d): give a username and password or "
            "log in with docker login." % (who, status)
        )

    def _send(self, method, path, headers):
        return self._open(method, "https://%s%s" % (self.host, path), headers, self.ca_cert)

    def _open(self, method, url, headers, ca_cert):
        """One HTTP exchange; any failure to get an answer is RegistryUnreachable."""
        try:
            return self._transport(method, url, headers, ca_cert)
        except (
            URLError,
            ssl.SSLError,
            socket.timeout,
            http.client.HTTPException,
            OSError,
            ValueError,
        ) as exc:
            raise RegistryUnreachable(
                "Registry %s cannot be reached over HTTPS: %s." % (self.registry, _reason(exc))
            )

    def _transport(self, method, url, headers, ca_cert):
        try:
            response = open_url(
                url,
                method=method,
                headers=headers,
                validate_certs=self.validate_certs,
                ca_path=ca_cert,
                timeout=self.timeout,
                use_netrc=False,
                # ansible's redirect handler copies Authorization to the new location,
                # which may be another host; the calls made here never need a redirect.
                follow_redirects="none",
            )
            return response.getcode(), _Headers(response.headers), response.read()
        except HTTPError as exc:
            return exc.code, _Headers(exc.headers), b""


class _Headers(dict):
    """Response headers with case-insensitive lookup."""

    def __init__(self, headers):
        super().__init__()
        for key, value in (headers or {}).items():
            self[key.lower()] = value

    def get(self, key, default=None):
        return super().get(key.lower(), default)


def _reason(exc):
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
    return text.rstrip(".") or type(exc).__name__
