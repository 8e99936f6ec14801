"""The tag strategy: SHA, semantic version, latest, branch, build number and extra tags."""

import hashlib

import pytest

from ansible_collections.midserver.claude_stack.plugins.module_utils.image_reference import (
    validate_tag,
)
from ansible_collections.midserver.claude_stack.plugins.module_utils.tag_strategy import (
    SemVer,
    branch_tag,
    compute_tags,
    parse_semver,
    short_sha,
)

COMMIT = "4f2c9e1d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
LONG = "feature/" + "x" * 192  # 200 characters


def digest8(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


@pytest.mark.parametrize(
    "branch, expected",
    [
        ("main", "main"),
        ("feature/auth-fix", "feature-auth-fix"),
        ("Feature/Auth-Fix", "feature-auth-fix"),
        ("feature/ünïcode-ß", "feature-unicode-ss"),
        ("bugfix/Ærøskøbing-łódź", "bugfix-aeroskobing-lodz"),
        ("release/1.2", "release-1.2"),
        ("PR-123", "pr-123"),
        (".hidden", "hidden"),
        ("-dash", "dash"),
        ("..--.x", "x"),
        ("_under", "_under"),
        ("feature//double", "feature-double"),
        ("feature/x y\tz", "feature-x-y-z"),
        ("a--b", "a--b"),
        ("trailing/", "trailing"),
        ("dependabot/npm_and_yarn/lodash-4.17.21", "dependabot-npm_and_yarn-lodash-4.17.21"),
        ("日本語", "branch-" + digest8("日本語")),
        ("...", "branch-" + digest8("...")),
        (LONG, "feature-" + "x" * 111 + "-" + digest8(LONG)),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_branch_tag(branch, expected):
    tag = branch_tag(branch)
    assert tag == expected
    if tag is not None:
        assert validate_tag(tag) == tag
        assert len(tag) <= 128
        assert tag == tag.lower()
        assert tag[0] not in ".-"


def test_branch_tag_is_stable_and_long_names_stay_distinct():
    other = LONG[:-1] + "y"
    assert branch_tag(LONG) == branch_tag(LONG)
    assert len(branch_tag(LONG)) == 128
    assert branch_tag(LONG)[:100] == branch_tag(other)[:100]
    assert branch_tag(LONG) != branch_tag(other)


def test_branch_exactly_128_characters_is_kept_whole():
    name = "b" * 128
    assert branch_tag(name) == name


def test_branch_must_be_a_string():
    with pytest.raises(ValueError, match="branch 5 is not valid"):
        branch_tag(5)


@pytest.mark.parametrize(
    "text, expected, tag, aliases",
    [
        ("1.2.3", SemVer(1, 2, 3), "1.2.3", ["1.2", "1"]),
        ("v1.2.3", SemVer(1, 2, 3), "1.2.3", ["1.2", "1"]),
        ("V10.20.30", SemVer(10, 20, 30), "10.20.30", ["10.20", "10"]),
        ("0.0.0", SemVer(0, 0, 0), "0.0.0", ["0.0", "0"]),
        ("1.2.3-rc.1", SemVer(1, 2, 3, "rc.1"), "1.2.3-rc.1", []),
        ("1.0.0-alpha-a.b-c", SemVer(1, 0, 0, "alpha-a.b-c"), "1.0.0-alpha-a.b-c", []),
        ("1.0.0-0.3.7", SemVer(1, 0, 0, "0.3.7"), "1.0.0-0.3.7", []),
        ("1.2.3+build.5", SemVer(1, 2, 3, None, "build.5"), "1.2.3_build.5", ["1.2", "1"]),
        ("1.2.3-beta+exp.sha.5114f85", SemVer(1, 2, 3, "beta", "exp.sha.5114f85"),
         "1.2.3-beta_exp.sha.5114f85", []),
    ],
)
def test_parse_valid_semver(text, expected, tag, aliases):
    version = parse_semver(text)
    assert version == expected
    assert version.tag == tag
    assert version.aliases == aliases


@pytest.mark.parametrize(
    "text",
    ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3+", "1.2.3-01",
     "1.2.3-rc..1", "vv1.2.3", "v 1.2.3", "release-1.2.3", "1.2.3 ", "latest", "1.2.x",
     "-1.2.3", "1.2.3-ü"],
)
def test_parse_invalid_semver(text):
    with pytest.raises(ValueError) as caught:
        parse_semver(text)
    assert str(caught.value).startswith(f"version '{text}' is not a semantic version: ")


@pytest.mark.parametrize(
    "commit, length, expected",
    [
        (COMMIT, 7, "4f2c9e1"),
        (COMMIT, 12, "4f2c9e1d8b7a"),
        (COMMIT, 40, COMMIT),
        (COMMIT.upper(), 7, "4f2c9e1"),
        ("abc1234", 7, "abc1234"),
    ],
)
def test_short_sha(commit, length, expected):
    assert short_sha(commit, length) == expected


@pytest.mark.parametrize(
    "commit, length, message",
    [
        ("", 7, "no git commit was given"),
        (None, 7, "no git commit was given"),
        ("abc123", 7, "git commit 'abc123' is not a commit hash"),
        ("xyz1234567", 7, "git commit 'xyz1234567' is not a commit hash"),
        (COMMIT + "0", 7, f"git commit '{COMMIT}0' is not a commit hash"),
        ("abc1234", 8, "git commit 'abc1234' has 7 digits, fewer than sha_length 8"),
        (COMMIT, 6, "sha_length 6 is not valid"),
        (COMMIT, 41, "sha_length 41 is not valid"),
        (COMMIT, True, "sha_length True is not valid"),
    ],
)
def test_short_sha_errors(commit, length, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        short_sha(commit, length)


def jenkins(**overrides):
    env = {"GIT_COMMIT": COMMIT, "BUILD_NUMBER": "42"}
    env.update(overrides)
    return env


@pytest.mark.parametrize(
    "env, options, tags, kinds",
    [
        (jenkins(BRANCH_NAME="main"), {}, ["4f2c9e1", "latest", "main"],
         {"4f2c9e1": "sha", "latest": "latest", "main": "branch"}),
        (jenkins(BRANCH_NAME="master"), {}, ["4f2c9e1", "latest", "master"], None),
        (jenkins(BRANCH_NAME="feature/auth-fix"), {}, ["4f2c9e1", "feature-auth-fix"],
         {"4f2c9e1": "sha", "feature-auth-fix": "branch"}),
        (jenkins(BRANCH_NAME="PR-7", CHANGE_ID="7"), {}, ["4f2c9e1", "pr-7"], None),
        # A pull request never gets latest, even from a main branch.
        (jenkins(BRANCH_NAME="main", CHANGE_ID="7"), {}, ["4f2c9e1", "main"], None),
        (jenkins(BRANCH_NAME="develop"), {"main_branches": ["develop"]},
         ["4f2c9e1", "latest", "develop"], None),
        (jenkins(BRANCH_NAME="feature/x"), {"latest": "always"},
         ["4f2c9e1", "latest", "feature-x"], None),
        (jenkins(BRANCH_NAME="main"), {"latest": "never"}, ["4f2c9e1", "main"], None),
        # Jenkins' tag build: BRANCH_NAME is the tag, the version tag replaces the branch.
        (jenkins(BRANCH_NAME="v1.2.3", TAG_NAME="v1.2.3"), {}, ["4f2c9e1", "1.2.3"],
         {"4f2c9e1": "sha", "1.2.3": "semver"}),
        (jenkins(BRANCH_NAME="v1.2.3", TAG_NAME="v1.2.3"), {"semver_aliases": True},
         ["4f2c9e1", "1.2.3", "1.2", "1"],
         {"4f2c9e1": "sha", "1.2.3": "semver", "1.2": "semver_alias", "1": "semver_alias"}),
        (jenkins(BRANCH_NAME="v2.0.0-rc.1", TAG_NAME="v2.0.0-rc.1"), {"semver_aliases": True},
         ["4f2c9e1", "2.0.0-rc.1"], None),
        (jenkins(BRANCH_NAME="main"), {"version": "1.4.0"},
         ["4f2c9e1", "1.4.0", "latest", "main"], None),
        # The version option wins over the release tag.
        (jenkins(TAG_NAME="v1.0.0"), {"version": "2.0.0"}, ["4f2c9e1", "2.0.0"], None),
        (jenkins(BRANCH_NAME="main"), {"build_tag": True},
         ["4f2c9e1", "build-42", "latest", "main"], None),
        (jenkins(BRANCH_NAME="feature/x"),
         {"build_tag": True, "build_tag_format": "{branch}-{build_number}-{sha}"},
         ["4f2c9e1", "feature-x-42-4f2c9e1", "feature-x"], None),
        (jenkins(BRANCH_NAME="feature/x"), {"extra_tags": ["qa", "latest"]},
         ["4f2c9e1", "feature-x", "qa", "latest"],
         {"4f2c9e1": "sha", "feature-x": "branch", "qa": "extra", "latest": "extra"}),
        # Options win over the environment; an empty string hides the environment's value.
        (jenkins(BRANCH_NAME="feature/x"), {"branch": "main"},
         ["4f2c9e1", "latest", "main"], None),
        (jenkins(BRANCH_NAME="feature/x"), {"branch": ""}, ["4f2c9e1"], None),
        (jenkins(BRANCH_NAME="main", CHANGE_ID="7"), {"change_id": ""},
         ["4f2c9e1", "latest", "main"], None),
        (jenkins(), {"git_commit": "ABCDEF0123", "sha_length": 10}, ["abcdef0123"], None),
        # Two kinds giving one tag: it is listed once, named by the first kind.
        (jenkins(BRANCH_NAME="latest"), {"latest": "always"}, ["4f2c9e1", "latest"],
         {"4f2c9e1": "sha", "latest": "latest"}),
        ({}, {"git_commit": COMMIT, "branch": "1.2.3", "version": "1.2.3"},
         ["4f2c9e1", "1.2.3"], {"4f2c9e1": "sha", "1.2.3": "semver"}),
    ],
)
def test_compute_tags(env, options, tags, kinds):
    plan = compute_tags(env=env, **options)
    assert plan.tags == tags
    if kinds is not None:
        assert plan.kinds == kinds
    assert all(validate_tag(tag) for tag in plan.tags)


def test_immutable_tags_follow_the_kinds():
    env = jenkins(BRANCH_NAME="v1.2.3", TAG_NAME="v1.2.3")
    assert compute_tags(env=env, semver_aliases=True).immutable == ["4f2c9e1", "1.2.3"]
    plan = compute_tags(env=env, semver_aliases=True, immutable=["sha"])
    assert plan.immutable == ["4f2c9e1"]
    plan = compute_tags(env=jenkins(BRANCH_NAME="main"), extra_tags=["4f2c9e1"], immutable=[])
    assert plan.immutable == []
    # A tag given by an immutable and a mutable kind is immutable.
    plan = compute_tags(env=jenkins(BRANCH_NAME="1.2.3"), version="1.2.3", immutable=["semver"])
    assert plan.immutable == ["1.2.3"]


def test_git_facts_are_reported():
    plan = compute_tags(env=jenkins(BRANCH_NAME="PR-9", CHANGE_ID="9"))
    assert plan.git == {
        "commit": COMMIT, "short_sha": "4f2c9e1", "branch": "PR-9", "release_tag": None,
        "version": None, "change_id": "9", "pull_request": True, "main_branch": False,
        "build_number": "42",
    }


def test_release_tag_from_environment_that_is_not_semver_warns():
    plan = compute_tags(env=jenkins(BRANCH_NAME="nightly", TAG_NAME="nightly"))
    assert plan.tags == ["4f2c9e1", "nightly"]
    assert plan.warnings == [
        "TAG_NAME 'nightly' is not a semantic version, so the build gets no version tag."
    ]


@pytest.mark.parametrize(
    "env, options, message",
    [
        ({}, {}, "no git commit was given: set git_commit or the GIT_COMMIT environment"),
        (jenkins(GIT_COMMIT="HEAD"), {}, "git commit 'HEAD' is not a commit hash"),
        (jenkins(), {"git_commit": ""}, "no git commit was given"),
        (jenkins(), {"version": "1.2"}, "version '1.2' is not a semantic version"),
        (jenkins(), {"release_tag": "nightly"}, "release tag 'nightly' is not a semantic"),
        (jenkins(), {"extra_tags": ["Bad/Tag"]}, "tag 'Bad/Tag' is not a valid Docker tag"),
        (jenkins(), {"extra_tags": [""]}, "tag '' is not a valid Docker tag: it is empty"),
        (jenkins(BUILD_NUMBER=""), {"build_tag": True}, "build_tag needs a build number"),
        (jenkins(BUILD_NUMBER="4 2"), {"build_tag": True}, "build number '4 2' is not valid"),
        (jenkins(), {"build_tag": True, "build_tag_format": "{nope}"},
         "build_tag_format '{nope}' is not valid"),
        (jenkins(), {"build_tag": True, "build_tag_format": "-{build_number}"},
         "tag '-42' is not a valid Docker tag"),
        (jenkins(), {"latest": "sometimes"}, "latest 'sometimes' is not one of"),
        (jenkins(), {"immutable": ["sha", "tags"]}, "immutable kind 'tags' is unknown"),
        (jenkins(), {"sha_length": 3}, "sha_length 3 is not valid"),
    ],
)
def test_compute_tags_errors(env, options, message):
    with pytest.raises(ValueError) as caught:
        compute_tags(env=env, **options)
    text = str(caught.value)
    assert text.startswith(message)
    assert text.endswith(".") and "\n" not in text
