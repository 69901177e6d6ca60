# Issue 16, item 2 in the VM (sourced by system.sh, section 7b, with kioskd
# running as the service): a second `kioskd run` with the same state
# directory is refused with a message naming the service's PID, and the
# service goes on undisturbed (same MainPID, same session, no new Connected
# or Disconnected line).

if [ "$(systemctl is-active kioskd)" != active ]; then
  fail fleet-one-instance "not run: the kioskd service is $(systemctl is-active kioskd)"
else
  in_pid=$(mainpid); in_c=$(cursor)
  # KIOSKD_TOKEN: the service may hold its token as a credential, which a
  # shell does not have; the lock is what this checks, not the token.
  in_out=$(KIOSKD_TOKEN=vmtest-second-instance-token timeout 30 kioskd run --config /etc/kioskd/kioskd.yaml --log-format text 2>&1)
  in_rc=$?
  in_msg=$(echo "$in_out" | grep -m1 'another kioskd' | cut -c1-240)
  in_states=$(kjournal "$in_c" | jq -r 'select(.CONNECTION_STATE != null) | .CONNECTION_STATE' | tr '\n' ' ')
  if [ "$in_rc" = 1 ] && echo "$in_msg" | grep -q "PID $in_pid" && [ "$(mainpid)" = "$in_pid" ] && [ -z "$in_states" ] \
     && [ "$(systemctl is-active kioskd)" = active ]; then
    pass fleet-one-instance "second kioskd run: exit $in_rc, \"$in_msg\"; the service (MainPID $in_pid) went on with no state line"
  else
    fail fleet-one-instance "second kioskd run: exit $in_rc (want 1), message: ${in_msg:-$(echo "$in_out" | tail -3 | tr '\n' ' ')} (want PID $in_pid); MainPID now $(mainpid); state lines since: ${in_states:-none}"
  fi
fi
