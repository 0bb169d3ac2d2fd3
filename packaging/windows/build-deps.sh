#!/bin/bash
# build-deps.sh - cross-build netcap-extcap's Windows dependencies (libyaml, cJSON, libcurl with
# Schannel) as static mingw-w64 libraries, from Debian's own source packages.
#
#   packaging/windows/build-deps.sh [DEPS_DIR]     (default: build-win/deps in the repository)
#
# Repeatable on a fresh Debian 12 machine as root: it installs the Debian packages it needs
# (idempotently), adds a deb-src entry for the mirror the machine already uses when there is
# none, fetches the sources with `apt-get source` (so the code is exactly what Debian ships,
# security patches included, signed by the archive), and builds them into DEPS_DIR:
#
#   DEPS_DIR/{include,lib,lib/pkgconfig}   the static libraries and their .pc files
#   DEPS_DIR/licenses/                     each library's license text (shipped in the .msi)
#   DEPS_DIR/.built-<package>-<version>+patches-<id>   a stamp: built, skip it next time
#
# A second run with the same Debian versions does nothing but check the stamps. A new Debian
# revision (a security update), or a change to packaging/windows/patches/<package>-*.patch,
# rebuilds that package. The one patch today: curl's Schannel name check learns IP addresses.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DEPS=${1:-$ROOT/build-win/deps}
mkdir -p "$DEPS"
DEPS=$(cd "$DEPS" && pwd)
SRC=$DEPS/src
HOST=x86_64-w64-mingw32
JOBS=${JOBS:-$(nproc)}

# The Debian packages the Windows build needs, here and in build-msi.sh.
WIN_DEPS="gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 msitools wixl cmake make
          pkg-config dpkg-dev autoconf automake libtool patch file"

log() { printf 'build-deps: %s\n' "$*" >&2; }

