# Fleet checks of issue 16, items 1, 6, 9 and 10 (sourced by system.sh,
# section 7b, with kioskd running and Connected as $SID):
#   - the kiosk's settings in a drop-in, the shipped conffile as shipped;
#   - the token through LoadCredential= in a unit drop-in (the token file
#     itself unreadable by kioskd), the start line's identity;
#   - an upgrade whose conffile changed, non-interactive, keeping the
#     drop-ins;
#   - systemctl reload applying a changed drop-in (a new LED profile, on a
#     second gpio-sim chip) without dropping the session;
#   - the unit ordered after time-sync.target.
# It puts things back as it found them (the config in $CFG, the token file
# readable by group kioskd, no unit drop-in, the traffic light), and leaves
# kioskd running and Connected with the same SESSION_ID.

FC_DROPINS=/etc/kioskd/kioskd.yaml.d
FC_SITE=$FC_DROPINS/50-vmtest.yaml
FC_UNIT_DROPIN=/etc/systemd/system/kioskd.service.d/50-credential.conf

# fc_connected_again CURSOR: a Connected line of $SID after CURSOR.
fc_connected_again() { connected_after "$1" "$SID"; }

fc_unit_order() {
  local after; after=$(systemctl show -p After --value kioskd)
  check fleet-config-time-sync "unit After= has time-set.target and time-sync.target (passive: not in Wants=): $(tr ' ' '\n' <<<"$after" | grep -E 'time-s|network-online' | tr '\n' ' ')" \
    bash -c "grep -qw time-sync.target <<<'$after' && grep -qw time-set.target <<<'$after' && ! systemctl show -p Wants --value kioskd | grep -qw time-sync.target"
}

