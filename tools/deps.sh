# Sourced by tools/run-main.sh and tools/run-tests.sh (POSIX sh).
# ktx_ensure_packages PKG...: installs the Debian packages that are missing, and nothing
# when all are present (apt-get update runs only when something must be installed).
ktx_ensure_packages() {
    missing=""
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $pkg"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "kafkatx: installing Debian packages:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "kafkatx: run as root (or install them yourself):$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Build tools and the library's own dependencies.
KTX_BUILD_PACKAGES="gcc make autoconf automake libtool pkg-config libc6-dev \
libssl-dev libsasl2-dev libkrb5-dev libzstd-dev libsqlite3-dev check"
# Test-only peers and tools: librdkafka (mock cluster, reference client), kcat, clang and
# its sanitizer runtime for libFuzzer, valgrind, openssl for test certificates, Cyrus SASL's
# server-side plugins and saslpasswd2 (an independent SASL/SCRAM implementation), and an MIT
# Kerberos KDC for the GSSAPI test.
KTX_TEST_PACKAGES="librdkafka-dev kcat clang libclang-rt-14-dev valgrind openssl \
sasl2-bin libsasl2-modules libsasl2-modules-gssapi-mit krb5-kdc krb5-admin-server krb5-user"

# ktx_bootstrap: regenerates the autotools files when configure is missing or stale.
ktx_bootstrap() {
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
        echo "kafkatx: autoreconf -fi"
        autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
    fi
}

# ktx_configure DIR [configure args...]: configures an out-of-tree build in DIR (once).
ktx_configure() {
    dir=$1
    shift
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/config.status" ]; then
        (cd "$dir" && "$KTX_TOP/configure" -q "$@")
    fi
}

KTX_JOBS=$(nproc 2>/dev/null || echo 2)
