#!/usr/bin/env bash
# Installs the Debian packages the test suite needs on a fresh machine.
# Later issues add the DNS servers and Prometheus here.
set -euo pipefail

packages=(
  tmux        # the end-to-end test of the cockpit runs the binary in a real terminal
)

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
