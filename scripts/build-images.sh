#!/usr/bin/env bash
# Build the sandbox's image catalogue: the images a bundle may name.
#
#   scripts/build-images.sh [--base auto|debian|pull] [--force]
#
#   url-anvil   this project's Dockerfile (run it with args ["anvil"])
#   haproxy     Debian's haproxy package   (scripts/lib/images/haproxy/)
#   nginx       Debian's nginx package     (scripts/lib/images/nginx/)
#
# Each image carries a label with the hash of its inputs and is rebuilt only
# when they changed, so running this again costs a few seconds. At the end
# it writes the catalogue file that pins each name to the image id it built
# ($VAR_DIR/sandbox/catalogue.json; `manage.py bundle_check` reads it).
#
# Bases. No image registry needs to be reachable: by default (--base auto)
# the base is a Debian root file system made here with debootstrap from the
# mirror this machine's apt uses, imported with `docker import`; a local
# python:3.11-slim-<suite> image is used for url-anvil when one is already
# there. --base pull pulls the upstream images instead; --base debian always
# uses the self-made base.
#
# Python packages come from a wheelhouse prepared on this host with pip
# (var/wheelhouse/, git-ignored): the host reaches the package index, a
# container may not (no route, or a TLS proxy it does not trust). The image
# build itself runs without a network.
#
# Environment: DOCKER_HOST (the engine; scripts/lib/dockerd.sh starts one),
# DEBIAN_SUITE (default: this host's codename), IMAGE_PREFIX (sre-chaos),
# VAR_DIR (var/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

BASE_MODE=auto
FORCE=0
while (($#)); do
    case "$1" in
        --base) BASE_MODE="${2:?--base needs auto, debian or pull}"; shift 2 ;;
        --base=*) BASE_MODE="${1#--base=}"; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//; /^set -euo/d'; exit 0 ;;
        *) echo "error: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$BASE_MODE" in auto|debian|pull) ;; *) echo "error: --base $BASE_MODE: use auto, debian or pull" >&2; exit 2 ;; esac

# shellcheck disable=SC1091
. /etc/os-release
SUITE="${DEBIAN_SUITE:-${VERSION_CODENAME:?cannot tell this host\'s Debian suite; set DEBIAN_SUITE}}"
PREFIX="${IMAGE_PREFIX:-sre-chaos}"
VAR_DIR="${VAR_DIR:-$ROOT/var}"
WHEELHOUSE="$ROOT/var/wheelhouse"   # inside the build context, whatever VAR_DIR says
CATALOGUE_FILE="$VAR_DIR/sandbox/catalogue.json"
LABEL=org.sre-chaos.inputs
# Bump when the way the Debian base is made changes: its other inputs are data.
BASE_RECIPE=1
BASE_PACKAGES=python3,python3-venv
PYTHON=".venv/bin/python"
# The legacy builder: the only one every docker client here has (no buildx),
# and it honours --network none / host for RUN steps.
export DOCKER_BUILDKIT=0

docker version >/dev/null 2>&1 || {
    echo "error: no Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST} (start one: source scripts/lib/dockerd.sh; dockerd_start)" >&2
    exit 1
}
[[ -x "$PYTHON" ]] || { echo "error: $PYTHON missing; run ./scripts/dev-setup.sh or scripts/test.sh first" >&2; exit 1; }

step_started=0
step() { step_started=$SECONDS; echo "==> $*" >&2; }
step_done() { echo "    done in $((SECONDS - step_started)) s" >&2; }

image_label() {  # image → its inputs label, or nothing when the image is missing
    docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}
image_id() { docker image inspect --format '{{.Id}}' "$1"; }
up_to_date() { [[ "$FORCE" == 0 && "$(image_label "$1")" == "$2" ]]; }
sha() { sha256sum | cut -d' ' -f1; }

# --- the Debian base ---------------------------------------------------------

rootfs_remove() {
    # debootstrap mounts /proc and /sys (and may bind /dev) inside the tree
    # while it works; a failed run can leave them there. Unmount first and
    # never cross into another file system, so removing the tree can only
    # remove the tree.
    grep -o " $1/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$1" "$1.log"
}

