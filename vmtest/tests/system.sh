#!/bin/bash
# The whole-system test, in the guest (booted by vmtest/run.sh): kioskd's
# .deb under real systemd and journald, a V4L2 camera (vivid), an ALSA
# microphone and speaker (snd-aloop), status LEDs on GPIO lines (gpio-sim),
# against dpsim on the guest's loopback.
#
#   guest-main.sh IN_DIR OUT_DIR
#
# Every check prints one PASS or FAIL line (OUT_DIR/results.txt); evidence
# (kioskd's journal as JSON, dpsim's /sessions, the unit) goes to OUT_DIR.
set -u
. "$(dirname "$0")/lib.sh"

ADMIN=http://127.0.0.1:8444
CFG=/etc/kioskd/kioskd.yaml
LINES=(kiosk-red kiosk-amber kiosk-green)
MODE=$(cat "$VT_IN/mode")
CONNECT_WAIT=${VMTEST_CONNECT_WAIT:-90}   # TCG is slow: generous, but bounded

# ---- helpers ----------------------------------------------------------------

cursor() { journalctl -n 0 --show-cursor 2>/dev/null | sed -n 's/^-- cursor: //p'; }
# kjournal [CURSOR] [FIELD=VALUE...]: kioskd's journal entries after CURSOR
# (JSON, one a line) whose fields have those values. The fields are
# matched here, not by journalctl. With a match (-u is one), journalctl
# 252's --after-cursor skips the first matching entry after the cursor (it
# steps one entry past the cursor in the filtered stream), so this starts
# at the cursor (--cursor: the cursor's own entry if it is kioskd's, else
# the first kioskd entry after it) and drops the cursor's own entry.
kjournal() {
  local c=$1 f=true m; shift
  for m in "$@"; do f+=" and .${m%%=*} == \"${m#*=}\""; done
  [ -n "$c" ] && f=".__CURSOR != \"$c\" and $f"
  journalctl -u kioskd -o json --no-pager ${c:+--cursor="$c"} 2>/dev/null | jq -c "select($f)" 2>/dev/null
}
# knum JQ-CONDITION: how many of kioskd's journal entries (this boot, no
# cursor) the condition holds of.
knum() { journalctl -u kioskd -o json --no-pager 2>/dev/null | jq -c "select($1)" 2>/dev/null | wc -l; }
# connected_after CURSOR ID: a Connected line of session ID after CURSOR.
connected_after() {
  kjournal "$1" SESSION_ID="$2" CONNECTION_STATE=Connected | grep -q .
}
mainpid() { systemctl show -p MainPID --value kioskd; }
nrestarts() { systemctl show -p NRestarts --value kioskd; }
sessions() { curl -fs --max-time 5 "$ADMIN/sessions"; }
# dp_session ID: dpsim's record of session ID (the newest one with that id).
dp_session() { sessions | jq -c --arg id "$1" '[.[] | select(.id == $id)] | last // empty'; }
dp_field() { dp_session "$1" | jq -r "$2"; }
frames() { local f; f=$(dp_field "$1" '.video.frames // 0' 2>/dev/null); echo "${f:-0}"; }
# frames_grow ID SECONDS: dpsim counts more frames of ID after SECONDS.
frames_grow() {
  local a b; a=$(frames "$1"); sleep "$2"; b=$(frames "$1")
  FRAMES_DETAIL="$a -> $b in $2 s"; [ "$b" -gt "$a" ]
}
# led_state: "r a g" as the gpio-sim chip sees the lines.
led_state() { echo "$(gpiosim_value kiosk-red) $(gpiosim_value kiosk-amber) $(gpiosim_value kiosk-green)"; }
evidence() { # NAME: save what support would look at
  kjournal "" >"$VT_OUT/kioskd-journal-$1.json"
  sessions >"$VT_OUT/dpsim-sessions-$1.json" 2>/dev/null
}
# An explanation printed (not a check) when a check fails.
why() { echo "INFO   $*"; }
# mic_journal: kioskd's lines about the microphone's processing (echo
# canceller, estimated delay), with their fields.
mic_journal() {
  kjournal "${1:-}" | jq -r 'select(.MESSAGE | test("microphone processing|echo canceller")) | .MESSAGE + " " + ([to_entries[] | select(.key | test("^(ECHO_CANCELLATION|DELAY_MS|DELAY_ESTIMATED|REALIGNS|TIMELINE_JUMPS|MIC_DROPPED_MS|FAR_END_LATE_MS|AUDIO_S|CPU_PER_S_MS)$")) | "\(.key | ascii_downcase)=\(.value)"] | join(" "))' 2>/dev/null
}
kioskd_errors() { kjournal "${1:-}" PRIORITY=3 | jq -r '.MESSAGE + " " + (.ERROR // .error // "")' 2>/dev/null | tail -n "${2:-5}" | sed 's/^/INFO   kioskd error: /'; }

# ---- 1. devices -------------------------------------------------------------

if load_vivid && CAM=$(vivid_stable_path); then
  pass devices-camera "vivid at $(vivid_dev), stable path $CAM$( [ -z "$(ls /dev/v4l/by-id 2>/dev/null)" ] && echo ' (vivid has no by-id link: udev gives it by-path only)')"
