#!/usr/bin/env bash
# packaging/ci.sh — builds the kioskd .debs for amd64 and arm64, lints them,
# installs the amd64 ones on this machine, checks the result, then purges.
# One PASS/FAIL line per check, a closing "N passed, N failed" line, and a
# non-zero exit on any FAIL. Needs root (apt-get, dpkg). Safe to run again:
# it purges a kioskd left installed by an earlier run first, and leaves no
# service running (the installed unit is never started here: systemd is
# not PID 1 in CI, and the shipped config has no server.url anyway).
set -uo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
t0=$(date +%s)

passed=0 failed=0
log=$(mktemp); work=$(mktemp -d)
trap 'rm -rf "$log" "$work"' EXIT
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check NAME CMD...: runs CMD quietly; on failure shows the end of its output.
check() {
  local name=$1; shift
  if "$@" >"$log" 2>&1; then pass "$name"; else fail "$name"; tail -n 25 "$log" | sed 's/^/    /'; fi
}
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }

[ "$(id -u)" = 0 ] || { echo "FAIL: packaging/ci.sh must run as root"; exit 1; }

# --- Tools -------------------------------------------------------------------
step "tools"
tools=(lintian qemu-user binutils file dpkg-dev man-db systemd adduser util-linux)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
check "tools installed (${tools[*]})" dpkg-query -W "${tools[@]}"

# A kioskd left installed by an interrupted earlier run: purge it first.
for p in kioskd kioskd-dpsim; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed\|config-files"; then
    echo "purging $p left from an earlier run"
    apt-get purge -y -qq "$p" >/dev/null 2>&1 || dpkg --purge "$p" >/dev/null 2>&1 || true
  fi
done

# --- Build -------------------------------------------------------------------
V=$(packaging/version.sh)
R=1
DV="$V-$R"
echo "version: $DV"
step "build amd64"
check "build amd64 packages (make deb-amd64)" make --no-print-directory deb-amd64 DEB_UPSTREAM_VERSION="$V" DEB_REVISION=$R
step "build arm64 (cgo cross build)"
check "build arm64 packages (make deb-arm64)" make --no-print-directory deb-arm64 DEB_UPSTREAM_VERSION="$V" DEB_REVISION=$R

K64=dist/kioskd_${DV}_amd64.deb;  D64=dist/kioskd-dpsim_${DV}_amd64.deb
KA=dist/kioskd_${DV}_arm64.deb;   DA=dist/kioskd-dpsim_${DV}_arm64.deb
for f in "$K64" "$D64" "$KA" "$DA"; do
  check "package exists: $f" test -s "$f"
done
debs=()
for f in "$K64" "$D64" "$KA" "$DA"; do [ -s "$f" ] && debs+=("$f"); done

# --- lintian -------------------------------------------------------------------
step "lintian"
for f in "${debs[@]}"; do
  if lintian --allow-root --fail-on error,warning "$f" >"$log" 2>&1; then
    pass "lintian: no error or warning: $(basename "$f")"
  else
    fail "lintian: $(basename "$f")"
  fi
  sed 's/^/    /' "$log"
done

# --- Package contents ----------------------------------------------------------
step "contents"
contains() { # DEB PATH...: dpkg-deb -c lists every PATH
  local deb=$1 listing; shift
  listing=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
  for p in "$@"; do grep -qx "$p" <<<"$listing" || { echo "missing: $p"; return 1; }; done
}
kfiles=(/usr/bin/kioskd /usr/lib/systemd/system/kioskd.service /etc/kioskd/kioskd.yaml
        /usr/lib/udev/rules.d/60-kioskd-gpio.rules /usr/lib/modules-load.d/kioskd.conf
        /usr/share/man/man8/kioskd.8.gz /usr/share/bash-completion/completions/kioskd
        /usr/share/doc/kioskd/copyright
        /usr/share/doc/kioskd/changelog.Debian.gz /usr/share/lintian/overrides/kioskd)
dfiles=(/usr/bin/dpsim /usr/share/man/man1/dpsim.1.gz /usr/share/doc/kioskd-dpsim/copyright
        /usr/share/doc/kioskd-dpsim/changelog.Debian.gz)
