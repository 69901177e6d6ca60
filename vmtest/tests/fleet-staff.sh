# fleet-staff: the staff tools on the running daemon (issue 16 item 11).
# Sourced by system.sh (section 7b) with kioskd running, Connected as $SID,
# and the traffic LEDs on the gpio-sim lines kiosk-red/amber/green. Leaves
# kioskd as it found it.

staff_connected() { # the daemon is still Connected in session $SID
  local st
  st=$(kioskd status --json 2>/dev/null) || return 1
  [ "$(jq -r .state <<<"$st")" = Connected ] && [ "$(jq -r .session_id <<<"$st")" = "$SID" ]
}

# The lines' value files, read with the shell's own read: under TCG a fork
# costs a good part of a second, so led_state ($(cat) three times) samples
# far too slowly for a 2.5 Hz blink.
STAFF_P=()
for n in kiosk-red kiosk-amber kiosk-green; do
  for i in "${!GPIOSIM_LINES[@]}"; do
    [ "${GPIOSIM_LINES[$i]}" = "$n" ] && STAFF_P+=("$GPIOSIM_SYSFS/sim_gpio$i/value")
  done
done
staff_sample() { # sets S to "R A G"
  local r a g
  read -r r <"${STAFF_P[0]}"; read -r a <"${STAFF_P[1]}"; read -r g <"${STAFF_P[2]}"
  S="$r $a $g"
}

if [ -n "$SID" ] && [ ${#STAFF_P[@]} = 3 ] && wait_for 30 staff_connected && wait_for 10 [ "$(led_state)" = "0 0 1" ]; then
  c0=$(journalctl -u kioskd -n 0 --show-cursor --no-pager 2>/dev/null | sed -n 's/^-- cursor: //p')
  # identify: every LED flashes together at 2.5 Hz for 5 s. The daemon owns
  # the lines, so the CLI asks it over the status socket. Sample the lines
  # as fast as the shell can while it runs.
  out=$(mktemp)
  kioskd leds identify --for 5s >"$out" 2>&1 &
  ipid=$!
  n=0 lit=0 dark=0 changes=0 last=""
  while kill -0 "$ipid" 2>/dev/null; do
    staff_sample
    n=$((n + 1))
    case $S in "1 1 1") lit=$((lit + 1)) ;; "0 0 0") dark=$((dark + 1)) ;; esac
    [ "$S" != "$last" ] && { changes=$((changes + 1)); last=$S; }
  done
  wait "$ipid"; rc=$?
  seen="exit $rc; $n samples: $lit all lit, $dark all dark, $changes changes"
  # "1 1 1" is a look no state has: the identify is on the lines; 5 s at
  # 2.5 Hz is about 25 changes.
  identify_seen() { [ "$rc" = 0 ] && [ "$lit" -ge 3 ] && [ "$dark" -ge 3 ] && [ "$changes" -ge 10 ] && grep -q "identify: every LED flashes together" "$out"; }
  check staff-identify "kioskd leds identify --for 5s flashes red, amber and green together ($seen)" identify_seen
  [ "$rc" = 0 ] || sed 's/^/INFO   leds identify: /' "$out"
  back_connected() { wait_for 5 [ "$(led_state)" = "0 0 1" ] && staff_connected; }
  identify_back() { back_connected && grep -q "done: the LEDs show the kiosk's state again" "$out"; }
  check staff-identify-back "after the identify the lines show Connected again (0 0 1), same session" identify_back
  identify_logged() { journalctl -u kioskd -o cat --no-pager ${c0:+--after-cursor="$c0"} | grep -q 'LED show requested'; }
  check staff-identify-journal "the journal says an LED show was requested on the status socket" identify_logged

  # The lamp test's first steps (1 s each): red alone, amber alone, green
  # alone, all three; then SIGTERM (Ctrl-C) gives the LEDs back at once.
  kioskd leds test >"$out" 2>&1 &
  tpid=$!
  looks=() last="0 0 1" end=$((SECONDS + 20))
  while [ "$SECONDS" -lt "$end" ] && kill -0 "$tpid" 2>/dev/null; do
    staff_sample
    if [ "$S" != "$last" ]; then looks+=("$S"); last=$S; fi
    [ "$S" = "1 1 1" ] && break
  done
  # red alone, amber alone, green alone, every LED, in this order (the
  # writes of one step may show a passing look in between).
  want=("1 0 0" "0 1 0" "0 0 1" "1 1 1") k=0
  for l in "${looks[@]}"; do [ $k -lt 4 ] && [ "$l" = "${want[$k]}" ] && k=$((k + 1)); done
  lamp_seen() { [ $k = 4 ] && grep -q "^ *1/[0-9]*  LED red alone .*red on, amber off, green off" "$out"; }
  check staff-lamp-test "kioskd leds test shows red, amber, green alone, then all, and prints each step (looks: ${looks[*]/%/,})" lamp_seen
  lamp_seen || sed 's/^/INFO   leds test: /' "$out"
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
