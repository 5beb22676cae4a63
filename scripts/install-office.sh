#!/usr/bin/env bash
# The real spreadsheet program the result workbook's rendering test opens it with:
# Debian's LibreOffice Calc (headless: `soffice --convert-to pdf`), Poppler's pdftotext
# and pdftoppm, and a CJK font (without it Chinese renders as empty boxes).
# Installs only what is missing; fails loudly if it cannot (the test is never skipped).
set -euo pipefail
need=()
command -v soffice >/dev/null || need+=(libreoffice-calc-nogui)
command -v pdftotext >/dev/null || need+=(poppler-utils)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
bash "$(dirname "$0")/apt-install-missing.sh" --lean "the workbook rendering test, a minute or two" ${need[@]+"${need[@]}"}
