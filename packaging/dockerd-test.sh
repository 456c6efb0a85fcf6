#!/usr/bin/env bash
# A private Docker engine for the container-guard tests and benchmarks.
#
#   packaging/dockerd-test.sh start   start dockerd (or reuse a running one), build the offline test image
#   packaging/dockerd-test.sh stop    remove every container on it, stop it, tidy up
#   packaging/dockerd-test.sh status  exit 0 when it answers
#
# Everything lives under $IRONPOST_DOCKERD_DIR (default /tmp/ironpost-dockerd): socket, data-root,
# exec-root, PID file and log, so the host's own Docker (if any) is never touched.
# --iptables=false / --ip-forward=false keep the host firewall and sysctls as they are; --live-restore
# keeps containers running while the engine restarts (the tests restart it mid-run).
# No registry is reachable here, so the image is a static busybox rootfs fed to `docker import`.
# After start: export DOCKER_HOST=unix://$IRONPOST_DOCKERD_DIR/docker.sock
set -euo pipefail

DIR=${IRONPOST_DOCKERD_DIR:-/tmp/ironpost-dockerd}
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
IMAGE=${IRONPOST_TEST_IMAGE:-ironpost-test/busybox:1}
export DOCKER_HOST="unix://$SOCK"
# The static client under /usr/local/bin may be newer than the engine; both negotiate the API version.
DOCKER=${DOCKER:-docker}

alive() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
answers() { $DOCKER version >/dev/null 2>&1; }

cmd_stop() {
    if ! alive; then
        echo "private dockerd not running ($DIR)"
        return 0
    fi
    local ids pid
    ids=$($DOCKER ps -aq 2>/dev/null || true)
    if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086  # one id per word is what we want
        $DOCKER rm -f $ids >/dev/null || true
    fi
    pid=$(cat "$PIDFILE")
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "private dockerd $pid did not exit within 20 s" >&2
        return 1
    fi
    # dockerd leaves its default bridge behind; it would clash with the next start's address.
    ip link del docker0 2>/dev/null || true
    echo "private dockerd $pid stopped"
}

build_image() {
    $DOCKER image inspect "$IMAGE" >/dev/null 2>&1 && return 0
    local busybox rootfs
    busybox=$(command -v busybox || true)
    [[ -x /bin/busybox ]] && busybox=/bin/busybox
    # A dynamic busybox would find no libc inside the image.
    if [[ -z "$busybox" ]] || [[ "$(ldd "$busybox" 2>&1 || true)" != *"not a dynamic"* ]]; then
        echo "a static busybox is needed (apt-get install busybox-static)" >&2
        return 1
    fi
    rootfs=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" RETURN
    mkdir -p "$rootfs"/{bin,tmp,etc,proc,sys,dev}
    cp "$busybox" "$rootfs/bin/busybox"
    local applet
    for applet in sh sleep echo cat ls ps kill true false env hostname date; do
        ln -s busybox "$rootfs/bin/$applet"
    done
    tar -C "$rootfs" -c . | $DOCKER import -c 'ENV PATH=/bin' -c 'CMD ["sleep","3600"]' - "$IMAGE" >/dev/null
    echo "built $IMAGE"
}

cmd_start() {
    command -v dockerd >/dev/null || { echo "dockerd not found (apt-get install docker.io)" >&2; return 1; }
    mkdir -p "$DIR"
    if alive && answers; then
        echo "private dockerd already running: pid $(cat "$PIDFILE")"
    else
        # setsid: the engine must outlive the shell (and pytest) that started it until `stop`.
        setsid dockerd \
            --host "unix://$SOCK" \
            --data-root "$DIR/data" \
            --exec-root "$DIR/exec" \
            --pidfile "$PIDFILE" \
            --storage-driver overlay2 \
            --iptables=false \
            --ip-forward=false \
            --live-restore \
            ${IRONPOST_DOCKERD_ARGS:-} \
            </dev/null >>"$DIR/dockerd.log" 2>&1 &
        for _ in $(seq 1 300); do answers && break; sleep 0.1; done
        if ! answers; then
            echo "private dockerd did not answer within 30 s; last log lines:" >&2
            tail -30 "$DIR/dockerd.log" >&2
            return 1
        fi
        echo "private dockerd pid $(cat "$PIDFILE") ready"
    fi
    build_image
    echo "export DOCKER_HOST=unix://$SOCK"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) alive && answers ;;
    *) echo "usage: $0 start|stop|status   (dir: \$IRONPOST_DOCKERD_DIR, default /tmp/ironpost-dockerd)" >&2; exit 2 ;;
esac
