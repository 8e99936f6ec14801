# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tag strategy of a build: which tags one image gets, and which of them must never move.

A build gets its short git SHA, a semantic version when it is a release, ``latest`` on a
main branch, its branch name made a valid tag, and any extra tags. Values not given are
read from Jenkins' environment (GIT_COMMIT, BRANCH_NAME, TAG_NAME, CHANGE_ID, BUILD_NUMBER).
Everything here is pure: no engine, no registry.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional

from ansible_collections.midserver.claude_stack.plugins.module_utils.image_reference import (
    MAX_TAG_LENGTH,
    validate_tag,
)

KIND_SHA = "sha"
KIND_SEMVER = "semver"
KIND_SEMVER_ALIAS = "semver_alias"
KIND_BUILD = "build"
KIND_LATEST = "latest"
KIND_BRANCH = "branch"
KIND_EXTRA = "extra"
# When two kinds give the same tag, the first one here names it.
KINDS = (KIND_SHA, KIND_SEMVER, KIND_SEMVER_ALIAS, KIND_BUILD, KIND_LATEST, KIND_BRANCH,
         KIND_EXTRA)
DEFAULT_IMMUTABLE = (KIND_SHA, KIND_SEMVER)
LATEST_CHOICES = ("auto", "always", "never")
DEFAULT_MAIN_BRANCHES = ("main", "master")
DEFAULT_BUILD_TAG_FORMAT = "build-{build_number}"
MIN_SHA_LENGTH = 7
# Limitation: a repository in git's SHA-256 object format has 64-digit hashes, which are
# refused; lifting it needs MAX_SHA_LENGTH 64 and the docs saying so.
MAX_SHA_LENGTH = 40

ENV_COMMIT = "GIT_COMMIT"
ENV_BRANCH = "BRANCH_NAME"
ENV_RELEASE_TAG = "TAG_NAME"
ENV_CHANGE_ID = "CHANGE_ID"
ENV_BUILD_NUMBER = "BUILD_NUMBER"

# semver.org's grammar, with an optional leading 'v' as release tags are usually written.
_SEMVER = re.compile(
    r"[vV]?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z"
)
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_NOT_TAG_CHARS = re.compile(r"[^a-z0-9_.-]+")
_BUILD_NUMBER = re.compile(r"[0-9A-Za-z_.-]+\Z")
# Letters NFKD does not split into an ASCII base and a mark.
_TRANSLITERATION = {
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ł": "l", "Ł": "l",
    "ı": "i",
}
BRANCH_HASH_LENGTH = 8
# Docker accepts '+' nowhere in a tag; '_' cannot occur in a semantic version, so the
# mapped tag stays unambiguous.
BUILD_METADATA_SEPARATOR = "_"


