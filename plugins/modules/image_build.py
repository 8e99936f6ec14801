#!/usr/bin/python
# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_build
short_description: Build a Docker image with BuildKit, skipping builds whose inputs did not change
version_added: 0.1.0
description:
  - Builds an image from a context and a Dockerfile with BuildKit, through the C(docker buildx)
    plugin when it exists and through the classic C(docker build) with C(DOCKER_BUILDKIT=1)
    otherwise. Fails with a clear message when neither can build with BuildKit.
  - Before building, computes a digest of everything the build depends on - the files of the
    context that the ignore file lets through (path, permission bits, content), the
    Dockerfile, O(target), O(build_args) (with the inline-cache argument) and the labels - and
    stores it as the image label C(io.midserver.claude_stack.build-digest). When an image with
    that digest exists - under one of O(tags) or any other name - nothing is built; the tags
    are put on it, and the task reports no change when they already were.
  - The ignore file is C(<Dockerfile>.dockerignore) when it exists, else the context's
    C(.dockerignore), read with Docker's rules.
  - Adds the OCI labels C(org.opencontainers.image.revision), C(.source), C(.version) and
    C(.created) unless O(oci_labels=false). C(revision) and C(created) are left out of the
    digest, so an unchanged context on a new commit reuses the image, whose C(revision)
    then names the commit that first produced that content.
  - Build secrets are written to private temporary files and passed with
    C(--secret id=...,src=...); their values never reach a command line, a label or a log.
author:
  - midserver.claude_stack maintainers (@midserver)
extends_documentation_fragment:
  - midserver.claude_stack.attributes
attributes:
  check_mode:
    support: full
    details:
      - Computes the digest and reports whether a build or a tag would happen; builds nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - By content, not by time. Base images referenced by C(FROM) are not part of the digest;
        set O(force=true) (or O(pull=true) with O(force=true)) to pick up a newer base image.
