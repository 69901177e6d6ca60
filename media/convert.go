package media

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/kioskd/kioskd/hw"
)

// toI420 converts one raw camera frame of format f into dst (I420 of f's
// size). MJPEG frames are decoded instead (see decodeJPEG).
func toI420(dst *image.YCbCr, src []byte, f hw.StreamFormat) error {
	w, h := f.Size.Width, f.Size.Height
	cw, ch := (w+1)/2, (h+1)/2
	switch f.PixelFormat {
	case hw.YUYV, hw.UYVY:
		stride := f.BytesPerLine
		if stride < 2*w {
			stride = 2 * w
		}
		if len(src) < stride*(h-1)+2*w {
			return fmt.Errorf("short %s frame: %d bytes for %dx%d", f.PixelFormat, len(src), w, h)
		}
		yOff, uOff, vOff := 0, 1, 3
		if f.PixelFormat == hw.UYVY {
			yOff, uOff, vOff = 1, 0, 2
		}
		for y := 0; y < h; y++ {
			row := src[y*stride : y*stride+2*w]
			dy := dst.Y[y*dst.YStride : y*dst.YStride+w]
			for x := 0; x < w; x++ {
				dy[x] = row[2*x+yOff]
			}
			if y%2 == 0 {
				// 4:2:2 to 4:2:0: take the chroma of even lines.
				cy := y / 2
				du := dst.Cb[cy*dst.CStride : cy*dst.CStride+cw]
				dv := dst.Cr[cy*dst.CStride : cy*dst.CStride+cw]
				for x := 0; x < w/2; x++ {
					du[x] = row[4*x+uOff]
					dv[x] = row[4*x+vOff]
				}
			}
		}
		return nil
	case hw.NV12, hw.NV21, hw.I420:
		stride := f.BytesPerLine
		if stride < w {
			stride = w
		}
		ySize := stride * h
		cStride := stride
		if f.PixelFormat == hw.I420 {
			cStride = stride / 2
		}
		need := ySize + cStride*ch
		if f.PixelFormat == hw.I420 {
			need = ySize + 2*cStride*ch
		}
		if len(src) < need {
			return fmt.Errorf("short %s frame: %d bytes for %dx%d", f.PixelFormat, len(src), w, h)
		}
		for y := 0; y < h; y++ {
			copy(dst.Y[y*dst.YStride:y*dst.YStride+w], src[y*stride:y*stride+w])
		}
		c := src[ySize:]
		if f.PixelFormat == hw.I420 {
			for y := 0; y < ch; y++ {
				copy(dst.Cb[y*dst.CStride:y*dst.CStride+cw], c[y*cStride:y*cStride+cw])
				copy(dst.Cr[y*dst.CStride:y*dst.CStride+cw], c[cStride*ch+y*cStride:cStride*ch+y*cStride+cw])
			}
			return nil
		}
		u, v := 0, 1
		if f.PixelFormat == hw.NV21 {
			u, v = 1, 0
		}
		for y := 0; y < ch; y++ {
			row := c[y*cStride : y*cStride+2*cw]
			du := dst.Cb[y*dst.CStride : y*dst.CStride+cw]
			dv := dst.Cr[y*dst.CStride : y*dst.CStride+cw]
			for x := 0; x < cw; x++ {
				du[x] = row[2*x+u]
				dv[x] = row[2*x+v]
			}
		}
		return nil
	}
	return fmt.Errorf("%w: cannot convert %s", hw.ErrUnusable, f.PixelFormat)
}

// decodeJPEG decodes an MJPEG frame; the encoder converts any YCbCr
// subsampling it yields to I420.
func decodeJPEG(src []byte) (image.Image, error) {
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("MJPEG frame: %w", err)
	}
	return img, nil
}
