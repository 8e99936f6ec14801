#!/usr/bin/python
# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_tag
short_description: Give a built image the tags of the build's tag strategy
version_added: 0.1.0
description:
  - Computes the tags of one build from its git facts and applies them to a local image
    under one repository, such as C(registry.example.com/midserver/claude-terminal-service).
  - "The tag strategy: the short git SHA (always); the semantic version when the build is a
    release (optionally also C(MAJOR.MINOR) and C(MAJOR)); C(latest) on a main branch; the
    branch name made a valid tag; and any O(extra_tags)."
  - Git facts not given as options are read from the environment the module runs in, as
    Jenkins sets it - E(GIT_COMMIT), E(BRANCH_NAME), E(TAG_NAME), E(CHANGE_ID) and
    E(BUILD_NUMBER). With a local connection that is the environment of the Jenkins job;
    otherwise pass them with the C(environment) keyword or set the options.
  - SHA and semantic version tags are immutable by default (see O(immutable)). Before it
    tags anything, the module asks the registry whether it already holds such a tag for a
    different image and refuses, naming the tag and both digests, unless
    O(allow_overwrite=true).
  - Tagging is idempotent by image ID - a tag that already names the image is left alone.
    The module only tags local images; pushing them is the job of
    M(midserver.claude_stack.image_push).
author:
  - midserver.claude_stack maintainers (@midserver)
extends_documentation_fragment:
  - midserver.claude_stack.attributes
requirements:
  - Docker SDK for Python (C(docker)) on the target.
  - A Docker engine the target can reach.