else
  fail devices-camera "vivid did not load or udev made no /dev/v4l link"; CAM=vivid
fi
if load_aloop; then
  pass devices-audio "snd-aloop card Loopback: $(cat /proc/asound/Loopback/id 2>/dev/null), $(ls /dev/snd | tr '\n' ' ')"
else
  fail devices-audio "snd-aloop did not load"
fi
if make_gpiosim kiosk "${LINES[@]}"; then
  pass devices-gpio "gpio-sim $GPIOSIM_CHIP with lines ${LINES[*]} ($(stat -c '%U:%G %a' "/dev/$GPIOSIM_CHIP"))"
else
  fail devices-gpio "no gpio-sim chip"
fi

# ---- 2. install and configure ----------------------------------------------

TOKEN="vmtest-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
if [ "$MODE" = deb ]; then
  if out=$(dpkg -i "$VT_IN"/payload/kioskd_*.deb "$VT_IN"/payload/kioskd-dpsim_*.deb 2>&1); then
    pass install "dpkg -i $(cd "$VT_IN/payload" && ls *.deb | tr '\n' ' ')"
  else
    fail install "dpkg -i failed: $(echo "$out" | grep -v '^(Reading\|Selecting\|Preparing\|Unpacking' | tail -6 | tr '\n' ' ')"
    echo "$out" >"$VT_OUT/dpkg-install.txt"
    fail not-run "the other checks need kioskd installed"
    exit 0
  fi
  # Installing must not start kioskd against the stock config: the test
  # configures it first (a kiosk integrator's order: install, write config).
  systemctl stop kioskd 2>/dev/null
else
  install -m 0755 "$VT_IN/payload/kioskd" "$VT_IN/payload/dpsim" /usr/bin/
  install -m 0644 "$VT_IN/payload/kioskd.service" /etc/systemd/system/kioskd.service
  systemctl daemon-reload
  pass install "PLUMBING MODE: bin/kioskd, bin/dpsim and vmtest's own unit, NOT the .deb's hardened unit"
fi
if [ -f "$VT_IN/unit-dropin.conf" ]; then
  install -D -m 0644 "$VT_IN/unit-dropin.conf" /etc/systemd/system/kioskd.service.d/vmtest-experiment.conf
  systemctl daemon-reload
  fail experiment "a drop-in changes the unit under test (VMTEST_UNIT_DROPIN): $(grep -v '^#' "$VT_IN/unit-dropin.conf" | tr '\n' ' ')"
fi
info "after install: /dev/$GPIOSIM_CHIP $(stat -c '%U:%G %a' "/dev/${GPIOSIM_CHIP:-none}" 2>&1); $(id kioskd 2>&1)"
systemctl cat kioskd >"$VT_OUT/kioskd.service.txt" 2>&1
systemctl show kioskd >"$VT_OUT/kioskd.show.txt" 2>&1
DPSIM=$(command -v dpsim || dpkg -L kioskd-dpsim 2>/dev/null | grep -m1 '/bin/dpsim$')
UNIT_USER=$(systemctl show -p User --value kioskd)

# write_keep_mode FILE MODE OWNER: write stdin to FILE; an existing file
# (the package's) keeps its owner and mode.
write_keep_mode() {
  if [ -e "$1" ]; then cat >"$1"; else install -D -m "$2" /dev/null "$1"; cat >"$1"; chown "$3" "$1"; fi
}
# The token: readable by the user the unit runs as, nobody else.
tok_owner=root:root
if [ -n "$UNIT_USER" ] && [ "$(systemctl show -p DynamicUser --value kioskd)" != yes ] && getent passwd "$UNIT_USER" >/dev/null; then
  tok_owner="root:$(id -gn "$UNIT_USER")"
fi
printf '%s\n' "$TOKEN" | write_keep_mode /etc/kioskd/token 0640 "$tok_owner"
install -m 0600 /dev/null /root/dpsim-token && printf '%s\n' "$TOKEN" >/root/dpsim-token

# Microphone: the capture side of loopback substream 0, into which the
# tone is played; speaker: loopback substream 1 (nobody listens). The echo
# checks (section 7) use a room instead: the speaker on substream 2, whose
# capture side the room (vmtest/room) reads, and the microphone on
# substream 3, into which the room plays the echo and the visitor.
cat >/etc/asound.conf <<'EOF'
# vmtest: the kiosk's microphone and speaker on snd-aloop.
pcm.kiosk_mic { type plug; slave.pcm "hw:Loopback,1,0" }
pcm.kiosk_speaker { type plug; slave.pcm "hw:Loopback,0,1" }
pcm.room_mic { type plug; slave.pcm "hw:Loopback,1,3" }
pcm.room_speaker { type plug; slave.pcm "hw:Loopback,0,2" }
EOF
# write_config MICROPHONE SPEAKER ECHO_CANCELLATION [CAMERA]: kioskd's config.
write_config() {
write_keep_mode "$CFG" 0644 root:root <<EOF
# vmtest: dpsim on loopback, vivid, snd-aloop, gpio-sim.
server:
  url: ws://127.0.0.1:8443/v1/session
  token_file: /etc/kioskd/token
session:
  resume: true
  state_dir: /var/lib/kioskd
media:
  camera: ${4:-$CAM}
  camera_required: $([ "${4:-}" = none ] && echo false || echo true)
  width: 640
  height: 480
  fps: 15
  microphone: $1
  microphone_required: true
  speaker: $2
  echo_cancellation: $3
leds:
  backend: gpio
  profile: traffic
  lines: {red: kiosk-red, amber: kiosk-amber, green: kiosk-green}
EOF
}
write_config kiosk_mic kiosk_speaker true
cp "$CFG" "$VT_OUT/kioskd.yaml"
check config "kioskd check-config accepts $CFG" kioskd check-config --config "$CFG"

