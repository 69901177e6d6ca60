//go:build cgo

// The C side of package vp8enc: libvpx set up for real time, and a native
// worker thread that encodes while the Go side waits on an eventfd (see
// vp8enc.h). Compiled by cgo with the package's #cgo flags (pkg-config vpx).

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "vp8enc.h"

vpx_codec_iface_t *kioskd_vp8_iface(void) { return vpx_codec_vp8_cx(); }

vpx_codec_err_t kioskd_vp8_controls(vpx_codec_ctx_t *ctx, int cpu_used,
    unsigned int static_thresh, unsigned int max_intra_pct) {
  vpx_codec_err_t err;
  if ((err = vpx_codec_control(ctx, VP8E_SET_CPUUSED, cpu_used)) != VPX_CODEC_OK) return err;
  if ((err = vpx_codec_control(ctx, VP8E_SET_NOISE_SENSITIVITY, 0u)) != VPX_CODEC_OK) return err;
  if ((err = vpx_codec_control(ctx, VP8E_SET_STATIC_THRESHOLD, static_thresh)) != VPX_CODEC_OK) return err;
  if ((err = vpx_codec_control(ctx, VP8E_SET_TOKEN_PARTITIONS, (int)VP8_ONE_TOKENPARTITION)) != VPX_CODEC_OK) return err;
  if ((err = vpx_codec_control(ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, max_intra_pct)) != VPX_CODEC_OK) return err;
  if ((err = vpx_codec_control(ctx, VP8E_SET_SCREEN_CONTENT_MODE, 0u)) != VPX_CODEC_OK) return err;
  return VPX_CODEC_OK;
}

// Encode one I420 frame whose planes live in Go memory: the image header
// is C memory and only points at them for the duration of the call.
vpx_codec_err_t kioskd_vp8_encode(vpx_codec_ctx_t *ctx, vpx_image_t *img,
    unsigned char *y, unsigned char *u, unsigned char *v, int ystride, int cstride,
    long long pts, unsigned long duration, long flags) {
  img->planes[VPX_PLANE_Y] = y;
  img->planes[VPX_PLANE_U] = u;
  img->planes[VPX_PLANE_V] = v;
  img->stride[VPX_PLANE_Y] = ystride;
  img->stride[VPX_PLANE_U] = cstride;
  img->stride[VPX_PLANE_V] = cstride;
  vpx_codec_err_t err = vpx_codec_encode(ctx, img, (vpx_codec_pts_t)pts, duration,
      (vpx_enc_frame_flags_t)flags, VPX_DL_REALTIME);
  img->planes[0] = img->planes[1] = img->planes[2] = 0;
  return err;
}

// Copy every frame packet of the last encode into out (cap bytes);
// returns the total size (which may exceed cap: call again with more room
// is not possible, so the caller sizes out generously) and sets *key.
int kioskd_vp8_collect(vpx_codec_ctx_t *ctx, unsigned char *out, int cap, int *key) {
  vpx_codec_iter_t iter = NULL;
  const vpx_codec_cx_pkt_t *pkt;
  int n = 0;
  *key = 0;
  while ((pkt = vpx_codec_get_cx_data(ctx, &iter)) != NULL) {
    if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
    if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) *key = 1;
    if (n + (int)pkt->data.frame.sz <= cap) memcpy(out + n, pkt->data.frame.buf, pkt->data.frame.sz);
    n += (int)pkt->data.frame.sz;
  }
  return n;
}

// A native thread that runs encode and collect for the Go side, which
// waits on an eventfd through the netpoller meanwhile: while libvpx works
// no P sits in a cgo call, so the runtime's sysmon does not poll every
// 20 us for the duration (golang/go#18236) and the scheduler stays idle.
struct kioskd_vp8_worker {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state; // 0 idle, 1 job pending, 2 quit
  int started;
  pthread_t th;
  int efd;
  vpx_codec_ctx_t *ctx;
  vpx_image_t *img;
  unsigned char *y, *u, *v;
  int ystride, cstride;
  long long pts;
  unsigned long duration;
  long flags;
  unsigned char *out;
  int cap;
  vpx_codec_err_t err;
  int n, key;
};

