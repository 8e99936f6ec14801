"""build_context: .dockerignore semantics and what the build digest reacts to."""

import os

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils import build_context as bc


@pytest.mark.parametrize(
    "patterns,path,excluded",
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/README.md", False),
        ("**/*.md", "docs/README.md", True),
        ("**/*.md", "README.md", True),
        ("docs", "docs/a/b.txt", True),
        ("docs/", "docs/a/b.txt", True),
        ("/docs", "docs/x", True),
        ("./docs", "docs/x", True),
        ("do?s", "docs/x", True),
        ("d[a-o]cs", "docs/x", True),
        ("d[^o]cs", "docs/x", False),
        ("*\n!keep.txt", "keep.txt", False),
        ("*\n!keep.txt", "drop.txt", True),
        ("!keep.txt\n*", "keep.txt", True),
        ("# comment\n\n  bin  ", "bin/app", True),
        ("**", "anything/at/all", True),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("a/**/z", "b/z", False),
        ("vendor/*\n!vendor/keep", "vendor/keep/x.go", False),
        (".git", ".gitignore", False),
    ],
)
def test_dockerignore_rules(patterns, path, excluded):
    assert bc.is_excluded(path, bc.parse_dockerignore(patterns)) is excluded


def make_context(tmp_path, files, ignore=None):
    context = tmp_path / "ctx"
    context.mkdir()
    for rel, content in files.items():
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    if ignore is not None:
        (context / ".dockerignore").write_text(ignore)
    return context


def digest(context, **kwargs):
    return bc.build_digest(str(context), str(context / "Dockerfile"), **kwargs)


def test_digest_is_stable_and_prefixed(tmp_path):
    context = make_context(tmp_path, {"Dockerfile": "FROM scratch\n", "main.go": "package main\n"})
    first = digest(context)
    assert first.startswith("sha256:") and len(first) == 71
    assert digest(context) == first


@pytest.mark.parametrize(
    "change",
    [
        lambda c: (c / "main.go").write_text("package main // changed\n"),
        lambda c: (c / "new.txt").write_text("x"),
        lambda c: (c / "Dockerfile").write_text("FROM scratch\nUSER 1\n"),
        lambda c: os.chmod(c / "main.go", 0o755),
        lambda c: (c / "main.go").rename(c / "moved.go"),
        lambda c: (c / "emptydir").mkdir(),
    ],
    ids=["content", "added", "dockerfile", "mode", "rename", "empty-dir"],
)
def test_any_sent_change_changes_the_digest(tmp_path, change):
    context = make_context(tmp_path, {"Dockerfile": "FROM scratch\n", "main.go": "package main\n"})
    before = digest(context)
    change(context)
    assert digest(context) != before


def test_ignored_files_do_not_count(tmp_path):
    context = make_context(
        tmp_path,
        {"Dockerfile": "FROM scratch\n", "main.go": "x", "notes/todo.md": "a", "build.log": "1"},
        ignore="notes\n*.log\n",
    )
    before = digest(context)
    (context / "notes" / "todo.md").write_text("b")
    (context / "build.log").write_text("2")
    (context / "other.log").write_text("3")
    assert digest(context) == before
    (context / ".dockerignore").write_text("notes\n")
    assert digest(context) != before


def test_excluded_dockerfile_still_counts(tmp_path):
    context = make_context(tmp_path, {"Dockerfile": "FROM scratch\n"}, ignore="Dockerfile\n")
    before = digest(context)
    (context / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    assert digest(context) != before


@pytest.mark.parametrize(
    "kwargs",
    [{"target": "runtime"}, {"build_args": {"GO_VERSION": "1.24"}}, {"labels": {"a": "b"}}],
)
def test_target_args_and_labels_count(tmp_path, kwargs):
    context = make_context(tmp_path, {"Dockerfile": "FROM scratch\n"})
    assert digest(context, **kwargs) != digest(context)


def test_build_args_order_does_not_matter(tmp_path):
    context = make_context(tmp_path, {"Dockerfile": "FROM scratch\n"})
    assert digest(context, build_args={"A": "1", "B": "2"}) == digest(
        context, build_args={"B": "2", "A": "1"}
    )


def test_symlinks_count_by_target(tmp_path):
    context = make_context(tmp_path, {"Dockerfile": "FROM scratch\n", "a": "1", "b": "2"})
    (context / "link").symlink_to("a")
    before = digest(context)
    (context / "link").unlink()
    (context / "link").symlink_to("b")
    assert digest(context) != before


@pytest.mark.parametrize(
    "context_exists,dockerfile_exists,message",
    [
        (False, False, "build context '.*' is not a directory"),
        (True, False, "Dockerfile '.*' does not exist"),
    ],
)
def test_missing_inputs_raise_one_sentence(tmp_path, context_exists, dockerfile_exists, message):
    context = tmp_path / "ctx"
    if context_exists:
        context.mkdir()
    with pytest.raises(bc.BuildContextError, match=message):
        digest(context)


@pytest.mark.parametrize(
    "patterns,path,excluded",
    [
        ("**foo", "barfoo", False),
        ("**foo", "bar/foo", True),
        ("**foo", "foo", True),
        ("  # not a comment to Docker", "# not a comment to Docker", True),
        ("\ufeffsecret.txt", "secret.txt", True),
    ],
)
def test_docker_edge_cases(patterns, path, excluded):
    assert bc.is_excluded(path, bc.parse_dockerignore(patterns)) is excluded


def test_invalid_pattern_is_one_sentence():
    with pytest.raises(bc.BuildContextError, match=r"pattern '\[z-a\]' on line 2 of x is not valid"):
        bc.parse_dockerignore("ok\n[z-a]\n", "x")


def test_dockerfile_specific_ignore_file_wins(tmp_path):
    context = make_context(
        tmp_path, {"Dockerfile": "FROM scratch\n", "a.txt": "1", "b.txt": "1"}, ignore="a.txt\n"
    )
    (context / "Dockerfile.dockerignore").write_text("b.txt\n")
    before = digest(context)
    (context / "b.txt").write_text("2")
    assert digest(context) == before
    (context / "a.txt").write_text("2")
    assert digest(context) != before