# The DP server on loopback (ICE on 127.0.0.1: the guest has no other
# interface), and the 440 Hz tone into the microphone's loopback. dpsim
# is the guest's other big CPU user under TCG, beside kioskd: its video at
# 5 fps (nothing here looks at the DP's video but kioskd's receiving
# side), and 1 ms of timer slack (the Go runtime's 20 us sleeps in sysmon
# cost a guest exit each under TCG; the slack lets the kernel batch them).
systemd-run --quiet --unit=dpsim -p StandardError=journal -p TimerSlackNSec=1ms \
  "$DPSIM" --listen 127.0.0.1:8443 --admin 127.0.0.1:8444 --ice-loopback --video-fps 5 \
  --token-file /root/dpsim-token --resume-window 15m --media-timeout 60s
systemd-run --quiet --unit=tone speaker-test -D hw:Loopback,0,0 -c 1 -r 48000 -F S16_LE -t sine -f 440
if wait_for 30 curl -fs --max-time 2 "$ADMIN/healthz" -o /dev/null; then
  pass dpsim "listening on 127.0.0.1:8443, admin on 127.0.0.1:8444 ($DPSIM)"
else
  fail dpsim "dpsim did not come up: $(journalctl -u dpsim -n 5 --no-pager -o cat | tr '\n' ' ')"
fi

# ---- 3. start and connect ---------------------------------------------------

c0=$(cursor)
systemctl start kioskd
st=$?
info "systemctl start kioskd: exit $st, $(systemctl is-active kioskd), MainPID $(mainpid)"
WD_USEC=$(systemctl show -p WatchdogUSec --value kioskd)
info "unit: Type=$(systemctl show -p Type --value kioskd) User=${UNIT_USER:-root} DynamicUser=$(systemctl show -p DynamicUser --value kioskd) WatchdogUSec=$WD_USEC Restart=$(systemctl show -p Restart --value kioskd) SupplementaryGroups=$(systemctl show -p SupplementaryGroups --value kioskd) DevicePolicy=$(systemctl show -p DevicePolicy --value kioskd) PrivateDevices=$(systemctl show -p PrivateDevices --value kioskd)"
SID=""
first_connected() { SID=$(kjournal "$c0" CONNECTION_STATE=Connected | head -1 | jq -r '.SESSION_ID // empty'); [ -n "$SID" ]; }
if wait_for "$CONNECT_WAIT" first_connected; then
  pct=$(kjournal "$c0" SESSION_ID="$SID" CONNECTION_STATE=Connected | head -1 | jq -r '"PERCENTAGE_LOADED=\(.PERCENTAGE_LOADED) CURRENT_STEP=\(.CURRENT_STEP)"')
  # What support types: journalctl -u kioskd SESSION_ID=<id>
  seq=$(journalctl -u kioskd -o json --no-pager SESSION_ID="$SID" | jq -r 'select(.CONNECTION_STATE) | "\(.CONNECTION_STATE)(\(.PERCENTAGE_LOADED))"' | tr '\n' ' ')
  if [ "$pct" = "PERCENTAGE_LOADED=100 CURRENT_STEP=4" ]; then
    pass connected "journalctl -u kioskd SESSION_ID=$SID: $seq"
  else
    fail connected "Connected line of $SID has $pct (want PERCENTAGE_LOADED=100 CURRENT_STEP=4); lines: $seq"
  fi
else
  fail connected "no CONNECTION_STATE=Connected line in ${CONNECT_WAIT}s; kioskd is $(systemctl is-active kioskd)"
  # The first errors say why (later retries may fail for another reason).
  kjournal "$c0" | jq -r 'select(.ERROR_NAME or .ERROR) | "\(.MESSAGE) [\(.ERROR_NAME // "")] \(.ERROR // .error // "")"' \
    | awk '!seen[$0]++' | head -n 4 | sed 's/^/INFO   kioskd error: /'
  kjournal "$c0" | jq -r '"\(.MESSAGE) \(.ERROR // "")"' | tail -n 4 | sed 's/^/INFO   kioskd (last): /'
  for p in /proc/[0-9]*; do
    h=$(ls -l "$p/fd" 2>/dev/null | grep -oE '/dev/(snd/pcm|video|gpiochip)[^ ]*' | sort -u | tr '\n' ' ')
    [ -n "$h" ] && why "pid ${p#/proc/} ($(cat "$p/comm" 2>/dev/null)) holds $h"
  done
fi
evidence connect

