#!/usr/bin/env bash
# build.sh - build the netcap-agent container image with podman (packaging/container/Containerfile).
#
#   bash packaging/container/build.sh [--rebuild-base] [--no-cache] [--tag IMAGE] [--podman-flags]
#
# Run as root from anywhere in a clone; the build context is the repository root (what goes into it
# is filtered by /.containerignore). Steps:
#   1. installs what is missing (podman and what it needs, debootstrap), checked with dpkg-query;
#   2. the base image localhost/debian:bookworm-slim, made once and then reused: a Debian 12
#      `debootstrap --variant=minbase` root, slimmed the way the official bookworm-slim image is
#      (no docs, man pages or locales; no apt lists or .deb cache), imported with `podman import`.
#      No registry is needed for it; --rebuild-base makes it again;
#   3. `podman build` of the multi-stage Containerfile, tagged localhost/netcap-agent:<version>
#      (the version from the top-level CMakeLists.txt) unless --tag says otherwise. Unchanged
#      sources reuse podman's layer cache, so a second run takes seconds;
#   4. prints the image's name, size and the time the build took.
#
# Some machines need podman flags beyond the defaults (a sandbox without CAP_SYS_RESOURCE cannot
# raise rlimits to podman's defaults; crun refuses hybrid cgroup v1/v2 hosts): build.sh finds a
# combination that starts a container (step 2b) and uses it. `build.sh --podman-flags` prints it
# (line 1: global flags, line 2: flags for run/build) for tests/packaging/test_container.py.
#
# Environment: NETCAP_DEBIAN_MIRROR / NETCAP_DEBIAN_SECURITY_MIRROR override the Debian mirrors
# (default: the ones this machine's apt uses); NETCAP_BASE_IMAGE the base image's name.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
base=${NETCAP_BASE_IMAGE:-localhost/debian:bookworm-slim}
# Bump when the base recipe below changes: an image with another recipe label is made again.
base_recipe=2

rebuild_base=0
no_cache=()
tag=
print_flags=0
while [ $# -gt 0 ]; do
    case $1 in
        --rebuild-base) rebuild_base=1 ;;
        --no-cache) no_cache=(--no-cache) ;;
        --tag) tag=$2; shift ;;
        --tag=*) tag=${1#--tag=} ;;
        --podman-flags) print_flags=1 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf 'build.sh: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "run as root (podman's root storage, debootstrap)"
    exit 2
fi

