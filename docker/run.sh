#!/usr/bin/env bash
# Start an edgecv container with what a camera and the GPU need, and data/models folders mounted.
# On a Jetson: --runtime nvidia (CUDA, TensorRT), each /dev/video* (USB and CSI sensors), the Argus
# socket that nvarguscamerasrc (csi://) talks to, and the L4T release and board model that
# `edgecv info` reads. X11 when $DISPLAY is set. Host networking by default, so
# `--output http://0.0.0.0:8090` and RTSP sources work as they do natively.
#
#   docker/run.sh                                   # a shell in the image built by docker/build.sh
#   docker/run.sh edgecv info
#   docker/run.sh edgecv run models/best.fp16.<key>.engine --source csi://0 --output http://0.0.0.0:8090
#   docker/run.sh --image edgecv:jp5-train --data ~/datasets/cups -- edgecv train --data data/ --epochs 5
#
# Options (before the command): --image IMAGE, --data DIR (-> /workspace/data, default ./data),
# --models DIR (-> /workspace/models, default ./models), -v HOST:CONTAINER (repeatable),
# --no-host-network (publish port 8090 instead), --dry-run (print the docker command only).
# EDGECV_JETSON=1/0 and EDGECV_DEV (device folder, default /dev) override detection (for tests).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE=""
DATA="$PWD/data"
MODELS="$PWD/models"
HOST_NETWORK=1
DRY_RUN=0
VOLUMES=()
DEV="${EDGECV_DEV:-/dev}"

die() { echo "docker/run.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --image) [ $# -ge 2 ] || die "--image needs a name"; IMAGE="$2"; shift ;;
        --data) [ $# -ge 2 ] || die "--data needs a folder"; DATA="$2"; shift ;;
        --models) [ $# -ge 2 ] || die "--models needs a folder"; MODELS="$2"; shift ;;
        -v|--volume) [ $# -ge 2 ] || die "$1 needs HOST:CONTAINER"; VOLUMES+=(--volume "$2"); shift ;;
        --no-host-network) HOST_NETWORK=0 ;;
        --dry-run) DRY_RUN=1 ;;
        --) shift; break ;;
        *) break ;;
    esac
    shift
done

if [ -z "${EDGECV_JETSON:-}" ]; then
    EDGECV_JETSON=0
    [ -f /etc/nv_tegra_release ] && EDGECV_JETSON=1
fi
if [ -z "$IMAGE" ]; then
    IMAGE="edgecv:$("$ROOT/docker/build.sh" --dry-run | sed -n 's/.* -t edgecv:\([^ ]*\) .*/\1/p')"
    [ "$IMAGE" != "edgecv:" ] || die "cannot tell which image fits this machine; pass --image"
fi
[ "$DRY_RUN" = 1 ] || mkdir -p "$DATA" "$MODELS"

CMD=(docker run -i --rm --ipc host -w /workspace
     --volume "$(realpath -m "$DATA"):/workspace/data"
     --volume "$(realpath -m "$MODELS"):/workspace/models")
[ -t 0 ] && CMD+=(-t)

if [ "$EDGECV_JETSON" = 1 ]; then
    # /proc is not mountable: copy the board name where edgecv.sysinfo looks for it.
    [ "$DRY_RUN" = 1 ] || tr -d '\0' < /proc/device-tree/model > /tmp/nv_jetson_model 2>/dev/null || true
    CMD+=(--runtime nvidia
          --volume /tmp/argus_socket:/tmp/argus_socket
          --volume /etc/nv_tegra_release:/etc/nv_tegra_release:ro
          --volume /tmp/nv_jetson_model:/tmp/nv_jetson_model:ro)
elif command -v nvidia-smi >/dev/null 2>&1; then
    CMD+=(--gpus all)
fi

for video in "$DEV"/video*; do
    [ -e "$video" ] && CMD+=(--device "$video")
done

if [ -n "${DISPLAY:-}" ]; then
    command -v xhost >/dev/null 2>&1 && [ "$DRY_RUN" = 0 ] && xhost +si:localuser:root >/dev/null
    CMD+=(-e "DISPLAY=$DISPLAY" --volume /tmp/.X11-unix:/tmp/.X11-unix)
fi

if [ "$HOST_NETWORK" = 1 ]; then
    CMD+=(--network host)
else
    CMD+=(--publish 8090:8090)
fi

CMD+=(${VOLUMES[@]+"${VOLUMES[@]}"} "$IMAGE" "$@")

if [ "$DRY_RUN" = 1 ]; then
    printf '%q ' "${CMD[@]}"
    echo
else
    exec "${CMD[@]}"
fi
