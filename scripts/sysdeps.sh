#!/usr/bin/env bash
# System packages some tests need (headless Chromium to render the QC report,
# poppler to rasterise the PDF, Xvfb + xcb libs for a real Qt window).
# Installs them when we are root with apt-get; otherwise says what is missing
# and the tests that need them skip with that reason.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
# the xcb libraries Qt's xcb platform plugin loads, checked on their own (Xvfb may be there without them)
if command -v dpkg-query >/dev/null 2>&1; then
  for lib in libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 libxcb-render-util0 libxcb-randr0 \
      libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || need+=("$lib")
  done
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: installing ${need[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || echo "sysdeps: could not install ${need[*]} (tests needing them will skip)"
else
  echo "sysdeps: missing ${need[*]} (not root: tests needing them will skip)"
fi
exit 0
