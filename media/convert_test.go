package media

import (
	"image"
	"testing"

	"github.com/kioskd/kioskd/hw"
)

func TestConvertRawFormatsToI420(t *testing.T) {
	const w, h = 4, 2
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	check := func(name string, y, u, v []byte) {
		t.Helper()
		for i := range y {
			if dst.Y[i] != y[i] {
				t.Fatalf("%s: Y %v, want %v", name, dst.Y, y)
			}
		}
		for i := range u {
			if dst.Cb[i] != u[i] || dst.Cr[i] != v[i] {
				t.Fatalf("%s: Cb %v Cr %v, want %v %v", name, dst.Cb, dst.Cr, u, v)
			}
		}
	}
	y := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	// YUYV: Y0 U Y1 V; 4:2:2 -> 4:2:0 keeps the even lines' chroma.
	yuyv := []byte{1, 10, 2, 20, 3, 11, 4, 21, 5, 90, 6, 90, 7, 90, 8, 90}
	if err := toI420(dst, yuyv, hw.StreamFormat{PixelFormat: hw.YUYV, Size: hw.Size{Width: w, Height: h}, BytesPerLine: 8}); err != nil {
		t.Fatal(err)
	}
	check("YUYV", y, []byte{10, 11}, []byte{20, 21})
	uyvy := []byte{10, 1, 20, 2, 11, 3, 21, 4, 90, 5, 90, 6, 90, 7, 90, 8}
	toI420(dst, uyvy, hw.StreamFormat{PixelFormat: hw.UYVY, Size: hw.Size{Width: w, Height: h}})
	check("UYVY", y, []byte{10, 11}, []byte{20, 21})
	nv12 := append(append([]byte{}, y...), 10, 20, 11, 21)
	toI420(dst, nv12, hw.StreamFormat{PixelFormat: hw.NV12, Size: hw.Size{Width: w, Height: h}, BytesPerLine: 4})
	check("NV12", y, []byte{10, 11}, []byte{20, 21})
	nv21 := append(append([]byte{}, y...), 20, 10, 21, 11)
	toI420(dst, nv21, hw.StreamFormat{PixelFormat: hw.NV21, Size: hw.Size{Width: w, Height: h}})
	check("NV21", y, []byte{10, 11}, []byte{20, 21})
	i420 := append(append([]byte{}, y...), 10, 11, 20, 21)
	toI420(dst, i420, hw.StreamFormat{PixelFormat: hw.I420, Size: hw.Size{Width: w, Height: h}})
	check("I420", y, []byte{10, 11}, []byte{20, 21})
	// Padded lines (bytesperline > width).
	padded := []byte{1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0, 10, 20, 11, 21, 0, 0}
	toI420(dst, padded, hw.StreamFormat{PixelFormat: hw.NV12, Size: hw.Size{Width: w, Height: h}, BytesPerLine: 6})
	check("NV12 padded", y, []byte{10, 11}, []byte{20, 21})
	// Short frames are errors, not panics.
	if err := toI420(dst, yuyv[:5], hw.StreamFormat{PixelFormat: hw.YUYV, Size: hw.Size{Width: w, Height: h}}); err == nil {
		t.Fatal("short YUYV accepted")
	}
	if err := toI420(dst, nv12[:9], hw.StreamFormat{PixelFormat: hw.NV12, Size: hw.Size{Width: w, Height: h}}); err == nil {
		t.Fatal("short NV12 accepted")
	}
}