options:
  context:
    description: Directory sent to the builder as the build context.
    type: path
    required: true
  dockerfile:
    description:
      - Path of the Dockerfile. A relative path is taken relative to O(context).
    type: path
    default: Dockerfile
  tags:
    description:
      - Full references to give the built image, for example
        V(registry.example.com/midserver/claude-terminal-service:abc1234). At least one.
    type: list
    elements: str
    required: true
  target:
    description: Build stage to stop at (C(--target)).
    type: str
  build_args:
    description:
      - Build arguments (C(--build-arg)). Values are converted to strings.
      - Values show in RV(command) and in the image history; pass secrets with O(secrets).
    type: dict
    default: {}
  labels:
    description: Labels to set on the image, in addition to the OCI labels.
    type: dict
    default: {}
  oci_labels:
    description:
      - Add the OCI labels C(org.opencontainers.image.created), C(.revision), C(.source)
        and C(.version). Empty values are left out.
    type: bool
    default: true
  revision:
    description:
      - Value of C(org.opencontainers.image.revision). Defaults to the environment variable
        C(GIT_COMMIT) (set by Jenkins), else to C(git rev-parse HEAD) in O(context).
    type: str
  source:
    description:
      - Value of C(org.opencontainers.image.source). Defaults to C(GIT_URL) from the environment.
    type: str
  version:
    description: Value of C(org.opencontainers.image.version), for example a semantic version.
    type: str
  cache_from:
    description:
      - External cache sources (C(--cache-from)), for example the previous C(latest) image
        in the registry when it was built with O(inline_cache).
    type: list
    elements: str
    default: []
  cache_to:
    description:
      - Cache export destinations (C(--cache-to)), for example V(type=registry,ref=...).
        Needs the buildx plugin with a builder that can export caches (the
        C(docker-container) driver); the default C(docker) driver can only write an inline
        cache, which O(inline_cache) covers. Refused with a clear message otherwise.
    type: list
    elements: str
    default: []
  inline_cache:
    description:
      - Embed cache metadata in the image (C(BUILDKIT_INLINE_CACHE=1)) so that later builds
        can use it through O(cache_from).
    type: bool
    default: true
  secrets:
    description:
      - Build secrets, mounted in C(RUN --mount=type=secret,id=...) steps.
      - Each needs O(secrets[].id) and exactly one of O(secrets[].value), O(secrets[].src)
        or O(secrets[].env).
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Secret ID used in the Dockerfile.
        type: str
        required: true
      value:
        description: The secret itself. Never logged.
        type: str
      src:
        description: A file on the target holding the secret.
        type: path
      env:
        description: Name of an environment variable of the module holding the secret.
        type: str
  network:
    description: Network mode of C(RUN) steps (C(--network)), for example V(host) or V(none).
    type: str
  pull:
    description: Always try to pull newer versions of the base images (C(--pull)).
    type: bool
    default: false
  force:
    description: Build even when the digest is already on every tag.
    type: bool
    default: false
  builder:
    description:
      - V(auto) uses buildx when the plugin answers, else the classic builder.
      - V(buildx) and V(classic) insist on one.
    type: str
    choices: [auto, buildx, classic]
    default: auto
  docker_cli:
    description: The docker CLI to run builds with.
    type: path
    default: docker
  docker_host:
    description: Docker engine to talk to, for example V(unix:///var/run/docker.sock). Defaults
      to C(DOCKER_HOST) or the local socket.
    type: str
    aliases: [docker_url]
  timeout:
    description: Timeout in seconds of calls to the Docker engine API.
    type: int
    default: 120
requirements:
  - Docker SDK for Python
  - the docker CLI with the buildx plugin, or a docker CLI that builds with BuildKit
notes:
  - The build runs on the target host's Docker engine; the context must be on that host.
seealso:
  - module: midserver.claude_stack.image_tag
  - module: midserver.claude_stack.image_scan
  - module: midserver.claude_stack.image_push
"""

EXAMPLES = r"""
- name: Build the service image for this commit
  midserver.claude_stack.image_build:
    context: "{{ workspace }}/examples/claude-terminal-service"
    tags:
      - "claude-terminal-service:{{ git_sha }}"
    build_args:
      GO_IMAGE: golang:1.24-bookworm
    cache_from:
      - registry.example.com/midserver/claude-terminal-service:latest
    version: 1.2.3
  register: build

- name: Build with a private module proxy token, never shown in logs
  midserver.claude_stack.image_build:
    context: /srv/build/service
    target: runtime
    tags: [service:ci]
    secrets:
      - id: goproxy_token
        value: "{{ vault_goproxy_token }}"
"""

RETURN = r"""
image_id:
  description: ID of the image the tags name after the task.
  returned: success, except in check mode when a build would be needed
  type: str
  sample: sha256:4b1f0d55c1f6a2d8c0e5cc8ed5e4f1d2f43c1d58a6a6ddc3cfa1c1b71a1c3b2e
tags:
  description: The references the image carries, as given in O(tags).
  returned: always
  type: list
  elements: str
build_digest:
  description:
    - Digest of the build's inputs, stored in the label C(io.midserver.claude_stack.build-digest).
  returned: always
  type: str
built:
  description: Whether a build ran (or would run, in check mode).
  returned: always
  type: bool
size:
  description: Size of the image in bytes.
  returned: when an image exists after the task
  type: int
duration:
  description: Seconds the build took; V(0) when no build ran.
  returned: always
  type: float
builder:
  description: V(buildx) or V(classic), the builder that ran; V(none) when none ran.
  returned: always
  type: str
command:
  description: The build command that ran, or would run in check mode. Secret values never appear.
  returned: always
  type: list
  elements: str
stdout:
  description: Output of the build command (BuildKit's plain progress goes to RV(stderr)).
  returned: when a build ran
  type: str
stderr:
  description: BuildKit's plain progress output and errors.
  returned: when a build ran
  type: str
"""

import datetime
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.midserver.claude_stack.plugins.module_utils.build_context import (
    DIGEST_LABEL,
    BuildContextError,
    build_digest,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.docker_client import (
    DOCKER_CLIENT_ARGS,
    DockerException,
    docker_client,
    local_image,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.image_reference import (
    parse_reference,
)

OCI = "org.opencontainers.image."


class ImageBuilder:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.context = os.path.abspath(self.params["context"])
        dockerfile = self.params["dockerfile"]
        self.dockerfile = (
            dockerfile if os.path.isabs(dockerfile) else os.path.join(self.context, dockerfile)
        )
        self.tags = self._validated_tags()
        self.build_args = {k: str(v) for k, v in self.params["build_args"].items()}
        self.labels = {k: str(v) for k, v in self.params["labels"].items()}
        self._check_secrets()
        self.result = dict(
            changed=False, built=False, tags=self.tags, duration=0.0, builder="none", command=[]
        )

    def fail(self, msg, **kwargs):
        self.result.update(kwargs)
        self.module.fail_json(msg=msg, **self.result)

    def _validated_tags(self):
        tags = self.params["tags"]
        if not tags:
            self.module.fail_json(msg="tags is empty: give at least one image reference.")
        for tag in tags:
            try:
                ref = parse_reference(tag)
            except ValueError as exc:
                self.module.fail_json(msg=str(exc))
            if ref.digest:
                self.module.fail_json(
                    msg="tag '%s' carries a digest: a build can only be given names with tags."
                    % tag
                )
        return list(dict.fromkeys(tags))

    def _check_secrets(self):
        for secret in self.params["secrets"]:
            sources = [k for k in ("value", "src", "env") if secret.get(k) is not None]
            if len(sources) != 1:
                self.module.fail_json(
                    msg="secret '%s' needs exactly one of value, src or env." % secret["id"]
                )
            if secret.get("src") and not os.path.isfile(secret["src"]):
                self.module.fail_json(
                    msg="secret '%s' names src '%s', which is not a file."
                    % (secret["id"], secret["src"])
                )
            if secret.get("env") and secret["env"] not in os.environ:
                self.module.fail_json(
                    msg="secret '%s' names the environment variable '%s', which is not set."
                    % (secret["id"], secret["env"])
                )

    # The digest covers the labels that describe content, never the build time.
    def oci_labels(self):
        if not self.params["oci_labels"]:
            return {}
        labels = {
            OCI + "revision": self.params["revision"]
            or os.environ.get("GIT_COMMIT")
            or self._git_head(),
            OCI + "source": self.params["source"] or os.environ.get("GIT_URL"),
            OCI + "version": self.params["version"],
        }
        return {k: v for k, v in labels.items() if v}

    def _git_head(self):
        git = self.module.get_bin_path("git")
        if not git:
            return None
        rc, out, dummy = self.module.run_command([git, "-C", self.context, "rev-parse", "HEAD"])
        return out.strip() if rc == 0 else None

    def run(self):
        build_args = dict(self.build_args)
        if self.params["inline_cache"]:
            build_args.setdefault("BUILDKIT_INLINE_CACHE", "1")
        oci = self.oci_labels()
        # The revision and the build time say when content was made, not what it is:
        # leaving them out lets a new commit with an unchanged context reuse the image.
        content_labels = dict(self.labels)
        content_labels.update({k: v for k, v in oci.items() if k != OCI + "revision"})
        try:
            digest = build_digest(
                self.context, self.dockerfile, self.params["target"], build_args, content_labels
            )
        except BuildContextError as exc:
            self.module.fail_json(msg=str(exc))
        self.result["build_digest"] = digest

        client = docker_client(self.module)
        current = {tag: local_image(client, tag) for tag in self.tags}
        image = None if self.params["force"] else self._image_with_digest(client, current, digest)
        if image is not None:
            missing = [t for t, img in current.items() if img is None or img.id != image.id]
            self.result.update(image_id=image.id, size=image.attrs.get("Size"))
            if missing:
                self.result["changed"] = True
                if not self.module.check_mode:
                    for tag in missing:
                        self._tag(image, tag)
            self.module.exit_json(**self.result)

        labels = dict(self.labels)
        labels.update(oci)
        labels[DIGEST_LABEL] = digest
        if self.params["oci_labels"]:
            labels[OCI + "created"] = datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        builder = self._choose_builder()
        workdir = tempfile.mkdtemp(prefix="image_build-")
        try:
            os.chmod(workdir, 0o700)
            command, env = self._command(builder, build_args, labels, workdir)
            self.result.update(command=command, builder=builder, built=True, changed=True)
            if self.module.check_mode:
                self.module.exit_json(**self.result)
            self._write_secrets(workdir)
            started = time.monotonic()
            rc, out, err = self.module.run_command(command, environ_update=env)
            self.result["duration"] = round(time.monotonic() - started, 3)
            self.result.update(stdout=out, stderr=err)
            if rc != 0 and builder == "classic" and "buildx component" in err:
                self.fail(
                    "Neither the docker buildx plugin nor a docker CLI that builds with "
                    "BuildKit is available: install the docker-buildx package.",
                    rc=rc,
                )
            if rc != 0:
                self.fail(
                    "The %s build of '%s' failed (exit %d): %s."
                    % (builder, self.context, rc, _last_error(err or out)),
                    rc=rc,
                )
            with open(os.path.join(workdir, "iid"), encoding="ascii") as handle:
                image_id = handle.read().strip()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

        image = local_image(client, image_id)
        if image is None:
            self.fail("The build reported image %s, which the engine does not have." % image_id)
        self.result.update(image_id=image.id, size=image.attrs.get("Size"))
        for tag in self.tags:
            tagged = local_image(client, tag)
            if tagged is None or tagged.id != image.id:
                self._tag(image, tag)
        self.module.exit_json(**self.result)

    def _image_with_digest(self, client, current, digest):
        """An image built from the same inputs: under a requested tag, else the newest."""
        for image in current.values():
            if image is not None and image.labels.get(DIGEST_LABEL) == digest:
                return image
        try:
            found = client.images.list(filters={"label": "%s=%s" % (DIGEST_LABEL, digest)})
        except DockerException as exc:
            self.fail("Listing images on the Docker engine failed: %s." % exc)
        return max(found, key=lambda img: img.attrs.get("Created", ""), default=None)

    def _tag(self, image, tag):
        ref = parse_reference(tag)
        try:
            image.tag(ref.name, ref.tag or "latest")
        except DockerException as exc:
            self.fail("Tagging image %s as '%s' failed: %s." % (image.id, tag, exc))

    def _docker(self):
        cli = self.params["docker_cli"]
        path = cli if os.path.isabs(cli) else self.module.get_bin_path(cli)
        if not path:
            self.module.fail_json(msg="The docker CLI '%s' was not found on the target." % cli)
        return path

    def _choose_builder(self):
        docker = self._docker()
        wanted = self.params["builder"]
        has_buildx = (
            self.module.run_command([docker, "buildx", "version"], environ_update=self._env())[0]
            == 0
        )
        if wanted == "buildx" and not has_buildx:
            self.module.fail_json(
                msg="builder is 'buildx' but the docker buildx plugin does not "
                "answer: install it (package docker-buildx)."
            )
        builder = "buildx" if has_buildx and wanted != "classic" else "classic"
        if self.params["cache_to"]:
            self._check_cache_export(docker, builder)
        return builder

    def _check_cache_export(self, docker, builder):
        exports = [c for c in self.params["cache_to"] if c.replace(" ", "") != "type=inline"]
        if not exports:
            return
        if builder == "classic":
            self.module.fail_json(
                msg="cache_to '%s' needs the docker buildx plugin: use "
                "inline_cache with the classic builder." % exports[0]
            )
        rc, out, dummy = self.module.run_command(
            [docker, "buildx", "inspect"], environ_update=self._env()
        )
        driver = next(
            (
                line.split(":", 1)[1].strip()
                for line in out.splitlines()
                if line.startswith("Driver:")
            ),
            "",
        )
        if rc == 0 and driver == "docker":
            self.module.fail_json(
                msg="cache_to '%s' needs a buildx builder with the docker-container driver, but "
                "the current builder uses the docker driver: use inline_cache, or select "
                "such a builder." % exports[0]
            )

    def _env(self):
        env = {"DOCKER_BUILDKIT": "1"}
        if self.params["docker_host"]:
            env["DOCKER_HOST"] = self.params["docker_host"]
        return env

    def _command(self, builder, build_args, labels, workdir):
        docker = self._docker()
        cmd = [docker, "buildx", "build", "--load"] if builder == "buildx" else [docker, "build"]
        cmd += [
            "--progress",
            "plain",
            "--iidfile",
            os.path.join(workdir, "iid"),
            "--file",
            self.dockerfile,
        ]
        for tag in self.tags:
            cmd += ["--tag", tag]
        if self.params["target"]:
            cmd += ["--target", self.params["target"]]
        for key, value in sorted(build_args.items()):
            cmd += ["--build-arg", "%s=%s" % (key, value)]
        for key, value in sorted(labels.items()):
            cmd += ["--label", "%s=%s" % (key, value)]
        for source in self.params["cache_from"]:
            cmd += ["--cache-from", source]
        for dest in self.params["cache_to"]:
            cmd += ["--cache-to", dest]
        for index, secret in enumerate(self.params["secrets"]):
            cmd += [
                "--secret",
                "id=%s,src=%s" % (secret["id"], self._secret_path(secret, workdir, index)),
            ]
        if self.params["network"]:
            cmd += ["--network", self.params["network"]]
        if self.params["pull"]:
            cmd += ["--pull"]
        cmd.append(self.context)
        return cmd, self._env()

    @staticmethod
    def _secret_path(secret, workdir, index):
        return secret.get("src") or os.path.join(workdir, "secret-%d" % index)

    def _write_secrets(self, workdir):
        """Write secret values to private files, only when a build really runs."""
        for index, secret in enumerate(self.params["secrets"]):
            if secret.get("src"):
                continue
            value = (
                secret["value"] if secret.get("value") is not None else os.environ[secret["env"]]
            )
            fd = os.open(
                self._secret_path(secret, workdir, index),
                os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                0o600,
            )
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value)


def _last_error(output):
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            context=dict(type="path", required=True),
            dockerfile=dict(type="path", default="Dockerfile"),
            tags=dict(type="list", elements="str", required=True),
            target=dict(type="str"),
            build_args=dict(type="dict", default={}),
            labels=dict(type="dict", default={}),
            oci_labels=dict(type="bool", default=True),
            revision=dict(type="str"),
            source=dict(type="str"),
            version=dict(type="str"),
            cache_from=dict(type="list", elements="str", default=[]),
            cache_to=dict(type="list", elements="str", default=[]),
            inline_cache=dict(type="bool", default=True),
            secrets=dict(
                type="list",
                elements="dict",
                default=[],
                no_log=False,
                options=dict(
                    id=dict(type="str", required=True),
                    value=dict(type="str", no_log=True),
                    src=dict(type="path"),
                    env=dict(type="str", no_log=False),
                ),
            ),
            network=dict(type="str"),
            pull=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
            builder=dict(type="str", default="auto", choices=["auto", "buildx", "classic"]),
            docker_cli=dict(type="path", default="docker"),
            **DOCKER_CLIENT_ARGS,
        ),
        supports_check_mode=True,
    )
    ImageBuilder(module).run()


if __name__ == "__main__":
    main()
