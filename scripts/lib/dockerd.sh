# Sourced: a Docker engine of our own, beside whatever else runs on the machine.
#
#   source scripts/lib/dockerd.sh
#   dockerd_start            # starts dockerd under a fresh temp dir, exports DOCKER_HOST
#   …                        # docker build / run …
#   dockerd_stop             # stops it and removes its folders
#
# The engine keeps everything under its own folder (--data-root, --exec-root,
# a unix socket there, no TCP): it never touches /var/lib/docker or the default
# /var/run/docker.sock that another engine may own, and removing the folder
# removes every image and container it had. DOCKERD_DIR chooses the folder
# (kept, with its image cache, when given); otherwise a temp dir is made.
#
# --iptables=false: the engine writes no firewall rules, so it cannot disturb
# the host's; the cost is that containers get no NAT to the outside (builds
# that need apt use --network host) and an --internal network is not sealed
# off from the host (docs/sandbox.md, "Isolation").

dockerd_start() {
    if ! command -v dockerd >/dev/null; then
        echo "error: dockerd is not installed (apt-get install docker.io)" >&2
        return 1
    fi
    if [[ -n "${DOCKERD_DIR:-}" ]]; then
        _dockerd_keep=1
        mkdir -p "$DOCKERD_DIR"
    else
        _dockerd_keep=0
        DOCKERD_DIR="$(mktemp -d -t chaos-dockerd-XXXXXX)"
    fi
    export DOCKERD_DIR
    mkdir -p "$DOCKERD_DIR/data" "$DOCKERD_DIR/exec"
    # A unix socket path must stay under ~108 bytes; temp dirs do.
    local sock="$DOCKERD_DIR/docker.sock"
    if [[ -S "$sock" ]] && DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
        export DOCKER_HOST="unix://$sock"
        echo "==> dockerd already running at $DOCKER_HOST" >&2
        return 0
    fi
    # setsid: the engine must not get the terminal's Ctrl-C before we stop it
    # ourselves (it would leave containers behind half-stopped).
    setsid dockerd \
        --data-root "$DOCKERD_DIR/data" \
        --exec-root "$DOCKERD_DIR/exec" \
        --pidfile "$DOCKERD_DIR/dockerd.pid" \
        -H "unix://$sock" \
        --iptables=false \
        ${DOCKERD_EXTRA_ARGS:-} \
        >>"$DOCKERD_DIR/dockerd.log" 2>&1 </dev/null &
    local pid=$!
    export DOCKER_HOST="unix://$sock"
    local deadline=$((SECONDS + 60))
    until docker version >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: dockerd exited; its log:" >&2
            tail -n 30 "$DOCKERD_DIR/dockerd.log" >&2
            return 1
        fi
        if ((SECONDS > deadline)); then
            echo "error: dockerd did not answer within 60 s; log in $DOCKERD_DIR/dockerd.log" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "==> dockerd $(docker version --format '{{.Server.Version}}') at $DOCKER_HOST" >&2
}

dockerd_stop() {
    [[ -n "${DOCKERD_DIR:-}" ]] || return 0
    local pidfile="$DOCKERD_DIR/dockerd.pid"
    if [[ -f "$pidfile" ]]; then
        local pid
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            # Containers first, so that their networks and mounts go with them.
            local ids
            ids="$(docker ps -q 2>/dev/null || true)"
            [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
            kill -TERM "$pid"
            local deadline=$((SECONDS + 30))
            while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    if [[ "${_dockerd_keep:-1}" == 0 ]]; then
        # Overlay mounts may outlive a killed engine; unmount before removing.
        grep -o " $DOCKERD_DIR[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
        rm -rf "$DOCKERD_DIR"
    fi
    unset DOCKER_HOST
}
