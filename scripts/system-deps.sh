#!/bin/sh
# Install the Debian packages named on the command line, but only those missing.
#
#   scripts/system-deps.sh chromium fonts-noto-cjk
#
# Runs `apt-get update` once, and only when something is missing. Without root it installs
# nothing and says what to install instead.
set -eu

missing=""
for package in "$@"; do
    if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $package"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages:$missing" >&2
    echo "Install them as root, then run make again:" >&2
    echo "    apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

echo "==> installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "==> installed:$missing"
