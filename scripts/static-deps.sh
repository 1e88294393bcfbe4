#!/usr/bin/env bash
# static-deps.sh - build the static musl libraries a fully static evapi binary
# links against: OpenSSL, libevent, json-c and libpq (+ libpgcommon.a, libpgport.a;
# PostgreSQL 15 client, no GSSAPI/LDAP/readline/zlib/ICU, with OpenSSL), for x86_64
# or aarch64, natively or cross-compiled from the other one.
# With --shared, the same pinned sources and options as musl shared libraries
# (libssl.so.3, libcrypto.so.3, libevent*-2.1.so.7, libjson-c.so.5, libpq.so.5) for a
# dynamic musl evapi with plugin .so files (the Dockerfile's debug image).
#
# Usage:
#   scripts/static-deps.sh [--arch ARCH] [PREFIX]         build into PREFIX
#   scripts/static-deps.sh [--arch ARCH] --shared PREFIX  shared musl libraries into
#                                              PREFIX (its own prefix: stamps are per prefix)
#   scripts/static-deps.sh --print-pins SRCPKG=DEBVERSION...
#                                              download source packages, print pin lines
# ARCH: x86_64 or aarch64 (Debian/Docker names amd64 and arm64 work too); default:
# this machine's. A prefix holds one architecture.
#
# Cross-compiling (aarch64 on x86_64, or the reverse) uses Debian packages only:
# the target's musl-dev and linux-libc-dev through dpkg multiarch (the script runs
# `dpkg --add-architecture`) and the gcc/binutils cross packages. musl-dev of a
# foreign architecture ships a ready musl wrapper for that cross gcc
# (/usr/bin/aarch64-linux-musl-gcc, with its specs file), the same kind of wrapper
# the native x86_64-linux-musl-gcc (= musl-gcc) is: the same musl 1.2.3, gcc 12.2
# and recipe for both architectures, nothing built or fetched from outside Debian.
#
# Environment:
#   STATIC_DEPS_ARCH    target architecture (the --arch option wins)
#   STATIC_DEPS_PREFIX  install prefix (default: $PWD/.static-deps/prefix; the argument wins)
#   STATIC_DEPS_WORK    download/build/log dir (default: the .static-deps/ dir next to PREFIX)
#   STATIC_DEPS_JOBS    parallel make jobs (default: nproc)
#   STATIC_DEPS_CFLAGS  compiler flags (default: -Os -ffunction-sections -fdata-sections)
#
# Linking against the result (what configure --with-static-deps=PREFIX does):
#   PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig pkg-config --static --cflags --libs libevent json-c libpq
#   CC=$PREFIX/bin/ARCH-linux-musl-gcc, LDFLAGS="-static -Wl,--gc-sections"
# PREFIX/bin holds the toolchain the libraries were built with (ARCH-linux-musl-gcc,
# -ar, -ranlib, -nm, -strip, ...), named as autoconf's --host=ARCH-linux-musl expects;
# PREFIX/lib/static-deps/host names the target.
#
# Reproducible: the libraries do not depend on PREFIX, the work dir or the time of
# the build (fixed compiled-in paths, -ffile-prefix-map, deterministic archives,
# SOURCE_DATE_EPOCH from each package's debian/changelog), so two builds of the same
# pins give byte-identical archives.
#
# Sources are Debian source packages fetched with `apt-get source` (a deb-src entry is
# added when none exists; needs root). Every downloaded file is checked against the
# sha256 pinned in scripts/static-deps.versions, and dpkg-source checks the .dsc.
#
# How to change a version:
#   1. pick a version the archive serves: apt-cache madison SRCPKG | grep Sources
#   2. scripts/static-deps.sh --print-pins SRCPKG=DEBVERSION
#   3. in scripts/static-deps.versions, set the version on the `source` line and
#      replace that package's `sha256` lines with the printed ones
#   4. rerun this script: the changed library (and libpq after an OpenSSL change)
#      is rebuilt, the others are kept.
# If a pinned version has left the archive, either update the pin as above or put the
# pinned files (e.g. from snapshot.debian.org) into $STATIC_DEPS_WORK/src/: they are used
# when their sha256 matches the pins.
#
# Reruns skip every library whose stamp ($PREFIX/.stamps/LIB) matches the current
# version + build-flags hash. Logs: $STATIC_DEPS_WORK/logs/LIB-STEP.log.
set -euo pipefail

readonly LIBRARIES=(openssl libevent json-c libpq)
readonly APT_INSTALL=(apt-get install -y -o DPkg::Lock::Timeout=900 --no-install-recommends)
# Build tools (Debian packages). bison/flex are not needed: the PostgreSQL tarball
# ships the generated parsers. dpkg-dev brings dpkg-source, patch, xz-utils, bzip2.
readonly COMMON_TOOL_PKGS=(autoconf automake libtool cmake dpkg-dev make perl pkg-config)
readonly SRC_LIST=/etc/apt/sources.list.d/static-deps-src

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSIONS_FILE=$SCRIPT_DIR/static-deps.versions
APT_UPDATED=0
# static: LIB_* functions and build_LIB; shared: shared_LIB_* and build_shared_LIB.
MODE=static

die() { printf 'static-deps: ERROR: %s\n' "$*" >&2; exit 1; }
say() { printf 'static-deps: %s\n' "$*"; }

# --- configuration ------------------------------------------------------------------