if [ -n "$SID" ]; then
  # dpsim's view: the kiosk's camera frames at the configured size, and the
  # microphone's tone.
  video_ok() {
    local s; s=$(dp_session "$SID")
    VIDEO=$(echo "$s" | jq -r '"\(.video.frames) frames \(.video.width)x\(.video.height) \(.video.codec // "")"')
    [ "$(echo "$s" | jq -r '"\(.video.width)x\(.video.height)"')" = 640x480 ] && [ "$(echo "$s" | jq -r '.video.frames')" -gt 10 ]
  }
  if wait_for 45 video_ok && frames_grow "$SID" 2; then
    pass video "dpsim: $VIDEO; frames $FRAMES_DETAIL"
  else
    fail video "dpsim: ${VIDEO:-no session $SID} (want frames of 640x480, growing${FRAMES_DETAIL:+; $FRAMES_DETAIL})"
  fi
  # The tone's frequency as dpsim measures it over its analysis window, in
  # 5 readings a second apart once audio flows; TCG can glitch a window, so
  # 3 of the 5 must be 440 +- 10.
  audio_flows() { [ "$(dp_field "$SID" '.audio.window_ms // 0')" -gt 0 ]; }
  hzs=() good=0
  if wait_for 45 audio_flows; then
    for _ in 1 2 3 4 5; do
      a=$(dp_session "$SID" | jq -r '.audio | "\(.dominant_hz * 10 | round / 10) \(.packets)"')
      hz=${a%% *}; hzs+=("$hz")
      awk -v h="$hz" 'BEGIN { exit !(h >= 430 && h <= 450) }' && good=$((good + 1))
      sleep 1
    done
  fi
  AUDIO="dominant_hz ${hzs[*]:-none} (packets ${a##* })"
  if [ "$good" -ge 3 ]; then
    pass audio "dpsim: $AUDIO; $good of 5 readings in 440 +- 10 (440 Hz played into hw:Loopback,0,0)"
  else
    fail audio "dpsim: $AUDIO; $good of 5 readings in 440 +- 10 (want at least 3)"
  fi

  # The traffic light shows Connected: green steady on, red and amber off.
  leds_connected() {
    local i s bad=0; LEDS=""
    for i in 1 2 3 4 5 6; do s=$(led_state); LEDS+="[$s] "; [ "$s" = "0 0 1" ] || bad=1; sleep 0.25; done
    return $bad
  }
  if wait_for 10 leds_connected; then
    pass leds-connected "red amber green = $LEDS"
  else
    fail leds-connected "red amber green = $LEDS (want 0 0 1 steadily)"
    kjournal "$c0" | jq -r 'select(.MESSAGE | test("LED|led|gpio"; "i")) | .MESSAGE + " " + (.error // .ERROR // "")' | tail -3 | sed 's/^/INFO   kioskd: /'
    why "/dev/$GPIOSIM_CHIP is $(stat -c '%U:%G %a' "/dev/$GPIOSIM_CHIP"); kioskd runs as ${UNIT_USER:-root}"
  fi

  # ---- 3b. a network change under the shipped unit ----------------------------
  # A new interface with a global address (a dummy link: the guest has no
  # network) is a network change (docs/BEHAVIOUR.md section 3b): netwatch
  # sees it through rtnetlink (the unit's RestrictAddressFamilies must let
  # AF_NETLINK through), the call restarts ICE over its control socket and
  # stays Connected: no disconnect reason, the same session id. Lines are
  # counted over the boot (knum), and kjournal's reading after a cursor is
  # checked against that count.
  Q_CHANGED='.MESSAGE == "network changed"'
  Q_BACK=".MESSAGE == \"ICE restart: media path back\" and .SESSION_ID == \"$SID\""
  Q_GONE='.DISCONNECT_REASON'
  n_changed=$(knum "$Q_CHANGED") n_back=$(knum "$Q_BACK") n_gone=$(knum "$Q_GONE") cn=$(cursor)
  if ip link add kvt0 type dummy && ip link set kvt0 up && ip addr add 192.0.2.77/24 dev kvt0; then
    ice_back() { [ "$(knum "$Q_BACK")" -gt "$n_back" ]; }
    if wait_for 45 ice_back; then
      changed=$(journalctl -u kioskd -o json --no-pager | jq -r "select($Q_CHANGED) | .CHANGE // \"?\"" | tail -n +$((n_changed + 1)) | tr '\n' ';')
      pair=$(journalctl -u kioskd -o json --no-pager | jq -r "select($Q_BACK) | .ICE_CANDIDATE_PAIR // \"?\"" | tail -1)
      # kjournal after a cursor must see them too (it once missed the
      # first kioskd line after its cursor: this was that line).
      k_changed=$(kjournal "$cn" | jq -c "select($Q_CHANGED)" | wc -l)
      if [ "$k_changed" -ne $(( $(knum "$Q_CHANGED") - n_changed )) ]; then
        fail kjournal-cursor "kjournal after the cursor saw $k_changed network changed lines of $(( $(knum "$Q_CHANGED") - n_changed ))"
      else
        pass kjournal-cursor "kjournal after the cursor saw all $k_changed network changed lines (none skipped)"
      fi
      if [ "$(knum "$Q_GONE")" -eq "$n_gone" ] && [ -n "$changed" ]; then
        pass network-change "dummy link kvt0 192.0.2.77/24: network changed ($changed), ICE restarted, media path back ($pair), no disconnect, SESSION_ID=$SID"
      else
        fail network-change "after the change: network changed '${changed:-not logged}', disconnects $n_gone -> $(knum "$Q_GONE") (want logged, no new one)"
      fi
    else
      fail network-change "no \"ICE restart: media path back\" within 45 s of adding kvt0 (network changed $n_changed -> $(knum "$Q_CHANGED"); last lines: $(journalctl -u kioskd -o cat --no-pager | tail -n 4 | tr '\n' ';'))"
    fi
    # The link's removal is a change too: its restart is waited out
    # before the next checks.
    n_back=$(knum "$Q_BACK")
    ip link del kvt0 2>/dev/null
    wait_for 45 ice_back || info "no ICE restart after kvt0 was removed"
  else
    fail network-change "could not add a dummy link (ip link add kvt0 type dummy)"
  fi

  # ---- 4. controlDisconnected, then a restart: the same session --------------
  r0=$(dp_field "$SID" '.resumes')
  c1=$(cursor)
  curl -fsS --max-time 5 -X POST "$ADMIN/close?reason=controlDisconnected" -o /dev/null
  if wait_for 45 connected_after "$c1" "$SID"; then
    pass close-controlDisconnected "Connected again with SESSION_ID=$SID; dpsim resumes $r0 -> $(dp_field "$SID" '.resumes'); reason logged: $(kjournal "$c1" DISCONNECT_REASON=controlDisconnected | head -1 | jq -r '.DISCONNECT_REASON // "none"')"
  else
    fail close-controlDisconnected "no Connected line with SESSION_ID=$SID within 45 s of POST /close?reason=controlDisconnected"
    kjournal "$c1" | jq -r '"\(.MESSAGE) \(.SESSION_ID // "-") \(.ERROR_NAME // "")"' | tail -6 | sed 's/^/INFO   kioskd: /'
  fi

  p0=$(mainpid); c2=$(cursor)
  stored=$(jq -r '.id // .session_id // .ID // empty' /var/lib/kioskd/session.json 2>/dev/null)
  info "state file: $(stat -c '%U:%G %a' /var/lib/kioskd/session.json 2>&1) id=${stored:-?}"
  systemctl restart kioskd
  if wait_for "$CONNECT_WAIT" connected_after "$c2" "$SID"; then
    pass restart-resume "after systemctl restart (MainPID $p0 -> $(mainpid)) Connected with the same SESSION_ID=$SID (state file holds ${stored:-?}); dpsim resumes $(dp_field "$SID" '.resumes')"
  else
    newid=$(kjournal "$c2" CONNECTION_STATE=Connected | head -1 | jq -r '.SESSION_ID // empty')
    fail restart-resume "after systemctl restart: ${newid:+Connected as $newid, not $SID}${newid:-no Connected line in ${CONNECT_WAIT}s}; state file id ${stored:-?}"
  fi

  # ---- 5. watchdog: a stopped process is restarted and resumes -----------------
  if [ -z "$WD_USEC" ] || [ "$WD_USEC" = 0 ] || [ "$WD_USEC" = infinity ]; then
    fail watchdog "the unit has no WatchdogSec (WatchdogUSec=$WD_USEC)"
  else
    p0=$(mainpid); n0=$(nrestarts); c3=$(cursor)
    wd_s=$(systemd-analyze timespan "$WD_USEC" 2>/dev/null | awk '$1 ~ /s:$/ && $2 ~ /^[0-9]+$/ { print $2; exit }')
    wd_s=$(( ${wd_s:-30000000} / 1000000 ))
    systemctl kill -s SIGSTOP kioskd
    info "kioskd $p0 stopped with SIGSTOP; WatchdogSec=${wd_s}s"
    restarted() { [ "$(nrestarts)" -gt "$n0" ] && [ "$(mainpid)" != "$p0" ] && [ "$(mainpid)" != 0 ]; }
    if wait_for $(( wd_s * 2 + 60 )) restarted; then
      wdmsg=$(journalctl -u kioskd --after-cursor="$c3" -o cat --no-pager | grep -m1 -i watchdog)
      if wait_for "$CONNECT_WAIT" connected_after "$c3" "$SID"; then
        pass watchdog "systemd restarted it (NRestarts $n0 -> $(nrestarts), MainPID $p0 -> $(mainpid); journal: ${wdmsg:-no watchdog line}); Connected again with SESSION_ID=$SID"
      else
        fail watchdog "restarted (NRestarts $n0 -> $(nrestarts); ${wdmsg:-no watchdog line}) but no Connected line with SESSION_ID=$SID"
      fi
    else
      fail watchdog "not restarted within $(( wd_s * 2 + 60 )) s of SIGSTOP (NRestarts $(nrestarts), MainPID $(mainpid), state $(systemctl is-active kioskd))"
      systemctl kill -s SIGCONT kioskd 2>/dev/null
    fi
  fi

  # ---- 6. the camera goes away mid-session and comes back ----------------------
  wait_for 30 connected_after "$c3" "$SID" >/dev/null
  p0=$(mainpid); n0=$(nrestarts); c4=$(cursor); f0=$(frames "$SID")
  if modprobe -r vivid 2>/tmp/rmmod.err; then
    how="modprobe -r vivid"
  else
    # An open /dev/videoN holds a reference on vivid, so the module cannot
    # go while kioskd captures; unbinding the device is what an unplug
    # does. The module goes once kioskd has closed the device.
    how="unbind vivid.0 ($(tr -d '\n' </tmp/rmmod.err)), then modprobe -r vivid"
    echo vivid.0 >/sys/bus/platform/drivers/vivid/unbind
  fi
  msf() { kjournal "$c4" ERROR_NAME=mediaStreamFailed | grep -q .; }
  if wait_for 30 msf; then
    pass camera-lost "$how: ERROR_NAME=mediaStreamFailed logged ($(kjournal "$c4" ERROR_NAME=mediaStreamFailed | head -1 | jq -r '.MESSAGE'))"
  else
    fail camera-lost "$how: no ERROR_NAME=mediaStreamFailed within 30 s"
    kjournal "$c4" | jq -r '"\(.MESSAGE) \(.ERROR_NAME // "")"' | tail -5 | sed 's/^/INFO   kioskd: /'
  fi
  if lsmod | grep -q '^vivid '; then
    if wait_for 30 modprobe -r vivid 2>/dev/null; then
      pass camera-released "kioskd closed the lost camera: modprobe -r vivid succeeded"
    else
      fail camera-released "vivid still in use 30 s after the device went away: $(modprobe -r vivid 2>&1); refcnt $(cat /sys/module/vivid/refcnt 2>/dev/null)"
    fi
  else
    pass camera-released "vivid unloaded at once (kioskd held no reference)"
  fi
  sleep 2
  f1=$(frames "$SID")
  load_vivid
  info "vivid back at $(vivid_stable_path 2>/dev/null || echo '?'); dpsim frames while it was gone: $f0 -> $f1"
  back() { frames_grow "$SID" 3 && [ "$(dp_field "$SID" '.video.width')x$(dp_field "$SID" '.video.height')" = 640x480 ]; }
  if wait_for 60 back; then
    if [ "$(mainpid)" = "$p0" ] && [ "$(nrestarts)" = "$n0" ]; then
      pass camera-back "modprobe vivid: dpsim frames grow again ($FRAMES_DETAIL) with the same MainPID $p0, NRestarts $n0"
    else
      fail camera-back "frames grow again but kioskd was restarted (MainPID $p0 -> $(mainpid), NRestarts $n0 -> $(nrestarts))"
    fi
  else
    fail camera-back "modprobe vivid: dpsim frames of $SID did not grow within 60 s (${FRAMES_DETAIL:-}); MainPID $p0 -> $(mainpid)"
  fi
  evidence camera

  # ---- 7. echo: the DP's voice through a room on snd-aloop, cancelled ---------
  # A room between kioskd's speaker and its microphone, on the real driver
  # both ways: kioskd plays on room_speaker (loopback 0,2); arecord takes it
  # from 1,2; vmtest/room makes it the echo (6 dB down) and adds the
  # visitor's 440 Hz at -30 dBFS; aplay plays that into 0,3; kioskd's
  # microphone room_mic captures 1,3. snd-aloop's timer paces every side,
  # and its periods and the tools' buffers make the delay, which kioskd
  # finds by itself. dpsim's voice is 880 Hz at -10.5 dBFS, so the echo
  # reaches the microphone at about -16.5 dBFS. The camera is off for these
  # checks (camera: none) and the first tone stopped: under TCG, encoding
  # video takes most of the guest's CPU, and the point here is the audio.
  # The room's buffers are roomy for the same reason (an xrun in the room
  # breaks the echo path, which a canceller has to relearn). The room is
  # started after kioskd has opened its devices, and stopped before kioskd
  # restarts: snd-aloop ties the two ends of a loopback to one format, and
  # a room left running across kioskd's restarts had its streams stopped
  # (EIO) in some runs. On a busy host the room's pipeline can still end (a
  # stream stopped under TCG): systemd starts it again at once, so the
  # echo path comes back (the canceller relearns, as after any xrun) rather
  # than the microphone going silent for the rest of the check.
  systemctl stop tone 2>/dev/null
  install -m 0755 "$VT_IN/tools/room" /usr/local/bin/vmtest-room
  raw="-t raw -f S16_LE -r 48000 -c 1 --buffer-time=200000 --period-time=40000"
  start_room() {
    systemctl reset-failed room 2>/dev/null
    systemd-run --quiet --unit=room -p Restart=always -p RestartSec=1s \
      -p StandardError=journal -p StandardOutput=journal /bin/sh -c \
      "arecord $raw -D plughw:Loopback,1,2 | /usr/local/bin/vmtest-room -echo-db -6 -visitor-hz 440 -visitor-dbfs -30 | aplay $raw -D plughw:Loopback,0,3"
  }
  room_xruns() { journalctl -u room -o cat --no-pager 2>/dev/null | grep -ci 'run!!!'; }
  room_state() { echo "room $(systemctl is-active room), restarted $(systemctl show room -p NRestarts --value 2>/dev/null || echo ?) times$(systemctl is-failed -q room && echo ": $(journalctl -u room -o cat --no-pager | grep -i error | tail -2 | tr '\n' ' ')")"; }
  # echo_reading: "echo_dbfs dominant_hz level_dbfs packets" as dpsim
  # measures the kiosk's audio now (its last 1 s, updated every 0.5 s).
  echo_reading() { dp_session "$SID" | jq -r '.audio | [(.echo_dbfs, .dominant_hz, .level_dbfs) * 10 | round / 10] + [.packets] | map(tostring) | join(" ")'; }
  audio_packets() { local p; p=$(dp_field "$SID" '.audio.packets // 0' 2>/dev/null); echo "${p:-0}"; }
  # restart_with MICROPHONE SPEAKER ECHO_CANCELLATION: kioskd restarted on
  # that config and Connected again with SID (CONNECTED_MS: when that was
  # seen), then 2 s of its audio received (the analysis window then holds
  # only audio of this config).
  restart_with() {
    local c p0
    systemctl stop room 2>/dev/null
    write_config "$1" "$2" "$3" none
    c=$(cursor)
    systemctl restart kioskd
    wait_for "$CONNECT_WAIT" connected_after "$c" "$SID" || { RESTART_WHY="no Connected line with SESSION_ID=$SID"; return 1; }
    CONNECTED_MS=$(now_ms)
    start_room
    p0=$(audio_packets)
    two_seconds_of_audio() { [ "$(audio_packets)" -ge $((p0 + 100)) ]; }
    wait_for 30 two_seconds_of_audio || { RESTART_WHY="dpsim received under 100 audio packets in 30 s ($p0 -> $(audio_packets))"; return 1; }
  }
  in_range() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

  # Without cancellation the DP hears itself: 880 Hz dominates.
  ECHO_OFF=""
  if restart_with room_mic room_speaker false; then
    readings="" heard=0 echos=()
    for _ in 1 2 3 4 5; do
      r=$(echo_reading); readings+="[$r] "
      read -r e hz _ _ <<<"$r"; echos+=("$e")
      in_range "$hz" 870 890 && heard=$((heard + 1))
      sleep 1
    done
    ECHO_OFF=$(printf '%s\n' "${echos[@]}" | sort -g | sed -n 3p)
    if [ "$heard" -ge 3 ] && in_range "$ECHO_OFF" -30 0; then
      pass echo-heard "echo_cancellation: false: dpsim hears its own 880 Hz voice back at $ECHO_OFF dBFS (median), dominant in $heard of 5 readings [echo_dbfs dominant_hz level_dbfs packets]: $readings; $(room_state), xruns $(room_xruns)"
    else
      fail echo-heard "echo_cancellation: false: want the 880 Hz voice back above -30 dBFS and dominant in 3 of 5 readings; got median ${ECHO_OFF:-?} dBFS, dominant in $heard: $readings; $(room_state)"
      ECHO_OFF=""
    fi
  else
    fail echo-heard "echo_cancellation: false: $RESTART_WHY"
  fi

  # With it (the default) the echo falls by at least 20 dB, and what the DP
  # hears is the visitor, who loses at most 6 dB. The visitor talks from the
  # start (double talk), which makes the canceller adapt cautiously.
  if [ -z "$ECHO_OFF" ]; then
    fail echo-cancelled "not run: no echo level without cancellation to compare with"
    fail echo-visitor "not run: no echo level without cancellation to compare with"
  elif restart_with room_mic room_speaker true; then
    want=$(awk -v e="$ECHO_OFF" 'BEGIN { print e - 20 }')
    # Readings a second apart; the echo is cancelled when the median of
    # the last 5 is at least 20 dB below the level without cancellation
    # and the microphone was live in all 5 (silence would pass the first
    # test, so the visitor's -30 dBFS must be there). The median: under
    # TCG a reading can catch a moment of residual echo after a glitch.
    readings="" win=() conv="" med=""
    for _ in $(seq 120); do
      r=$(echo_reading); readings+="[$r] "
      win+=("$r"); [ "${#win[@]}" -gt 5 ] && win=("${win[@]:1}")
      if [ "${#win[@]}" -eq 5 ]; then
        med=$(printf '%s\n' "${win[@]}" | awk '{ print $1 }' | sort -g | sed -n 3p)
        live=$(printf '%s\n' "${win[@]}" | awk '$3 >= -40' | wc -l)
        if in_range "$med" -200 "$want" && [ "$live" -eq 5 ]; then
          conv=$(( $(now_ms) - CONNECTED_MS )); break
        fi
      fi
      sleep 1
    done
    last5=$(printf '[%s] ' "${win[@]}")
    if [ -n "$conv" ]; then
      pass echo-cancelled "echo_cancellation: true: echo_dbfs $ECHO_OFF -> $med dBFS (median of 5 readings; ERLE $(awk -v a="$ECHO_OFF" -v b="$med" 'BEGIN { printf "%.1f", a - b }') dB, want >= 20) $(awk -v m="$conv" 'BEGIN { printf "%.1f", m / 1000 }') s after Connected: $last5; $(room_state), xruns $(room_xruns)"
      visitor=0 lvls=""
      for r in "${win[@]}"; do
        read -r _ hz lvl _ <<<"$r"; lvls+="$lvl "
        in_range "$hz" 430 450 && in_range "$lvl" -36 -24 && visitor=$((visitor + 1))
      done
      if [ "$visitor" -ge 3 ]; then
        pass echo-visitor "what the DP hears is the visitor: 440 Hz dominant in $visitor of those 5 readings, at $lvls dBFS (played at -30 dBFS; want within 6 dB in 3)"
      else
        fail echo-visitor "want the visitor's 440 Hz dominant at -30 +- 6 dBFS in 3 of 5 readings: $last5"
      fi
    else
      fail echo-cancelled "echo_cancellation: true: the median of 5 readings never 20 dB below $ECHO_OFF (<= $want) with the microphone live (level >= -40 dBFS) in 120 readings: $readings; $(room_state), xruns $(room_xruns)"
      fail echo-visitor "not checked: the echo was not cancelled"
    fi
    mic_journal | tail -n 3 | sed 's/^/INFO   kioskd: /'
  else
    fail echo-cancelled "echo_cancellation: true: $RESTART_WHY"
    fail echo-visitor "echo_cancellation: true: $RESTART_WHY"
  fi
  systemctl stop room 2>/dev/null
  evidence echo
