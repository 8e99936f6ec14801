#!/usr/bin/env bash
# Prepare a Debian 12 or 13 host, as root, for `make test` and `make demo`:
# the Debian packages the lab and the tests use, a Docker engine with the
# buildx and compose v2 CLI plugins, and a running daemon. Every step checks
# first and does nothing when its work is already done.
set -euo pipefail

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the host needs Debian packages and a Docker daemon."
[ -r /etc/os-release ] || die "/etc/os-release is missing: only Debian 12 and 13 are supported."
# shellcheck disable=SC1091
. /etc/os-release
[ "${ID:-}" = debian ] || die "this host runs '${ID:-unknown}': only Debian 12 and 13 are supported."
case "${VERSION_CODENAME:-}" in
  bookworm|trixie) ;;
  *) die "Debian '${VERSION_CODENAME:-unknown}' is not supported: use bookworm (12) or trixie (13)." ;;
esac

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STATE_DIR="${BOOTSTRAP_STATE_DIR:-/var/lib/claude_stack_bootstrap}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
export DEBIAN_FRONTEND=noninteractive

packages=(ca-certificates curl debootstrap git iproute2 make python3 python3-venv rsync
          shellcheck docker.io golang-go golang-github-coreos-bbolt-dev)
if [ "$VERSION_CODENAME" = trixie ]; then
  # Debian 13 splits the CLI out of docker.io and ships both plugins itself.
  packages+=(docker-cli docker-buildx docker-compose)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian 12 has neither the buildx plugin nor compose v2. Debian 13's builds of
# both need only libc6 >= 2.34, so take them from the trixie archive through a
# private apt state that leaves the host's own sources untouched.
install_trixie_plugins() {
  local want=() dir="$STATE_DIR/trixie-apt"
  dpkg-query -W -f='${Status}' docker-buildx 2>/dev/null | grep -q 'install ok installed' \
    || want+=(docker-buildx)
  dpkg-query -W -f='${Version}' docker-compose 2>/dev/null | grep -q '^2\.' \
    || want+=(docker-compose)
  [ ${#want[@]} -gt 0 ] || return 0
  log "installing ${want[*]} from Debian 13 (not packaged for Debian 12)"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs"
  echo "deb $MIRROR trixie main" > "$dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
              -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq
  (cd "$dir/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download "${want[@]}" >/dev/null)
  dpkg -i "$dir"/debs/*.deb >/dev/null
}
[ "$VERSION_CODENAME" = bookworm ] && install_trixie_plugins

docker_answers() { timeout 10 /usr/bin/docker info >/dev/null 2>&1; }

if ! docker_answers; then
  if [ "$(ps -o comm= -p 1)" = systemd ]; then
    log "starting docker.service"
    systemctl enable --now docker.service >/dev/null
  else
    # No systemd here, and Debian's init script stops at `ulimit -n 1048576`
    # where the hard limit is lower: start the daemon directly. A daemon killed
    # with its session leaves docker.pid behind, which blocks the next start.
    if ! pgrep -x dockerd >/dev/null; then
      rm -f /var/run/docker.pid /var/run/docker-ssd.pid
      log "starting dockerd (log: $DOCKERD_LOG)"
      setsid /usr/sbin/dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
    fi
  fi
  for _ in $(seq 1 60); do
    docker_answers && break
    sleep 1
  done
  docker_answers || die "the Docker daemon did not answer within 60 s: see $DOCKERD_LOG."
fi

/usr/bin/docker buildx version >/dev/null 2>&1 || die "the docker buildx plugin is not usable."
/usr/bin/docker compose version >/dev/null 2>&1 || die "the docker compose v2 plugin is not usable."
log "host ready: $(/usr/bin/docker version -f 'engine {{.Server.Version}}'), \
$(/usr/bin/docker buildx version | cut -d' ' -f1-2), \
$(/usr/bin/docker compose version --short | sed 's/^/compose /')"
