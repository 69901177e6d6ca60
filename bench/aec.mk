# Echo cancellation, noise suppression, gain (audio/aec): ERLE, convergence
# time and the visitor's loss on the simulated acoustic path at 20, 60 and
# 120 ms, and the CPU cost of the processing per second of audio.
.PHONY: bench-aec
bench-aec: deps
	$(GO) test -run '^$$' -bench '^BenchmarkAEC' -benchtime 1x -count 1 ./bench/ | grep -v '^goos\|^goarch\|^pkg\|^cpu:'

# The library comparison behind audio/aec's choice (speexdsp against
# webrtc-audio-processing); see audio/aec/README.md. Not part of `make bench`.
.PHONY: aec-compare
aec-compare:
	@scripts/install-deps.sh g++ libwebrtc-audio-processing-dev
	g++ -O2 -o bin/aec-compare audio/aec/compare/compare.cc $$(pkg-config --cflags --libs speexdsp webrtc-audio-processing)
	@for k in tone speech; do for d in 20 60 120; do \
	  bin/aec-compare speex $$k $$d oracle 64; bin/aec-compare speex $$k $$d none $$((d+50)); \
	  bin/aec-compare webrtc $$k $$d none; bin/aec-compare webrtclow $$k $$d none; bin/aec-compare webrtclownoext $$k $$d none; \
	done; done
