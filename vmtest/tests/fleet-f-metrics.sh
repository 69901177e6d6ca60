# Fleet checks of f-metrics (issue 16 items 8 and 5), sourced by system.sh
# before section 8, with kioskd running and Connected as $SID; they leave
# it so. Names are prefixed fm_ (this file shares system.sh's shell).
#
#  8. metrics from the fleet's monitoring host: 0.0.0.0:9120 is refused
#     without a web config and served with TLS and basic auth with one
#     (curl over HTTPS with the password: 200; without: 401; plain HTTP:
#     no metrics), with the families a fleet reads;
#  5. a refused token: ERROR_DETAIL=unauthorized in the journal,
#     "serverConnectionFailed (unauthorized)" in `kioskd status`, the
#     metric's detail label, and code 3 in long flashes on the gpio-sim red
#     line; the right token back, the same session.

# A certificate for 127.0.0.1 (2000-2099) and its key, for this test only,
# and a bcrypt hash (cost 5) of fm_pass.
fm_dir=/etc/kioskd
fm_pass=vmtest-scrape-pass
fm_hash='$2a$05$U2BGRTmGtFHlfdJN779VU.7FBPL3oMBRv8ef18YKnHrTPa80kHVAC'
fm_cert='-----BEGIN CERTIFICATE-----
MIIBizCCATKgAwIBAgIBEDAKBggqhkjOPQQDAjAsMSowKAYDVQQDEyFraW9za2Qg
dm10ZXN0IG1ldHJpY3MgKHRlc3Qgb25seSkwIBcNMDAwMTAxMDAwMDAwWhgPMjA5
OTEyMzEwMDAwMDBaMCwxKjAoBgNVBAMTIWtpb3NrZCB2bXRlc3QgbWV0cmljcyAo
dGVzdCBvbmx5KTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABM0GeQ7c2IvHznI3
dOfx17Krz6ls6Vb2R1kri+L4iuFCQGu4/eCJt9sPWwPd5NHstqP9zf2/OwVVRXTJ
c8pHTgijQzBBMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAa
BgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZIzj0EAwIDRwAwRAIgb77o
EzYTpLBDrTf5i/6KRfsZoIs7b9ZoUmb4nuKRTW4CIHQK6l51OA3v0WZgspNVS0xb
3H/Cajg7gpfHvpS19GXD
-----END CERTIFICATE-----'
fm_key='-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIGiS0r3VzFaiOpfS7ktXV10EfO8TrgkAPhR4k6QDp56soAoGCCqGSM49
AwEHoUQDQgAEzQZ5DtzYi8fOcjd05/HXsqvPqWzpVvZHWSuL4viK4UJAa7j94Im3
2w9bA93k0ey2o/3N/b87BVVFdMlzykdOCA==
-----END EC PRIVATE KEY-----'
fm_group=root
getent group kioskd >/dev/null && fm_group=kioskd

