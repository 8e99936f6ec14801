# Copyright: midserver.claude_stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a Docker build depends on, reduced to one digest.

The digest covers the files of the context that `.dockerignore` lets through (path,
permission bits, content), the Dockerfile, the build target, build arguments and
labels. `image_build` stores it as an image label and skips a build whose digest is
already on the requested tags.

`.dockerignore` is read with Docker's rules: one pattern a line, `#` comments,
`!` re-includes, `*` and `?` stay inside one path component, `**` crosses them,
the last matching pattern wins, and a pattern that matches a directory matches
everything below it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat

DIGEST_LABEL = "io.midserver.claude_stack.build-digest"
FORMAT_VERSION = "1"
_CHUNK = 1024 * 1024


class BuildContextError(ValueError):
    """A context or Dockerfile that cannot be read; the message is one sentence."""


def parse_dockerignore(text, source=".dockerignore"):
    """Return the patterns of a .dockerignore file as (regex, negated) pairs, in order."""
    patterns = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        # Docker takes a comment only where '#' starts the line, before any trimming.
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:].strip()
        line = posixpath.normpath(line.replace(os.sep, "/")).lstrip("/")
        if line in ("", "."):
            continue
        try:
            patterns.append((re.compile(_translate(line)), negated))
        except re.error as exc:
            raise BuildContextError(
                "pattern '%s' on line %d of %s is not valid: %s." % (line, number, source, exc)
            )
    return patterns


def _translate(pattern):
    """Translate one Docker ignore pattern into an anchored regular expression."""
    out = []
    i = 0
    n = len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):
                    i += 1
                if i >= n:
                    out.append(".*")
                else:
                    # '**' followed by more matches any number of whole directories.
                    out.append("(?:.*/)?")
                continue
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "^" + "".join(out) + "$"


def is_excluded(relpath, patterns):
    """Whether .dockerignore patterns exclude a context-relative path (POSIX separators)."""
    parents = []
    head = posixpath.dirname(relpath)
    while head:
        parents.append(head)
        head = posixpath.dirname(head)
    excluded = False
    for regex, negated in patterns:
        if regex.match(relpath) or any(regex.match(parent) for parent in parents):
            excluded = not negated
    return excluded


def context_entries(context, patterns):
    """Yield (relpath, kind, mode, payload) for every entry of the context that is sent.

    kind is "file", "dir" or "link"; payload is the content digest of a file or the
    target of a link. Names are visited sorted, so the order is stable.
    """
    can_prune = not any(negated for dummy, negated in patterns)

    def unreadable(error):
        raise error

    for root, dirs, files in os.walk(context, onerror=unreadable):
        rel_root = os.path.relpath(root, context)
        rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
        kept_dirs = []
        for name in sorted(dirs):
            rel = posixpath.join(rel_root, name) if rel_root else name
            full = os.path.join(root, name)
            excluded = is_excluded(rel, patterns)
            if os.path.islink(full):
                if not excluded:
                    yield rel, "link", 0, os.readlink(full)
                continue
            if not excluded:
                yield rel, "dir", stat.S_IMODE(os.lstat(full).st_mode), ""
            if not (excluded and can_prune):
                kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(files):
            rel = posixpath.join(rel_root, name) if rel_root else name
            if is_excluded(rel, patterns):
                continue
            full = os.path.join(root, name)
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                yield rel, "link", 0, os.readlink(full)
            elif stat.S_ISREG(info.st_mode):
                yield rel, "file", stat.S_IMODE(info.st_mode), file_digest(full)


def ignore_file_for(context, dockerfile):
    """The ignore file BuildKit applies: <Dockerfile>.dockerignore first, else the context's."""
    for candidate in (dockerfile + ".dockerignore", os.path.join(context, ".dockerignore")):
        if os.path.isfile(candidate):
            return candidate
    return None


def file_digest(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise BuildContextError("cannot read '%s': %s." % (path, exc.strerror or exc))
    return digest.hexdigest()


def build_digest(context, dockerfile, target=None, build_args=None, labels=None):
    """The digest of everything a build depends on, as "sha256:<hex>".

    dockerfile is a path; it counts whether or not it lies inside the context or is
    excluded by .dockerignore. Secrets do not count: their values never reach a label.
    """
    if not os.path.isdir(context):
        raise BuildContextError("build context '%s' is not a directory." % context)
    if not os.path.isfile(dockerfile):
        raise BuildContextError("Dockerfile '%s' does not exist." % dockerfile)
    patterns = []
    ignore_file = ignore_file_for(context, dockerfile)
    if ignore_file:
        with open(ignore_file, encoding="utf-8", errors="replace") as handle:
            patterns = parse_dockerignore(handle.read(), ignore_file)

    digest = hashlib.sha256()

    def add(*fields):
        digest.update("\0".join(str(f) for f in fields).encode("utf-8", "surrogateescape"))
        digest.update(b"\n")

    add("format", FORMAT_VERSION)
    try:
        for rel, kind, mode, payload in context_entries(context, patterns):
            add(kind, rel, "%o" % mode, payload)
    except OSError as exc:
        raise BuildContextError("cannot read the build context '%s': %s." % (context, exc))
    add("dockerfile", file_digest(dockerfile))
    add("target", target or "")
    for key, value in sorted((build_args or {}).items()):
        add("arg", key, value)
    for key, value in sorted((labels or {}).items()):
        add("label", key, value)
    return "sha256:" + digest.hexdigest()
