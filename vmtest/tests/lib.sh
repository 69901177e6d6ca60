# Helpers for the guest scripts of the VM system test (sourced, bash).
# The guest script is called as: guest-main.sh IN_DIR OUT_DIR
# Every check prints exactly one line, PASS or FAIL, to the console and to
# OUT_DIR/results.txt, which the host summarises.

VT_IN=${1:?in dir}
VT_OUT=${2:?out dir}
VT_RESULTS=$VT_OUT/results.txt
: >"$VT_RESULTS"
export SYSTEMD_PAGER= SYSTEMD_COLORS=0 PAGER=cat

# A check's outcome; the name is one word, the detail says what was seen.
pass() { local n=$1; shift; echo "PASS $n: $*" | tee -a "$VT_RESULTS"; }
fail() { local n=$1; shift; echo "FAIL $n: $*" | tee -a "$VT_RESULTS"; }
info() { echo "INFO $*"; }
# check NAME DETAIL CMD...: PASS if CMD succeeds.
check() { local n=$1 d=$2; shift 2; if "$@"; then pass "$n" "$d"; else fail "$n" "$d"; fi; }

# wait_for SECONDS CMD...: polls CMD every 0.25 s until it succeeds.
wait_for() {
  local until=$(( $(date +%s%N) / 1000000 + ${1%.*} * 1000 )); shift
  while :; do
    "$@" && return 0
    [ $(( $(date +%s%N) / 1000000 )) -lt "$until" ] || return 1
    sleep 0.25
  done
}

# now_ms: milliseconds since boot.
now_ms() { local u; read -r u _ </proc/uptime; u=${u/./}; echo $(( 10#$u * 10 )); }

# ---- devices --------------------------------------------------------------

# vivid with one video capture node and one webcam input: the kiosk camera.
VIVID_OPTS="n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0"
load_vivid() { modprobe vivid $VIVID_OPTS && udevadm settle -t 20; }

# vivid_dev: the /dev/videoN whose driver is vivid.
vivid_dev() {
  local d
  for d in /sys/class/video4linux/video*; do
    [ -e "$d/name" ] || continue
    if [ "$(basename "$(readlink -f "$d/device/driver")")" = vivid ]; then
      echo "/dev/$(basename "$d")"; return 0
    fi
  done
  return 1
}

# vivid_stable_path: what udev made for it, /dev/v4l/by-id/... if any, else
# /dev/v4l/by-path/...
vivid_stable_path() {
  local dev l
  dev=$(vivid_dev) || return 1
  for l in /dev/v4l/by-id/* /dev/v4l/by-path/*; do
    [ -e "$l" ] && [ "$(readlink -f "$l")" = "$dev" ] && { echo "$l"; return 0; }
  done
  return 1
}

# snd-aloop: card "Loopback"; what is played on device 0 subdevice N is
# captured on device 1 subdevice N (and the other way round).
load_aloop() { modprobe snd-aloop id=Loopback pcm_substreams=4 index=0 && udevadm settle -t 20 && [ -d /proc/asound/Loopback ]; }

# make_gpiosim CHIP LINE...: a gpio-sim chip (one bank) whose lines are
# named LINE..., through configfs. Sets GPIOSIM_CHIP (gpiochipN) and
# GPIOSIM_SYSFS (the platform device's directory with sim_gpioK/).
make_gpiosim() {
  local chip=$1; shift
  local cfs=/sys/kernel/config/gpio-sim i=0 n
  modprobe gpio-sim || return 1
  mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config || return 1
  mkdir -p "$cfs/$chip/bank0" || return 1
  echo "$#" >"$cfs/$chip/bank0/num_lines"
  for n in "$@"; do
    mkdir -p "$cfs/$chip/bank0/line$i"
    echo "$n" >"$cfs/$chip/bank0/line$i/name"
    i=$((i + 1))
  done
  echo 1 >"$cfs/$chip/live" || return 1
  udevadm settle -t 20
  GPIOSIM_CHIP=$(cat "$cfs/$chip/bank0/chip_name")
  GPIOSIM_SYSFS=/sys/devices/platform/$(cat "$cfs/$chip/dev_name")/$GPIOSIM_CHIP
  GPIOSIM_LINES=("$@")
  [ -n "$GPIOSIM_CHIP" ] && [ -e "/dev/$GPIOSIM_CHIP" ] && [ -d "$GPIOSIM_SYSFS" ]
}

# gpiosim_value LINE_NAME: the line's level as the chip sees it (0/1).
gpiosim_value() {
  local i
  for i in "${!GPIOSIM_LINES[@]}"; do
    if [ "${GPIOSIM_LINES[$i]}" = "$1" ]; then
      cat "$GPIOSIM_SYSFS/sim_gpio$i/value"; return
    fi
  done
  echo "?"
}
# gpiosim_state: "name=V name=V ..."
gpiosim_state() {
  local n s=""
  for n in "${GPIOSIM_LINES[@]}"; do s+="$n=$(gpiosim_value "$n") "; done
  echo "${s% }"
}
