# Shared by the scripts in this directory: sourced, not run.

# Go lives in /usr/local/go on the machines this project targets.
export PATH="$PATH:/usr/local/go/bin"

_apt_updated=""

# need_packages PKG... installs the Debian packages that are missing.
need_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
    return 1
  fi
  echo "installing ${missing[*]}" >&2
  if [ -z "$_apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

need_go() {
  command -v go >/dev/null || { echo "Go is not installed (expected in /usr/local/go)" >&2; return 1; }
}