# ARCH (GNU name), DEB_ARCH (Debian's), TRIPLET (autoconf --host), BUILD_TRIPLET,
# CROSS and the Debian packages of the toolchain for that target.
setup_arch() {
    local want=${1:-${STATIC_DEPS_ARCH:-}} build
    build=$(uname -m)
    case $build in
        x86_64 | aarch64) ;;
        *) die "unsupported build machine $build (x86_64 or aarch64)" ;;
    esac
    case ${want:-$build} in
        x86_64 | amd64) ARCH=x86_64 DEB_ARCH=amd64 ;;
        aarch64 | arm64) ARCH=aarch64 DEB_ARCH=arm64 ;;
        *) die "unsupported architecture '$want' (x86_64/amd64 or aarch64/arm64)" ;;
    esac
    TRIPLET=$ARCH-linux-musl
    BUILD_TRIPLET=$build-pc-linux-gnu
    # musl-dev brings $TRIPLET-gcc; linux-libc-dev the target's <asm/...> headers.
    TOOL_PKGS=("${COMMON_TOOL_PKGS[@]}" "musl-dev:$DEB_ARCH" "linux-libc-dev:$DEB_ARCH")
    if [[ $ARCH == "$build" ]]; then
        CROSS=no
        # musl-tools: musl-gcc, which the docs and older prefixes use.
        TOOL_PKGS+=(gcc binutils musl-tools)
    else
        CROSS=yes
        TOOL_PKGS+=("gcc-${ARCH//_/-}-linux-gnu" "binutils-${ARCH//_/-}-linux-gnu")
    fi
}

# Resolve PREFIX and WORK to absolute paths; WORK defaults to .static-deps/ next to
# PREFIX (or PREFIX's parent itself when that already is .static-deps/).
setup_dirs() {
    local arg=${1:-}
    PREFIX=${arg:-${STATIC_DEPS_PREFIX:-$PWD/.static-deps/prefix}}
    mkdir -p "$PREFIX"
    PREFIX=$(cd "$PREFIX" && pwd)
    local parent
    parent=$(dirname "$PREFIX")
    if [[ -n ${STATIC_DEPS_WORK:-} ]]; then
        WORK=$STATIC_DEPS_WORK
    elif [[ $(basename "$parent") == .static-deps ]]; then
        WORK=$parent
    else
        WORK=$parent/.static-deps
    fi
    mkdir -p "$WORK"/{src,build,logs}
    WORK=$(cd "$WORK" && pwd)
    # CC and CFLAGS are passed as words to configure scripts: no whitespace allowed.
    [[ $PREFIX$WORK != *[[:space:]]* ]] || die "PREFIX/WORK must not contain whitespace: '$PREFIX' '$WORK'"
    JOBS=${STATIC_DEPS_JOBS:-$(nproc)}
    CFLAGS_OPT=${STATIC_DEPS_CFLAGS:--Os -ffunction-sections -fdata-sections}
}

# Read scripts/static-deps.versions into SRCPKG[lib], SRCVER[lib], PIN[file].
load_versions() {
    declare -gA SRCPKG=() SRCVER=() PIN=() TOOLCHAIN=()
    [[ -r $VERSIONS_FILE ]] || die "missing $VERSIONS_FILE"
    local kind a b c
    while read -r kind a b c; do
        case $kind in
            ''|'#'*) ;;
            source) SRCPKG[$a]=$b; SRCVER[$a]=$c ;;
            sha256) PIN[$a]=$b ;;
            licence) ;;
            toolchain) TOOLCHAIN[$a]="$b ${c%% *}" ;;
            *) die "$VERSIONS_FILE: unknown line '$kind $a $b $c'" ;;
        esac
    done <"$VERSIONS_FILE"
    local lib
    for lib in "${LIBRARIES[@]}"; do
        [[ -n ${SRCVER[$lib]:-} ]] || die "$VERSIONS_FILE: no 'source $lib ...' line"
    done
}

# A prefix holds one architecture: refuse to mix (stamps would look current).
check_prefix_arch() {
    local f=$PREFIX/lib/static-deps/host
    [[ ! -f $f || $(<"$f") == "$TRIPLET" ]] ||
        die "$PREFIX holds $(<"$f") libraries, not $TRIPLET: use another prefix for --arch $ARCH"
}

# --- build tools and apt --------------------------------------------------------------

is_root() { [[ $(id -u) -eq 0 ]]; }

apt_update() {
    [[ $APT_UPDATED -eq 0 ]] || return 0
    say "apt-get update"
    apt-get -o DPkg::Lock::Timeout=900 update >"$WORK/logs/apt-update.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/apt-update.log" >&2; die "apt-get update failed"; }
    # apt-get update exits 0 when some index could not be fetched (e.g. no network);
    # show why, as the later error ("no deb-src URIs", "unable to locate") misleads.
    grep -E '^(W|E): (Failed to fetch|Some index files)' "$WORK/logs/apt-update.log" >&2 || true
    APT_UPDATED=1
}

