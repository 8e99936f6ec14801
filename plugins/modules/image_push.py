#!/usr/bin/python
# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_push
short_description: Push image tags to a registry and return the digest the registry serves
version_added: 0.1.0
description:
  - Pushes O(name) with each of O(tags) from the target's Docker engine to its registry.
  - Decides what to push by asking the registry, not by reading progress text. A tag is up to
    date when the registry serves, under it, the image the local tag names (same image
    configuration digest, that is the same image ID). Only the other tags are pushed, and
    check mode uses the same comparison.
  - Everything is checked before the first push - every local tag exists, the registry
    answers and accepts the credentials - so a bad input pushes nothing.
  - Credentials come from O(username) and O(password), which travel to the engine in the API
    request and never on a command line, or, when not given, from the Docker client
    configuration of the user the module runs as (C(docker login), credential helpers).
  - Transient failures (connection errors, timeouts, server errors) are retried with
    exponential backoff; refused credentials are not.
author:
  - midserver.claude_stack maintainers (@midserver)
extends_documentation_fragment:
  - midserver.claude_stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Compares the registry with the local image and reports the tags it would push.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A second push of unchanged tags reports no change, decided from the registry's digests.
options:
  name:
    description:
      - Repository to push, with its registry, without tag, for example
        V(registry.example.com/midserver/claude-terminal-service).
    type: str
    required: true
    aliases: [repository]
  tags:
    description: Tags of O(name) to push. Each must exist on the target's engine.
    type: list
    elements: str
    required: true
  username:
    description: User name for the registry. Without it, the Docker client configuration is used.
    type: str
  password:
    description: Password or token for O(username). Never logged, never on a command line.
    type: str
  ca_cert:
    description:
      - CA certificate to verify the registry with, for the module's own registry queries.
        Defaults to C(/etc/docker/certs.d/<registry>/ca.crt) when that exists (the file the
        engine itself uses), else the system trust store.
    type: path
  validate_certs:
    description: Verify the registry's TLS certificate in the module's own queries.
    type: bool
    default: true
  retries:
    description: How many times to retry a push that failed for a transient reason.
    type: int
    default: 3
  retry_delay:
    description: Seconds before the first retry; each further retry waits twice as long.
    type: float
    default: 2
  docker_host:
    description: Docker engine to talk to. Defaults to C(DOCKER_HOST) or the local socket.
    type: str
    aliases: [docker_url]
  timeout:
    description: Timeout in seconds of calls to the Docker engine and the registry.
    type: int
    default: 120
requirements:
  - Docker SDK for Python
notes:
  - Tags are pushed one after the other. When the registry fails for good in the middle, the
    error lists the tags already pushed; they hold the same image and pushing again completes
    the set.
seealso:
  - module: midserver.claude_stack.image_tag
  - module: community.docker.docker_image_push
"""

EXAMPLES = r"""
- name: Push the tags of this build
  midserver.claude_stack.image_push:
    name: registry.example.com/midserver/claude-terminal-service
    tags: "{{ image_tags.tags }}"
    username: "{{ registry_username }}"
    password: "{{ vault_registry_password }}"
  register: pushed

- name: Deploy the exact image that was pushed
  ansible.builtin.debug:
    msg: "{{ pushed.references[0] }}"
"""

RETURN = r"""
digests:
  description:
    - The manifest digest of each tag after the task, as the engine reported it when it pushed the
      tag, or as the registry served it when the tag was already there.
    - Asked of the registry after the push when the engine named none.
  returned: success
  type: dict
  sample: {"abc1234": "sha256:0f7c2d0e4d5e9f1b7b2f37d4a5f0d7c8e7e0b6d6f4a2b1c3d5e7f9a1b3c5d7e9"}
pushed:
  description: Tags that were pushed (or would be, in check mode).
  returned: always
  type: list
  elements: str
unchanged:
  description: Tags the registry already served with the same image.
  returned: always
  type: list
  elements: str
references:
  description: C(name@digest) for each distinct digest pushed or found, for pinning deployments.
  returned: success
  type: list
  elements: str
image_ids:
  description: Local image ID of each tag.
  returned: always
  type: dict
