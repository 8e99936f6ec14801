# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connect to the Docker engine through the Docker SDK for Python, with clear errors."""

from __future__ import annotations

import traceback

try:
    import docker
    from docker import auth as docker_auth
    from docker.errors import DockerException, ImageNotFound
except ImportError:
    docker = docker_auth = None
    DockerException = ImageNotFound = Exception
    DOCKER_SDK_IMPORT_ERROR = traceback.format_exc()
else:
    DOCKER_SDK_IMPORT_ERROR = None

DOCKER_CLIENT_ARGS = dict(
    docker_host=dict(type="str", aliases=["docker_url"]),
    timeout=dict(type="int", default=120),
)


def docker_client(module):
    """Return a Docker SDK client for the engine the module talks to, or fail the module."""
    if docker is None:
        module.fail_json(
            msg="The Docker SDK for Python is not installed on the target: "
            "install the 'docker' Python package (the docker_engine role does).",
            exception=DOCKER_SDK_IMPORT_ERROR,
        )
    host = module.params.get("docker_host")
    try:
        if host:
            client = docker.DockerClient(base_url=host, timeout=module.params["timeout"])
        else:
            client = docker.from_env(timeout=module.params["timeout"])
        client.ping()
    except DockerException as exc:
        module.fail_json(
            msg="The Docker engine at %s does not answer: %s."
            % (host or "the default socket", _first_line(exc))
        )
    return client


def local_image(client, reference):
    """The local image for a reference or ID, or None when the engine has no such image."""
    try:
        return client.images.get(reference)
    except ImageNotFound:
        return None


def push_auth_config(client, registry, username=None, password=None):
    """The auth_config to hand APIClient.push: the given login, else None when the client
    configuration has one for the registry (the SDK then sends it), else an empty login.

    The SDK sends no X-Registry-Auth header at all without a login, and engine 28.3.3
    fails such a push (moby/moby#50614); an empty login is what the docker CLI sends.
    """
    if username:
        return {"username": username, "password": password}
    try:
        if docker_auth.get_config_header(client.api, registry):
            return None
    except (DockerException, ValueError, TypeError, OSError):
        return None
    return {}


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