static void *kioskd_vp8_worker_main(void *arg) {
  kioskd_vp8_worker *w = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); // signals are the Go threads' business
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (w->state == 0) pthread_cond_wait(&w->cv, &w->mu);
    int st = w->state;
    pthread_mutex_unlock(&w->mu);
    if (st == 2) return NULL;
    w->key = 0;
    w->n = 0;
    w->err = kioskd_vp8_encode(w->ctx, w->img, w->y, w->u, w->v, w->ystride, w->cstride,
        w->pts, w->duration, w->flags);
    if (w->err == VPX_CODEC_OK) w->n = kioskd_vp8_collect(w->ctx, w->out, w->cap, &w->key);
    w->y = w->u = w->v = NULL;
    pthread_mutex_lock(&w->mu);
    w->state = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    uint64_t one = 1;
    while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR) {}
  }
}

// Returns the eventfd (nonblocking) signalled after each job, or -1.
int kioskd_vp8_worker_start(kioskd_vp8_worker *w) {
  memset(w, 0, sizeof *w);
  w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->efd < 0) return -1;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  if (pthread_create(&w->th, NULL, kioskd_vp8_worker_main, w) != 0) {
    close(w->efd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return -1;
  }
  w->started = 1;
  return w->efd;
}

void kioskd_vp8_worker_submit(kioskd_vp8_worker *w, vpx_codec_ctx_t *ctx, vpx_image_t *img,
    unsigned char *y, unsigned char *u, unsigned char *v, int ystride, int cstride,
    long long pts, unsigned long duration, long flags, unsigned char *out, int cap) {
  pthread_mutex_lock(&w->mu);
  w->ctx = ctx; w->img = img; w->y = y; w->u = u; w->v = v;
  w->ystride = ystride; w->cstride = cstride; w->pts = pts; w->duration = duration; w->flags = flags;
  w->out = out; w->cap = cap;
  w->state = 1;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

// The result of the last job, once done; waits for it if need be (the
// eventfd has normally said so already).
vpx_codec_err_t kioskd_vp8_worker_result(kioskd_vp8_worker *w, int *n, int *key) {
  pthread_mutex_lock(&w->mu);
  while (w->state == 1) pthread_cond_wait(&w->cv, &w->mu);
  vpx_codec_err_t err = w->err;
  *n = w->n;
  *key = w->key;
  pthread_mutex_unlock(&w->mu);
  return err;
}

// Stops and joins the thread (idle: the Go side waits for every job).
// The eventfd is closed by its Go owner.
void kioskd_vp8_worker_stop(kioskd_vp8_worker *w) {
  if (!w->started) return;
  pthread_mutex_lock(&w->mu);
  w->state = 2;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->th, NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  w->started = 0;
}

kioskd_vp8_worker *kioskd_vp8_new_worker(void) { return calloc(1, sizeof(kioskd_vp8_worker)); }
unsigned char *kioskd_vp8_new_out(int n) { return malloc(n); }

vpx_codec_ctx_t *kioskd_vp8_new_ctx(void) { return calloc(1, sizeof(vpx_codec_ctx_t)); }
vpx_codec_enc_cfg_t *kioskd_vp8_new_cfg(void) { return calloc(1, sizeof(vpx_codec_enc_cfg_t)); }
vpx_image_t *kioskd_vp8_new_img(void) { return calloc(1, sizeof(vpx_image_t)); }
vpx_codec_err_t kioskd_vp8_init(vpx_codec_ctx_t *ctx, vpx_codec_enc_cfg_t *cfg) {
  return vpx_codec_enc_init(ctx, vpx_codec_vp8_cx(), cfg, 0);
}
