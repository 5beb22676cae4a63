#!/usr/bin/env bash
# apt-install-missing.sh [--lean] WHAT PACKAGE...: installs Debian PACKAGEs (none:
# nothing to do), as root or through sudo, saying WHAT is being installed; --lean leaves
# out what they only recommend. Shared by the install scripts.
set -euo pipefail
lean=()
if [ "${1:-}" = "--lean" ]; then
  lean=(--no-install-recommends)
  shift
fi
what=$1
shift
if [ $# -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing $* ($what)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ${lean[@]+"${lean[@]}"} "$@" >&2
