#!/usr/bin/env bash
# Builds docker/Dockerfile into an image with buildah, on a machine with no Docker
# engine and no container registry in reach (as CI's): Debian's buildah, podman and
# runc, and a stand-in for the Dockerfile's `FROM python:3.11-slim` made from Debian's
# own packages (bookworm, whose python3 is 3.11, as the official python:3.11-slim is
# bookworm plus a Python 3.11). Idempotent: the base is made once (about a minute),
# the image is rebuilt each run (about 15 s). tests/docker/test_image.py runs it.
#
# Usage: bash docker/build_image.sh [IMAGE]   (default localhost/kafkapy:latest)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="${1:-localhost/kafkapy:latest}"
BASE="localhost/kafkapy-base:bookworm-python3.11"
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
# chroot isolation: RUN steps need no user namespace or cgroup setup of their own.
export BUILDAH_ISOLATION=chroot

PKGS=(buildah podman runc mmdebstrap)
MISSING=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}" >/dev/null
fi

if ! $SUDO podman image exists "$BASE"; then
  echo "== base image $BASE (Debian bookworm, python3 as python and pip)"
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  # pip installs into the system site as in python:3.11-slim (no EXTERNALLY-MANAGED
  # marker), and the image trusts the certificate authorities this machine trusts, so
  # that `pip install` in the Dockerfile reaches PyPI the way the host does.
  $SUDO mmdebstrap --quiet --variant=minbase \
    --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$TMP/rootfs.tar" http://deb.debian.org/debian
  $SUDO podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' "$TMP/rootfs.tar" "$BASE" >/dev/null
fi

echo "== $IMAGE from docker/Dockerfile"
# --format docker keeps the Dockerfile's HEALTHCHECK (the OCI format has none).
$SUDO buildah bud --quiet --format docker --pull=never --from "$BASE" \
  -f "$ROOT/docker/Dockerfile" -t "$IMAGE" "$ROOT" >/dev/null
$SUDO podman image inspect --format '   {{.Id}} {{.Size}} bytes' "$IMAGE"
