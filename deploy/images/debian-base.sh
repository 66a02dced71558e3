#!/usr/bin/env bash
# Builds the Debian base image the locally built third-party images start
# from: mmdebstrap makes a minimal bookworm root file system with PostgreSQL
# and Prometheus from Debian's packages, and `docker import` turns it into an
# image. No registry is involved. The image is labelled with a hash of this
# script, so it is rebuilt only when the script changes.
#
#   deploy/images/debian-base.sh IMAGE
set -euo pipefail
image=${1:?usage: debian-base.sh IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
hash=$(sha256sum "$here/debian-base.sh" | cut -c1-16)

if [ "$(docker image inspect -f '{{index .Config.Labels "io.homeplane.base-hash"}}' "$image" 2>/dev/null)" = "$hash" ]; then
  echo "$image is current (base hash $hash)"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 1; }

packages=(
  ca-certificates
  # PostgreSQL as the official postgres image runs it; "locales" rather than
  # the 230 MB locales-all that would otherwise satisfy the dependency.
  postgresql-15 locales
  prometheus
)
# Debian's PostgreSQL packages create a cluster on install; the image's
# entrypoint makes its own in the data volume instead.
setup_hook='mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.conf"'

echo "building $image with mmdebstrap (${packages[*]})"
mmdebstrap --quiet --variant=minbase \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --setup-hook="$setup_hook" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm - |
  docker import \
    --change "LABEL io.homeplane.base-hash=$hash" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$image"
