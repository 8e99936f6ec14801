#!/usr/bin/env bash
# Managed by the midserver.claude_stack docker_engine role.
#
# Checks a daemon.json the way dockerd checks it when it starts, without starting a daemon.
#   docker-validate-daemon-config [FILE]    (reads standard input without FILE)
# Prints "configuration OK" and exits 0 when dockerd accepts the file; otherwise prints
# dockerd's reason on standard error and exits 1 (2 when dockerd is not installed).
set -euo pipefail

dockerd=/usr/sbin/dockerd
if [ ! -x "$dockerd" ]; then
  dockerd=$(command -v dockerd) || { echo "dockerd is not installed" >&2; exit 2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config=${1:-}
if [ -z "$config" ]; then
  config=$work/daemon.json
  cat >"$config"
fi

case "$("$dockerd" --help 2>&1)" in
  *--validate*)
    # Docker 23.0 and later load the file, check it and exit.
    if out=$("$dockerd" --validate --config-file "$config" 2>&1); then
      echo "configuration OK"
      exit 0
    fi
    ;;
  *)
    # Older engines (Debian 12's 20.10) have no --validate. They load and check the file
    # first, then refuse to start while their pid file names a live process. A pid file
    # naming PID 1 stops them right after the check, before they touch anything but their
    # data and exec-root directories, which they create when missing.
    echo 1 >"$work/docker.pid"
    out=$(timeout 60 "$dockerd" --config-file "$config" --pidfile "$work/docker.pid" 2>&1) || true
    case "$out" in
      *"pid file found"*)
        echo "configuration OK"
        exit 0
        ;;
    esac
    ;;
esac

# dockerd's reason, without its informational log lines.
reason=$(printf '%s\n' "$out" | grep -v 'level=info' || true)
printf '%s\n' "${reason:-$out}" >&2
exit 1