# fm_reload_connected CURSOR: systemctl reload, then Connected as $SID
# after CURSOR (a changed configuration restarts the session, resuming it).
fm_reload_connected() {
  systemctl reload kioskd
  wait_for "$CONNECT_WAIT" connected_after "$1" "$SID"
}
# fm_scrape [CURL ARGS...]: HTTP status and body of https://127.0.0.1:9120/metrics.
fm_scrape() { curl -s --max-time 10 --cacert "$fm_dir/vmtest-metrics.crt" -o /tmp/fm-body -w '%{http_code}' "$@" https://127.0.0.1:9120/metrics; }
fm_sample() { awk -v k="$1" '$1 == k { print $2; exit }' /tmp/fm-body; }

if [ -z "$SID" ]; then
  for c in fleet-metrics-refused fleet-metrics-tls fleet-metrics-auth fleet-metrics-plain fleet-metrics-families fleet-unauthorized-journal fleet-unauthorized-status fleet-unauthorized-metric fleet-unauthorized-leds fleet-unauthorized-back; do
    fail "$c" "not run: kioskd never reached Connected"
  done
else
  # ---- 8. metrics beyond loopback: refused without TLS and basic auth -------
  fm_cfg0=$(cat "$CFG")
  cp "$CFG" /tmp/fm-plain.yaml
  printf 'status:\n  metrics_listen: 0.0.0.0:9120\n' >>/tmp/fm-plain.yaml
  if out=$(kioskd check-config --config /tmp/fm-plain.yaml 2>&1); then
    fail fleet-metrics-refused "check-config accepted metrics_listen: 0.0.0.0:9120 without a web config: $out"
  else
    pass fleet-metrics-refused "check-config refuses 0.0.0.0:9120 without a web config: $(echo "$out" | head -1)"
  fi

  printf '%s\n' "$fm_cert" | install -m 0644 /dev/stdin "$fm_dir/vmtest-metrics.crt"
  printf '%s\n' "$fm_key" | install -m 0640 -g "$fm_group" /dev/stdin "$fm_dir/vmtest-metrics.key"
  printf 'tls_server_config:\n  cert_file: vmtest-metrics.crt\n  key_file: vmtest-metrics.key\nbasic_auth_users:\n  prometheus: %s\n' "$fm_hash" |
    install -m 0640 -g "$fm_group" /dev/stdin "$fm_dir/vmtest-metrics-web.yml"
  printf '%s\nstatus:\n  metrics_listen: 0.0.0.0:9120\n  metrics_web_config: %s\n' "$fm_cfg0" "$fm_dir/vmtest-metrics-web.yml" >"$CFG"
  fm_c=$(cursor)
  if ! out=$(kioskd check-config --config "$CFG" 2>&1); then
    fail fleet-metrics-tls "check-config refuses the web config: $out"
  elif ! fm_reload_connected "$fm_c"; then
    fail fleet-metrics-tls "after systemctl reload with metrics on 0.0.0.0:9120: no Connected line with SESSION_ID=$SID"
  else
    fm_https() { [ "$(fm_scrape -u "prometheus:$fm_pass")" = 200 ]; }
    if wait_for 30 fm_https; then
      pass fleet-metrics-tls "HTTPS with basic auth on $(ss -Hltn 'sport = :9120' | awk '{ print $4 }' | head -1): 200, $(grep -c '^kioskd_' /tmp/fm-body) kioskd_ samples; Connected again as $SID after the reload"
      none=$(fm_scrape) wrong=$(fm_scrape -u "prometheus:wrong-password")
      check fleet-metrics-auth "HTTPS without the password: HTTP $none, with a wrong one: HTTP $wrong (want 401, 401)" [ "$none $wrong" = "401 401" ]
      plain=$(curl -s --max-time 10 -o /tmp/fm-plain-body -w '%{http_code}' http://127.0.0.1:9120/metrics)
      if [ "$plain" != 200 ] && ! grep -q '^kioskd_' /tmp/fm-plain-body; then
        pass fleet-metrics-plain "plain HTTP: HTTP $plain, no metrics"
      else
        fail fleet-metrics-plain "plain HTTP: HTTP $plain, $(grep -c '^kioskd_' /tmp/fm-plain-body) kioskd_ samples"
      fi
      fm_scrape -u "prometheus:$fm_pass" >/dev/null
      fams="state=$(fm_sample 'kioskd_state{state="Connected"}') build_info=$(grep -c '^kioskd_build_info{commit="[0-9a-f]\{40\}",goversion="go[^"]*",version="[^"]*"} 1' /tmp/fm-body) camera_up=$(fm_sample 'kioskd_device_up{device="camera"}') microphone_up=$(fm_sample 'kioskd_device_up{device="microphone"}') speaker_up=$(fm_sample 'kioskd_device_up{device="speaker"}') leds_up=$(fm_sample 'kioskd_leds_up{backend="gpio"}') last_connected=$(fm_sample kioskd_last_connected_timestamp_seconds)"
      if [[ "$fams" == "state=1 build_info=1 "*" microphone_up=1 speaker_up=1 leds_up=1 "* ]] && ! grep -q kioskd_media_bitrate /tmp/fm-body; then
        pass fleet-metrics-families "$fams"
      else
        fail fleet-metrics-families "$fams (want Connected, build info, microphone, speaker and gpio LEDs up)"
      fi
    else
      fail fleet-metrics-tls "no 200 over HTTPS with basic auth in 30 s (last HTTP $(fm_scrape -u "prometheus:$fm_pass")); kioskd: $(kjournal "$fm_c" | jq -r 'select(.MESSAGE | test("metrics")) | .MESSAGE + " " + (.ERROR // "")' | tail -2 | tr '\n' ' ')"
    fi
  fi

  # ---- 5. a refused token: the detail everywhere --------------------------
  # The wrong token through a drop-in of its own: the token the service
  # uses may come from a systemd credential (fleet-config.sh), which wins
  # over token_file unless token_credential is empty.
  fm_c=$(cursor)
  fm_dropin=$CFG.d/90-vmtest-refused-token.yaml
  mkdir -p "$CFG.d"
  printf 'vmtest-a-token-dpsim-refuses-0123\n' >/etc/kioskd/vmtest-refused-token
  chown root:kioskd /etc/kioskd/vmtest-refused-token; chmod 0640 /etc/kioskd/vmtest-refused-token
  printf 'server:\n  token_credential: ""\n  token_file: /etc/kioskd/vmtest-refused-token\n' >"$fm_dropin"
  systemctl reload kioskd
  fm_refused() { kjournal "$fm_c" ERROR_NAME=serverConnectionFailed ERROR_DETAIL=unauthorized | grep -q .; }
  if wait_for 45 fm_refused; then
    pass fleet-unauthorized-journal "journalctl -u kioskd ERROR_DETAIL=unauthorized: $(kjournal "$fm_c" ERROR_DETAIL=unauthorized | head -1 | jq -r '.MESSAGE + " (" + (.ERROR // "") + ")"')"
  else
    fail fleet-unauthorized-journal "no ERROR_NAME=serverConnectionFailed ERROR_DETAIL=unauthorized line in 45 s: $(kjournal "$fm_c" | jq -r '.MESSAGE' | tail -3 | tr '\n' ' ')"
  fi
  st=$(kioskd status 2>&1)
  if echo "$st" | grep -q 'Last error: *serverConnectionFailed (unauthorized)'; then
    pass fleet-unauthorized-status "kioskd status: $(echo "$st" | grep 'Last error')"
  else
    fail fleet-unauthorized-status "kioskd status shows no 'Last error: serverConnectionFailed (unauthorized)': $(echo "$st" | tr '\n' ' ')"
  fi
  fm_counted() { fm_scrape -u "prometheus:$fm_pass" >/dev/null && [ "$(fm_sample 'kioskd_connect_errors_total{detail="unauthorized",error_name="serverConnectionFailed"}')" -ge 1 ] 2>/dev/null; }
  if wait_for 30 fm_counted; then
    pass fleet-unauthorized-metric "kioskd_connect_errors_total{detail=\"unauthorized\",error_name=\"serverConnectionFailed\"} $(fm_sample 'kioskd_connect_errors_total{detail="unauthorized",error_name="serverConnectionFailed"}')"
  else
    fail fleet-unauthorized-metric "no kioskd_connect_errors_total with detail unauthorized: $(grep '^kioskd_connect_errors_total{detail="unauthorized"' /tmp/fm-body)"
  fi
  # The red line for 10 s of wall time, read as fast as the shell can
  # (builtins only: under TCG a fork costs tens of ms), each change stamped
  # with $EPOCHREALTIME: the lit stretches of code 3 long are about 750 ms
  # (short flashes: 250 ms); amber and green stay dark.
  fm_lit="" fm_others="" fm_n=0
  fm_red=$GPIOSIM_SYSFS/sim_gpio0/value fm_amber=$GPIOSIM_SYSFS/sim_gpio1/value fm_green=$GPIOSIM_SYSFS/sim_gpio2/value
  fm_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
  read -r fm_prev <"$fm_red" # a stretch counts from its start: the first one seen whole
  fm_end=$(( $(fm_us) + 10000000 )) fm_on_at=0
  while :; do
    fm_now=${EPOCHREALTIME/./}; fm_now=$((10#$fm_now))
    [ "$fm_now" -lt "$fm_end" ] || break
    read -r r <"$fm_red"; read -r a <"$fm_amber"; read -r g <"$fm_green"
    case $r in 0 | 1) ;; *) continue ;; esac
    fm_n=$((fm_n + 1))
    [ "$a$g" = 00 ] || fm_others+="[$r $a $g]"
    if [ "$r" = 1 ] && [ "$fm_prev" = 0 ]; then fm_on_at=$fm_now; fi
    if [ "$r" = 0 ] && [ "$fm_prev" = 1 ] && [ "$fm_on_at" -gt 0 ]; then fm_lit+="$(( (fm_now - fm_on_at) / 1000 )) "; fi
    fm_prev=$r
  done
  long=0 short=0
  for d in $fm_lit; do
    if [ "$d" -ge 550 ] && [ "$d" -le 1100 ]; then long=$((long + 1)); elif [ "$d" -lt 450 ]; then short=$((short + 1)); fi
  done
  if [ "$long" -ge 3 ] && [ "$short" -eq 0 ] && [ -z "$fm_others" ]; then
    pass fleet-unauthorized-leds "red lit for ${fm_lit}ms in 10 s ($fm_n samples): long flashes of code 3 (short ones are 250 ms); amber and green dark"
  else
    fail fleet-unauthorized-leds "red lit for ${fm_lit:-no }ms in 10 s ($fm_n samples; want at least 3 flashes of 550-1100 ms and none under 450 ms); amber/green ${fm_others:-dark}"
  fi

  # The right token back: the same session.
  rm -f "$fm_dropin" /etc/kioskd/vmtest-refused-token
  printf '%s\n' "$fm_cfg0" >"$CFG" # and the metrics off again
  fm_c=$(cursor)
  if fm_reload_connected "$fm_c"; then
    pass fleet-unauthorized-back "the right token and the config back, systemctl reload: Connected as $SID again"
  else
    fail fleet-unauthorized-back "no Connected line with SESSION_ID=$SID after the token came back: $(kjournal "$fm_c" | jq -r '.MESSAGE' | tail -3 | tr '\n' ' ')"
  fi
fi
