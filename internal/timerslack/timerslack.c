//go:build cgo

// The C side of package timerslack: a constructor that runs when the
// process is loaded, before the Go runtime creates its threads (they
// inherit the slack), and what it set, for Applied. KIOSKD_SLACK_NS must
// equal SlackNS in timerslack.go.

#include <stdlib.h>
#include <sys/prctl.h>

#include "timerslack.h"

#define KIOSKD_SLACK_NS 1000000L

static long kioskd_timerslack_set = -1;

__attribute__((constructor)) static void kioskd_timerslack_init(void) {
  long ns = KIOSKD_SLACK_NS;
  const char *env = getenv("KIOSKD_TIMERSLACK_NS");
  if (env != NULL && *env != 0) {
    char *end;
    long v = strtol(env, &end, 10);
    if (*end == 0 && v >= 0 && v <= 10000000L) ns = v;
  }
  if (ns > 0 && prctl(PR_SET_TIMERSLACK, (unsigned long)ns, 0, 0, 0) == 0) kioskd_timerslack_set = ns;
}

long kioskd_timerslack(void) { return kioskd_timerslack_set; }