else
  for c in video audio leds-connected close-controlDisconnected restart-resume watchdog camera-lost camera-released camera-back echo-heard echo-cancelled echo-visitor close-normal; do
    fail "$c" "not run: kioskd never reached Connected"
  done
fi

# ---- 7b. fleet: one file a concern (vmtest/tests/fleet-*.sh) ----------------
# Each is sourced here, in name order, with kioskd running (Connected as $SID
# when first_connected found it). Each leaves kioskd running and Connected
# with the same SESSION_ID, for section 8.
for f in "$(dirname "$0")"/fleet-*.sh; do
  [ -e "$f" ] && . "$f"
done

# ---- 8. stop: LEDs off, close reason normal, clean exit ---------------------

p0=$(mainpid)
was=$(systemctl is-active kioskd)
# Sample the lines as fast as the shell can until kioskd has exited: the
# last sample taken while it was still alive is what it left them at (after
# its exit the kernel releases the lines, and gpio-sim returns a released
# line to its pull, 0 here, whatever kioskd did).
sampler() {
  local pid=$1 r a g last="none" n=0
  local vr=$GPIOSIM_SYSFS/sim_gpio0/value va=$GPIOSIM_SYSFS/sim_gpio1/value vg=$GPIOSIM_SYSFS/sim_gpio2/value
  while kill -0 "$pid" 2>/dev/null; do
    read -r r <"$vr"; read -r a <"$va"; read -r g <"$vg"
    if kill -0 "$pid" 2>/dev/null; then last="$r $a $g"; n=$((n + 1)); fi
  done
  echo "$last|$n" >/tmp/led-last
}
rm -f /tmp/led-last
if [ "$p0" != 0 ]; then sampler "$p0" & spid=$!; fi
systemctl stop kioskd
[ -n "${spid:-}" ] && wait "$spid"
last=none nsamples=0
[ -f /tmp/led-last ] && IFS='|' read -r last nsamples </tmp/led-last
after=$(led_state)
if [ "$p0" = 0 ]; then
  fail leds-off "kioskd was not running when stopped ($was): nothing to check"