fc_run() {
  local deb c p0 v0 out site_sum shipped
  deb=$(ls "$VT_IN"/payload/kioskd_*.deb 2>/dev/null | head -1)
  v0=$(dpkg-query -W -f='${Version}' kioskd)

  # ---- the kiosk's settings in a drop-in; the conffile as shipped ----------
  install -d -m 0755 "$FC_DROPINS"
  install -m 0644 "$CFG" "$FC_SITE"
  cp -p "$CFG" /tmp/fc-config.bak
  # cat into the existing file: it keeps root:kioskd 0640.
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/kioskd/kioskd.yaml >"$CFG"
  out=$(setpriv --reuid=kioskd --regid=kioskd --init-groups kioskd check-config --show 2>&1)
  if ! dpkg --verify kioskd 2>&1 | grep -q kioskd.yaml &&
     grep -Eq "^  url: ws://127.0.0.1:8443/v1/session +# $FC_SITE:3\$" <<<"$out" && grep -q '^  url: ""' "$CFG"; then
    pass fleet-config-dropin "$CFG as shipped (dpkg --verify: unmodified), the kiosk's settings in $FC_SITE; check-config --show: $(grep -E '^  url:' <<<"$out" | tr -s ' ')"
  else
    fail fleet-config-dropin "dpkg --verify: $(dpkg --verify kioskd 2>&1 | tr '\n' ' '); check-config --show: $(head -c 600 <<<"$out" | tr '\n' ' ')"
  fi

  # A second gpio-sim chip with the four lines of the bar profile, for the
  # reload below. Made now: kioskd finds GPIO chips once, at its first LED
  # open (periph's host.Init), and the restarts below make it look again.
  # The traffic light's chip (section 8's view of it) is kept aside.
  local keep_chip=$GPIOSIM_CHIP keep_sysfs=$GPIOSIM_SYSFS keep_lines=("${GPIOSIM_LINES[@]}") bar_sysfs=""
  if make_gpiosim bar bar-1 bar-2 bar-3 bar-4; then
    bar_sysfs=$GPIOSIM_SYSFS
  fi
  GPIOSIM_CHIP=$keep_chip GPIOSIM_SYSFS=$keep_sysfs GPIOSIM_LINES=("${keep_lines[@]}")

  # ---- the token as a systemd credential, and an upgrade ---------------------
  # The token file becomes root:root 0600: kioskd cannot read it itself,
  # only through LoadCredential= (systemd reads it as root). The credential
  # applies from the next start, which is the upgrade's: postinst restarts
  # kioskd (one reconnect for both, the VM's time is short).
  chown root:root /etc/kioskd/token; chmod 0600 /etc/kioskd/token
  install -D -m 0644 /dev/null "$FC_UNIT_DROPIN"
  printf '[Service]\nLoadCredential=kioskd-token:/etc/kioskd/token\n' >"$FC_UNIT_DROPIN"
  systemctl daemon-reload

  # The next release, its conffile changed: the same package repacked with
  # a comment added to kioskd.yaml and a higher version (-Znone: quick
  # under TCG), installed with no terminal at all (stdin at EOF).
  local root v1 v2deb rc
  v1="$v0+fleet1"; root=$(mktemp -d); v2deb=/tmp/kioskd_${v1}.deb
  dpkg-deb -R "$deb" "$root" &&
    printf '# changed in %s\n' "$v1" >>"$root/etc/kioskd/kioskd.yaml" &&
    sed -i "s/^Version: .*/Version: $v1/" "$root/DEBIAN/control" &&
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums) &&
    dpkg-deb --root-owner-group -Znone -b "$root" "$v2deb" >/dev/null
  rm -rf "$root"
  site_sum=$(sha256sum "$FC_SITE")
  c=$(cursor); p0=$(mainpid)
  out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y "$v2deb" </dev/null 2>&1); rc=$?
  local connected=no
  wait_for "$CONNECT_WAIT" fc_connected_again "$c" && connected=yes
  if [ "$rc" = 0 ] && [ "$(dpkg-query -W -f='${Status} ${Version}' kioskd)" = "install ok installed $v1" ] &&
     grep -qx "# changed in $v1" "$CFG" && [ "$(sha256sum "$FC_SITE")" = "$site_sum" ] && ! ls /etc/kioskd/*.dpkg-* >/dev/null 2>&1 &&
     [ -f "$FC_UNIT_DROPIN" ] && ! grep -q 'enabled but not started' <<<"$out" && [ "$connected" = yes ]; then
    pass fleet-config-upgrade "DEBIAN_FRONTEND=noninteractive apt-get install $v2deb </dev/null: $v0 -> $v1, the changed conffile installed without a prompt, $FC_SITE and $FC_UNIT_DROPIN kept, postinst's check content (the token a credential); restarted by postinst (MainPID $p0 -> $(mainpid)), Connected again as $SID"
  else
    fail fleet-config-upgrade "rc $rc, $(dpkg-query -W -f='${Status} ${Version}' kioskd); conffile's last line: $(tail -n 1 "$CFG"); drop-in $( [ "$(sha256sum "$FC_SITE")" = "$site_sum" ] && echo kept || echo changed); /etc/kioskd: $(ls /etc/kioskd/ | tr '\n' ' '); Connected again: $connected ($(systemctl is-active kioskd)); apt: $(tail -n 4 <<<"$out" | tr '\n' ' ')"
    journalctl -u kioskd --after-cursor="$c" -o cat --no-pager | tail -n 8 | sed 's/^/INFO   journal: /'
  fi

  if [ "$connected" = yes ]; then
    local start from creds
    start=$(kjournal "$c" | jq -c 'select(.MESSAGE == "kioskd started")' | head -1)
    from=$(kjournal "$c" | jq -r 'select(.MESSAGE | startswith("the server token comes from ")) | .MESSAGE' | head -1)
    from=${from#the server token comes from }
    creds=$(ls /run/credentials/kioskd.service 2>&1 | tr '\n' ' ')
    if [ "$from" = "systemd credential kioskd-token" ]; then
      pass fleet-config-credential "LoadCredential=kioskd-token:/etc/kioskd/token (the file root:root 0600, unreadable by kioskd) in $FC_UNIT_DROPIN: Connected again as $SID, 'the server token comes from $from', /run/credentials/kioskd.service: $creds; ExecCondition: $(journalctl -u kioskd --after-cursor="$c" -o cat --no-pager | grep -m1 'not checked here' | cut -c1-160)"
    else
      fail fleet-config-credential "Connected, but the token came from ${from:-nowhere said} (credentials: $creds)"
    fi
    # The start line: version, hashed machine id, host name; the server
    # hears the same id; the raw machine id is in no field kioskd wrote
    # (journald's own _MACHINE_ID aside).
    local ver hash host kid mid raw
    ver=$(jq -r '.VERSION // empty' <<<"$start"); hash=$(jq -r '.MACHINE_ID_HASH // empty' <<<"$start")
    host=$(jq -r '.HOSTNAME // empty' <<<"$start"); kid=$(dp_field "$SID" '.client.kiosk_id // empty')
    mid=$(cat /etc/machine-id)
    raw=$(journalctl -u kioskd -o json --no-pager | jq -c 'with_entries(select(.key | startswith("_") | not))' | grep -c "$mid")
    if [ -n "$ver" ] && [[ $hash == k-* ]] && [ "$host" = "$(hostname)" ] && [ "$kid" = "$hash" ] && [ "$raw" = 0 ]; then
      pass fleet-config-identity "start line VERSION=$ver MACHINE_ID_HASH=$hash HOSTNAME=$host; dpsim /sessions client.kiosk_id=$kid; the raw machine id in $raw of kioskd's fields"
    else
      fail fleet-config-identity "start line VERSION=${ver:-?} MACHINE_ID_HASH=${hash:-?} HOSTNAME=${host:-?} (hostname $(hostname)); dpsim kiosk_id=${kid:-?}; raw machine id in $raw entries"
    fi
  else
    fail fleet-config-credential "kioskd did not connect after the restart with LoadCredential= ($(systemctl is-active kioskd))"
    fail fleet-config-identity "not checked: kioskd did not connect"
  fi

  # ---- systemctl reload: a new LED profile in a drop-in ----------------------
  # (on the second gpio-sim chip made above)
  bar_state() { local i s=""; for i in 0 1 2 3; do s+="$(cat "$bar_sysfs/sim_gpio$i/value") "; done; echo "${s% }"; }
  bar_on() { [ "$(bar_state)" = "1 1 1 1" ] && [ "$(led_state)" = "0 0 0" ]; }
  traffic_back() { [ "$(led_state)" = "0 0 1" ] && [ "$(bar_state)" = "0 0 0 0" ]; }
  if [ -n "${bar_sysfs:-}" ]; then
    p0=$(mainpid); c=$(cursor)
    printf 'leds:\n  profile: bar\n  lines: {step1: bar-1, step2: bar-2, step3: bar-3, step4: bar-4}\n' >"$FC_DROPINS/60-leds.yaml"
    systemctl reload kioskd
    applied() { kjournal "$c" | jq -r .MESSAGE | grep -q 'the leds section changed; applied'; }
    wait_for 30 applied; wait_for 15 bar_on
    local moved st
    moved=$(kjournal "$c" | jq -r 'select(.CONNECTION_STATE or .DISCONNECT_REASON or .MESSAGE == "kioskd started") | .MESSAGE' | tr '\n' ';')
    st=$(kioskd status --json 2>/dev/null | jq -r '"\(.state) \(.session_id)"')
    if applied && bar_on && [ -z "$moved" ] && [ "$(mainpid)" = "$p0" ] && [ "$st" = "Connected $SID" ]; then
      pass fleet-config-reload "systemctl reload with $FC_DROPINS/60-leds.yaml (profile bar on a second gpio-sim chip): bar lines $(bar_state), traffic lines $(led_state); same MainPID $p0, status $st, no state, Disconnected or start line since"
    else
      fail fleet-config-reload "applied: $(applied && echo yes || echo no); bar lines $(bar_state), traffic $(led_state); MainPID $p0 -> $(mainpid); status $st; lines since: ${moved:-none}"
      kioskd_errors "$c"
    fi
    # Back to the traffic light, the same way.
    rm -f "$FC_DROPINS/60-leds.yaml"
    c=$(cursor)
    systemctl reload kioskd
    if wait_for 30 traffic_back; then
      info "fleet-config: drop-in removed, reloaded: traffic light $(led_state), bar $(bar_state)"
    else
      fail fleet-config-reload-back "after removing the LED drop-in: traffic $(led_state), bar $(bar_state)"
    fi
  else
    fail fleet-config-reload "no second gpio-sim chip for the bar profile"
  fi

  # ---- put things back for the checks after this file -----------------------
  cp -p /tmp/fc-config.bak "$CFG"   # the config as system.sh writes it
  rm -f "$FC_DROPINS"/*.yaml "$FC_UNIT_DROPIN"
  chown "$tok_owner" /etc/kioskd/token; chmod 0640 /etc/kioskd/token
  systemctl daemon-reload
  if [ "$(systemctl is-active kioskd)" != active ]; then
    # A failed check above left it stopped: start it again for the rest.
    c=$(cursor); systemctl start kioskd
    wait_for "$CONNECT_WAIT" fc_connected_again "$c" || fail fleet-config-restore "kioskd not Connected again as $SID after a start"
  fi
  info "fleet-config: config back in $CFG, token file $(stat -c '%U:%G %a' /etc/kioskd/token), no unit drop-in; kioskd $(systemctl is-active kioskd) as $SID"
}

if [ "$MODE" != deb ]; then
  info "fleet-config: plumbing mode (no .deb): drop-in, credential, upgrade and reload checks need the package; not run"
elif [ -z "${SID:-}" ]; then
  for c in dropin credential identity upgrade reload; do fail "fleet-config-$c" "not run: kioskd never reached Connected"; done
else
  fc_unit_order
  fc_run
fi
