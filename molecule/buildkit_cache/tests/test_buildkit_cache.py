"""Cache volumes and the builder's garbage-collection policy after the buildkit_cache role."""

import json

LAB_REGISTRY = "172.17.0.1:5443"
VOLUMES = {
    "claude-stack-go-mod-cache": "go-mod",
    "claude-stack-go-build-cache": "go-build",
    "claude-stack-layer-cache": "layers",
}
PROBE_DOCKERFILE = """\
FROM {image}
ARG NONCE
RUN --mount=type=cache,target=/cache,id=claude-stack-molecule-probe \\
    echo "nonce $NONCE" && \\
    if [ -e /cache/stamp ]; then echo CACHE-HIT; else echo CACHE-MISS; touch /cache/stamp; fi
"""


def release(host):
    return host.system_info.release.split(".")[0]


def test_the_cache_volumes_exist_with_the_collection_labels(host):
    for name, purpose in VOLUMES.items():
        volume = json.loads(host.check_output(f"docker volume inspect {name}"))[0]
        assert volume["Labels"]["io.midserver.claude_stack.managed-by"] == "buildkit_cache"
        assert volume["Labels"]["io.midserver.claude_stack.cache"] == purpose


def test_a_volume_keeps_its_contents_between_containers(host):
    image = f"{LAB_REGISTRY}/lab/debian:{release(host)}"
    volume = "claude-stack-go-mod-cache"
    host.check_output(f"docker run --rm -v {volume}:/c {image} sh -c 'echo kept > /c/probe'")
    assert host.check_output(f"docker run --rm -v {volume}:/c {image} cat /c/probe") == "kept"
    host.check_output(f"docker run --rm -v {volume}:/c {image} rm /c/probe")


def test_the_gc_policy_is_in_daemon_json(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    gc = config["builder"]["gc"]
    assert gc["enabled"] is True
    assert gc["defaultKeepStorage"] == "20GB"
    assert gc["policy"] == [
        {"keepStorage": "10GB", "filter": ["unused-for=168h"]},
        {"keepStorage": "20GB", "all": True},
    ]
    # docker_engine's own options are still there: one file, merged from both roles.
    assert config["log-driver"] == "json-file"
    assert host.file("/etc/docker/daemon.json.d/50-buildkit_cache.json").exists


def test_a_cache_mount_is_reused_by_the_next_build(host):
    context = host.check_output("mktemp -d")
    dockerfile = PROBE_DOCKERFILE.format(image=f"{LAB_REGISTRY}/lab/debian:{release(host)}")
    host.check_output(f"cat > {context}/Dockerfile <<'EOF'\n{dockerfile}EOF")
    try:
        outputs = []
        for nonce in ("first", "second"):
            # A new NONCE invalidates the RUN step's layer; its cache mount stays.
            build = host.run(
                f"docker buildx build --progress=plain --build-arg NONCE={nonce}-$$ {context}"
            )
            assert build.rc == 0, build.stderr
            outputs.append(build.stdout + build.stderr)
    finally:
        host.run(f"rm -rf {context}")
    assert "CACHE-HIT" in outputs[1], outputs[1]
