#!/bin/bash
# Plumbing check of the VM system test (VMTEST_SCRIPT=smoke): the guest's
# devices and services work, independently of kioskd. Exercises what the
# system test relies on: vivid, snd-aloop, gpio-sim with named lines,
# journald custom fields, the 9p share in and out.
set -u
. "$(dirname "$0")/lib.sh"

check kernel "$(uname -r), module.sig_enforce=$(cat /sys/module/module/parameters/sig_enforce 2>/dev/null || echo n/a)" true

if load_vivid; then
  dev=$(vivid_dev); sp=$(vivid_stable_path)
  pass vivid "$dev; stable path ${sp:-none}; by-id: $(ls /dev/v4l/by-id 2>/dev/null | tr '\n' ' ')"
  if v4l2-ctl -d "$dev" --set-fmt-video=width=640,height=480,pixelformat=YUYV --stream-mmap --stream-count=3 --stream-to=/tmp/f.raw >/dev/null 2>&1 \
     && [ "$(stat -c %s /tmp/f.raw)" -eq $((640 * 480 * 2 * 3)) ]; then
    pass vivid-capture "3 YUYV 640x480 frames"
  else
    fail vivid-capture "v4l2-ctl could not stream 640x480 YUYV"
  fi
  v4l2-ctl -d "$dev" --info 2>&1 | grep -E 'Card type|Driver name' | sed 's/^/INFO /'
else
  fail vivid "modprobe vivid failed"
fi

if load_aloop; then
  # A 440 Hz tone played into device 0 comes out of device 1.
  speaker-test -D hw:Loopback,0,0 -c 1 -r 48000 -F S16_LE -t sine -f 440 >/dev/null 2>&1 &
  sp=$!
  sleep 1
  if arecord -D hw:Loopback,1,0 -c 1 -r 48000 -f S16_LE -d 1 /tmp/a.wav >/dev/null 2>&1 \
     && [ "$(stat -c %s /tmp/a.wav)" -gt 90000 ]; then
    pass aloop "1 s captured from hw:Loopback,1,0 ($(stat -c %s /tmp/a.wav) bytes)"
  else
    fail aloop "no capture from hw:Loopback,1,0"
  fi
  kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
else
  fail aloop "modprobe snd-aloop failed"
fi

if make_gpiosim kiosk kiosk-red kiosk-amber kiosk-green; then
  pass gpio-sim "$GPIOSIM_CHIP at $GPIOSIM_SYSFS: $(gpioinfo "$GPIOSIM_CHIP" | grep -o '"kiosk-[a-z]*"' | tr '\n' ' ')"
  gpioset -m time -s 2 "$GPIOSIM_CHIP" 2=1 &
  gs=$!
  sleep 1
  st=$(gpiosim_state)
  wait "$gs"
  check gpio-sim-value "while gpioset drives line 2 high: $st" [ "$st" = "kiosk-red=0 kiosk-amber=0 kiosk-green=1" ]
  info "after release: $(gpiosim_state)"
else
  fail gpio-sim "could not make a gpio-sim chip"
fi

id=vmtest-$RANDOM
echo "hello with a field" | systemd-cat -t vmtest-smoke 2>/dev/null
logger --journald <<EOF
MESSAGE=smoke line
SESSION_ID=$id
SYSLOG_IDENTIFIER=vmtest-smoke
EOF
sleep 0.5
check journald "custom field SESSION_ID=$id found" \
  bash -c "journalctl -o json SESSION_ID=$id | grep -q '\"SESSION_ID\":\"$id\"'"

mode=$(cat "$VT_IN/mode")
if [ "$mode" = bin ]; then
  v=$("$VT_IN/payload/kioskd" version 2>&1 | head -1)
  check payload "kioskd version: $v" [ -n "$v" ]
else
  check payload "$(ls "$VT_IN/payload" | tr '\n' ' ')" ls "$VT_IN"/payload/kioskd_*.deb
fi
exit 0
