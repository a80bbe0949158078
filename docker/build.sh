#!/usr/bin/env bash
# Build the edgecv image that fits this machine. On a Jetson the L4T release in
# /etc/nv_tegra_release picks the row of docker/tags.txt (base image and build args), the way
# jetson-inference's docker/tag.sh does: a container must match the device's L4T major release.
# On x86_64 it builds the workstation image.
#
#   docker/build.sh                          # runtime image for this Jetson, or the workstation image
#   docker/build.sh --train                  # Jetson image with NVIDIA's PyTorch (JetPack 5 and 6)
#   docker/build.sh --variant jp5-runtime --dry-run      # print the docker command only
#   docker/build.sh --build-arg ORT_WHEEL=onnxruntime_gpu-...-linux_aarch64.whl  # extra docker args
#
# EDGECV_TEGRA_RELEASE names another release file (used by tests/test_docker.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAGS="$ROOT/docker/tags.txt"
RELEASE_FILE="${EDGECV_TEGRA_RELEASE:-/etc/nv_tegra_release}"
KIND=runtime
VARIANT=""
IMAGE=""
DRY_RUN=0
EXTRA=()

die() { echo "docker/build.sh: $*" >&2; exit 1; }

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# "# R35 (release), REVISION: 4.1, ..." -> jp5 ; unsupported releases stop with the reason.
family_for_l4t() {
    local line release revision
    line="$(head -n 1 "$1")"
    release="$(sed -n 's/^# R\([0-9]*\) (release).*/\1/p' <<<"$line")"
    revision="$(sed -n 's/.*REVISION: \([0-9.]*\).*/\1/p' <<<"$line")"
    [ -n "$release" ] || die "cannot read the L4T release from $1: '$line'"
    case "$release" in
        32) [ "${revision%%.*}" = "7" ] || die "L4T R32.$revision: edgecv images need R32.7 (JetPack 4.6.x); upgrade JetPack"
            echo jp4 ;;
        35) echo jp5 ;;
        36) echo jp6 ;;
        *) die "L4T R$release.$revision has no edgecv image in docker/tags.txt; pass --variant or install natively (docs/jetson.md)" ;;
    esac
}

pick_variant() {
    local family
    if [ -f "$RELEASE_FILE" ]; then
        family="$(family_for_l4t "$RELEASE_FILE")" || exit 1
        echo "$family-$KIND"
    elif [ "$(uname -m)" = "x86_64" ]; then
        echo workstation
    else
        die "no $RELEASE_FILE and not x86_64: pass --variant (see docker/tags.txt)"
    fi
}

while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --train) KIND=train ;;
        --variant) [ $# -ge 2 ] || die "--variant needs a name"; VARIANT="$2"; shift ;;
        --variant=*) VARIANT="${1#*=}" ;;
        -t|--tag) [ $# -ge 2 ] || die "--tag needs an image name"; IMAGE="$2"; shift ;;
        --dry-run) DRY_RUN=1 ;;
        *) EXTRA+=("$1") ;;
    esac
    shift
done

if [ -z "$VARIANT" ]; then
    VARIANT="$(pick_variant)" || exit 1
fi
ROW="$(awk -F'|' -v v="$VARIANT" '!/^#/ { n = $1; gsub(/ /, "", n); if (n == v) print }' "$TAGS")"
if [ -z "$ROW" ]; then
    [ "$VARIANT" = "jp4-train" ] && die "no jp4-train image: JetPack 4.6's PyTorch is Python 3.6 and edgecv needs 3.8; train on a workstation"
    die "no variant '$VARIANT' in docker/tags.txt"
fi
field() { awk -F'|' -v i="$1" '{ gsub(/^ +| +$/, "", $i); print $i }' <<<"$ROW"; }

CMD=(docker build -f "$ROOT/docker/$(field 2)" --build-arg "BASE_IMAGE=$(field 3)" --build-arg "TRT_VERSION=$(field 6)")
for arg in $(field 8); do
    CMD+=(--build-arg "$arg")
done
CMD+=(-t "${IMAGE:-edgecv:$VARIANT}" ${EXTRA[@]+"${EXTRA[@]}"} "$ROOT")

if [ "$DRY_RUN" = 1 ]; then
    printf '%q ' "${CMD[@]}"
    echo
else
    echo "building edgecv:$VARIANT on $(field 3)" >&2
    DOCKER_BUILDKIT=1 exec "${CMD[@]}"
fi
