#!/bin/sh
# Lays out every file of the runtime image under OUT, so that the runtime stage
# only copies: it runs no command, and so works on bases without a shell
# (scratch, distroless).
#
# usage: runtime-rootfs.sh OUT BASE BIN
#   OUT   directory to fill; it becomes the image's /
#   BASE  the runtime base image's root, read for its /etc/passwd and /etc/group
#   BIN   directory holding the built binaries
set -eu

out=$1
base=$2
bin=$3
uid=10001
gid=10001

install -d -m 0755 "$out/app" "$out/etc/ssl/certs"
install -d -m 1777 "$out/tmp"
# Session workspaces are private to the service user.
install -d -m 0700 -o "$uid" -g "$gid" "$out/tmp/claude-sessions"
install -m 0755 "$bin/claude-terminal-service" "$bin/ecc-poller" "$out/app/"
# The builder's current CA bundle, for HTTPS to the ServiceNow instance.
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/"

# The base's accounts are kept, so a Debian base still has its system users;
# a base with none (scratch) gets root and nobody.
account_file() {
    file=$1
    default=$2
    entry=$3
    if [ -f "$base/etc/$file" ]; then
        grep -v '^appuser:' "$base/etc/$file" >"$out/etc/$file" || true
    else
        printf '%s\n' "$default" >"$out/etc/$file"
    fi
    printf '%s\n' "$entry" >>"$out/etc/$file"
    chmod 0644 "$out/etc/$file"
}

account_file passwd \
    "root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin" \
    "appuser:x:$uid:$gid:claude-terminal-service:/app:/sbin/nologin"
account_file group \
    "root:x:0:
nogroup:x:65534:" \
    "appuser:x:$gid:"
