# Issue 16, items 3, 4 and 7 in the VM (sourced by system.sh, section 7b,
# with kioskd running and Connected as $SID): `kioskd status` exit codes
# follow the state (0 Connected; pointed at a server that is not there:
# 2 failing, with the last error's LED code and what to check; stopped: 3),
# `--watch` shows the whole session id and goes on across a stop and start,
# the lines of failed attempts carry no session id the server never gave
# them, no raw alsa-lib line reaches the journal, and `devices --json`
# lists the sound card and the GPIO lines. It leaves kioskd Connected with
# $SID (the config restored, the session resumed).

# ls_status [ARGS...]: kioskd status's exit code, its output in LS_OUT.
ls_status() { LS_OUT=$(kioskd status "$@" 2>&1); return $?; }
ls_code() { ls_status "$@"; echo $?; } # in $(...): LS_OUT stays in the subshell
ls_code_is() { local want=$1 code; shift; ls_status "$@"; code=$?; [ "$code" = "$want" ]; }

if [ -z "${SID:-}" ]; then
  for c in connected failing stopped watch sessionid restored; do
    fail "fleet-status-$c" "not run: kioskd never reached Connected"
  done
else
  # ---- Connected: 0, the whole id, --check OK --------------------------------
  wait_for 30 connected_after "" "$SID" >/dev/null
  if wait_for 30 ls_code_is 0 && echo "$LS_OUT" | grep -q "^Session: *$SID\$"; then
    ls_check=$(kioskd status --check | tr -d '\n'; echo " exit ${PIPESTATUS[0]}")
    if [ "$ls_check" = "KIOSKD OK: Connected session $SID exit 0" ]; then
      pass fleet-status-connected "kioskd status exits 0 while Connected as $SID; --check: $ls_check"
    else
      fail fleet-status-connected "kioskd status exits 0 but --check says: $ls_check"
    fi
  else
    fail fleet-status-connected "kioskd status: exit $(ls_code), want 0 with Session: $SID: $(echo "$LS_OUT" | tr '\n' '|')"
  fi

  # A watcher across everything that follows: it must survive the stop.
  rm -f /tmp/ls-watch.out /tmp/ls-watch.err
  kioskd status --watch >/tmp/ls-watch.out 2>/tmp/ls-watch.err &
  ls_watch=$!

  # ---- pointed at nothing: failing (2), Last error with LED code and hint -----
  cp -p "$CFG" /tmp/ls-kioskd.yaml
  sed -i 's#^\(  url: \).*#\1ws://127.0.0.1:9/v1/session#' "$CFG"
  ls_c=$(cursor)
  systemctl reload kioskd
  if wait_for 60 ls_code_is 2; then
    code_check=$(kioskd status --check | tr -d '\n'; echo " exit ${PIPESTATUS[0]}")
    if echo "$LS_OUT" | grep -q '^Last error: *serverConnectionFailed, LED code 3: ' && echo "$LS_OUT" | grep -q '^Check: *network cable / Wi-Fi' &&
      [ "${code_check##* }" = 2 ]; then
      pass fleet-status-failing "server.url at a closed port, reloaded: kioskd status exits 2: $(echo "$LS_OUT" | grep -E '^(State|Last error|Check):' | tr '\n' '|'); --check: $code_check"
    else
      fail fleet-status-failing "exit 2 but: $(echo "$LS_OUT" | tr '\n' '|'); --check: $code_check"
    fi
  else
    fail fleet-status-failing "kioskd status never exited 2 within 60 s of pointing it at a closed port: exit $(ls_code): $(echo "$LS_OUT" | tr '\n' '|')"
  fi
  # Item 3: these attempts resumed nothing (another server) and the server
  # named no session: their lines carry no SESSION_ID.
  ls_failed=$(kjournal "$ls_c" ERROR_NAME=serverConnectionFailed | wc -l)
  ls_stamped=$(kjournal "$ls_c" ERROR_NAME=serverConnectionFailed | jq -r 'select(.SESSION_ID) | .SESSION_ID' | sort -u | tr '\n' ' ')
  if [ "$ls_failed" -gt 0 ] && [ -z "$ls_stamped" ]; then
    pass fleet-status-sessionid "$ls_failed serverConnectionFailed lines of attempts that got no session id carry no SESSION_ID"
  else
    fail fleet-status-sessionid "$ls_failed serverConnectionFailed lines; SESSION_IDs on them: ${ls_stamped:-none}"
  fi
  cat /tmp/ls-kioskd.yaml >"$CFG"
  ls_c=$(cursor)
  systemctl reload kioskd
  wait_for "$CONNECT_WAIT" connected_after "$ls_c" "$SID" || why "kioskd did not resume $SID after the config was restored"

  # ---- stopped: 3, --check CRITICAL 2 ---------------------------------------
  systemctl stop kioskd
  ls_status; ls_code3=$?
  ls_check=$(kioskd status --check | tr -d '\n'; echo " exit ${PIPESTATUS[0]}")
  if [ "$ls_code3" = 3 ] && [ "${ls_check##* }" = 2 ] && echo "$ls_check" | grep -q '^KIOSKD CRITICAL: not running'; then
    pass fleet-status-stopped "systemctl stop kioskd: kioskd status exits 3 ($(echo "$LS_OUT" | head -1)); --check: $ls_check"
  else
    fail fleet-status-stopped "systemctl stop kioskd: exit $ls_code3 (want 3): $LS_OUT; --check: $ls_check (want CRITICAL, 2)"
  fi
  ls_c=$(cursor)
  systemctl start kioskd
  if wait_for "$CONNECT_WAIT" connected_after "$ls_c" "$SID" && wait_for 30 ls_code_is 0; then
    pass fleet-status-restored "started again: Connected with SESSION_ID=$SID, kioskd status exits 0"
  else
    fail fleet-status-restored "after systemctl start: no Connected line with $SID in ${CONNECT_WAIT}s or status exit $(ls_code)"
  fi

  # ---- the watcher saw it all, with the whole id ------------------------------
  ls_back() { grep -q 'reconnected to' /tmp/ls-watch.err && [ "$(grep -c "Connected  session $SID\$" /tmp/ls-watch.out)" -ge 2 ]; }
  if wait_for 30 ls_back && kill -0 "$ls_watch" 2>/dev/null; then
    pass fleet-status-watch "kioskd status --watch ran through the reload and the stop: $(grep -m1 reconnecting /tmp/ls-watch.err); $(tail -n 1 /tmp/ls-watch.out)"
  else
    fail fleet-status-watch "kioskd status --watch (running: $(kill -0 "$ls_watch" 2>/dev/null && echo yes || echo no)): stderr $(tr '\n' '|' </tmp/ls-watch.err); last lines $(tail -n 3 /tmp/ls-watch.out | tr '\n' '|')"
  fi
  kill -INT "$ls_watch" 2>/dev/null; wait "$ls_watch" 2>/dev/null
  cp /tmp/ls-watch.out /tmp/ls-watch.err "$VT_OUT/" 2>/dev/null