debian_base() {
    local tag="$PREFIX/debian-base:$SUITE" sources mirror inputs
    sources="$(python3 scripts/lib/apt_sources.py sources "$SUITE")"
    mirror="$(python3 scripts/lib/apt_sources.py mirror "$SUITE")"
    inputs="$(printf 'recipe=%s\nsuite=%s\npackages=%s\n%s\n' "$BASE_RECIPE" "$SUITE" "$BASE_PACKAGES" "$sources" | sha)"
    if up_to_date "$tag" "$inputs"; then
        echo "==> $tag is up to date" >&2
        echo "$tag"
        return
    fi
    command -v debootstrap >/dev/null || {
        echo "error: debootstrap is not installed (apt-get install debootstrap), and no base image was given" >&2
        exit 1
    }
    step "building $tag with debootstrap --variant=minbase from $mirror"
    local rootfs
    rootfs="$(mktemp -d -t chaos-rootfs-XXXXXX)"
    # shellcheck disable=SC2064
    trap "rootfs_remove '$rootfs'" EXIT
    debootstrap --variant=minbase --include="$BASE_PACKAGES" \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
        echo "error: debootstrap failed; the end of its log:" >&2
        tail -n 20 "$rootfs.log" >&2
        exit 1
    }
    # The image's apt uses the same archive entries as this host (updates and
    # security included) and nothing of this host's: its resolver, hosts file
    # and name are given by the engine when a container starts.
    printf '%s\n' "$sources" >"$rootfs/etc/apt/sources.list"
    rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
        "$rootfs"/tmp/* "$rootfs"/root/.cache
    tar --numeric-owner --xattrs -C "$rootfs" -c . | docker import \
        --change "LABEL $LABEL=$inputs" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        - "$tag" >/dev/null
    rootfs_remove "$rootfs"
    trap - EXIT
    step_done
    echo "$tag"
}

pulled() {
    step "pulling $1"
    docker pull -q "$1" >/dev/null
    step_done
    echo "$1"
}

if [[ "$BASE_MODE" == pull ]]; then
    DEBIAN_BASE="$(pulled "debian:$SUITE-slim")"
    APP_BASE="$(pulled "python:3.11-slim-$SUITE")"
else
    DEBIAN_BASE="$(debian_base)"
    APP_BASE="$DEBIAN_BASE"
    if [[ "$BASE_MODE" == auto ]] && docker image inspect "python:3.11-slim-$SUITE" >/dev/null 2>&1; then
        APP_BASE="python:3.11-slim-$SUITE"
    fi
fi

# --- the wheelhouse ----------------------------------------------------------

# The wheels must suit the image's interpreter, not this host's: ask the image.
read -r IMAGE_PY IMAGE_GLIBC IMAGE_ARCH < <(docker run --rm --network none --entrypoint python3 "$APP_BASE" -c \
    'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.libc_ver()[1] or "0.0", platform.machine())')
[[ -n "${IMAGE_PY:-}" ]] || { echo "error: cannot run python3 in $APP_BASE" >&2; exit 1; }
wheel_inputs="$(printf 'python=%s glibc=%s arch=%s\n' "$IMAGE_PY" "$IMAGE_GLIBC" "$IMAGE_ARCH" | cat - requirements.txt | sha)"
if [[ "$FORCE" == 0 && -f "$WHEELHOUSE/.inputs" && "$(cat "$WHEELHOUSE/.inputs")" == "$wheel_inputs" ]]; then
    echo "==> wheelhouse is up to date ($(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels for Python $IMAGE_PY)" >&2
else
    step "wheelhouse for Python $IMAGE_PY ($IMAGE_ARCH, glibc $IMAGE_GLIBC) in var/wheelhouse/"
    rm -rf "$WHEELHOUSE"
    mkdir -p "$WHEELHOUSE"
    # Every pin of requirements.txt, whatever its environment marker says on
    # this host: a marker is decided by the interpreter that installs, and
    # this host's may differ from the image's in the patch version (redis
    # needs async-timeout below 3.11.3; Debian bookworm has 3.11.2). The
    # image's pip then picks what its markers ask for, offline. --no-deps
    # works because requirements.txt pins every transitive dependency.
    pins="$(mktemp -t chaos-pins-XXXXXX)"
    sed -e 's/[[:space:]]*;.*$//' -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' requirements.txt >"$pins"
    # Ready-made wheels for the image's interpreter and C library only: a
    # wheel compiled here would be linked against this host's libraries.
    platforms=(--platform "manylinux1_$IMAGE_ARCH" --platform "manylinux2010_$IMAGE_ARCH" --platform "manylinux2014_$IMAGE_ARCH")
    for ((minor = ${IMAGE_GLIBC#*.}; minor >= 5; minor--)); do platforms+=(--platform "manylinux_2_${minor}_$IMAGE_ARCH"); done
    log="$(mktemp -t chaos-wheelhouse-XXXXXX.log)"
    if ! "$PYTHON" -m pip download --no-deps --only-binary=:all: --dest "$WHEELHOUSE" \
        --python-version "$IMAGE_PY" --implementation cp "${platforms[@]}" -r "$pins" >"$log" 2>&1; then
        grep -v "^WARNING: Location .* is ignored" "$log" >&2
        echo "error: pip could not fetch a wheel of every pin for Python $IMAGE_PY (log: $log)" >&2
        exit 1
    fi
    rm -f "$pins" "$log"
    echo "$wheel_inputs" >"$WHEELHOUSE/.inputs"
    step_done
fi

# --- the catalogue -----------------------------------------------------------

context_hash() {
    # Every file the build context may hold: tracked and untracked files that
    # git does not ignore (the .dockerignore leaves out a subset of the rest),
    # plus the wheelhouse's listing.
    {
        git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' path; do [[ -f "$path" ]] && printf '%s\0' "$path"; done \
            | sort -z | xargs -0 -r sha256sum
        (cd "$WHEELHOUSE" && ls)
    } | sha
}

build() {  # name tag inputs network context [docker build args…]
    local name="$1" tag="$2" inputs="$3" network="$4" context="$5"
    shift 5
    if up_to_date "$tag" "$inputs"; then
        echo "==> $name ($tag) is up to date" >&2
        return
    fi
    step "building $name ($tag)"
    local log
    log="$(mktemp -t "chaos-build-$name-XXXXXX.log")"
    if ! docker build --network "$network" --label "$LABEL=$inputs" -t "$tag" "$@" "$context" >"$log" 2>&1; then
        echo "error: building $name failed; the end of its log ($log):" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    rm -f "$log"
    step_done
}

app_inputs="$(printf 'base=%s\n%s\n' "$(image_id "$APP_BASE")" "$(context_hash)" | sha)"
# --network none: the image must build from the context alone.
build url-anvil "$PREFIX/url-anvil:catalogue" "$app_inputs" none . --build-arg "BASE_IMAGE=$APP_BASE"

for name in haproxy nginx; do
    dir="scripts/lib/images/$name"
    inputs="$(printf 'base=%s\n' "$(image_id "$DEBIAN_BASE")" | cat - <(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha)"
    # --network host: apt reaches the host's mirror the way the host does
    # (the engine gives containers no NAT of their own here).
    build "$name" "$PREFIX/$name:catalogue" "$inputs" host "$dir" --build-arg "BASE_IMAGE=$DEBIAN_BASE"
done

# The numeric user each image runs as: the sandbox gives the scratch folders
# it mounts (read-only root file system) to that uid:gid, and an image's user
# name means nothing outside the image.
# Asked once per image id: the previous catalogue file remembers it.
image_user() {
    local known
    known="$("$PYTHON" -c 'import json, sys
try:
    data = json.load(open(sys.argv[1]))
    name = next(n for n, i in data["images"].items() if i == sys.argv[2])
    print(data["users"][name])
except (OSError, ValueError, KeyError, StopIteration):
    pass' "$CATALOGUE_FILE" "$1" 2>/dev/null)"
    if [[ -n "$known" ]]; then
        echo "$known"
    else
        docker run --rm --network none --entrypoint sh "$1" -c 'echo "$(id -u):$(id -g)"'
    fi
}

mkdir -p "$(dirname "$CATALOGUE_FILE")"
catalogue_args=()
for name in url-anvil haproxy nginx; do
    id="$(image_id "$PREFIX/$name:catalogue")"
    catalogue_args+=("$name=$id=$(image_user "$id")")
done
"$PYTHON" - "$CATALOGUE_FILE" "${catalogue_args[@]}" <<'PY'
import json, os, sys
path, entries = sys.argv[1], sys.argv[2:]
images, users = {}, {}
for entry in entries:
    name, image, user = entry.split("=", 2)
    images[name], users[name] = image, user.strip()
tmp = f"{path}.tmp"
with open(tmp, "w") as f:
    json.dump({"images": images, "users": users}, f, indent=2, sort_keys=True)
    f.write("\n")
os.replace(tmp, path)
PY
echo "==> catalogue pinned in ${CATALOGUE_FILE#"$ROOT/"}:" >&2
sed -n 's/^ *"\([a-z-]*\)": "\(sha256:.\{12\}\).*/    \1 → \2…/p' "$CATALOGUE_FILE" >&2
