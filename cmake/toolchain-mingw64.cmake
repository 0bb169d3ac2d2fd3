# toolchain-mingw64.cmake - cross-build for 64-bit Windows with Debian's mingw-w64
# (gcc-mingw-w64-x86-64). Used by packaging/windows/build-msi.sh and build-deps.sh:
#
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw64.cmake \
#         [-DNETCAP_WIN_DEPS=/path/to/deps]
#
# NETCAP_WIN_DEPS is the prefix build-deps.sh fills with static libcurl, cJSON and libyaml
# (default: build-win/deps in this repository). pkg-config is pointed at its .pc files alone,
# so nothing of the build machine's own (Linux) libraries can leak into the Windows build.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(NETCAP_MINGW_HOST x86_64-w64-mingw32)
# The win32 thread model: the runtime needs no libwinpthread-1.dll next to the .exe.
set(CMAKE_C_COMPILER ${NETCAP_MINGW_HOST}-gcc-win32)
set(CMAKE_RC_COMPILER ${NETCAP_MINGW_HOST}-windres)
set(CMAKE_AR ${NETCAP_MINGW_HOST}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${NETCAP_MINGW_HOST}-ranlib CACHE FILEPATH "")

if(NOT NETCAP_WIN_DEPS)
  if(DEFINED ENV{NETCAP_WIN_DEPS})
    set(NETCAP_WIN_DEPS "$ENV{NETCAP_WIN_DEPS}")
  else()
    get_filename_component(NETCAP_WIN_DEPS "${CMAKE_CURRENT_LIST_DIR}/../build-win/deps" ABSOLUTE)
  endif()
endif()
# try_compile() projects read this file again; hand them the same prefix.
set(ENV{NETCAP_WIN_DEPS} "${NETCAP_WIN_DEPS}")

set(CMAKE_FIND_ROOT_PATH /usr/${NETCAP_MINGW_HOST} ${NETCAP_WIN_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The build machine's pkg-config, reading only the cross-built .pc files.
set(ENV{PKG_CONFIG_LIBDIR} "${NETCAP_WIN_DEPS}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# One self-contained .exe: libgcc and the mingw runtime linked in, so Windows needs nothing but
# its own system DLLs to run it.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
