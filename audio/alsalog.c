// alsa-lib's error handler, routed into kioskd's log (see alsalog.go).
//
// snd_lib_error_handler_t is variadic (printf-style), which Go cannot
// implement: this shim formats the message with vsnprintf and hands the
// text to the exported Go function. libasound is found with dlopen, as
// miniaudio finds it (the binary does not link it): dlopen of an already
// loaded library returns the same one, so the handler set here is the one
// every later snd_pcm_open of miniaudio reports through.

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>

#include "_cgo_export.h"

typedef void (*kioskd_alsa_handler_t)(const char *file, int line, const char *function, int err, const char *fmt, ...);

static void kioskd_alsa_error(const char *file, int line, const char *function, int err, const char *fmt, ...) {
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	kioskdALSAError((char *)(file ? file : ""), line, (char *)(function ? function : ""), err, msg);
}

// kioskd_alsa_install sets the handler: 0 on success, -1 without
// libasound.so.2, -2 without snd_lib_error_set_handler, else ALSA's error.
int kioskd_alsa_install(void) {
	void *h = dlopen("libasound.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		return -1;
	}
	int (*set)(kioskd_alsa_handler_t) = (int (*)(kioskd_alsa_handler_t))dlsym(h, "snd_lib_error_set_handler");
	if (set == NULL) {
		return -2;
	}
	return set(kioskd_alsa_error);
}
