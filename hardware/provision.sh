#!/usr/bin/env bash
# Provision a fieldkit truck: install fieldkit, create the node (its key), join the fleet,
# install the systemd units, udev rules, gpsd and chrony settings. Idempotent: run it
# again and it changes only what is missing.
#
#   hardware/provision.sh --name T07 --venv-from /media/usb/fieldkit-venv --usb /media/usb
#   hardware/provision.sh --name T07 --wheels /media/usb/wheelhouse \
#       --hq-url https://hq.example:8470 --hq-name HQ --hq-key BASE64KEY --apt
#   hardware/provision.sh --root /tmp/truck --name T07 --venv-from .venv    (a dry root)
#
# Nothing is fetched from a network: fieldkit comes from a wheelhouse (pip --no-index) or
# a copy of a ready venv. With --root other than /, nothing outside that root is touched
# (no apt, no user, no systemctl/udevadm): the tree is ready for `chroot` or an image.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'

options:
  --name NAME        node name, unique in the fleet (required)
  --root DIR         install into this root (default /)
  --prefix DIR       where fieldkit's venv goes, inside the root (default /opt/fieldkit)
  --node-dir DIR     node directory, inside the root (default /var/lib/fieldkit)
  --venv-from DIR    copy this ready venv (fieldkit installed in it)
  --wheels DIR       or install from this wheelhouse, offline (pip --no-index)
  --python EXE       Python >= 3.11 that makes the venv with --wheels (default python3)
  --profile FILE     the truck's hardware profile, kept as PREFIX/profile.toml
  --usb DIR          join the fleet from this mounted stick (fieldkit/roster.json)
  --hq-url URL       or join from HQ's address, with --hq-name and --hq-key
  --hq-name NAME     HQ's node name
  --hq-key KEY       HQ's base64 public key
  --apt              apt-get install the Debian packages first (only with --root /)
EOF
}

ROOT=/ PREFIX=/opt/fieldkit NODE_DIR=/var/lib/fieldkit NAME="" VENV_FROM="" WHEELS=""
PYTHON=python3 PROFILE="" USB="" HQ_URL="" HQ_NAME="" HQ_KEY="" APT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME=$2; shift 2 ;;
        --root) ROOT=$2; shift 2 ;;
        --prefix) PREFIX=$2; shift 2 ;;
        --node-dir) NODE_DIR=$2; shift 2 ;;
        --venv-from) VENV_FROM=$2; shift 2 ;;
        --wheels) WHEELS=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --profile) PROFILE=$2; shift 2 ;;
        --usb) USB=$2; shift 2 ;;
        --hq-url) HQ_URL=$2; shift 2 ;;
        --hq-name) HQ_NAME=$2; shift 2 ;;
        --hq-key) HQ_KEY=$2; shift 2 ;;
        --apt) APT=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "provision: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "provision: $*" >&2; exit 1; }
say() { echo "provision: $*"; }

[ -n "$NAME" ] || die "--name is required"
[[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]] || die "--name $NAME: 1-32 letters, digits, - or _"
[ -n "$VENV_FROM" ] || [ -n "$WHEELS" ] || die "give --venv-from DIR or --wheels DIR"
if [ -n "$HQ_URL" ] && [ -z "$USB" ] && { [ -z "$HQ_NAME" ] || [ -z "$HQ_KEY" ]; }; then
    die "--hq-url needs --hq-name and --hq-key (a URL alone is not a trust anchor)"
fi
[ -d "$ROOT" ] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
R=${ROOT%/}                       # "" for the real root
VENV=$R$PREFIX/venv
NODE=$R$NODE_DIR
FIELDKIT=$VENV/bin/fieldkit

if [ "$APT" = 1 ]; then
    [ -z "$R" ] || die "--apt only with --root / (use chroot for another root)"
    say "installing Debian packages"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv gpsd gpsd-clients chrony
fi

# --- 1. fieldkit itself ------------------------------------------------------------------
if [ -x "$FIELDKIT" ] && "$FIELDKIT" --version >/dev/null 2>&1; then
    say "fieldkit already installed in $VENV"
