// The V4L2 ioctls of package hw, as the Go side calls them (v4l2_linux.c).
// Each returns 0 (or a count) on success and -errno on failure.

#ifndef KIOSKD_V4L2_LINUX_H
#define KIOSKD_V4L2_LINUX_H

int kv_querycap(int fd, char *card, char *driver, char *bus, unsigned int *caps);
int kv_enum_fmt(int fd, unsigned int index, unsigned int *pixfmt, unsigned int *flags, char *desc);
// out: type, then w,h (discrete) or minw,maxw,stepw,minh,maxh,steph.
int kv_enum_size(int fd, unsigned int pixfmt, unsigned int index, unsigned int *out);
// in/out: pixfmt, w, h; out: bytesperline, sizeimage.
int kv_set_fmt(int fd, unsigned int *io);
int kv_set_fps(int fd, unsigned int fps);
int kv_reqbufs(int fd, unsigned int count);
int kv_querybuf(int fd, unsigned int index, unsigned int *offset, unsigned int *length);
int kv_qbuf(int fd, unsigned int index);
int kv_dqbuf(int fd, unsigned int *index, unsigned int *bytesused, unsigned int *flags);
int kv_stream(int fd, int on);

#endif
