// The C side of package vp8enc, as the Go side calls it. vp8enc.c says
// what each function does and why.

#ifndef KIOSKD_VP8ENC_H
#define KIOSKD_VP8ENC_H

#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

// C allocations, so that libvpx never holds a pointer into Go memory
// between calls. Released with free (and vpx_codec_destroy for a ctx).
vpx_codec_ctx_t *kioskd_vp8_new_ctx(void);
vpx_codec_enc_cfg_t *kioskd_vp8_new_cfg(void);
vpx_image_t *kioskd_vp8_new_img(void);
unsigned char *kioskd_vp8_new_out(int n);

vpx_codec_iface_t *kioskd_vp8_iface(void);
vpx_codec_err_t kioskd_vp8_init(vpx_codec_ctx_t *ctx, vpx_codec_enc_cfg_t *cfg);
vpx_codec_err_t kioskd_vp8_controls(vpx_codec_ctx_t *ctx, int cpu_used,
    unsigned int static_thresh, unsigned int max_intra_pct);

// One encode in the calling thread: encode, then collect its packets.
vpx_codec_err_t kioskd_vp8_encode(vpx_codec_ctx_t *ctx, vpx_image_t *img,
    unsigned char *y, unsigned char *u, unsigned char *v, int ystride, int cstride,
    long long pts, unsigned long duration, long flags);
int kioskd_vp8_collect(vpx_codec_ctx_t *ctx, unsigned char *out, int cap, int *key);

// The same in a native worker thread, the Go side waiting on an eventfd.
typedef struct kioskd_vp8_worker kioskd_vp8_worker;
kioskd_vp8_worker *kioskd_vp8_new_worker(void);
int kioskd_vp8_worker_start(kioskd_vp8_worker *w);
void kioskd_vp8_worker_submit(kioskd_vp8_worker *w, vpx_codec_ctx_t *ctx, vpx_image_t *img,
    unsigned char *y, unsigned char *u, unsigned char *v, int ystride, int cstride,
    long long pts, unsigned long duration, long flags, unsigned char *out, int cap);
vpx_codec_err_t kioskd_vp8_worker_result(kioskd_vp8_worker *w, int *n, int *key);
void kioskd_vp8_worker_stop(kioskd_vp8_worker *w);

#endif
