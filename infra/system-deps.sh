#!/usr/bin/env bash
# Debian packages warcflow needs, installed only where missing:
#   ffmpeg  media capture (ffmpeg, ffprobe)
#   kcat    a plain Kafka client, used by the docs and tests as "any other client"
#   chromium  browser captures and the viewer's browser test (Playwright drives
#             /usr/bin/chromium, headless)
#   wget    the peer tool of the page benchmark (make bench: wget --warc-file)
#   openssl the local RFC 3161 time-stamping authority and token checks (infra/tsa.py)
#   npm     fetches ReplayWeb.page, the WACZ player the tests open exports in
#           (infra/replaywebpage.py)
#   jq      reads a role's password from the credentials file in the docs' kcat lines
#   g++, cmake, pkg-config, python3-dev and libav*-dev (avcodec, avformat, avutil,
#           swscale, swresample, avdevice, avfilter)  build the vpdq and pdqhash wheels
#           from their sources when the virtualenv is made (PyPI has no wheels of them;
#           vpdq links FFmpeg's libraries, which the ffmpeg package already brings)
#   fonts-dejavu-core  the tests draw a watermark into a clip with ffmpeg's drawtext
#           (tests/support/findmedia.py)
#   iproute2, util-linux  `ip` and `unshare`: the live SSRF tests make network
#             namespaces of their own (tests/support/netns.py); without them those
#             tests fail under CI rather than vanish
#   the libraries WeasyPrint (the court pack's PDF, archivers/export/pdf.py) opens with
#   dlopen: libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz0b, libharfbuzz-subset0,
#   libfontconfig1, libglib2.0-0 (gobject); and the report's fonts, fonts-dejavu-core
#   poppler-utils  pdftotext, pdftoppm, pdfimages: the tests read, render and list the reports
# Java 17 (a JDK: the tests compile the JWAT WARC validator) and Maven (the Kafka and
# JWAT jars) are expected on the machine; this checks them.
set -euo pipefail

missing=()
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v kcat >/dev/null || missing+=(kcat)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wget >/dev/null || missing+=(wget)
command -v openssl >/dev/null || missing+=(openssl)
command -v npm >/dev/null || missing+=(npm)
command -v jq >/dev/null || missing+=(jq)
command -v g++ >/dev/null || missing+=(g++)
command -v cmake >/dev/null || missing+=(cmake)
command -v pkg-config >/dev/null || missing+=(pkg-config)
for lib in libavcodec libavformat libavutil libswscale libswresample libavdevice libavfilter; do
  pkg-config --exists "$lib" 2>/dev/null || missing+=("$lib-dev")
done
# the headers of the Python the virtualenv is made from (Makefile: PYTHON)
python="${PYTHON:-python3}"
if ! "$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
  case "$(command -v "$python")" in
    /usr/bin/*) missing+=(python3-dev) ;;
    *) echo "warcflow: $python has no C headers (Python.h); vpdq and pdqhash are built against them" >&2; exit 1 ;;
  esac
fi
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
# a library by its soname (what dlopen finds), else its Debian package. ldconfig is in
# /sbin, off a non-root user's PATH; its cache is read once and matched in the shell
# (`ldconfig -p | grep -q` can fail under pipefail when grep stops reading early)
libs=$({ command -v ldconfig >/dev/null && ldconfig -p; } || /sbin/ldconfig -p || true)
have_lib() { [[ $libs == *"$1 "* ]]; }
have_lib libpango-1.0.so.0 || missing+=(libpango-1.0-0)
have_lib libpangoft2-1.0.so.0 || missing+=(libpangoft2-1.0-0)
have_lib libharfbuzz.so.0 || missing+=(libharfbuzz0b)
have_lib libharfbuzz-subset.so.0 || missing+=(libharfbuzz-subset0)
have_lib libfontconfig.so.1 || missing+=(libfontconfig1)
have_lib libgobject-2.0.so.0 || missing+=(libglib2.0-0)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null && command -v pdfimages >/dev/null || missing+=(poppler-utils)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "warcflow: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "warcflow: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in java javac mvn; do
  command -v "$tool" >/dev/null || { echo "warcflow: '$tool' is missing; Kafka and the tests' WARC validator need a JDK 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)" >&2; exit 1; }
done