options:
  image:
    description:
      - The local image to tag, as a reference (C(claude-terminal-service:build)) or an
        image ID.
    type: str
    required: true
  repository:
    description:
      - The repository the tags are given under, with its registry and without a tag or
        digest, for example C(registry.example.com/midserver/claude-terminal-service).
      - Its registry is the one asked about immutable tags.
    type: str
    required: true
  git_commit:
    description:
      - The full (or at least O(sha_length) digits) hexadecimal hash of the commit built.
      - Defaults to E(GIT_COMMIT). The SHA tag is always made, so one of the two is
        required.
    type: str
  sha_length:
    description:
      - How many leading digits of the commit hash make the SHA tag, from V(7) to V(40).
    type: int
    default: 7
  branch:
    description:
      - The branch built. Defaults to E(BRANCH_NAME); V("") means no branch.
      - It gives the branch tag - lowercase, C(/) and every character Docker refuses made
        C(-), accents dropped (C(ß) becomes C(ss)), no leading C(.) or C(-). A name longer
        than 128 characters is cut and ends in C(-) and 8 hex digits of its hash, so the
        tag stays the same for the same branch and differs between branches.
      - For a Jenkins tag build, where the branch is the release tag and it is a semantic
        version, no branch tag is made.
    type: str
  main_branches:
    description:
      - The branches whose builds get C(latest) when O(latest=auto).
    type: list
    elements: str
    default: [main, master]
  latest:
    description:
      - When to give the image the C(latest) tag.
    type: str
    choices:
      auto: Only for a build of one of the O(main_branches) that is not a pull request.
      always: On every build.
      never: Never.
    default: auto
  version:
    description:
      - The semantic version of a release, with an optional leading C(v), for example
        V(v1.2.3) or V(1.2.3-rc.1). It wins over O(release_tag).
      - Build metadata is written with C(_) in the tag, since Docker refuses C(+) -
        V(1.2.3+build.5) gives the tag C(1.2.3_build.5).
      - An invalid version fails the task.
    type: str
  release_tag:
    description:
      - The git tag being built. When it is a semantic version (with an optional C(v)) the
        build gets that version tag.
      - Defaults to E(TAG_NAME); V("") means none. A E(TAG_NAME) that is not a semantic
        version only gives a warning; a O(release_tag) option that is not fails the task.
    type: str
  semver_aliases:
    description:
      - Also tag C(MAJOR.MINOR) and C(MAJOR) for a release that is not a pre-release.
      - These aliases move with each release and are never immutable unless
        O(immutable) names V(semver_alias).
    type: bool
    default: false
  change_id:
    description:
      - The pull request number of the build; a pull request build never gets C(latest)
        when O(latest=auto).
      - Defaults to E(CHANGE_ID); V("") means not a pull request. Jenkins names such a
        build's branch C(PR-<number>), which gives the branch tag C(pr-<number>).
    type: str
    aliases: [pull_request]
  build_number:
    description:
      - The CI build number, used by O(build_tag). Defaults to E(BUILD_NUMBER).
    type: str
  build_tag:
    description:
      - Also give a tag made from the build number with O(build_tag_format).
    type: bool
    default: false
  build_tag_format:
    description:
      - The build number tag, with the fields C({build_number}), C({sha}) and C({branch})
        (the branch tag). Jenkins counts builds per job, so include C({branch}) where one
        repository gets builds of several branches.
    type: str
    default: build-{build_number}
  extra_tags:
    description:
      - More tags to give, each a valid Docker tag (letters, digits, C(_), C(.), C(-), at
        most 128 characters, not starting with C(.) or C(-)).
    type: list
    elements: str
    default: []
  immutable:
    description:
      - The kinds of tag that must never point to another image once the registry holds
        them.
    type: list
    elements: str
    choices: [sha, semver, semver_alias, build, latest, branch, extra]
    default: [sha, semver]
  allow_overwrite:
    description:
      - Tag even when the registry holds an immutable tag for a different image. The
        registry is still asked, so the result says which tags were replaced.
    type: bool
    default: false
  check_registry:
    description:
      - Ask the registry of O(repository) about the immutable tags before tagging.
      - With V(false) the immutability of tags is not checked at all - for a registry the
        target cannot reach, or a repository pushed elsewhere.
    type: bool
    default: true
  username:
    description:
      - The user to log in to the registry with. Without it, the login stored for the
        registry in the Docker client configuration (E(DOCKER_CONFIG) or
        C(~/.docker/config.json), credential helpers included) is used, if any.
    type: str
  password:
    description:
      - The password of O(username).
    type: str
  ca_cert:
    description:
      - A CA certificate file to trust for the registry. Defaults to the one dockerd
        trusts, C(/etc/docker/certs.d/<registry>/ca.crt), when it exists, else the
        system's trust store.
    type: path
  validate_certs:
    description:
      - Verify the registry's TLS certificate.
    type: bool
    default: true
  registry_timeout:
    description:
      - Seconds to wait for each answer of the registry.
    type: int
    default: 30
  docker_host:
    description:
      - The Docker engine to talk to, for example V(unix:///var/run/docker.sock) or
        V(tcp://127.0.0.1:2375). Defaults to E(DOCKER_HOST) or the local socket.
    type: str
    aliases: [docker_url]
  timeout:
    description:
      - Seconds to wait for each answer of the Docker engine.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: The registry is still asked about immutable tags, so a conflict fails in
      check mode too.
  diff_mode:
    support: full
    details: Each tag of the plan, before and after, with the image ID it names or
      C(none).
  idempotent:
    support: full
    details: Only while the git facts stay the same; a new commit is a new tag set.
notes:
  - A tag moved away from another image leaves that image in place, untagged if it had
    no other name; prune it separately.
  - If the engine fails part-way through, the tags already applied are put back as they
    were before the failure is reported.
seealso:
  - name: Docker image tag reference
    description: The rules a tag must follow.
    link: https://docs.docker.com/reference/cli/docker/image/tag/
  - name: Semantic Versioning
    description: The version grammar O(version) and O(release_tag) follow.
    link: https://semver.org/
"""

EXAMPLES = r"""
- name: Tag the build with Jenkins' git facts (GIT_COMMIT, BRANCH_NAME, TAG_NAME, ...)
  midserver.claude_stack.image_tag:
    image: claude-terminal-service:build
    repository: registry.example.com/midserver/claude-terminal-service
  register: tagged

- name: Tag a release with explicit git facts and the MAJOR and MAJOR.MINOR aliases
  midserver.claude_stack.image_tag:
    image: "{{ built.image_id }}"
    repository: registry.example.com/midserver/claude-terminal-service
    git_commit: 4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e
    branch: main
    version: v1.2.3
    semver_aliases: true
    username: jenkins
    password: "{{ registry_password }}"

- name: Tag a feature branch build with its build number, without asking the registry
  midserver.claude_stack.image_tag:
    image: claude-terminal-service:build
    repository: 127.0.0.1:5443/midserver/claude-terminal-service
    build_tag: true
    build_tag_format: "{branch}-{build_number}"
    check_registry: false
  environment:
    GIT_COMMIT: "{{ lookup('ansible.builtin.env', 'GIT_COMMIT') }}"
    BRANCH_NAME: "{{ lookup('ansible.builtin.env', 'BRANCH_NAME') }}"
    BUILD_NUMBER: "{{ lookup('ansible.builtin.env', 'BUILD_NUMBER') }}"

- name: Push every tag the tag strategy produced
  midserver.claude_stack.image_push:
    name: registry.example.com/midserver/claude-terminal-service
    tags: "{{ tagged.tags }}"
"""

RETURN = r"""
tags:
  description: The tags of the build, in the order the strategy makes them.
  returned: success
  type: list
  elements: str
  sample: [4f2c9e1, 1.2.3, '1.2', '1', latest, main]
references:
  description: The full references, O(repository) with each tag.
  returned: success
  type: list
  elements: str
  sample:
    - registry.example.com/midserver/claude-terminal-service:4f2c9e1
    - registry.example.com/midserver/claude-terminal-service:latest
kinds:
  description:
    - The kind of each tag - V(sha), V(semver), V(semver_alias), V(build), V(latest),
      V(branch) or V(extra). A tag two kinds give is named by the first of these.
  returned: success
  type: dict
  sample: {4f2c9e1: sha, 1.2.3: semver, latest: latest, main: branch}
immutable_tags:
  description: The tags of an O(immutable) kind, checked against the registry.
  returned: success
  type: list
  elements: str
  sample: [4f2c9e1, 1.2.3]
changed_tags:
  description: The tags that were (or in check mode would be) added or moved to the image.
  returned: success
  type: list
  elements: str
  sample: [latest]
overwritten_tags:
  description:
    - Immutable tags the registry holds for a different image, replaced locally because
      of O(allow_overwrite=true).
  returned: success
  type: list
  elements: str
  sample: []
image_id:
  description: The ID of the image tagged.
  returned: success
  type: str
  sample: sha256:7b3ccabffc97de872a30dfd234fd972a66d247c8cfc69b0550f276481852627c
registry:
  description:
    - What the registry holds for each immutable tag - the manifest digest, or V(null)
      where it has no such tag. Empty when O(check_registry=false).
  returned: success
  type: dict
  sample: {4f2c9e1: sha256:3c1f0a9e86b0e6c5c4a2d8b1f3e7a5c9d2b4f6a8c0e1d3b5a7f9c2e4d6b8a0f1}
git:
  description: The git facts the tags were computed from, after reading the environment.
  returned: success
  type: dict
  contains:
    commit:
      description: The commit hash.
      type: str
      sample: 4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e
    short_sha:
      description: The SHA tag.
      type: str
      sample: 4f2c9e1
    branch:
      description: The branch as given, or V(null).
      type: str
      sample: feature/auth-fix
    release_tag:
      description: The git tag of a release build, or V(null).
      type: str
      sample: v1.2.3
    version:
      description: The semantic version, without a leading C(v), or V(null).
      type: str
      sample: 1.2.3
    change_id:
      description: The pull request number, or V(null).
      type: str
      sample: '123'
    pull_request:
      description: Whether the build is of a pull request.
      type: bool
      sample: false
    main_branch:
      description: Whether the branch is one of O(main_branches).
      type: bool
      sample: true
    build_number:
      description: The CI build number, or V(null).
      type: str
      sample: '42'
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.midserver.claude_stack.plugins.module_utils.docker_client import (
    DOCKER_CLIENT_ARGS,
    DockerException,
    docker_client,
    local_image,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.image_reference import (
    ImageReference,
    split_repository,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.registry_client import (
    RegistryClient,
    RegistryError,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.tag_strategy import (
    DEFAULT_BUILD_TAG_FORMAT,
    DEFAULT_IMMUTABLE,
    DEFAULT_MAIN_BRANCHES,
    KINDS,
    LATEST_CHOICES,
    compute_tags,
)


class ImmutableTagConflict(Exception):
    """The registry holds an immutable tag for a different image."""


class ImageTagger:
    """Plan the tags of one build, check them against the registry, apply them."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = dict(changed=False)

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **dict(self.result, **kwargs))

    def run(self):
        repository = self.params["repository"]
        if "@" in repository or ":" in repository.rpartition("/")[2]:
            self.fail(
                "repository '%s' must not carry a tag or digest: the module adds the "
                "tags." % repository
            )
        try:
            target = ImageReference(*split_repository(repository))
            plan = compute_tags(
                git_commit=self.params["git_commit"],
                branch=self.params["branch"],
                version=self.params["version"],
                release_tag=self.params["release_tag"],
                change_id=self.params["change_id"],
                build_number=self.params["build_number"],
                sha_length=self.params["sha_length"],
                semver_aliases=self.params["semver_aliases"],
                latest=self.params["latest"],
                main_branches=self.params["main_branches"],
                build_tag=self.params["build_tag"],
                build_tag_format=self.params["build_tag_format"],
                extra_tags=self.params["extra_tags"],
                immutable=self.params["immutable"],
                env=os.environ,
            )
        except ValueError as exc:
            self.fail(str(exc))
        for warning in plan.warnings:
            self.module.warn(warning)

        references = ["%s:%s" % (repository, tag) for tag in plan.tags]
        self.result.update(
            tags=plan.tags,
            references=references,
            kinds=plan.kinds,
            immutable_tags=plan.immutable,
            git=plan.git,
            registry={},
            changed_tags=[],
            overwritten_tags=[],
        )

        client = docker_client(self.module)
        image = self._image(client, self.params["image"])
        self.result["image_id"] = image.id

        before = {tag: self._image_id(client, ref) for tag, ref in zip(plan.tags, references)}
        to_tag = [tag for tag in plan.tags if before[tag] != image.id]
        self.result["changed_tags"] = to_tag

        if self.params["check_registry"] and plan.immutable:
            self._check_registry(target.domain, target.remote_path, plan.immutable, image)

        self.result["changed"] = bool(to_tag)
        if self.module._diff:
            self.result["diff"] = dict(
                before_header="%s (local tags)" % repository,
                after_header="%s (local tags)" % repository,
                before=_diff_text(plan.tags, before),
                after=_diff_text(plan.tags, dict(before, **{t: image.id for t in to_tag})),
            )
        if to_tag and not self.module.check_mode:
            self._apply(client, image, repository, to_tag, before)
        self.module.exit_json(**self.result)

    def _image(self, client, reference):
        try:
            image = local_image(client, reference)
        except DockerException as exc:
            self.fail(
                "Image '%s' cannot be looked up in the Docker engine: %s."
                % (reference, _first_line(exc))
            )
        if image is None:
            self.fail(
                "Image '%s' is not in the local Docker engine: build or pull it first." % reference
            )
        return image

    def _image_id(self, client, reference):
        try:
            found = local_image(client, reference)
        except DockerException as exc:
            self.fail(
                "Tag '%s' cannot be looked up in the Docker engine: %s."
                % (reference, _first_line(exc))
            )
        return found.id if found is not None else None

    def _check_registry(self, registry, path, tags, image):
        try:
            client = RegistryClient(
                registry,
                username=self.params["username"],
                password=self.params["password"],
                ca_cert=self.params["ca_cert"],
                validate_certs=self.params["validate_certs"],
                timeout=self.params["registry_timeout"],
            )
            held = {}
            for tag in tags:
                manifest = client.manifest(path, tag)
                held[tag] = manifest.digest if manifest else None
                self.result["registry"] = dict(held)
                if manifest is None or manifest.holds(image.id, image.attrs.get("RepoDigests")):
                    continue
                if self.params["allow_overwrite"]:
                    self.result["overwritten_tags"].append(tag)
                    continue
                registry_image = manifest.config_digest or manifest.digest
                raise ImmutableTagConflict(
                    "Tag '%s' is immutable and registry %s already holds it for image %s, "
                    "not %s: nothing was tagged; build from a new commit or version, or set "
                    "allow_overwrite to replace it."
                    % (tag, registry, registry_image, _local_digest(manifest, image))
                )
        except (RegistryError, ImmutableTagConflict) as exc:
            self.fail(str(exc))

    def _apply(self, client, image, repository, to_tag, before):
        done = []
        try:
            for tag in to_tag:
                if not image.tag(repository, tag=tag):
                    raise DockerException("the engine did not accept the tag")
                done.append(tag)
        except DockerException as exc:
            failed = tag
            self._restore(client, repository, done, before)
            self.fail(
                "Tagging %s:%s failed in the Docker engine: %s; the tags applied before it "
                "were put back." % (repository, failed, _first_line(exc))
            )

    def _restore(self, client, repository, done, before):
        for tag in done:
            reference = "%s:%s" % (repository, tag)
            try:
                if before[tag]:
                    client.images.get(before[tag]).tag(repository, tag=tag)
                else:
                    client.images.remove(reference, noprune=True)
            except DockerException as exc:
                self.module.warn(
                    "Tag %s could not be put back: %s." % (reference, _first_line(exc))
                )


def _local_digest(manifest, image):
    """The local counterpart of what the registry holds, for a conflict message."""
    if manifest.config_digest:
        return image.id
    digests = [entry.rpartition("@")[2] for entry in image.attrs.get("RepoDigests") or []]
    if digests:
        return "%s (local image %s)" % (", ".join(sorted(set(digests))), image.id)
    return "local image %s, which has no registry digest" % image.id


def _diff_text(tags, ids):
    return "".join("%s -> %s\n" % (tag, ids.get(tag) or "none") for tag in tags)


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def main():
    argument_spec = dict(
        image=dict(type="str", required=True),
        repository=dict(type="str", required=True),
        git_commit=dict(type="str"),
        sha_length=dict(type="int", default=7),
        branch=dict(type="str"),
        main_branches=dict(type="list", elements="str", default=list(DEFAULT_MAIN_BRANCHES)),
        latest=dict(type="str", choices=list(LATEST_CHOICES), default="auto"),
        version=dict(type="str"),
        release_tag=dict(type="str"),
        semver_aliases=dict(type="bool", default=False),
        change_id=dict(type="str", aliases=["pull_request"]),
        build_number=dict(type="str"),
        build_tag=dict(type="bool", default=False),
        build_tag_format=dict(type="str", default=DEFAULT_BUILD_TAG_FORMAT),
        extra_tags=dict(type="list", elements="str", default=[]),
        immutable=dict(
            type="list", elements="str", choices=list(KINDS), default=list(DEFAULT_IMMUTABLE)
        ),
        allow_overwrite=dict(type="bool", default=False),
        check_registry=dict(type="bool", default=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        ca_cert=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        registry_timeout=dict(type="int", default=30),
    )
    argument_spec.update(DOCKER_CLIENT_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[["username", "password"]],
        supports_check_mode=True,
    )
    ImageTagger(module).run()


if __name__ == "__main__":
    main()
