# fleet-staff: the staff tools on the running daemon (issue 16 item 11).
# Sourced by system.sh (section 7b) with kioskd running, Connected as $SID,
# and the traffic LEDs on the gpio-sim lines kiosk-red/amber/green. Leaves
# kioskd as it found it.

staff_connected() { # the daemon is still Connected in session $SID
  local st
  st=$(kioskd status --json 2>/dev/null) || return 1
  [ "$(jq -r .state <<<"$st")" = Connected ] && [ "$(jq -r .session_id <<<"$st")" = "$SID" ]
}

if [ -n "$SID" ] && wait_for 30 staff_connected && wait_for 10 [ "$(led_state)" = "0 0 1" ]; then
  c0=$(journalctl -u kioskd -n 0 --show-cursor --no-pager 2>/dev/null | sed -n 's/^-- cursor: //p')
  # identify: every LED flashes together at 2.5 Hz for 5 s. The daemon owns
  # the lines, so the CLI asks it over the status socket. Sample the lines
  # as fast as the shell can while it runs.
  out=$(mktemp)
  kioskd leds identify --for 5s >"$out" 2>&1 &
  ipid=$!
  samples=()
  while kill -0 "$ipid" 2>/dev/null; do samples+=("$(led_state)"); done
  wait "$ipid"; rc=$?
  lit=0 dark=0 other=0
  for s in "${samples[@]}"; do
    case $s in "1 1 1") lit=$((lit + 1)) ;; "0 0 0") dark=$((dark + 1)) ;; *) other=$((other + 1)) ;; esac
  done
  seen="exit $rc; ${#samples[@]} samples: $lit all lit, $dark all dark, $other other"
  # "1 1 1" is a look no state has: the identify is on the lines.
  identify_seen() { [ "$rc" = 0 ] && [ "$lit" -ge 3 ] && [ "$dark" -ge 3 ] && grep -q "identify: every LED flashes together" "$out"; }
  check staff-identify "kioskd leds identify --for 5s flashes red, amber and green together ($seen)" identify_seen
  [ "$rc" = 0 ] || sed 's/^/INFO   leds identify: /' "$out"
  back_connected() { wait_for 5 [ "$(led_state)" = "0 0 1" ] && staff_connected; }
  identify_back() { back_connected && grep -q "done: the LEDs show the kiosk's state again" "$out"; }
  check staff-identify-back "after the identify the lines show Connected again (0 0 1), same session" identify_back
  identify_logged() { journalctl -u kioskd -o cat --no-pager ${c0:+--after-cursor="$c0"} | grep -q 'LED show requested'; }
  check staff-identify-journal "the journal says an LED show was requested on the status socket" identify_logged

  # The lamp test, interrupted after its second step: red alone, then amber
  # alone, as it prints them; Ctrl-C gives the LEDs back at once.
  kioskd leds test >"$out" 2>&1 &
  tpid=$!
  step_shows() { grep -q "^ *$1/" "$out" && [ "$(led_state)" = "$2" ]; }
  if wait_for 10 step_shows 1 "1 0 0" && wait_for 10 step_shows 2 "0 1 0"; then
    pass staff-lamp-test "kioskd leds test shows red alone, then amber alone, each line printed as it shows"
  else
    fail staff-lamp-test "kioskd leds test: lines $(led_state); printed: $(tr '\n' '|' <"$out")"
  fi
  kill -TERM "$tpid" # as Ctrl-C (SIGINT is ignored by a background job of a script)
  wait "$tpid"; rc=$?
  lamp_stopped() { [ "$rc" = 1 ] && back_connected; }
  check staff-lamp-test-stop "SIGTERM (Ctrl-C) ends the lamp test (exit $rc) and the lines show Connected again, same session" lamp_stopped
  rm -f "$out"
else
  for c in staff-identify staff-identify-back staff-identify-journal staff-lamp-test staff-lamp-test-stop; do
    fail "$c" "not run: kioskd not Connected with lines 0 0 1 (SID=$SID, lines $(led_state))"
  done
fi
