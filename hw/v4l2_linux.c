//go:build linux && cgo

// The V4L2 ioctls of package hw, with the kernel's own structures (so their
// layout is right on every architecture), declared in v4l2_linux.h. Each
// returns 0 (or a count) on success and -errno on failure.

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/videodev2.h>

#include "v4l2_linux.h"

static int xioctl(int fd, unsigned long req, void *arg) {
  int r;
  do { r = ioctl(fd, req, arg); } while (r == -1 && errno == EINTR);
  return r == -1 ? -errno : r;
}

int kv_querycap(int fd, char *card, char *driver, char *bus, unsigned int *caps) {
  struct v4l2_capability c;
  memset(&c, 0, sizeof c);
  int r = xioctl(fd, VIDIOC_QUERYCAP, &c);
  if (r < 0) return r;
  memcpy(card, c.card, sizeof c.card);
  memcpy(driver, c.driver, sizeof c.driver);
  memcpy(bus, c.bus_info, sizeof c.bus_info);
  *caps = (c.capabilities & V4L2_CAP_DEVICE_CAPS) ? c.device_caps : c.capabilities;
  return 0;
}

int kv_enum_fmt(int fd, unsigned int index, unsigned int *pixfmt, unsigned int *flags, char *desc) {
  struct v4l2_fmtdesc d;
  memset(&d, 0, sizeof d);
  d.index = index;
  d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  int r = xioctl(fd, VIDIOC_ENUM_FMT, &d);
  if (r < 0) return r;
  *pixfmt = d.pixelformat;
  *flags = d.flags;
  memcpy(desc, d.description, sizeof d.description);
  return 0;
}

// out: type, then w,h (discrete) or minw,maxw,stepw,minh,maxh,steph.
int kv_enum_size(int fd, unsigned int pixfmt, unsigned int index, unsigned int *out) {
  struct v4l2_frmsizeenum s;
  memset(&s, 0, sizeof s);
  s.index = index;
  s.pixel_format = pixfmt;
  int r = xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s);
  if (r < 0) return r;
  out[0] = s.type;
  if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
    out[1] = s.discrete.width; out[2] = s.discrete.height;
  } else {
    out[1] = s.stepwise.min_width; out[2] = s.stepwise.max_width; out[3] = s.stepwise.step_width;
    out[4] = s.stepwise.min_height; out[5] = s.stepwise.max_height; out[6] = s.stepwise.step_height;
  }
  return 0;
}

// in/out: pixfmt, w, h; out: bytesperline, sizeimage.
int kv_set_fmt(int fd, unsigned int *io) {
  struct v4l2_format f;
  memset(&f, 0, sizeof f);
  f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  f.fmt.pix.pixelformat = io[0];
  f.fmt.pix.width = io[1];
  f.fmt.pix.height = io[2];
  f.fmt.pix.field = V4L2_FIELD_ANY;
  int r = xioctl(fd, VIDIOC_S_FMT, &f);
  if (r < 0) return r;
  io[0] = f.fmt.pix.pixelformat; io[1] = f.fmt.pix.width; io[2] = f.fmt.pix.height;
  io[3] = f.fmt.pix.bytesperline; io[4] = f.fmt.pix.sizeimage;
  return 0;
}

int kv_set_fps(int fd, unsigned int fps) {
  struct v4l2_streamparm p;
  memset(&p, 0, sizeof p);
  p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  p.parm.capture.timeperframe.numerator = 1;
  p.parm.capture.timeperframe.denominator = fps;
  return xioctl(fd, VIDIOC_S_PARM, &p);
}

int kv_reqbufs(int fd, unsigned int count) {
  struct v4l2_requestbuffers rb;
  memset(&rb, 0, sizeof rb);
  rb.count = count;
  rb.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  rb.memory = V4L2_MEMORY_MMAP;
  int r = xioctl(fd, VIDIOC_REQBUFS, &rb);
  return r < 0 ? r : (int)rb.count;
}

int kv_querybuf(int fd, unsigned int index, unsigned int *offset, unsigned int *length) {
  struct v4l2_buffer b;
  memset(&b, 0, sizeof b);
  b.index = index;
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  int r = xioctl(fd, VIDIOC_QUERYBUF, &b);
  if (r < 0) return r;
  *offset = b.m.offset;
  *length = b.length;
  return 0;
}

int kv_qbuf(int fd, unsigned int index) {
  struct v4l2_buffer b;
  memset(&b, 0, sizeof b);
  b.index = index;
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  return xioctl(fd, VIDIOC_QBUF, &b);
}

int kv_dqbuf(int fd, unsigned int *index, unsigned int *bytesused, unsigned int *flags) {
  struct v4l2_buffer b;
  memset(&b, 0, sizeof b);
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  int r = xioctl(fd, VIDIOC_DQBUF, &b);
  if (r < 0) return r;
  *index = b.index; *bytesused = b.bytesused; *flags = b.flags;
  return 0;
}

int kv_stream(int fd, int on) {
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  return xioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &type);
}