attempts:
  description: Push attempts per pushed tag (1 when the first one succeeded).
  returned: when a push ran
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.midserver.claude_stack.plugins.module_utils.docker_client import (
    DOCKER_CLIENT_ARGS,
    DockerException,
    docker_client,
    local_image,
    push_auth_config,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.image_reference import (
    parse_reference,
    validate_tag,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.push_events import (
    PushFailed,
    is_transient,
    pushed_digest,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.registry_client import (
    RegistryClient,
    RegistryError,
)


class ImagePusher:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = dict(changed=False, pushed=[], unchanged=[], image_ids={})
        try:
            self.ref = parse_reference(self.params["name"])
            if self.ref.tag or self.ref.digest:
                raise ValueError(
                    "name '%s' must not carry a tag or digest: give tags in tags."
                    % self.params["name"]
                )
            self.tags = list(dict.fromkeys(validate_tag(t) for t in self.params["tags"]))
        except ValueError as exc:
            module.fail_json(msg=str(exc), **self.result)
        if not self.tags:
            module.fail_json(msg="tags is empty: give at least one tag to push.", **self.result)
        try:
            self.registry = RegistryClient(
                self.ref.domain,
                username=self.params["username"],
                password=self.params["password"],
                ca_cert=self.params["ca_cert"],
                validate_certs=self.params["validate_certs"],
                timeout=self.params["timeout"],
            )
        except RegistryError as exc:
            module.fail_json(msg=str(exc), **self.result)

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def run(self):
        client = docker_client(self.module)
        images = {}
        for tag in self.tags:
            image = local_image(client, self.ref.with_tag(tag))
            if image is None:
                self.fail(
                    "The local image '%s' does not exist: build and tag it before pushing."
                    % self.ref.with_tag(tag)
                )
            images[tag] = image
            self.result["image_ids"][tag] = image.id

        try:
            # The anonymous probe finds a server that is no registry; the manifest requests
            # after it check the login.
            self.registry.ping(check_login=False)
            remote = {tag: self.registry.manifest(self.ref.remote_path, tag) for tag in self.tags}
        except RegistryError as exc:
            self.fail(str(exc))

        pending = [t for t in self.tags if not _serves(remote[t], images[t])]
        self.result["pushed"] = pending
        self.result["unchanged"] = [t for t in self.tags if t not in pending]
        self.result["changed"] = bool(pending)
        if self.module.check_mode:
            self.module.exit_json(**self.result)

        attempts = {}
        digests = {t: remote[t].digest for t in self.tags if t not in pending}
        for tag in pending:
            attempts[tag], digest = self._push_with_retries(client, tag)
            if digest:
                # The engine names the digest once the registry has stored the manifest.
                digests[tag] = digest
        if attempts:
            self.result["attempts"] = attempts

        try:
            for tag in [t for t in self.tags if t not in digests]:
                manifest = self.registry.manifest(self.ref.remote_path, tag)
                if not _serves(manifest, images[tag]):
                    self.fail(
                        "After the push, registry %s does not serve image %s under tag '%s'."
                        % (self.ref.domain, images[tag].id, tag)
                    )
                digests[tag] = manifest.digest
        except RegistryError as exc:
            self.fail(str(exc))
        self.result["digests"] = {t: digests[t] for t in self.tags}
        self.result["references"] = sorted(
            {"%s@%s" % (self.ref.name, digest) for digest in digests.values()}
        )
        self.module.exit_json(**self.result)

    def _push_with_retries(self, client, tag):
        delay = self.params["retry_delay"]
        attempt = 0
        while True:
            attempt += 1
            try:
                return attempt, self._push(client, tag)
            except PushFailed as exc:
                if not exc.transient or attempt > self.params["retries"]:
                    done = self.result["pushed"][: self.result["pushed"].index(tag)]
                    self.fail(
                        "Pushing '%s' to registry %s failed%s: %s%s"
                        % (
                            self.ref.with_tag(tag),
                            self.ref.domain,
                            " after %d attempts" % attempt if attempt > 1 else "",
                            exc,
                            "; already pushed: %s" % ", ".join(done) if done else "",
                        )
                    )
                self.module.warn(
                    "Pushing '%s' failed (%s); retrying in %.0f s."
                    % (self.ref.with_tag(tag), exc, delay)
                )
                time.sleep(delay)
                delay *= 2

    def _push(self, client, tag):
        auth = push_auth_config(
            client, self.ref.domain, self.params["username"], self.params["password"]
        )
        try:
            return pushed_digest(
                client.api.push(self.ref.name, tag=tag, auth_config=auth, stream=True, decode=True),
                tag,
            )
        except DockerException as exc:
            raise PushFailed(str(exc).strip().splitlines()[0], is_transient(str(exc)))


def _serves(manifest, image):
    return manifest is not None and manifest.holds(image.id, image.attrs.get("RepoDigests"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True, aliases=["repository"]),
            tags=dict(type="list", elements="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            ca_cert=dict(type="path"),
            validate_certs=dict(type="bool", default=True),
            retries=dict(type="int", default=3),
            retry_delay=dict(type="float", default=2),
            **DOCKER_CLIENT_ARGS,
        ),
        required_together=[("username", "password")],
        supports_check_mode=True,
    )
    ImagePusher(module).run()


if __name__ == "__main__":
    main()
