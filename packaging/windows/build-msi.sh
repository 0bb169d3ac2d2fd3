#!/bin/bash
# build-msi.sh - cross-build netcap-extcap.exe for 64-bit Windows and package it as an .msi.
#
#   packaging/windows/build-msi.sh [OUT_DIR]        (default: build-win in the repository)
#
# Steps, each repeatable (a fresh Debian 12 machine as root needs nothing but this repository):
#   1. build-deps.sh: the Debian packages it needs, and static libcurl (Schannel), cJSON and
#      libyaml from Debian's source packages, cached in OUT_DIR/deps;
#   2. CMake with cmake/toolchain-mingw64.cmake: the extcap alone (no agent, no dissector, no
#      tests), statically linked, RelWithDebInfo as the Linux packages, in OUT_DIR/cmake (the
#      .msi gets a stripped copy);
#   3. a check that the .exe imports nothing but Windows system DLLs;
#   4. wixl (msitools) with netcap-extcap.wxs: OUT_DIR/netcap-extcap-<version>-x64.msi.
# The last line printed is the .msi's path.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/build-win}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HOST=x86_64-w64-mingw32
JOBS=${JOBS:-$(nproc)}

log() { printf 'build-msi: %s\n' "$*" >&2; }

bash "$HERE/build-deps.sh" "$OUT/deps"

VERSION=$(sed -n 's/^project(netcap VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
[ -n "$VERSION" ] || { log "no project version in CMakeLists.txt"; exit 1; }

log "building netcap-extcap.exe $VERSION"
cmake -S "$ROOT" -B "$OUT/cmake" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-mingw64.cmake" \
    -DNETCAP_WIN_DEPS="$OUT/deps" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DNETCAP_BUILD_AGENT=OFF -DNETCAP_BUILD_DISSECTOR=OFF -DBUILD_TESTING=OFF >/dev/null
cmake --build "$OUT/cmake" -j"$JOBS" --target netcap-extcap >/dev/null
# wixl takes the files from beside the .wxs: stage them all in one folder.
STAGE=$OUT/msi-stage
rm -rf "$STAGE"
mkdir -p "$STAGE/licenses"
EXE=$STAGE/netcap-extcap.exe
# Without symbols: the .msi carries the program, the build tree keeps the debuggable one.
$HOST-strip -o "$EXE" "$OUT/cmake/extcap/netcap-extcap.exe"

# Everything but Windows' own DLLs is linked in; a DLL outside this list (libcurl-4.dll,
# libwinpthread-1.dll, libgcc_s_seh-1.dll) would be missing on the user's machine.
SYSTEM_DLLS=' kernel32.dll ws2_32.dll bcrypt.dll crypt32.dll advapi32.dll msvcrt.dll user32.dll
              secur32.dll ntdll.dll shell32.dll ole32.dll iphlpapi.dll normaliz.dll wldap32.dll '
for dll in $($HOST-objdump -p "$EXE" | awk '/DLL Name:/ { print tolower($3) }'); do
    case "$SYSTEM_DLLS" in
    *" $dll "*) ;;
    *) log "netcap-extcap.exe needs $dll, which Windows does not have"; exit 1 ;;
    esac
done

# The README in Windows line endings (Notepad before Windows 10 1809 shows LF as one line).
sed 's/\r*$/\r/' "$HERE/README.txt" >"$STAGE/README.txt"
for lib in curl cjson libyaml; do
    sed 's/\r*$/\r/' "$OUT/deps/licenses/$lib.txt" >"$STAGE/licenses/$lib.txt"
done
cp "$HERE/netcap-extcap.wxs" "$STAGE/"

MSI=$OUT/netcap-extcap-$VERSION-x64.msi
log "packaging $MSI"
wixl --arch x64 -D Version="$VERSION" -o "$MSI.tmp" "$STAGE/netcap-extcap.wxs"
mv "$MSI.tmp" "$MSI"
echo "$MSI"
