#!/usr/bin/env bash
# Build a Debian bookworm Python base image with mmdebstrap, for machines where Docker Hub's python image is
# unreachable. It stands in for python:3.11-slim-bookworm in runtime/Dockerfile.* (build arg PYTHON_IMAGE).
# Usage: tools/build_base_image.sh ENGINE TAG      (ENGINE: docker | podman | buildah; run as root)
# Needs mmdebstrap and a reachable Debian mirror. Debian bookworm's python3 is 3.11, as the Dockerfiles expect.
set -euo pipefail
engine=$1 tag=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# No manuals, translations or docs (copyright files kept): about 50 MB off every image built on this base.
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$work/rootfs.tar"
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
case $engine in
  docker|podman)
    "$engine" import --change "ENV PATH=$path" --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
      "$work/rootfs.tar" "$tag" >/dev/null ;;
  buildah)
    container=$(buildah from scratch)
    buildah add "$container" "$work/rootfs.tar" / >/dev/null   # a local tar archive is extracted
    buildah config --env "PATH=$path" --env LANG=C.UTF-8 --cmd python3 "$container"
    buildah commit --quiet "$container" "$tag" >/dev/null
    buildah rm "$container" >/dev/null ;;
  *) echo "build_base_image.sh: unknown engine $engine" >&2; exit 2 ;;
esac
echo "base image $tag built from Debian bookworm"