# ---- 1. tools
need=(podman crun runc conmon catatonit uidmap fuse-overlayfs slirp4netns netavark debootstrap
      golang-github-containers-common)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq -o DPkg::Lock::Timeout=600
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian mirrors apt uses here (deb822 .sources or one-line sources.list), else deb.debian.org.
apt_uri() { # $1: suite to look for
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v suite="$1" '
            /^[[:space:]]*$/ { if (uri != "" && hit) { print uri; exit } uri = ""; hit = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
            END { if (uri != "" && hit) print uri }' "$f" | head -n1
    done
    if [ -r /etc/apt/sources.list ]; then
        awk -v suite="$1" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }' /etc/apt/sources.list
    fi
}
mirror=${NETCAP_DEBIAN_MIRROR:-$(apt_uri bookworm | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${NETCAP_DEBIAN_SECURITY_MIRROR:-$(apt_uri bookworm-security | head -n1)}
security=${security:-http://deb.debian.org/debian-security}

# ---- 2. the base image
have_base() {
    podman image exists "$base" &&
        [ "$(podman image inspect --format '{{index .Labels "io.netcap.base-recipe"}}' "$base" 2>/dev/null)" = "$base_recipe" ]
}
if [ $rebuild_base = 1 ] || ! have_base; then
    t0=$(date +%s)
    work=$(mktemp -d /var/tmp/netcap-base.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    root=$work/rootfs
    log "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
    if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        log "debootstrap failed"
        exit 1
    fi
    # What the official debian:bookworm-slim does (debuerreotype's slimify and its apt settings).
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# As in debian:*-slim: no documentation, man pages or translations in the image.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
    # Bring the base up to the point releases and security updates, as the official image is.
    log "apt-get upgrade in the base"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade >/dev/null && apt-get clean' \
        >>"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; log "upgrade failed"; exit 1; }
    # What the path-excludes would have kept out had they been there from the start.
    find "${root:?}/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "${root:?}/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "${root:?}"/usr/share/{man,info,groff,linda,locale}/* "${root:?}"/usr/share/lintian/overrides/*
    rm -rf "${root:?}"/var/lib/apt/lists/* "${root:?}"/var/cache/apt/* "${root:?}"/var/cache/debconf/*-old \
           "${root:?}"/var/log/* "${root:?}"/tmp/* "${root:?}"/var/tmp/* "${root:?}"/dev/* "${root:?}"/proc/* "${root:?}"/sys/* \
           "${root:?}"/run/* "${root:?}"/debootstrap
    : >"$root/etc/machine-id" 2>/dev/null || true
    mkdir -p "$root"/var/log/apt
    log "importing $base"
    podman rmi -f "$base" >/dev/null 2>&1 || true
    tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -c . |
        podman import \
            --change 'CMD ["bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL io.netcap.base-recipe=$base_recipe" \
            --change "LABEL io.netcap.base-mirror=$mirror" \
            --message "debootstrap --variant=minbase bookworm, slimmed" \
            - "$base" >/dev/null
    rm -rf "$work"
    trap - EXIT
    log "base image $base made in $(( $(date +%s) - t0 )) s"
else
    log "reusing base image $base"
fi

# ---- 2b. podman flags that work on this machine
# Defaults first; else runc (crun refuses hybrid cgroups) with rlimits no higher than ours.
podman_global=()
podman_run=()
starts() { podman "${podman_global[@]}" run --rm --network none "${podman_run[@]}" "$base" true >/dev/null 2>&1; }
if ! starts; then
    found=0
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nofile" -gt 1048576 ] && nofile=1048576
    nproc_hard=$(ulimit -Hu); [ "$nproc_hard" = unlimited ] && nproc_hard=1048576
    for runtime in "" runc crun; do
        for nproc in "$nproc_hard" 32768 16384 4096; do
            [ "$nproc" -le "$nproc_hard" ] || continue
            podman_global=(${runtime:+--runtime "$runtime"})
            podman_run=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
            if starts; then found=1; break 2; fi
        done
    done
    if [ $found = 0 ]; then
        podman run --rm --network none "$base" true >&2 || true
        log "podman cannot start a container here (see the error above)"
        exit 1
    fi
fi
if [ $print_flags = 1 ]; then
    echo "${podman_global[*]}"
    echo "${podman_run[*]}"
    exit 0
fi
if [ ${#podman_global[@]} -gt 0 ] || [ ${#podman_run[@]} -gt 0 ]; then
    log "podman needs here: ${podman_global[*]} ... ${podman_run[*]}"
fi

# ---- 3. the agent image
version=$(sed -n 's/^project(netcap VERSION \([0-9][0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
[ -n "$version" ] || { log "no version in CMakeLists.txt"; exit 1; }
tag=${tag:-localhost/netcap-agent:$version}
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain 2>/dev/null | head -n1)" ]; then
    revision=$revision-dirty
fi

log "podman build -t $tag (context $repo)"
t0=$(date +%s)
sleep 1  # so that the prune below keeps every layer this build makes or reuses
cd "$repo"
# --network host: the RUN apt-get steps reach the Debian mirror the host reaches; --pull=never:
# the base is local and there is no registry to ask. VERSION and REVISION are used only by the
# last steps of the Containerfile, so a new commit alone redoes nothing but the labels.
podman "${podman_global[@]}" build --network host --pull=never "${podman_run[@]}" "${no_cache[@]}" \
    --build-arg BASE="$base" \
    --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" \
    -f packaging/container/Containerfile -t "$tag" .
took=$(( $(date +%s) - t0 ))
# The untagged leftovers of earlier builds (a build stage is ~300 MB); the layers this build used
# have children made now and stay, so the next build of unchanged sources is still all cache.
podman "${podman_global[@]}" image prune -f --filter "until=$t0" >/dev/null 2>&1 || true

# ---- 4. report
size=$(podman image inspect --format '{{.Size}}' "$tag")
printf 'image %s: %s bytes (%s MB), built in %s s\n' "$tag" "$size" "$(( (size + 500000) / 1000000 ))" "$took"
