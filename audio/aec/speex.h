// The C side of package aec, as the Go side calls it (speex.c).

#ifndef KIOSKD_AEC_SPEEX_H
#define KIOSKD_AEC_SPEEX_H

#include <speex/speexdsp_types.h>

// kaec is one speexdsp echo canceller and preprocessor pair.
typedef struct kaec kaec;

// kaec_new returns NULL if speexdsp cannot allocate its state.
kaec *kaec_new(int frame, int tail, int rate, int ec, int ns, int agc,
		int ns_db, int echo_db, int echo_active_db, int agc_target, int agc_max_gain);
void kaec_process(kaec *k, const spx_int16_t *mic, const spx_int16_t *ref, spx_int16_t *out, int frame);
void kaec_reset(kaec *k);
void kaec_free(kaec *k);

#endif