elif [ "$after" = "0 0 0" ] && [ "${last:-}" = "0 0 0" ]; then
  pass leds-off "last lines kioskd left while exiting: $last ($nsamples samples); after exit: $after"
else
  fail leds-off "last lines kioskd left while exiting (red amber green): ${last:-none} ($nsamples samples); after exit: $after"
fi
# What the echo canceller did in the last run (the room's): logged as it stopped.
mic_journal | grep 'stopped' | tail -n 1 | sed 's/^/INFO   kioskd: /'
if [ -n "$SID" ]; then
  lcr=$(dp_field "$SID" '.last_close_reason')
  check close-normal "dpsim last_close_reason of $SID: $lcr" [ "$lcr" = normal ]
fi
res=$(systemctl show -p Result --value kioskd); ems=$(systemctl show -p ExecMainStatus --value kioskd)
ecode=$(systemctl show -p ExecMainCode --value kioskd)
if [ "$p0" = 0 ]; then
  fail exit-clean "kioskd was not running when stopped ($was; Result=$res ExecMainStatus=$ems)"
elif [ "$res" = success ] && [ "$ems" = 0 ]; then
  pass exit-clean "systemctl stop: Result=$res ExecMainStatus=$ems ExecMainCode=$ecode"
else
  fail exit-clean "systemctl stop: Result=$res ExecMainStatus=$ems ExecMainCode=$ecode (want success, 0)"
fi

# docs/BEHAVIOUR.md section 9: the token never reaches the journal.
if journalctl --no-pager -o verbose 2>/dev/null | grep -qF "$TOKEN"; then
  fail no-token-in-logs "the server token appears in the journal"
else
  pass no-token-in-logs "the token is in no journal entry"
fi

evidence final
journalctl -u dpsim --no-pager -o short-monotonic >"$VT_OUT/dpsim.log" 2>&1
exit 0