install_packages() {
    local missing=() p
    for p in $WIN_DEPS; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# `apt-get source` needs a deb-src entry. Copy the machine's own "Types: deb" stanzas for this
# release (Debian 12's default /etc/apt/sources.list.d/debian.sources: the main archive and
# the security archive) as deb-src, or the deb lines of a one-line sources.list, so the
# sources come from the mirror the machine already uses.
ensure_deb_src() {
    if apt-get source --print-uris curl >/dev/null 2>&1 &&
        apt-get source --print-uris curl 2>/dev/null | grep -q '\.dsc'; then
        return
    fi
    local out=/etc/apt/sources.list.d/netcap-deb-src.sources
    log "adding the deb-src entries in $out"
    if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
        # Every enabled deb822 stanza of type deb for this release, copied as deb-src
        # (third-party repositories for other suites are left alone).
        awk -v codename="$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)" \
            'BEGIN { RS = ""; ORS = "\n\n" }
             /(^|\n)Types:([^\n]* )?deb( |\n|$)/ && !/(^|\n)Enabled: *no/ &&
             $0 ~ ("(^|\n)Suites:[^\n]*" codename) {
                 gsub(/Types:[^\n]*/, "Types: deb-src"); print }' \
            /etc/apt/sources.list.d/*.sources >"$out.tmp"
    else
        : >"$out.tmp"
    fi
    if [ ! -s "$out.tmp" ] && [ -f /etc/apt/sources.list ]; then
        # One-line format: "deb [opts] URI suite components" -> the same line as deb-src.
        sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$out.tmp"
        mv "$out.tmp" "${out%.sources}.list"
        out=${out%.sources}.list
    else
        mv "$out.tmp" "$out"
    fi
    [ -s "$out" ] || { log "no Debian mirror found in /etc/apt; add a deb-src entry by hand"; exit 1; }
    apt-get update -qq
}

# The newest version of source package $1 that apt knows.
source_version() {
    local pkg=$1 ver
    ver=$(apt-cache showsrc "$pkg" | awk '/^Version:/ { print $2 }' |
        sort -V | tail -n 1)
    [ -n "$ver" ] || { log "apt-cache knows no source package $pkg"; exit 1; }
    echo "$ver"
}

# Unpacked, Debian-patched source of package $1 version $2 in $SRC/$1.
unpack_source() {
    local pkg=$1 ver=$2
    rm -rf "${SRC:?}/$pkg" "${SRC:?}/dl-$pkg"
    mkdir -p "$SRC/dl-$pkg"
    # --download-only, then dpkg-source into a fixed path (apt-get source names the tree
    # after the upstream version).
    (cd "$SRC/dl-$pkg" && apt-get source -qq --download-only "$pkg=$ver" >/dev/null)
    dpkg-source --no-check -x "$SRC/dl-$pkg/"*.dsc "$SRC/$pkg" >/dev/null
}

built() { [ -e "$DEPS/.built-$1-$2" ]; }
mark_built() { rm -f "$DEPS/.built-$1-"*; touch "$DEPS/.built-$1-$2"; }

# The mingw-w64 compiler with win32 threads: no libwinpthread DLL to ship.
export CC=$HOST-gcc-win32 AR=$HOST-ar RANLIB=$HOST-ranlib
# PKG_CONFIG_LIBDIR: only the .pc files built here, never the build machine's.
export PKG_CONFIG_LIBDIR=$DEPS/lib/pkgconfig
unset PKG_CONFIG_PATH

build_libyaml() {
    local ver=$1 s=$SRC/libyaml
    unpack_source libyaml "$ver"
    (cd "$s" && autoreconf -fi >/dev/null 2>&1 &&
        # YAML_DECLARE_STATIC: yaml.h otherwise marks every function dllimport on Windows.
        ./configure -q --host=$HOST --prefix="$DEPS" --enable-static --disable-shared \
            CPPFLAGS=-DYAML_DECLARE_STATIC CFLAGS="-O2" &&
        make -s -C src -j"$JOBS" && make -s -C src install && make -s -C include install &&
        install -m 644 yaml-0.1.pc "$DEPS/lib/pkgconfig/")
    # Consumers need the same define; put it where pkg-config hands it out.
    sed -i 's/^Cflags:.*/& -DYAML_DECLARE_STATIC/' "$DEPS/lib/pkgconfig/yaml-0.1.pc"
    install -D -m 644 "$s/License" "$DEPS/licenses/libyaml.txt"
}

build_cjson() {
    local ver=$1 s=$SRC/cjson
    unpack_source cjson "$ver"
    # Hidden symbols: the static library exports nothing from the .exe, and cJSON.h declares
    # plain functions (no dllimport/dllexport) when CJSON_HIDE_SYMBOLS is defined.
    cmake -S "$s" -B "$s/build" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-mingw64.cmake" \
        -DNETCAP_WIN_DEPS="$DEPS" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$DEPS" \
        -DBUILD_SHARED_LIBS=OFF -DENABLE_CJSON_TEST=OFF -DENABLE_CJSON_UTILS=OFF \
        -DENABLE_TARGET_EXPORT=OFF -DENABLE_CUSTOM_COMPILER_FLAGS=OFF \
        -DENABLE_PUBLIC_SYMBOLS=OFF -DENABLE_HIDDEN_SYMBOLS=ON >/dev/null
    cmake --build "$s/build" -j"$JOBS" >/dev/null
    cmake --install "$s/build" >/dev/null
    sed -i 's/^Cflags:.*/& -DCJSON_HIDE_SYMBOLS/' "$DEPS/lib/pkgconfig/libcjson.pc"
    install -D -m 644 "$s/LICENSE" "$DEPS/licenses/cjson.txt"
}

build_curl() {
    local ver=$1 s=$SRC/curl
    unpack_source curl "$ver"
    # Debian's series ends with the GnuTLS and NSS flavour patches (renaming the library);
    # debian/rules pops them for the plain build, and so does this.
    (cd "$s" && patch -s -R -p1 <debian/patches/99_nss.patch &&
        patch -s -R -p1 <debian/patches/90_gnutls.patch)
    # netcap's own fixes on top (each file says what and why).
    local p
    for p in "$HERE"/patches/curl-*.patch; do
        [ -e "$p" ] || continue
        (cd "$s" && patch -s -p1 <"$p")
    done
    # http and https only, TLS by Schannel (Windows' own, so the system's certificate store and
    # no OpenSSL to ship), name resolution in a Win32 thread (--disable-pthreads: not through
    # winpthreads); everything the extcap does not use is left out, which also keeps the list
    # of libraries it needs at zero.
    (cd "$s" && autoreconf -fi >/dev/null 2>&1 &&
        ./configure -q --host=$HOST --prefix="$DEPS" --enable-static --disable-shared \
            --with-schannel --without-openssl --without-gnutls --without-zlib --without-brotli \
            --without-zstd --without-libpsl --without-libidn2 --without-winidn \
            --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-librtmp \
            --without-libssh2 --without-libssh --without-ca-bundle --without-ca-path \
            --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp \
            --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
            --disable-smb --disable-smtp --disable-gopher --disable-mqtt --disable-manual \
            --disable-ntlm --disable-ntlm-wb --disable-tls-srp --disable-unix-sockets \
            --disable-alt-svc --disable-hsts --disable-websockets --disable-doh \
            --disable-cookies --disable-netrc --disable-mime --enable-threaded-resolver \
            --disable-pthreads --enable-ipv6 CFLAGS="-O2" &&
        make -s -C lib -j"$JOBS" && make -s -C lib install && make -s -C include install &&
        install -m 644 libcurl.pc "$DEPS/lib/pkgconfig/")
    install -D -m 644 "$s/COPYING" "$DEPS/licenses/curl.txt"
}

install_packages
ensure_deb_src
mkdir -p "$SRC" "$DEPS/lib/pkgconfig" "$DEPS/licenses"
# A change to netcap's patches of a package rebuilds it, like a new Debian version does.
patches_id() {
    local files
    files=$(compgen -G "$HERE/patches/$1-*.patch" | sort) || { echo none; return; }
    # shellcheck disable=SC2086
    cat $files | sha256sum | cut -c1-12
}

for pkg in libyaml cjson curl; do
    ver=$(source_version "$pkg")
    stamp="$ver+patches-$(patches_id "$pkg")"
    if built "$pkg" "$stamp"; then
        log "$pkg $ver: cached"
        continue
    fi
    log "$pkg $ver: building (log: $DEPS/build-$pkg.log)"
    # Not as an `if` condition: bash ignores set -e in one, even inside a subshell.
    set +e
    (set -e; "build_$pkg" "$ver") >"$DEPS/build-$pkg.log" 2>&1
    rc=$?
    set -e
    if [ $rc -ne 0 ]; then
        tail -n 40 "$DEPS/build-$pkg.log" >&2
        log "$pkg $ver: build failed (exit status $rc)"
        exit 1
    fi
    # The .pc files name the prefix relative to themselves, so the deps directory can move.
    sed -i "s|$DEPS|\${pcfiledir}/../..|g" "$DEPS"/lib/pkgconfig/*.pc
    mark_built "$pkg" "$stamp"
done
# The sources are only needed while building.
rm -rf "$SRC"
log "done: $DEPS"