fi

# ---- item 4: no raw alsa-lib line in kioskd's journal ------------------------
ls_raw=$(journalctl -u kioskd -o cat --no-pager 2>/dev/null | grep -c '^ALSA lib')
ls_alsa=$(kjournal "" | jq -r 'select(.ALSA_ERROR) | .ALSA_ERROR' | sort | uniq -c | sort -rn | head -n 2 | tr -s ' ' | tr '\n' ';')
if [ "$ls_raw" = 0 ]; then
  pass fleet-alsa-log "no raw 'ALSA lib' line in kioskd's journal since boot (alsa-lib's reports as ALSA_ERROR fields: ${ls_alsa:-none})"
else
  fail fleet-alsa-log "$ls_raw raw 'ALSA lib' lines in kioskd's journal: $(journalctl -u kioskd -o cat --no-pager | grep -m2 '^ALSA lib' | tr '\n' '|')"
fi

# ---- item 7: devices --json -------------------------------------------------
ls_dev=$(kioskd devices --json 2>/dev/null)
ls_cards=$(echo "$ls_dev" | jq -r '[.sound_cards[].id] | join(",")' 2>/dev/null)
ls_lines=$(echo "$ls_dev" | jq -r '[.led_backends[] | select(.backend == "gpio") | .lines[]?.name] | join(",")' 2>/dev/null)
if echo ",$ls_cards," | grep -q ',Loopback,' && echo ",$ls_lines," | grep -q ',kiosk-red,'; then
  pass fleet-devices-json "kioskd devices --json: sound_cards $ls_cards; gpio lines $ls_lines; cameras $(echo "$ls_dev" | jq -c '[.cameras[].path]')"
else
  fail fleet-devices-json "kioskd devices --json: sound_cards '${ls_cards}', gpio lines '${ls_lines}' (want Loopback and kiosk-red): $(echo "$ls_dev" | head -c 300)"
fi
