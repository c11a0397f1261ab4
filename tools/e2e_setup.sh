#!/usr/bin/env bash
# Prepare a Debian machine for `make e2e` (run as root; docs in tests/e2e/test_seeds_in_podman.py).
#   tools/e2e_setup.sh packages       apt packages the suite needs, installed only when a command is missing
#   tools/e2e_setup.sh runtime IMAGE  make rootful podman able to start IMAGE (a local image), changing nothing
#                                     when it already can:
#     - crun failing with "cgroups in hybrid mode not supported" → podman uses runc;
#     - runc failing with "setting rlimit" (no CAP_SYS_RESOURCE, e.g. in a sandbox) → podman uses
#       ../shared/tools/runc-norlimit, a runc wrapper that drops process.rlimits, copied to /usr/local/bin.
#     Both are set in /etc/containers/containers.conf.d/kaito-e2e.conf.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
conf_dir=/etc/containers/containers.conf.d
conf=$conf_dir/kaito-e2e.conf

packages() {
  # command → Debian package; apache2-utils for htpasswd -B (the registry accepts bcrypt entries only);
  # catatonit, which podman only recommends, is the init of the pause image `podman kube play` builds for a pod
  local -A wanted=([podman]=podman [runc]=runc [mmdebstrap]=mmdebstrap [docker-registry]=docker-registry
                   [skopeo]=skopeo [htpasswd]=apache2-utils [catatonit]=catatonit)
  local missing=() command
  for command in "${!wanted[@]}"; do
    command -v "$command" >/dev/null || missing+=("${wanted[$command]}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "e2e: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

probe() {  # the engine's error output when it cannot start a trivial container, nothing when it can
  podman run --rm --network none --entrypoint true "$1" 2>&1 >/dev/null || true
}

use_runtime() {  # NAME PATH
  mkdir -p "$conf_dir"
  printf '[engine]\nruntime = "%s"\n[engine.runtimes]\n%s = ["%s"]\n' "$1" "$1" "$2" > "$conf"
  echo "e2e: podman now uses $1 ($2), in $conf"
}

runtime() {
  local image=$1 error
  error=$(probe "$image")
  if grep -q "cgroups in hybrid mode" <<<"$error"; then
    use_runtime runc "$(command -v runc)"
    error=$(probe "$image")
  fi
  if grep -q "setting rlimit" <<<"$error"; then
    local wrapper=$here/../shared/tools/runc-norlimit
    [ -f "$wrapper" ] || { echo "e2e: runc cannot set rlimits here and $wrapper is missing" >&2; exit 2; }
    install -m 0755 "$wrapper" /usr/local/bin/runc-norlimit
    use_runtime runcnr /usr/local/bin/runc-norlimit
    error=$(probe "$image")
  fi
  if [ -n "$error" ]; then
    echo "e2e: podman cannot start $image: $error" >&2
    exit 2
  fi
  echo "e2e: podman starts containers ($(podman info --format '{{.Host.OCIRuntime.Name}}'))"
}

"$@"