for a in amd64 arm64; do
  k=dist/kioskd_${DV}_${a}.deb; d=dist/kioskd-dpsim_${DV}_${a}.deb
  [ -s "$k" ] || continue
  check "contents $a: kioskd has ${#kfiles[@]} expected files" contains "$k" "${kfiles[@]}"
  check "contents $a: kioskd-dpsim has ${#dfiles[@]} expected files" contains "$d" "${dfiles[@]}"
  check "contents $a: no token shipped" bash -c "! dpkg-deb -c '$k' | grep -q 'etc/kioskd/token'"
  check "contents $a: kioskd.yaml is a conffile, 0640, server.url empty" bash -c "
    dpkg-deb -e '$k' '$work/ctl-$a' && grep -qx /etc/kioskd/kioskd.yaml '$work/ctl-$a/conffiles' &&
    dpkg-deb -c '$k' | grep -q '^-rw-r----- .*etc/kioskd/kioskd.yaml\$' &&
    dpkg-deb --fsys-tarfile '$k' | tar -xO ./etc/kioskd/kioskd.yaml | grep -qx '  url: \"\"'"
  deps=$(dpkg-deb -f "$k" Depends)
  check "depends $a: kioskd: $deps" bash -c "
    for d in libc6 libvpx7 libopus0 libasound2 adduser; do grep -Eq \"(^|, )\$d( |,|\$)\" <<<'$deps' || { echo no \$d; exit 1; }; done"
  ddeps=$(dpkg-deb -f "$d" Depends)
  check "depends $a: kioskd-dpsim without libasound2: $ddeps" bash -c "
    grep -q libvpx7 <<<'$ddeps' && ! grep -q libasound2 <<<'$ddeps'"
  check "version $a: both packages are $DV" bash -c "
    [ \"\$(dpkg-deb -f '$k' Version)\" = '$DV' ] && [ \"\$(dpkg-deb -f '$d' Version)\" = '$DV' ] &&
    [ \"\$(dpkg-deb -f '$k' Architecture)\" = '$a' ]"
  check "version $a: '$DV' is a valid Debian version" dpkg --validate-version "$DV"
done

# Every Go module linked into the binaries has a Files: stanza in the
# copyright file (the build info lists them; a new dependency fails here).
copyright_covers() {
  local pats mod missing=()
  pats=$(sed -n 's/^Files: //p; s/^ \([a-z][^ ]*\/\*\)$/\1/p' packaging/copyright | tr ' ' '\n')
  for mod in $(for b in dist/.build/amd64/kioskd dist/.build/amd64/dpsim; do
                 go_bin=$(scripts/go.sh path); "$go_bin" version -m "$b" | awk '$1 == "dep" {print $2}'; done | sort -u); do
    local ok=0 p
    while read -r p; do [ -n "$p" ] && [ "$p" != "*" ] || continue; case "$mod/" in $p) ok=1; break ;; esac; done <<<"$pats"
    [ $ok = 1 ] || missing+=("$mod")
  done
  [ ${#missing[@]} = 0 ] || { echo "not in packaging/copyright: ${missing[*]}"; return 1; }
}
check "copyright: every linked Go module has a Files: stanza" copyright_covers

# --- arm64 binary under qemu ---------------------------------------------------
step "arm64 under qemu"
if [ -s "$KA" ]; then
  dpkg-deb -x "$KA" "$work/arm64"
  check "arm64: usr/bin/kioskd is an aarch64 ELF" bash -c "file '$work/arm64/usr/bin/kioskd' | grep -q 'ELF 64-bit LSB pie executable, ARM aarch64'"
  # Run with the arm64 system's own loader and libc (libc6:arm64, installed
  # through multiarch with the -dev libraries), as on a real arm64 Debian.
  # Not `qemu-aarch64 -L /usr/aarch64-linux-gnu` alone: that pairs the cross
  # toolchain's ld.so (libc6-arm64-cross) with libc6:arm64's libc.so.6, and
  # when their versions differ the first pthread_create spins forever.
  out=$(timeout -s KILL 120 qemu-aarch64 -L /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1 \
        "$work/arm64/usr/bin/kioskd" version 2>&1)
  echo "    $out"
  check "arm64: kioskd version under qemu-aarch64 prints $V (linux/arm64)" grep -q "^kioskd $V (.*linux/arm64)" <<<"$out"
else
  fail "arm64: no package to check"
fi

# --- Install amd64 -------------------------------------------------------------
step "install amd64"
if apt-get install -y "./$K64" "./$D64" >"$log" 2>&1; then
  pass "install: apt-get install ./kioskd_${DV}_amd64.deb ./kioskd-dpsim_${DV}_amd64.deb (Depends resolved)"
  grep -A6 "^kioskd:" "$log" | sed 's/^/    /'
else
  fail "install: apt-get install of the amd64 packages"; tail -n 30 "$log" | sed 's/^/    /'
fi
cp "$log" "$work/install.log"
check "install: postinst says the service waits for a configured server.url" bash -c "
  grep -q 'kioskd: enabled but not started until configured' '$work/install.log' &&
  grep -q 'server.url' '$work/install.log'"
out=$(/usr/bin/kioskd version 2>&1)
echo "    $out"
check "installed: /usr/bin/kioskd version prints $V" grep -q "^kioskd $V " <<<"$out"
check "installed: dpsim --help prints its usage" bash -c "dpsim --help 2>&1 | grep -q '^usage: dpsim'"
check "installed: bash completion /usr/share/bash-completion/completions/kioskd is what kioskd completion bash prints, and completes" bash -c "
  cmp /usr/share/bash-completion/completions/kioskd <(/usr/bin/kioskd completion bash) &&
  [ \"\$(bash -c 'compopt() { :; }; . /usr/share/bash-completion/completions/kioskd; COMP_WORDS=(kioskd leds id); COMP_CWORD=2; _kioskd; echo \"\${COMPREPLY[*]}\"')\" = identify ]"
check "installed: man pages kioskd(8) and dpsim(1) found by man" bash -c "man -w 8 kioskd && man -w 1 dpsim"
check "user: kioskd is a system user, home /var/lib/kioskd, shell nologin" bash -c "
  IFS=: read -r n _ uid _ _ home shell < <(getent passwd kioskd) &&
  [ \"\$uid\" -lt 1000 ] && [ \"\$home\" = /var/lib/kioskd ] && [ \"\$shell\" = /usr/sbin/nologin ]"
check "user: kioskd is in groups kioskd video audio gpio" bash -c "
  g=\" \$(id -nG kioskd) \"; for x in kioskd video audio gpio; do [[ \$g == *\" \$x \"* ]] || { echo \"not in \$x: \$g\"; exit 1; }; done"
check "config: /etc/kioskd/kioskd.yaml is root:kioskd 0640" bash -c "[ \"\$(stat -c %U:%G:%a /etc/kioskd/kioskd.yaml)\" = root:kioskd:640 ]"
check "config: /etc/kioskd/kioskd.yaml is a conffile of kioskd" bash -c "dpkg-query -W -f='\${Conffiles}' kioskd | grep -q '/etc/kioskd/kioskd.yaml '"
check "config: the drop-in directory /etc/kioskd/kioskd.yaml.d is root:root 0755, empty" bash -c "
  [ \"\$(stat -c %U:%G:%a /etc/kioskd/kioskd.yaml.d)\" = root:root:755 ] && [ -z \"\$(ls -A /etc/kioskd/kioskd.yaml.d)\" ]"
check "state: /var/lib/kioskd is kioskd:kioskd 0700" bash -c "[ \"\$(stat -c %U:%G:%a /var/lib/kioskd)\" = kioskd:kioskd:700 ]"
check "udev: 60-kioskd-gpio.rules installed" test -f /usr/lib/udev/rules.d/60-kioskd-gpio.rules
check "unit: enabled (multi-user.target.wants symlink)" test -L /etc/systemd/system/multi-user.target.wants/kioskd.service

UNIT=/usr/lib/systemd/system/kioskd.service
check "unit: systemd-analyze verify $UNIT" bash -c "
  out=\$(systemd-analyze verify '$UNIT' 2>&1); rc=\$?; echo \"\$out\"
  [ \$rc = 0 ] && ! grep -i 'kioskd' <<<\"\$out\" | grep -qiv 'man:'"
sec=$(systemd-analyze security --offline=true "$UNIT" 2>&1 | sed -n 's/.*Overall exposure level for kioskd.service: \([0-9.]*\).*/\1/p')
check "unit: systemd-analyze security exposure ${sec:-?} <= 2.0" awk -v s="${sec:-99}" 'BEGIN { exit !(s + 0 <= 2.0) }'
check "unit: Type=notify, User=kioskd, DevicePolicy=closed, WatchdogSec=20, ExecCondition check-config" bash -c "
  for l in Type=notify NotifyAccess=main User=kioskd Group=kioskd DevicePolicy=closed WatchdogSec=20 \
           'ExecStart=/usr/bin/kioskd run --config /etc/kioskd/kioskd.yaml' \
           'ExecCondition=/usr/bin/kioskd check-config --condition --config /etc/kioskd/kioskd.yaml' \
           'After=network-online.target sound.target time-set.target time-sync.target' \
           'DeviceAllow=char-video4linux rw' 'DeviceAllow=char-alsa rw' 'DeviceAllow=char-gpiochip rw' \
           'SupplementaryGroups=video audio gpio' SyslogIdentifier=kioskd; do
    grep -qxF \"\$l\" '$UNIT' || { echo \"missing: \$l\"; exit 1; }; done"

# The unit's start gate, as systemd would run it (as user kioskd): fails
# on the shipped config, passes once server.url and a token are set.
asuser() { setpriv --reuid=kioskd --regid=kioskd --init-groups "$@"; }
check "gate: shipped config -> check-config refuses (unit would not start)" bash -c "
  out=\$(setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --config /etc/kioskd/kioskd.yaml 2>&1)
  rc=\$?; echo \"\$out\"; [ \$rc != 0 ] && grep -q 'server.url' <<<\"\$out\""
# As an operator configures a kiosk: the shipped file untouched, the
# kiosk's settings in a drop-in (FILE.d/*.yaml).
g=$work/gate; mkdir -p "$g/kioskd.yaml.d"; chmod 0755 "$work" "$g" "$g/kioskd.yaml.d"
cp -p /etc/kioskd/kioskd.yaml "$g/kioskd.yaml"
printf 'server:\n  url: wss://dp.example.com/v1/session\n  token_file: %s\n' "$g/token" > "$g/kioskd.yaml.d/50-site.yaml"
printf 'ci-token-0123456789\n' > "$g/token"
chown root:kioskd "$g/token"; chmod 0640 "$g/token"; chmod 0644 "$g/kioskd.yaml.d/50-site.yaml"
check "gate: shipped file + drop-in with server.url + root:kioskd 0640 token -> check-config passes as user kioskd" asuser kioskd check-config --config "$g/kioskd.yaml"
check "gate: check-config --show names the drop-in's file and line for server.url, and never the token" bash -c "
  out=\$(setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --config '$g/kioskd.yaml' --show 2>&1); echo \"\$out\" | grep -E 'url:|token'
  grep -Eq '^  url: wss://dp.example.com/v1/session +# $g/kioskd.yaml.d/50-site.yaml:2\$' <<<\"\$out\" && ! grep -q ci-token-0123456789 <<<\"\$out\""
chmod 0600 "$g/token"
check "gate: token unreadable by kioskd -> check-config refuses" bash -c "! setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --config '$g/kioskd.yaml'"
check "gate: token unreadable by kioskd -> check-config --condition (the unit's) lets it start: the token may come as a credential" \
  setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --condition --config "$g/kioskd.yaml"
# A systemd credential, as LoadCredential= gives it (a private directory,
# the file the service's own), is read although token_file is unreadable.
mkdir -p "$g/creds"; printf 'ci-credential-0123456789\n' > "$g/creds/kioskd-token"
chown -R kioskd:kioskd "$g/creds"; chmod 0500 "$g/creds"; chmod 0400 "$g/creds/kioskd-token"
check "credential: CREDENTIALS_DIRECTORY/kioskd-token -> check-config passes as user kioskd, --show says so" bash -c "
  out=\$(CREDENTIALS_DIRECTORY='$g/creds' setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --config '$g/kioskd.yaml' --show 2>&1); rc=\$?
  echo \"\$out\" | tail -n 1; [ \$rc = 0 ] && grep -q '^# token: systemd credential kioskd-token (never shown)' <<<\"\$out\" && ! grep -q ci-credential <<<\"\$out\""
chmod 0644 "$g/token"
check "token file readable by every user -> check-config warns (once, no token)" bash -c "
  out=\$(setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --config '$g/kioskd.yaml' 2>&1); rc=\$?; echo \"\$out\"
  [ \$rc = 0 ] && [ \"\$(grep -c 'warning: server.token_file $g/token is readable by every user' <<<\"\$out\")\" = 1 ] && ! grep -q ci-token <<<\"\$out\""

# --- Upgrade with a changed conffile ------------------------------------------
# The next release changes the shipped kioskd.yaml; the kiosk has its own
# settings in a drop-in and the conffile as shipped. dpkg replaces an
# unchanged conffile without asking, so the upgrade must go through with
# no terminal at all (stdin at EOF) and keep the operator's settings.
step "upgrade with a changed conffile"
# repack DEB VERSION NOTE OUT: the same package as version VERSION, its
# kioskd.yaml changed (a comment added, as a release's edit would be).
repack() {
  local deb=$1 ver=$2 note=$3 out=$4 root; root=$(mktemp -d "$work/repack.XXXX")
  dpkg-deb -R "$deb" "$root" &&
  printf '# %s\n' "$note" >> "$root/etc/kioskd/kioskd.yaml" &&
  sed -i "s/^Version: .*/Version: $ver/" "$root/DEBIAN/control" &&
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums) &&
  dpkg-deb --root-owner-group -Zxz -b "$root" "$out" >/dev/null
}
V2="$V-2"; V3="$V-3"; K2=$work/kioskd_${V2}_amd64.deb; K3=$work/kioskd_${V3}_amd64.deb
check "upgrade: build $V2 and $V3, each with a changed kioskd.yaml (dpkg-deb repack)" bash -c "
  $(declare -f repack); work='$work'
  repack '$K64' '$V2' 'changed in $V2' '$K2' && repack '$K2' '$V3' 'changed in $V3' '$K3' &&
  ! cmp -s <(dpkg-deb --fsys-tarfile '$K64' | tar -xO ./etc/kioskd/kioskd.yaml) <(dpkg-deb --fsys-tarfile '$K2' | tar -xO ./etc/kioskd/kioskd.yaml)"
SITE=/etc/kioskd/kioskd.yaml.d/50-site.yaml
printf 'server:\n  url: wss://dp.fleet.example/v1/session\nmedia:\n  fps: 12\n' > "$SITE"
printf 'ci-token-0123456789\n' > /etc/kioskd/token; chown root:kioskd /etc/kioskd/token; chmod 0640 /etc/kioskd/token
site_sum=$(sha256sum "$SITE")
effective() { setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --show 2>&1; }
check "upgrade: before, the operator's drop-in configures the kiosk (check-config passes)" bash -c "
  $(declare -f effective); out=\$(effective) && grep -Eq '^  url: wss://dp.fleet.example/v1/session +# $SITE:2\$' <<<\"\$out\""
# upgraded VER: installed at VER, configured, the new conffile in place, no
# .dpkg-* copies, the drop-in untouched and still in force.
upgraded() {
  local ver=$1
  [ "$(dpkg-query -W -f='${Status} ${Version}' kioskd)" = "install ok installed $ver" ] || { echo "status: $(dpkg-query -W -f='${Status} ${Version}' kioskd)"; return 1; }
  grep -qx "# changed in $ver" /etc/kioskd/kioskd.yaml || { echo "conffile not replaced"; return 1; }
  ! ls /etc/kioskd/*.dpkg-* 2>/dev/null | grep -q . || { echo "left: $(ls /etc/kioskd/*.dpkg-*)"; return 1; }
  [ "$(stat -c %U:%G:%a /etc/kioskd/kioskd.yaml)" = root:kioskd:640 ] || { echo "conffile mode $(stat -c %U:%G:%a /etc/kioskd/kioskd.yaml)"; return 1; }
  [ "$(sha256sum "$SITE")" = "$site_sum" ] || { echo "drop-in changed"; return 1; }
  out=$(effective) || { echo "$out"; return 1; }
  grep -Eq "^  url: wss://dp.fleet.example/v1/session +# $SITE:2\$" <<<"$out" && grep -Eq "^  fps: 12 +# $SITE:4\$" <<<"$out" ||
    { echo "$out"; return 1; }
}
check "upgrade: DEBIAN_FRONTEND=noninteractive apt-get install ./kioskd_${V2}_amd64.deb </dev/null" bash -c "
  DEBIAN_FRONTEND=noninteractive apt-get install -y '$K2' </dev/null"
check "upgrade: $V2 installed, new conffile, drop-in kept and in force" bash -c "SITE='$SITE' site_sum='$site_sum'; $(declare -f effective upgraded); upgraded '$V2'"
check "upgrade: dpkg -i ./kioskd_${V3}_amd64.deb with no terminal (stdin at EOF, no DEBIAN_FRONTEND)" bash -c "
  env -u DEBIAN_FRONTEND dpkg -i '$K3' </dev/null"
check "upgrade: $V3 installed, new conffile, drop-in kept and in force" bash -c "SITE='$SITE' site_sum='$site_sum'; $(declare -f effective upgraded); upgraded '$V3'"
# The control: the old way (the url edited into the conffile) stops this
# very upgrade at dpkg's prompt, so the checks above would catch a return to it.
V4="$V-4"; K4=$work/kioskd_${V4}_amd64.deb
cp -p /etc/kioskd/kioskd.yaml "$work/conffile.bak"
sed -i 's|^  url: "".*|  url: wss://dp.fleet.example/v1/session|' /etc/kioskd/kioskd.yaml
check "control: with the conffile edited instead, dpkg -i with no terminal stops at the conffile prompt" bash -c "
  $(declare -f repack); work='$work'; repack '$K3' '$V4' 'changed in $V4' '$K4' || exit 2
  out=\$(env -u DEBIAN_FRONTEND dpkg -i '$K4' </dev/null 2>&1); rc=\$?; echo \"\$out\" | tail -n 3
  [ \$rc != 0 ] && grep -q 'end of file on stdin at conffile prompt' <<<\"\$out\""
# Put the kiosk back: configure keeping the edited file, then restore it.
dpkg --configure --force-confold -a </dev/null >/dev/null 2>&1
cp -p "$work/conffile.bak" /etc/kioskd/kioskd.yaml
rm -f /etc/kioskd/kioskd.yaml.dpkg-*
check "control: recovered (dpkg --configure --force-confold), kioskd $V4 installed" bash -c "
  [ \"\$(dpkg-query -W -f='\${Status} \${Version}' kioskd)\" = 'install ok installed $V4' ]"

check "not started: no process runs as kioskd" bash -c "! pgrep -u kioskd -l"
check "not started: no /run/kioskd/status.sock" test ! -e /run/kioskd/status.sock

# --- Purge ---------------------------------------------------------------------
step "purge"
check "purge: apt-get purge kioskd kioskd-dpsim" apt-get purge -y kioskd kioskd-dpsim
check "purge: packages gone from dpkg's database" bash -c "! dpkg-query -W -f='\${Status}\n' kioskd kioskd-dpsim 2>/dev/null | grep -q ."
left=()
for p in /etc/kioskd /var/lib/kioskd /run/kioskd /usr/bin/kioskd /usr/bin/dpsim "$UNIT" /lib/systemd/system/kioskd.service \
         /etc/systemd/system/multi-user.target.wants/kioskd.service /usr/lib/udev/rules.d/60-kioskd-gpio.rules \
         /usr/lib/modules-load.d/kioskd.conf /usr/share/doc/kioskd /usr/share/doc/kioskd-dpsim \
         /var/lib/systemd/deb-systemd-helper-enabled/kioskd.service.dsh-also \
         /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/kioskd.service; do
  [ -e "$p" ] || [ -L "$p" ] && left+=("$p")
done
check "purge: nothing left (config, state, unit, enablement, udev rule)" bash -c "[ ${#left[@]} = 0 ] || { echo 'left: ${left[*]}'; exit 1; }"
echo "    kept by policy: user $(getent passwd kioskd | cut -d: -f1,3) and groups kioskd, gpio (Debian removes no system user on purge)"
check "no kioskd process left running" bash -c "! pgrep -x kioskd -l && ! pgrep -x dpsim -l"

echo "packaging/ci.sh: $(( $(date +%s) - t0 )) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
