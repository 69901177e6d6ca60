// The C side of package timerslack (timerslack.c).

#ifndef KIOSKD_TIMERSLACK_H
#define KIOSKD_TIMERSLACK_H

// kioskd_timerslack returns the slack in ns set at load time, or -1 if the
// kernel's default was kept.
long kioskd_timerslack(void);

#endif