# Install missing build tools (Debian, root), else fail with the list.
ensure_tools() {
    if ! command -v dpkg-query >/dev/null; then
        local c
        for c in "$TRIPLET-gcc" "$ARCH-linux-gnu-ar" autoreconf automake libtoolize cmake dpkg-source make perl pkg-config; do
            command -v "$c" >/dev/null || die "missing build tool '$c' (not Debian: install it yourself)"
        done
        return 0
    fi
    local p missing=()
    for p in "${TOOL_PKGS[@]}"; do
        [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    is_root || die "missing packages: ${missing[*]} (run as root, or: sudo ${APT_INSTALL[*]} ${missing[*]})"
    # A foreign target's musl-dev/linux-libc-dev come through dpkg multiarch.
    if [[ $DEB_ARCH != "$(dpkg --print-architecture)" ]] &&
        ! dpkg --print-foreign-architectures | grep -qx "$DEB_ARCH"; then
        say "dpkg --add-architecture $DEB_ARCH"
        dpkg --add-architecture "$DEB_ARCH"
        APT_UPDATED=0
    fi
    apt_update
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${APT_INSTALL[@]}" "${missing[@]}" >"$WORK/logs/apt-install.log" 2>&1 \
        || { tail -n 30 "$WORK/logs/apt-install.log" >&2; die "apt-get install failed"; }
}

has_deb_src() {
    grep -Eqs '^[[:space:]]*deb-src[[:space:]]|^Types:.*deb-src' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}

# apt-get source needs deb-src entries; stock images have only "deb". Copy the
# existing entries as deb-src into a separate file rather than editing the originals.
ensure_deb_src() {
    has_deb_src && return 0
    is_root || die "no deb-src entry in /etc/apt (needed by apt-get source); add one or run as root"
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$SRC_LIST.sources"
        say "added $SRC_LIST.sources"
    elif grep -Eqs '^deb[[:space:]]' /etc/apt/sources.list; then
        sed -n 's/^deb\([[:space:]]\)/deb-src\1/p' /etc/apt/sources.list >"$SRC_LIST.list"
        say "added $SRC_LIST.list"
    else
        die "no Debian apt source found to derive a deb-src entry from"
    fi
    APT_UPDATED=0
    apt_update
}

# --- sources ------------------------------------------------------------------------------

# Files listed in a .dsc (its Checksums-Sha256 section).
dsc_files() {
    awk '/^Checksums-Sha256:/ {s=1; next} s && /^ / {print $3; next} {s=0}' "$1"
}

# Check FILE against its pin; return 1 on mismatch or absence.
check_pin() {
    local f=$1 name want got
    name=$(basename "$f")
    want=${PIN[$name]:-}
    [[ -n $want ]] || die "no sha256 pin for $name in $VERSIONS_FILE (see the script header: --print-pins)"
    [[ -f $f ]] || return 1
    got=$(sha256sum "$f" | cut -d' ' -f1)
    [[ $got == "$want" ]] && return 0
    printf 'static-deps: sha256 mismatch for %s\n  pinned: %s\n  actual: %s\n' "$name" "$want" "$got" >&2
    return 1
}

verify_sources() {
    local dsc=$1 f
    check_pin "$dsc" || return 1
    for f in $(dsc_files "$dsc"); do
        check_pin "$(dirname "$dsc")/$f" || return 1
    done
}

download_source() {
    local lib=$1 pkg=${SRCPKG[$1]} ver=${SRCVER[$1]} log=$WORK/logs/$1-download.log
    ensure_deb_src
    say "$lib: apt-get source $pkg=$ver"
    # -o APT::Sandbox::User=root: the files go to a root-owned dir, skip the _apt warning.
    if ! (cd "$WORK/src" && apt-get source --download-only -o APT::Sandbox::User=root "$pkg=$ver") >"$log" 2>&1; then
        # Stale or missing package lists (e.g. a fresh image): update once and retry.
        if is_root && [[ $APT_UPDATED -eq 0 ]]; then
            apt_update
            (cd "$WORK/src" && apt-get source --download-only -o APT::Sandbox::User=root "$pkg=$ver") >"$log" 2>&1 \
                && return 0
        fi
        tail -n 30 "$log" >&2
        printf 'static-deps: versions of %s the archive offers:\n' "$pkg" >&2
        apt-cache madison "$pkg" 2>/dev/null | grep Sources >&2 || true
        die "cannot download $pkg=$ver; pick an available version (see the script header) or put the pinned files into $WORK/src"
    fi
}

# Make the pinned, verified source files of LIB available in $WORK/src.
fetch_source() {
    local lib=$1 pkg=${SRCPKG[$1]} ver=${SRCVER[$1]}
    local dsc=$WORK/src/${pkg}_${ver#*:}.dsc
    if [[ -f $dsc ]] && verify_sources "$dsc" 2>/dev/null; then
        return 0
    fi
    # Missing or damaged cache (e.g. an interrupted download): fetch afresh.
    if [[ -f $dsc ]]; then
        local f
        for f in $(dsc_files "$dsc"); do rm -f "$WORK/src/$f"; done
        rm -f "$dsc"
    fi
    download_source "$lib"
    verify_sources "$dsc" || die "downloaded $pkg $ver does not match the sha256 pins in $VERSIONS_FILE.
  Same version, different bytes: find out why (mirror, tampering, re-upload) before re-pinning.
  After changing the version on the 'source' line, re-pin: scripts/static-deps.sh --print-pins $pkg=$ver
  and replace the sha256 lines of $pkg (see the script header)."
}

# Fresh source tree of LIB in $BUILD/src (Debian patches applied; dsc checksums checked).
extract_source() {
    local lib=$1 pkg=${SRCPKG[$1]} ver=${SRCVER[$1]}
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    run_step "$lib" extract dpkg-source -x "$WORK/src/${pkg}_${ver#*:}.dsc" "$BUILD/src"
    mkdir -p "$BUILD/obj"
}

# --- step runner -----------------------------------------------------------------------------

# run_step LIB STEP CMD...: run CMD in a subshell with errexit (set -e is not
# suspended there because the call is not part of a condition), log to
# $WORK/logs/LIB-STEP.log, show the last 30 log lines on failure.
run_step() {
    local lib=$1 step=$2
    shift 2
    local log=$WORK/logs/$lib-$step.log start=$SECONDS rc
    printf 'static-deps: %-8s %-10s ... ' "$lib" "$step"
    set +e
    (set -e; "$@") >"$log" 2>&1
    rc=$?
    set -e
    if [[ $rc -ne 0 ]]; then
        printf 'FAILED (exit %d)\n--- last 30 lines of %s ---\n' "$rc" "$log" >&2
        tail -n 30 "$log" >&2
        die "$lib: step '$step' failed"
    fi
    printf 'ok (%ds)\n' $((SECONDS - start))
}

# --- per-library builds ------------------------------------------------------------------------
# Each library has LIB_outputs (files that must exist), LIB_flags (everything that
# influences the build, hashed into the stamp) and build_LIB. SRC/OBJ/BUILD are set
# by build_lib; CC/CFLAGS are exported.

# OpenSSL: only libssl/libcrypto with what libpq's TLS 1.2/1.3 client and SCRAM
# (SHA-256, HMAC, RNG) need. Not no-deprecated: libpq 15 builds with it, but it
# saves 32 bytes and libpq uses 3.0-deprecated calls (HMAC_CTX_new). Keeps TLS 1.2
# ECDHE/DHE + AES-GCM/ChaCha20, TLS 1.3, RSA/ECDSA/Ed25519, X25519/P-256/P-384.
# No DES (3DES suites, old encrypted PEM keys), no multi-block TLS 1.2 writes
# (a server-side speed-up: 90 KB), no datagram BIOs, no console prompts (a
# server never asks for a key's passphrase on a terminal).
# OPENSSLDIR=/etc/ssl: openssl.cnf and certs/ are looked up there.
readonly OPENSSL_OPTS=(
    no-shared no-module no-legacy no-engine no-dso no-async no-afalgeng no-tests
    no-comp no-srp no-psk no-ssl3 no-dtls no-weak-ssl-ciphers no-sctp no-srtp
    no-ct no-ocsp no-cms no-ts no-cmp no-rfc3779 no-nextprotoneg no-gost no-ec2m
    no-idea no-seed no-camellia no-aria no-sm2 no-sm3 no-sm4 no-whirlpool no-bf
    no-cast no-rc2 no-rc4 no-rc5 no-md2 no-md4 no-mdc2 no-rmd160 no-blake2
    no-siphash no-siv no-ocb no-scrypt no-dsa no-des no-multiblock no-dgram
    no-ui-console
)
openssl_outputs() { echo lib/libssl.a lib/libcrypto.a lib/pkgconfig/libssl.pc include/openssl/ssl.h; }
openssl_flags() { echo "${OPENSSL_OPTS[*]}"; }
openssl_configure() {
    cd "$OBJ"
    "$SRC/Configure" "linux-$ARCH" "${OPENSSL_OPTS[@]}" \
        --prefix="$PREFIX" --libdir=lib --openssldir=/etc/ssl
    # Configure takes CFLAGS from the environment instead of its -O3 default; check it.
    grep -q -- "^CFLAGS=$CFLAGS" Makefile
}
# MODULESDIR/ENGINESDIR default to PREFIX/lib/... and are compiled in; nothing is
# loaded from them (no-module no-dso), so use fixed paths: the binary then does not
# depend on where it was built.
openssl_make() {
    cd "$OBJ" && make -j"$JOBS" build_libs MODULESDIR=/usr/lib/ossl-modules ENGINESDIR=/usr/lib/engines-3
}
# install_dev installs headers, .a and .pc only (install_ssldirs would write /etc/ssl).
openssl_install() { cd "$OBJ" && make install_dev; }
build_openssl() {
    run_step openssl configure openssl_configure
    run_step openssl make openssl_make
    run_step openssl install openssl_install
}

libevent_outputs() { echo lib/libevent.a lib/libevent_core.a lib/pkgconfig/libevent.pc include/event2/http.h; }
libevent_flags() { echo "--disable-shared --enable-static --disable-openssl --disable-samples --disable-libevent-regress --disable-debug-mode"; }
# Debian's patches touch Makefile.am, so regenerate the build system first.
libevent_autoreconf() { cd "$SRC" && autoreconf -fi; }
libevent_configure() {
    cd "$OBJ"
    # shellcheck disable=SC2046
    "$SRC/configure" --prefix="$PREFIX" --host="$TRIPLET" --build="$BUILD_TRIPLET" \
        --disable-dependency-tracking $(libevent_flags)
}
libevent_make() { cd "$OBJ" && make -j"$JOBS" V=1; }
# The libtool .la files would make a libtool-based link prefer shared-style deps.
libevent_install() { cd "$OBJ" && make install && rm -f "$PREFIX"/lib/libevent*.la; }
build_libevent() {
    run_step libevent autoreconf libevent_autoreconf
    run_step libevent configure libevent_configure
    run_step libevent make libevent_make
    run_step libevent install libevent_install
}

json-c_outputs() { echo lib/libjson-c.a lib/pkgconfig/json-c.pc include/json-c/json.h; }
json-c_flags() { echo "MinSizeRel -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DDISABLE_EXTRA_LIBS=ON -DBUILD_TESTING=OFF -DBUILD_APPS=OFF"; }
json-c_configure() {
    cmake -S "$SRC" -B "$OBJ" "${CMAKE_TOOLCHAIN[@]}" -DCMAKE_C_FLAGS="$CFLAGS" \
        -DCMAKE_BUILD_TYPE=MinSizeRel -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
        -DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DDISABLE_EXTRA_LIBS=ON \
        -DBUILD_TESTING=OFF -DBUILD_APPS=OFF -DCMAKE_VERBOSE_MAKEFILE=ON
}
json-c_make() { make -C "$OBJ" -j"$JOBS"; }
json-c_install() { make -C "$OBJ" install; }
build_json-c() {
    run_step json-c configure json-c_configure
    run_step json-c make json-c_make
    run_step json-c install json-c_install
}

libpq_outputs() { echo lib/libpq.a lib/libpgcommon.a lib/libpgport.a lib/pkgconfig/libpq.pc include/libpq-fe.h; }
# sysconfdir is compiled in (pg_service.conf lookup); use Debian's libpq5 path rather
# than the build prefix.
libpq_flags() {
    echo "--without-gssapi --without-ldap --without-readline --without-zlib --without-icu" \
         "--without-llvm --without-pam --without-selinux --without-systemd --without-lz4" \
         "--without-zstd --without-perl --without-python --without-tcl --disable-nls --with-openssl" \
         "--sysconfdir=/etc/postgresql-common"
}
libpq_configure() {
    cd "$OBJ"
    # shellcheck disable=SC2046
    "$SRC/configure" --prefix="$PREFIX" --host="$TRIPLET" --build="$BUILD_TRIPLET" $(libpq_flags) \
        --with-includes="$PREFIX/include" --with-libraries="$PREFIX/lib"
}
# Build only in src/common and src/port: Debian's patches (50-per-version-dirs,
# libpgport-pkglibdir) make `make install` there write to /usr/lib/postgresql/15/lib
# whatever the prefix, clobbering postgresql-server-dev-15. The .a files are copied.
libpq_make() {
    cd "$OBJ"
    make -j"$JOBS" -C src/include
    # AROPT: PostgreSQL's own ar flags (crs), plus D for deterministic archives.
    make -j"$JOBS" -C src/common AROPT=crsD
    make -j"$JOBS" -C src/port AROPT=crsD
    # all-static-lib: no libpq.so (its "no exit() calls" check fails on a static libcrypto).
    make -j"$JOBS" -C src/interfaces/libpq all-static-lib AROPT=crsD
}
libpq_install() {
    cd "$OBJ"
    mkdir -p "$PREFIX/include" "$PREFIX/lib/pkgconfig"
    # install-lib-static installs no libpq.pc, hence the explicit pc targets.
    make -C src/interfaces/libpq install-lib-static libpq.pc install-lib-pc AROPT=crsD
    cp "$SRC/src/interfaces/libpq/libpq-fe.h" "$SRC/src/interfaces/libpq/libpq-events.h" \
        "$SRC/src/include/postgres_ext.h" src/include/pg_config_ext.h "$PREFIX/include/"
    cp src/common/libpgcommon.a src/port/libpgport.a "$PREFIX/lib/"
    # --with-libraries leaves an absolute -L in Libs.private; use ${libdir} so that
    # pkg-config --define-prefix works after the prefix is moved.
    sed -i "s|-L$PREFIX/lib|-L\${libdir}|g" "$PREFIX/lib/pkgconfig/libpq.pc"
}
build_libpq() {
    run_step libpq configure libpq_configure
    run_step libpq make libpq_make
    run_step libpq install libpq_install
}

# --- shared musl libraries (--shared) ------------------------------------------------------
# Same sources, Debian patches and feature set as above; only the library kind differs.
# No .a files are installed, so a link against PREFIX cannot silently go static.

# OPENSSL_OPTS with "shared" in place of "no-shared".
shared_openssl_opts() {
    local o
    echo shared
    for o in "${OPENSSL_OPTS[@]}"; do [[ $o == no-shared ]] || echo "$o"; done
}
shared_openssl_outputs() { echo lib/libssl.so.3 lib/libcrypto.so.3 lib/pkgconfig/libssl.pc include/openssl/ssl.h; }
shared_openssl_flags() { shared_openssl_opts | tr '\n' ' '; }
shared_openssl_configure() {
    cd "$OBJ"
    # shellcheck disable=SC2046  # one option per line
    "$SRC/Configure" "linux-$ARCH" $(shared_openssl_opts) \
        --prefix="$PREFIX" --libdir=lib --openssldir=/etc/ssl
    grep -q -- "^CFLAGS=$CFLAGS" Makefile
}
shared_openssl_install() { openssl_install && rm -f "$PREFIX"/lib/libssl.a "$PREFIX"/lib/libcrypto.a; }
build_shared_openssl() {
    run_step shared-openssl configure shared_openssl_configure
    run_step shared-openssl make openssl_make
    run_step shared-openssl install shared_openssl_install
}

shared_libevent_outputs() {
    echo lib/libevent-2.1.so.7 lib/libevent_pthreads-2.1.so.7 lib/pkgconfig/libevent.pc include/event2/http.h
}
shared_libevent_flags() { echo "--enable-shared --disable-static --disable-openssl --disable-samples --disable-libevent-regress --disable-debug-mode"; }
shared_libevent_configure() {
    cd "$OBJ"
    # shellcheck disable=SC2046
    "$SRC/configure" --prefix="$PREFIX" --host="$TRIPLET" --build="$BUILD_TRIPLET" \
        --disable-dependency-tracking $(shared_libevent_flags)
}
build_shared_libevent() {
    run_step shared-libevent autoreconf libevent_autoreconf
    run_step shared-libevent configure shared_libevent_configure
    run_step shared-libevent make libevent_make
    run_step shared-libevent install libevent_install
}

shared_json-c_outputs() { echo lib/libjson-c.so.5 lib/pkgconfig/json-c.pc include/json-c/json.h; }
shared_json-c_flags() { echo "MinSizeRel -DBUILD_SHARED_LIBS=ON -DBUILD_STATIC_LIBS=OFF -DDISABLE_EXTRA_LIBS=ON -DBUILD_TESTING=OFF -DBUILD_APPS=OFF"; }
shared_json-c_configure() {
    cmake -S "$SRC" -B "$OBJ" "${CMAKE_TOOLCHAIN[@]}" -DCMAKE_C_FLAGS="$CFLAGS" \
        -DCMAKE_BUILD_TYPE=MinSizeRel -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
        -DBUILD_SHARED_LIBS=ON -DBUILD_STATIC_LIBS=OFF -DDISABLE_EXTRA_LIBS=ON \
        -DBUILD_TESTING=OFF -DBUILD_APPS=OFF -DCMAKE_VERBOSE_MAKEFILE=ON
}
build_shared_json-c() {
    run_step shared-json-c configure shared_json-c_configure
    run_step shared-json-c make json-c_make
    run_step shared-json-c install json-c_install
}

shared_libpq_outputs() { echo lib/libpq.so.5 lib/pkgconfig/libpq.pc include/libpq-fe.h; }
shared_libpq_flags() { echo "--disable-rpath all-shared-lib install-lib-shared"; }
# configure's "test program" check runs a binary linked to the shared libssl, and
# musl's loader finds it only through LD_LIBRARY_PATH (nothing else this step runs
# needs a library named like the ones in PREFIX).  --disable-rpath: no build-prefix
# RUNPATH in libpq.so; the consumer sets its own.
shared_libpq_configure() {
    cd "$OBJ"
    # shellcheck disable=SC2046
    LD_LIBRARY_PATH=$PREFIX/lib "$SRC/configure" --prefix="$PREFIX" --host="$TRIPLET" \
        --build="$BUILD_TRIPLET" $(libpq_flags) --disable-rpath \
        --with-includes="$PREFIX/include" --with-libraries="$PREFIX/lib"
}
# libpgcommon/libpgport go into libpq.so itself (their _shlib variants, PIC).
shared_libpq_make() {
    cd "$OBJ"
    make -j"$JOBS" -C src/include
    make -j"$JOBS" -C src/common
    make -j"$JOBS" -C src/port
    make -j"$JOBS" -C src/interfaces/libpq all-shared-lib
}
shared_libpq_install() {
    cd "$OBJ"
    mkdir -p "$PREFIX/include" "$PREFIX/lib/pkgconfig"
    make -C src/interfaces/libpq install-lib-shared libpq.pc install-lib-pc
    cp "$SRC/src/interfaces/libpq/libpq-fe.h" "$SRC/src/interfaces/libpq/libpq-events.h" \
        "$SRC/src/include/postgres_ext.h" src/include/pg_config_ext.h "$PREFIX/include/"
    sed -i "s|-L$PREFIX/lib|-L\${libdir}|g" "$PREFIX/lib/pkgconfig/libpq.pc"
}
build_shared_libpq() {
    run_step shared-libpq configure shared_libpq_configure
    run_step shared-libpq make shared_libpq_make
    run_step shared-libpq install shared_libpq_install
}

# lib_fn LIB WHAT: the function holding WHAT (outputs, flags...) of LIB in this mode.
lib_fn() { if [[ $MODE == static ]]; then echo "${1}_$2"; else echo "${MODE}_${1}_$2"; fi; }

# --- stamps and driver ---------------------------------------------------------------------------

# Everything that changes LIB's output: pinned version + .dsc hash, compiler, flags,
# the recipe itself (function bodies) and, for libpq, the OpenSSL it was built against.
stamp_text() {
    local lib=$1 pkg=${SRCPKG[$1]} ver=${SRCVER[$1]} hash
    hash=$( {
        echo "$PREFIX" "$CFLAGS" "${PIN[${pkg}_${ver#*:}.dsc]:-}" "$TRIPLET"
        "$CC" -dumpmachine
        "$CC" -dumpfullversion
        dpkg-query -W -f='${Version}\n' "musl-dev:$DEB_ARCH" 2>/dev/null || true
        declare -f setup_compiler write_toolchain
        "${lib}_flags"
        # shellcheck disable=SC2046  # function names contain no whitespace
        declare -f "build_$lib" $(compgen -A function "${lib}_")
        # The shared recipe reuses the static functions above, plus its own (the static
        # stamp text is unchanged by this mode's existence).
        if [[ $MODE != static ]]; then
            "${MODE}_${lib}_flags"
            # shellcheck disable=SC2046
            declare -f "build_${MODE}_$lib" $(compgen -A function "${MODE}_${lib}_")
        fi
        [[ $lib != libpq ]] || cat "$PREFIX/.stamps/openssl" 2>/dev/null || true
    } | sha256sum | cut -d' ' -f1)
    printf 'library=%s\nsource=%s %s\nflags-sha256=%s\n' "$lib" "$pkg" "$ver" "$hash"
}

is_current() {
    local lib=$1 f
    [[ -f $PREFIX/.stamps/$lib && $(<"$PREFIX/.stamps/$lib") == "$(stamp_text "$lib")" ]] || return 1
    for f in $("$(lib_fn "$lib" outputs)"); do [[ -e $PREFIX/$f ]] || return 1; done
}

build_lib() {
    local lib=$1 tree=$1
    if is_current "$lib"; then
        say "$lib: up to date (${SRCPKG[$lib]} ${SRCVER[$lib]})"
        return 0
    fi
    rm -f "$PREFIX/.stamps/$lib"
    fetch_source "$lib"
    # Own tree per mode: a static and a shared build may share one WORK (and its sources).
    [[ $MODE == static ]] || tree=$MODE-$lib
    BUILD=$WORK/build/$tree SRC=$WORK/build/$tree/src OBJ=$WORK/build/$tree/obj
    extract_source "$lib"
    # Build dates some build systems record (OpenSSL's "built on"): the date of the
    # pinned Debian revision, not of this build.
    SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Timestamp)
    export SOURCE_DATE_EPOCH
    if [[ $MODE == static ]]; then "build_$lib"; else "build_${MODE}_$lib"; fi
    mkdir -p "$PREFIX/.stamps"
    stamp_text "$lib" >"$PREFIX/.stamps/$lib"
    # The tree is only needed again for a rebuild, which extracts afresh.
    rm -rf "$BUILD"
}

# The toolchain of this prefix in $PREFIX/bin, named as autoconf's --host=$TRIPLET
# looks for it, so that these libraries and evapi's configure (--with-static-deps)
# compile with the same one. gcc: Debian's musl wrapper for the target
# (/usr/bin/$TRIPLET-gcc from musl-dev: musl's specs on the native or the cross gcc).
# musl's specs pass -nostdinc, hiding the kernel headers OpenSSL needs
# (<linux/mman.h>): the wrapper adds only the target's linux/, asm/ and asm-generic/
# (not glibc's headers) with -idirafter, found relative to itself so that the
# compiler's command line (which OpenSSL records) names no path of this machine.
write_toolchain() {
    local bin=$PREFIX/bin kh=$PREFIX/lib/static-deps/kernel-headers t
    [[ -d /usr/include/linux && -d /usr/include/$ARCH-linux-gnu/asm ]] ||
        die "kernel headers of $ARCH missing (apt-get install linux-libc-dev:$DEB_ARCH)"
    [[ -x /usr/bin/$TRIPLET-gcc ]] || die "/usr/bin/$TRIPLET-gcc missing (apt-get install musl-dev:$DEB_ARCH)"
    mkdir -p "$bin" "$kh"
    ln -sfn /usr/include/linux "$kh/linux"
    ln -sfn /usr/include/asm-generic "$kh/asm-generic"
    ln -sfn "/usr/include/$ARCH-linux-gnu/asm" "$kh/asm"
    # aarch64: gcc 12 calls libgcc's outline atomics, whose initialiser needs
    # __getauxval, which musl 1.2.3 lacks (link error in lse-init.o): inline
    # ARMv8.0 atomics instead, which run on every aarch64 CPU.
    local arch_flags=""
    [[ $ARCH != aarch64 ]] || arch_flags="-mno-outline-atomics "
    cat >"$bin/$TRIPLET-gcc.tmp" <<-EOF
		#!/bin/sh
		# Written by scripts/static-deps.sh: Debian's musl gcc for $TRIPLET, plus the
		# kernel headers of this prefix.
		exec /usr/bin/$TRIPLET-gcc $arch_flags"\$@" -idirafter "\${0%/*}/../lib/static-deps/kernel-headers"
	EOF
    chmod 755 "$bin/$TRIPLET-gcc.tmp"
    mv "$bin/$TRIPLET-gcc.tmp" "$bin/$TRIPLET-gcc"
    for t in ar ranlib nm strip objcopy objdump readelf; do
        [[ -x /usr/bin/$ARCH-linux-gnu-$t ]] ||
            die "/usr/bin/$ARCH-linux-gnu-$t missing (apt-get install binutils-${ARCH//_/-}-linux-gnu)"
        ln -sfn "/usr/bin/$ARCH-linux-gnu-$t" "$bin/$TRIPLET-$t"
    done
    echo "$TRIPLET" >"$PREFIX/lib/static-deps/host"
}

setup_compiler() {
    write_toolchain
    export PATH=$PREFIX/bin:$PATH
    # -ffile-prefix-map: __FILE__ strings (libevent asserts) name "LIB/src/x.c", not
    # this machine's build path, so the binary does not depend on where it was built.
    export CC=$TRIPLET-gcc CFLAGS="$CFLAGS_OPT -ffile-prefix-map=$WORK/build/="
    # The target's binutils (libtool, OpenSSL and PostgreSQL read these), and
    # deterministic archives (D: zero timestamps, uids and modes; Debian's default
    # too, said explicitly).
    export AR=$TRIPLET-ar RANLIB=$TRIPLET-ranlib NM=$TRIPLET-nm STRIP=$TRIPLET-strip \
        OBJDUMP=$TRIPLET-objdump ARFLAGS=rD AR_FLAGS=crD
    # CMake (json-c): the same tools by full path; cross-compiling when the target is
    # not this machine.
    CMAKE_TOOLCHAIN=(-DCMAKE_C_COMPILER="$PREFIX/bin/$TRIPLET-gcc"
        -DCMAKE_AR="$PREFIX/bin/$TRIPLET-ar" -DCMAKE_RANLIB="$PREFIX/bin/$TRIPLET-ranlib"
        "-DCMAKE_C_ARCHIVE_CREATE=<CMAKE_AR> qcD <TARGET> <LINK_FLAGS> <OBJECTS>"
        "-DCMAKE_C_ARCHIVE_APPEND=<CMAKE_AR> qD <TARGET> <LINK_FLAGS> <OBJECTS>"
        "-DCMAKE_C_ARCHIVE_FINISH=<CMAKE_RANLIB> -D <TARGET>")
    [[ $CROSS == no ]] || CMAKE_TOOLCHAIN+=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$ARCH")
    # Keep host pkg-config files (glibc builds) out of the configure checks.
    export PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig
    unset PKG_CONFIG_PATH CPPFLAGS LDFLAGS LIBS
}

summary() {
    local lib f files=(libssl.a libcrypto.a libevent.a libevent_core.a libjson-c.a libpq.a libpgcommon.a libpgport.a)
    echo
    say "prefix: $PREFIX ($MODE, $TRIPLET)"
    for lib in "${LIBRARIES[@]}"; do
        printf '  %-9s %s %s\n' "$lib" "${SRCPKG[$lib]}" "${SRCVER[$lib]}"
    done
    [[ $MODE == static ]] || files=(libssl.so.3 libcrypto.so.3 libevent-2.1.so.7 libevent_pthreads-2.1.so.7
        libjson-c.so.5 libpq.so.5)
    for f in "${files[@]}"; do
        printf '  %-26s %10s bytes\n' "$f" "$(stat -L -c %s "$PREFIX/lib/$f")"
    done
    if [[ $MODE == static ]]; then
        echo "  evapi: ./configure --host=$TRIPLET --enable-static-binary --with-static-deps=$PREFIX"
    else
        echo "  link: PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig ./configure --host=$TRIPLET CC=$PREFIX/bin/$TRIPLET-gcc ..."
        echo "        (needs RUNPATH or LD_LIBRARY_PATH=$PREFIX/lib at run time; the musl loader is"
        echo "        /lib/ld-musl-$ARCH.so.1)"
    fi
}

# --print-pins PKG=VER...: download into a temp dir and print the pin lines.
print_pins() {
    [[ $# -gt 0 ]] || die "usage: $0 --print-pins SRCPKG=DEBVERSION..."
    local tmp spec f
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064  # expand now: $tmp is local and gone when EXIT fires
    trap "rm -rf '$tmp'" EXIT
    WORK=$tmp
    mkdir -p "$tmp/logs" "$tmp/src"
    for spec in "$@"; do
        (cd "$tmp/src" && apt-get source --download-only -o APT::Sandbox::User=root "$spec") >"$tmp/logs/dl.log" 2>&1 \
            || { ensure_deb_src; (cd "$tmp/src" && apt-get source --download-only -o APT::Sandbox::User=root "$spec") >"$tmp/logs/dl.log" 2>&1; } \
            || { tail -n 30 "$tmp/logs/dl.log" >&2; die "cannot download $spec"; }
        echo "source <library> ${spec%%=*} ${spec#*=}"
    done
    for f in "$tmp"/src/*; do
        printf 'sha256 %-45s %s\n' "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
    done
}

# The toolchain libraries linked into the binary are the pinned ones (the SBOM lists
# them from the pins): musl-dev's Debian version, gcc's upstream version.
check_toolchain() {
    local want got
    want=${TOOLCHAIN[musl]#* }
    got=$(dpkg-query -W -f='${Version}' "musl-dev:$DEB_ARCH" 2>/dev/null || true)
    [[ -z $want || -z $got || $got == "$want" ]] ||
        die "musl-dev:$DEB_ARCH is $got, $VERSIONS_FILE pins $want (update the toolchain line)"
    want=${TOOLCHAIN[libgcc]#* }
    got=$("$CC" -dumpfullversion)
    [[ -z $want || $got == "$want" ]] ||
        die "$CC is gcc $got, $VERSIONS_FILE pins $want (update the toolchain line)"
}

main() {
    if [[ ${1:-} == --print-pins ]]; then
        shift
        print_pins "$@"
        return
    fi
    local arch=""
    while [[ ${1:-} == -* ]]; do
        case $1 in
            --arch)
                [[ -n ${2:-} ]] || die "usage: $0 --arch ARCH ..."
                arch=$2
                shift 2
                ;;
            --arch=*) arch=${1#--arch=}; shift ;;
            --shared)
                [[ -n ${2:-} ]] || die "usage: $0 --shared PREFIX"
                MODE=shared
                shift
                ;;
            *) die "usage: $0 [--arch ARCH] [--shared] [PREFIX] | --print-pins SRCPKG=DEBVERSION..." ;;
        esac
    done
    setup_arch "$arch"
    setup_dirs "${1:-}"
    load_versions
    check_prefix_arch
    # One run per work dir at a time (a second run waits instead of corrupting trees).
    exec 9>"$WORK/.lock"
    flock -w 3600 9 || die "another static-deps.sh run holds $WORK/.lock"
    ensure_tools
    setup_compiler
    check_toolchain
    local start=$SECONDS lib
    for lib in "${LIBRARIES[@]}"; do build_lib "$lib"; done
    summary
    say "done in $((SECONDS - start))s"
}

main "$@"