elif [ -n "$VENV_FROM" ]; then
    [ -x "$VENV_FROM/bin/python" ] || die "--venv-from $VENV_FROM has no bin/python"
    SRC=$(cd "$VENV_FROM" && pwd)
    say "copying the venv $SRC to $VENV"
    mkdir -p "$(dirname "$VENV")"
    rm -rf "$VENV.partial"
    cp -a "$SRC" "$VENV.partial"
    # Scripts name their interpreter by absolute path: point them at the copy.
    grep -rlI --null "^#!$SRC/bin/" "$VENV.partial/bin" 2>/dev/null \
        | xargs -0 -r sed -i "1s|^#!$SRC/bin/|#!$VENV/bin/|"
    grep -lI --null "$SRC" "$VENV.partial"/bin/activate* 2>/dev/null \
        | xargs -0 -r sed -i "s|$SRC|$VENV|g"
    mv "$VENV.partial" "$VENV"
else
    [ -d "$WHEELS" ] || die "--wheels $WHEELS is not a directory"
    say "installing fieldkit from the wheelhouse $WHEELS"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --no-index --find-links "$WHEELS" fieldkit
fi
"$FIELDKIT" --version >/dev/null || die "$FIELDKIT does not run"
mkdir -p "$R/usr/local/bin"
ln -sfn "$PREFIX/venv/bin/fieldkit" "$R/usr/local/bin/fieldkit"
mkdir -p "$R$PREFIX"
cp "$HERE/README.md" "$R$PREFIX/README.md"
if [ -n "$PROFILE" ]; then
    "$FIELDKIT" hardware budget "$PROFILE" >/dev/null  # refuse an invalid profile
    cp "$PROFILE" "$R$PREFIX/profile.toml"
fi

# --- 2. the node: key, token, config -----------------------------------------------------
if [ -f "$NODE/fieldkit.toml" ]; then
    say "node directory $NODE already initialised"
else
    "$FIELDKIT" init --role truck --name "$NAME" --dir "$NODE"
fi
if ! grep -q '^\[hardware\]' "$NODE/fieldkit.toml"; then
    cat >> "$NODE/fieldkit.toml" <<'EOF'

[hardware]
# Added by hardware/provision.sh: the truck's position from gpsd (127.0.0.1:2947) and
# health incidents (disk nearly full, overheating, on battery, clock unsynchronised).
gps = true
health = true
EOF
fi

# --- 3. the fleet ------------------------------------------------------------------------
if [ -n "$USB" ]; then
    "$FIELDKIT" sync join --dir "$NODE" --usb "$USB" \
        ${HQ_URL:+--hq-url "$HQ_URL"} ${HQ_KEY:+--hq-key "$HQ_KEY"}
elif [ -n "$HQ_URL" ]; then
    "$FIELDKIT" sync join --dir "$NODE" --hq-url "$HQ_URL" --hq-name "$HQ_NAME" \
        --hq-key "$HQ_KEY"
else
    say "no --usb or --hq-url: join the fleet later with \`fieldkit sync join\`"
fi

# --- 4. boot: units, udev, users, gpsd, chrony -------------------------------------------
install_file() {  # SRC DEST: copy with the paths of this install
    mkdir -p "$(dirname "$2")"
    sed -e "s|/opt/fieldkit|$PREFIX|g" -e "s|/var/lib/fieldkit|$NODE_DIR|g" "$1" > "$2.tmp"
    mv "$2.tmp" "$2"
}
for unit in fieldkit-node.service fieldkit-console.service; do
    install_file "$HERE/systemd/$unit" "$R/etc/systemd/system/$unit"
    mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
    ln -sfn "/etc/systemd/system/$unit" "$R/etc/systemd/system/multi-user.target.wants/$unit"
done
install_file "$HERE/udev/70-fieldkit.rules" "$R/etc/udev/rules.d/70-fieldkit.rules"
install_file "$HERE/sysusers.d/fieldkit.conf" "$R/usr/lib/sysusers.d/fieldkit.conf"
install_file "$HERE/tmpfiles.d/fieldkit.conf" "$R/usr/lib/tmpfiles.d/fieldkit.conf"
install_file "$HERE/gpsd/gpsd.default" "$R/etc/default/gpsd"
install_file "$HERE/chrony/fieldkit-gps.conf" "$R/etc/chrony/conf.d/fieldkit-gps.conf"

if [ -z "$R" ]; then
    # On the running system: make the user now, and let udev and systemd see the files
    # (reloads fail harmlessly where systemd is not running, e.g. in a container).
    if command -v systemd-sysusers >/dev/null; then systemd-sysusers; fi
    if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create fieldkit.conf; fi
    if command -v udevadm >/dev/null; then udevadm control --reload || true; fi
    if command -v systemctl >/dev/null; then systemctl daemon-reload || true; fi
fi
say "truck $NAME ready in ${R:-/}: node $NODE_DIR, fieldkit $PREFIX/venv; power up to start"
