#!/usr/bin/env bash
# Installs the Debian packages the test suite needs on a fresh machine.
# Later issues add the DNS servers, Prometheus and tmux here.
set -euo pipefail

# Today's tests need only a POSIX shell and coreutils, which every Debian has.
packages=()

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y --no-install-recommends "${missing[@]}"
fi