class SemVer(NamedTuple):
    """A semantic version, as https://semver.org defines it."""

    major: int
    minor: int
    patch: int
    prerelease: Optional[str] = None
    build: Optional[str] = None

    @property
    def core(self) -> str:
        return "%d.%d.%d" % (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        text = self.core
        if self.prerelease:
            text += "-" + self.prerelease
        if self.build:
            text += "+" + self.build
        return text

    @property
    def tag(self) -> str:
        """The version as a Docker tag: build metadata joined with '_' instead of '+'."""
        text = str(self).replace("+", BUILD_METADATA_SEPARATOR)
        return validate_tag(text)

    @property
    def aliases(self) -> List[str]:
        """``MAJOR.MINOR`` and ``MAJOR``; none for a pre-release, which must not move them."""
        if self.prerelease:
            return []
        return ["%d.%d" % (self.major, self.minor), "%d" % self.major]


class TagPlan(NamedTuple):
    """The tags one build gets, in order, with the kind of each and the git facts used."""

    tags: List[str]
    kinds: Dict[str, str]
    immutable: List[str]
    git: Dict[str, Any]
    warnings: List[str]


def parse_semver(text, what="version") -> SemVer:
    """Parse ``[v]MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``; raise ValueError naming it."""
    match = _SEMVER.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(
            "%s '%s' is not a semantic version: write MAJOR.MINOR.PATCH with an optional "
            "leading 'v', '-prerelease' and '+build' (for example v1.2.3 or 1.2.3-rc.1)."
            % (what, text)
        )
    major, minor, patch, prerelease, build = match.groups()
    return SemVer(int(major), int(minor), int(patch), prerelease, build)


def short_sha(commit, length=7) -> str:
    """The first ``length`` hex digits of a commit, lowercase; raise ValueError naming it."""
    if isinstance(length, bool) or not isinstance(length, int) or not (
        MIN_SHA_LENGTH <= length <= MAX_SHA_LENGTH
    ):
        raise ValueError(
            "sha_length %r is not valid: use a whole number from %d to %d."
            % (length, MIN_SHA_LENGTH, MAX_SHA_LENGTH)
        )
    if not isinstance(commit, str) or not commit:
        raise ValueError(
            "no git commit was given: set git_commit or the GIT_COMMIT environment variable."
        )
    if not _HEX.match(commit) or not MIN_SHA_LENGTH <= len(commit) <= MAX_SHA_LENGTH:
        raise ValueError(
            "git commit '%s' is not a commit hash: use %d to %d hexadecimal digits."
            % (commit, MIN_SHA_LENGTH, MAX_SHA_LENGTH)
        )
    if len(commit) < length:
        raise ValueError(
            "git commit '%s' has %d digits, fewer than sha_length %d: give the full hash."
            % (commit, len(commit), length)
        )
    return commit[:length].lower()


def _ascii(text: str) -> str:
    text = "".join(_TRANSLITERATION.get(char, char) for char in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:BRANCH_HASH_LENGTH]


def branch_tag(branch) -> Optional[str]:
    """The branch name made a valid Docker tag, always the same for the same branch.

    Lowercase; '/' and every character Docker refuses become '-' (letters with accents
    lose them first); no leading '.' or '-'. A name longer than 128 characters is cut
    and ends in '-' plus 8 hex digits of a hash of the whole name, so two long branches
    that share a beginning still get different tags. ``None`` for no branch.
    """
    if branch is None:
        return None
    if not isinstance(branch, str):
        raise ValueError("branch %r is not valid: it must be a string." % (branch,))
    if not branch.strip():
        return None
    tag = _NOT_TAG_CHARS.sub("-", _ascii(branch).lower())
    tag = tag.lstrip(".-").rstrip(".-")
    if not tag:
        # Nothing of the name survives (for example a name in another script).
        return "branch-" + _digest(branch)
    if len(tag) > MAX_TAG_LENGTH:
        keep = MAX_TAG_LENGTH - BRANCH_HASH_LENGTH - 1
        tag = "%s-%s" % (tag[:keep].rstrip(".-"), _digest(branch))
    return validate_tag(tag)


def _pick(value, env: Mapping[str, str], name: str):
    """An option's value, else the environment's; an explicit empty string means none."""
    if value is None:
        value = env.get(name)
    if isinstance(value, str):
        value = value.strip()
    return value if value not in ("", None) else None


def compute_tags(
    git_commit=None,
    branch=None,
    version=None,
    release_tag=None,
    change_id=None,
    build_number=None,
    sha_length=7,
    semver_aliases=False,
    latest="auto",
    main_branches: Iterable[str] = DEFAULT_MAIN_BRANCHES,
    build_tag=False,
    build_tag_format=DEFAULT_BUILD_TAG_FORMAT,
    extra_tags: Iterable[str] = (),
    immutable: Iterable[str] = DEFAULT_IMMUTABLE,
    env: Optional[Mapping[str, str]] = None,
) -> TagPlan:
    """Compute the tags of one build; raise ValueError with one sentence for bad input.

    Values left ``None`` come from ``env`` (Jenkins' variables); an empty string means
    "none" and hides the environment's value.
    """
    env = env or {}
    warnings = []
    commit = _pick(git_commit, env, ENV_COMMIT)
    branch = _pick(branch, env, ENV_BRANCH)
    change_id = _pick(change_id, env, ENV_CHANGE_ID)
    build_number = _pick(build_number, env, ENV_BUILD_NUMBER)
    release_from_env = release_tag is None
    release_tag = _pick(release_tag, env, ENV_RELEASE_TAG)
    version = _pick(version, {}, ENV_RELEASE_TAG) if version is not None else None
    if latest not in LATEST_CHOICES:
        raise ValueError(
            "latest '%s' is not one of %s." % (latest, ", ".join(LATEST_CHOICES))
        )
    unknown = [kind for kind in immutable if kind not in KINDS]
    if unknown:
        raise ValueError(
            "immutable kind '%s' is unknown: use %s." % (unknown[0], ", ".join(KINDS))
        )

    found = []  # (tag, kind) in order

    sha = short_sha(commit, sha_length)
    found.append((sha, KIND_SHA))

    semver = None
    if version is not None:
        semver = parse_semver(version, "version")
    elif release_tag is not None:
        try:
            semver = parse_semver(release_tag, "release tag")
        except ValueError:
            if not release_from_env:
                raise
            warnings.append(
                "%s '%s' is not a semantic version, so the build gets no version tag."
                % (ENV_RELEASE_TAG, release_tag)
            )
    if semver is not None:
        found.append((semver.tag, KIND_SEMVER))
        if semver_aliases:
            found.extend((alias, KIND_SEMVER_ALIAS) for alias in semver.aliases)

    if build_tag:
        if build_number is None:
            raise ValueError(
                "build_tag needs a build number: set build_number or BUILD_NUMBER."
            )
        if not _BUILD_NUMBER.match(build_number):
            raise ValueError(
                "build number '%s' is not valid: use letters, digits, '_', '.' or '-'."
                % build_number
            )
        found.append((_format_build_tag(build_tag_format, build_number, branch, sha),
                      KIND_BUILD))

    pull_request = change_id is not None
    main_branch = branch is not None and branch in list(main_branches)
    if latest == "always" or (latest == "auto" and main_branch and not pull_request):
        found.append(("latest", KIND_LATEST))

    # A tag build in Jenkins has BRANCH_NAME set to the tag: its version tag is enough.
    if branch is not None and not (branch == release_tag and semver is not None):
        found.append((branch_tag(branch), KIND_BRANCH))

    for extra in extra_tags or ():
        found.append((validate_tag(extra), KIND_EXTRA))

    tags, kinds, all_kinds = [], {}, {}
    for tag, kind in found:
        if tag not in kinds:
            tags.append(tag)
            kinds[tag] = kind
        all_kinds.setdefault(tag, set()).add(kind)
    for tag in tags:
        kinds[tag] = min(all_kinds[tag], key=KINDS.index)
    immutable = set(immutable)
    fixed = [tag for tag in tags if all_kinds[tag] & immutable]

    git = {
        "commit": commit,
        "short_sha": sha,
        "branch": branch,
        "release_tag": release_tag,
        "version": str(semver) if semver else None,
        "change_id": change_id,
        "pull_request": pull_request,
        "main_branch": main_branch,
        "build_number": build_number,
    }
    return TagPlan(tags, kinds, fixed, git, warnings)


def _format_build_tag(template, build_number, branch, sha):
    fields = {"build_number": build_number, "sha": sha, "branch": branch_tag(branch) or ""}
    try:
        text = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError):
        raise ValueError(
            "build_tag_format '%s' is not valid: use only the fields {build_number}, {sha} "
            "and {branch}." % template
        )
    return validate_tag(text)
