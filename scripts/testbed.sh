#!/usr/bin/env bash
# Sets up the real-engine test bed docker vault's tests run against:
#   - the engine answers (docker info)
#   - a single-node swarm manager (docker swarm init --advertise-addr 127.0.0.1)
#   - a base image built without a registry (Debian's busybox-static, docker import)
#   - buildx and the compose CLI built from the Go module proxy, installed as
#     docker-buildx / docker-compose in the test bed's cli-plugins folder.
# Idempotent: a second run checks and reuses everything (a few seconds).
# Prints `KEY=VALUE` lines for the tests on stdout's last lines and writes them
# to $TESTBED_DIR/env.
set -euo pipefail

BUILDX_VERSION=${BUILDX_VERSION:-v0.38.2}
COMPOSE_VERSION=${COMPOSE_VERSION:-v5.6.0}
BASE_IMAGE=${BASE_IMAGE:-docker-vault-test/busybox:1}
TESTBED_DIR=${TESTBED_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-vault-testbed}
PLUGINS_DIR="$TESTBED_DIR/cli-plugins"

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$PLUGINS_DIR"

# 1. The engine.
command -v docker >/dev/null || die "the docker client is not installed (need the docker CLI and a running engine)"
if ! info_err=$(docker info --format '{{.ServerVersion}}' 2>&1); then
	die "the Docker engine does not answer ('docker info' failed: ${info_err//$'\n'/ }); start dockerd (e.g. 'sudo service docker start') or point DOCKER_HOST / the docker context at a running engine"
fi
engine_version=$info_err
log "engine $engine_version (API $(docker version --format '{{.Server.APIVersion}}'))"

# 2. Swarm.
state=$(docker info --format '{{.Swarm.LocalNodeState}}/{{.Swarm.ControlAvailable}}')
case "$state" in
active/true) log "swarm: already a manager" ;;
active/false) die "this engine is a swarm worker; the tests need a manager ('docker swarm leave' first)" ;;
*)
	log "swarm: initialising a single-node swarm"
	docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed (see above)"
	;;
esac

# 3. Base image, from Debian's busybox-static, without a registry.
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
	log "base image: $BASE_IMAGE present"
else
	# Debian's busybox package is dynamically linked; only busybox-static
	# runs in an image with no libc.
	busybox=""
	if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed"; then
		busybox=/bin/busybox
	fi
	if [ -z "$busybox" ]; then
		log "base image: installing Debian's busybox-static"
		if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
		export DEBIAN_FRONTEND=noninteractive
		$sudo apt-get update -qq >/dev/null || die "apt-get update failed"
		$sudo apt-get install -y -qq busybox-static >/dev/null || die "apt-get install busybox-static failed"
		busybox=/bin/busybox
	fi
	log "base image: building $BASE_IMAGE from $busybox"
	rootfs=$(mktemp -d)
	trap 'rm -rf "$rootfs"' EXIT
	mkdir -p "$rootfs"/{bin,etc,tmp,run/secrets,root}
	chmod 1777 "$rootfs/tmp"
	cp "$busybox" "$rootfs/bin/busybox"
	for applet in $("$busybox" --list); do
		[ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
	tar -C "$rootfs" -c . | docker import \
		--change 'ENV PATH=/bin' \
		--change 'CMD ["sh"]' \
		- "$BASE_IMAGE" >/dev/null || die "docker import failed"
	rm -rf "$rootfs"
	trap - EXIT
fi

# 4. buildx from the Go module proxy.
buildx="$PLUGINS_DIR/docker-buildx"
if [ -x "$buildx" ] && "$buildx" version 2>/dev/null | grep -q " $BUILDX_VERSION "; then
	log "buildx: $BUILDX_VERSION present"
else
	log "buildx: building $BUILDX_VERSION from the Go module proxy (first run only; a few minutes)"
	gobin=$(mktemp -d)
	GOBIN="$gobin" GOFLAGS=-buildvcs=false go install \
		-ldflags "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION" \
		"github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION"
	mv "$gobin/buildx" "$buildx"
	rm -rf "$gobin"
fi

# 5. The compose CLI. `go install` refuses it (its go.mod has exclude
# directives), so build it from the module source that `go mod download` fetches.
compose="$PLUGINS_DIR/docker-compose"
if [ -x "$compose" ] && "$compose" version 2>/dev/null | grep -q "$COMPOSE_VERSION"; then
	log "compose: $COMPOSE_VERSION present"
else
	log "compose: building $COMPOSE_VERSION from its module source (first run only; a few minutes)"
	src=$(cd "$TESTBED_DIR" && GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$src" ] && [ -d "$src" ] || die "go mod download github.com/docker/compose/v5@$COMPOSE_VERSION failed"
	work=$(mktemp -d)
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	(cd "$work" && GOFLAGS=-buildvcs=false go build -trimpath \
		-ldflags "-X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
		-o "$compose" ./cmd)
	rm -rf "$work"
fi

buildx_v=$("$buildx" version | awk '{print $2}')
compose_v=$("$compose" version --short 2>/dev/null || "$compose" version)
{
	echo "TESTBED_DIR=$TESTBED_DIR"
	echo "TESTBED_PLUGINS_DIR=$PLUGINS_DIR"
	echo "TESTBED_BASE_IMAGE=$BASE_IMAGE"
	echo "TESTBED_ENGINE_VERSION=$engine_version"
	echo "TESTBED_BUILDX_VERSION=$buildx_v"
	echo "TESTBED_COMPOSE_VERSION=$compose_v"
} | tee "$TESTBED_DIR/env"
