#!/bin/sh
# Builds the infertap image (`make image`): with docker when a daemon answers, else with podman.
#
#   deploy/build-image.sh                  build ./Dockerfile, tagged infertap:VERSION
#   deploy/build-image.sh --from IMAGE -t TAG -f FILE [--no-cache] DIR
#                                          another Dockerfile, built the same way FROM IMAGE
#   deploy/build-image.sh --print-tag      the tag the manifests name (infertap:VERSION)
#   deploy/build-image.sh --print-engine   docker or podman, or why neither can build (exit 3)
#
# Environment:
#   BASE_IMAGE   the Python 3.11+ Debian image to build from (default python:3.11-slim-bookworm).
#                When the default cannot be pulled (no registry reachable),
#                a local base is made once with debootstrap from the Debian mirror in apt's own
#                sources and kept in the engine's storage as localhost/debian-python:CODENAME.
#   PIP_CERT, SSL_CERT_FILE   a CA bundle for pip inside the build (a TLS-intercepting proxy);
#                passed as the build secret `ca-bundle`, never stored in the image.
#   CONTAINER_ENGINE   docker or podman, to skip the detection.
set -eu
# debootstrap lives in /usr/sbin, which a user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEFAULT_BASE=python:3.11-slim-bookworm
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml")
TAG=infertap:$VERSION
DOCKERFILE=$ROOT/Dockerfile
CONTEXT=$ROOT
FROM_IMAGE=""
NO_CACHE=""

say() { echo "build-image: $*" >&2; }
fail() { say "$*"; exit 1; }

engine() {
    if [ -n "${CONTAINER_ENGINE:-}" ]; then echo "$CONTAINER_ENGINE"; return; fi
    # The client alone is not enough: a daemon must answer.
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        echo docker
    elif command -v podman >/dev/null 2>&1; then
        echo podman
    else
        say "neither a Docker daemon nor podman: install podman and debootstrap" \
            "(make system-deps) or start Docker"
        exit 3
    fi
}

# The local base: Debian's own python3 (3.11 on bookworm) in a minimal root file system. The
# mirror is the one apt already uses for this release, so nothing else needs to be reachable.
local_base() {
    engine=$1
    . /etc/os-release
    name=localhost/debian-python:$VERSION_CODENAME
    if $engine image inspect "$name" >/dev/null 2>&1; then
        say "using the local base $name (made earlier)"
        echo "$name"
        return
    fi
    command -v debootstrap >/dev/null 2>&1 || fail "$BASE_IMAGE cannot be pulled and" \
        "debootstrap is missing to make a local base (make system-deps installs it)"
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
        'Identifier: Packages' | awk -v r="$VERSION_CODENAME" '$2 == r && $3 == "main" {print $1; exit}')
    [ -n "$mirror" ] || fail "no Debian mirror for $VERSION_CODENAME main in apt's sources"
    sudo_=""
    [ "$(id -u)" = 0 ] || sudo_=sudo
    root=$(mktemp -d)
    # --one-file-system: never into a /proc that an interrupted debootstrap left mounted there.
    trap '$sudo_ rm -rf --one-file-system "$root"' EXIT
    trap 'exit 1' INT TERM
    say "making the local base $name from $mirror (debootstrap, about a minute)"
    $sudo_ debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$VERSION_CODENAME" "$root" "$mirror" >&2
    # Package downloads and indexes are not part of the image.
    $sudo_ rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    # A tarball brings no configuration: give it the PATH the python images have.
    $sudo_ tar -C "$root" -c . | $engine import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$name" >/dev/null
    $sudo_ rm -rf --one-file-system "$root"
    trap - EXIT INT TERM
    echo "$name"
}

base_image() {
    engine=$1
    if $engine image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
        || $engine pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "$BASE_IMAGE"
    elif [ "$BASE_IMAGE" = "$DEFAULT_BASE" ]; then
        say "$BASE_IMAGE cannot be pulled"
        local_base "$engine"
    else
        fail "BASE_IMAGE=$BASE_IMAGE cannot be pulled"
    fi
}

build() {
    engine=$(engine)
    # Assigned first: a failure inside $(...) stops the script only in an assignment.
    base=$FROM_IMAGE
    [ -n "$base" ] || base=$(base_image "$engine")
    set -- --build-arg "BASE_IMAGE=$base" -t "$TAG" -f "$DOCKERFILE" $NO_CACHE
    ca=${PIP_CERT:-${SSL_CERT_FILE:-}}
    if [ -n "$ca" ]; then
        [ -r "$ca" ] || fail "CA bundle $ca (PIP_CERT/SSL_CERT_FILE) is not readable"
        set -- "$@" --secret "id=ca-bundle,src=$ca"
    fi
    old=$($engine image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
    if [ "$engine" = podman ]; then
        # chroot isolation: hosts whose cgroups podman cannot drive (hybrid mode) still build.
        set -- "$@" --isolation chroot --network host
        # Nothing to cache from an uncached build: its steps leave no intermediate images behind.
        [ -z "$NO_CACHE" ] || set -- "$@" --layers=false
    else
        export DOCKER_BUILDKIT=1  # RUN --mount needs BuildKit
        set -- "$@" --network host
    fi
    say "$engine build $*"
    $engine build "$@" "$CONTEXT"
    new=$($engine image inspect --format '{{.Id}}' "$TAG")
    # The image this tag named before is replaced: drop it rather than leave it dangling.
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        $engine image rm "$old" >/dev/null 2>&1 || true
    fi
    size=$($engine image inspect --format '{{.Size}}' "$TAG")
    say "built $TAG with $engine: $((size / 1000000)) MB"
}

BASE_IMAGE=${BASE_IMAGE:-$DEFAULT_BASE}
while [ $# -gt 0 ]; do
    case $1 in
        --print-tag) echo "$TAG"; exit 0 ;;
        --print-engine) engine; exit 0 ;;
        -t) TAG=$2; shift 2 ;;
        -f) DOCKERFILE=$2; shift 2 ;;
        --from) FROM_IMAGE=$2; shift 2 ;;
        --no-cache) NO_CACHE=--no-cache; shift ;;
        -h|--help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
        -*) fail "unknown option $1 (see --help)" ;;
        *) CONTEXT=$1; shift ;;
    esac
done
build
