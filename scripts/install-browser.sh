#!/usr/bin/env bash
# The real browser the desk's browser test drives: Debian's Chromium and ChromeDriver,
# and a CJK font (without it Chinese renders as empty boxes in the screenshots).
# Installs only what is missing; fails loudly if it cannot (the test is never skipped).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
bash "$(dirname "$0")/apt-install-missing.sh" "the browser test, about a minute" ${need[@]+"${need[@]}"}
