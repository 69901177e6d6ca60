//go:build cgo

// The C side of package aec: speexdsp's echo canceller and preprocessor
// behind four calls (speex.h), so the Go side makes one cgo call a frame.

#include <stdlib.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include "speex.h"

struct kaec {
	SpeexEchoState *echo;       // NULL: no echo cancellation
	SpeexPreprocessState *pre;  // NULL: nothing to do after the canceller
};

// kaec_new sets up speexdsp's MDF echo canceller and its preprocessor.
// The preprocessor's residual echo suppression only runs with its
// denoiser on: without noise suppression the denoiser is kept on but its
// noise floor is ns_db (-1 dB: noise left alone), so only residual echo is
// suppressed.
kaec *kaec_new(int frame, int tail, int rate, int ec, int ns, int agc,
		int ns_db, int echo_db, int echo_active_db, int agc_target, int agc_max_gain) {
	kaec *k = calloc(1, sizeof *k);
	if (!k) return NULL;
	if (ec) {
		k->echo = speex_echo_state_init(frame, tail);
		if (!k->echo) { free(k); return NULL; }
		speex_echo_ctl(k->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	}
	if (ec || ns || agc) {
		k->pre = speex_preprocess_state_init(frame, rate);
		if (!k->pre) {
			if (k->echo) speex_echo_state_destroy(k->echo);
			free(k);
			return NULL;
		}
		spx_int32_t on = 1, off = 0;
		speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_DENOISE, (ec || ns) ? &on : &off);
		spx_int32_t v = ns_db;
		speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &v);
		if (ec) {
			speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, k->echo);
			v = echo_db;
			speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &v);
			v = echo_active_db;
			speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &v);
		}
		speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_AGC, agc ? &on : &off);
		if (agc) {
			float level = agc_target;
			speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_AGC_LEVEL, &level);
			v = agc_max_gain;
			speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, &v);
		}
		speex_preprocess_ctl(k->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
	}
	return k;
}

// kaec_process runs one frame: mic and ref in, out (may be mic) out.
void kaec_process(kaec *k, const spx_int16_t *mic, const spx_int16_t *ref, spx_int16_t *out, int frame) {
	if (k->echo) {
		speex_echo_cancellation(k->echo, mic, ref, out);
	} else if (out != mic) {
		for (int i = 0; i < frame; i++) out[i] = mic[i];
	}
	if (k->pre) speex_preprocess_run(k->pre, out);
}

void kaec_reset(kaec *k) {
	if (k->echo) speex_echo_state_reset(k->echo);
}

void kaec_free(kaec *k) {
	if (k->pre) speex_preprocess_state_destroy(k->pre);
	if (k->echo) speex_echo_state_destroy(k->echo);
	free(k);
}
