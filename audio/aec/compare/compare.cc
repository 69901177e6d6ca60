// The measurement behind audio/aec's choice of library: speexdsp (MDF echo
// canceller + preprocessor residual echo suppression) against
// webrtc-audio-processing 0.3 (Debian 12; the AEC PulseAudio's module-echo-cancel
// uses), on the same simulated echo path. `make aec-compare` builds and runs it
// (needs g++, libspeexdsp-dev, libwebrtc-audio-processing-dev).
//
// usage: compare ENGINE tone|speech DELAY_MS oracle|none [TAIL_MS] [room]
//   ENGINE: speex speexnores speexns15 webrtc webrtchigh webrtclow webrtcnoext webrtclownoext
//   oracle: speex gets the reference shifted by the true delay less 10 ms,
//           webrtc gets the true delay through set_stream_delay_ms;
//   none:   speex gets it unshifted (TAIL_MS must cover the delay),
//           webrtc estimates it (delay-agnostic mode).
#include "sig.h"
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <ctime>
#include <cstring>
#include <string>
#include <algorithm>
#include <memory>

static double now() { timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec*1e-9; }

struct Engine { virtual void process(const float* far, const float* mic, float* out) = 0; virtual ~Engine(){} };

struct Speex : Engine {
  SpeexEchoState* st; SpeexPreprocessState* pp; bool res;
  short f[480], m[480], o[480];
  Speex(int tail, bool res_, int nsdb, bool denoise) : res(res_) {
    st = speex_echo_state_init(480, tail);
    int r = RATE; speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &r);
    pp = speex_preprocess_state_init(480, RATE);
    if (res) speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, st);
    int on = 1; speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_DENOISE, &on);
    speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &nsdb);
    (void)denoise;
  }
  ~Speex() { speex_preprocess_state_destroy(pp); speex_echo_state_destroy(st); }
  void process(const float* far, const float* mic, float* out) override {
    for (int i=0;i<480;i++){ f[i]=(short)lrintf(far[i]*32767); m[i]=(short)lrintf(mic[i]*32767); }
    speex_echo_cancellation(st, m, f, o);
    if (res) speex_preprocess_run(pp, o);
    for (int i=0;i<480;i++) out[i]=o[i]/32767.f;
  }
};

struct Webrtc : Engine {
  webrtc::AudioProcessing* apm; int delay;
  Webrtc(bool agnostic, bool extended, int delay_, int level) : delay(delay_) {
    webrtc::Config c;
    c.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(extended));
    c.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(agnostic));
    c.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
    apm = webrtc::AudioProcessing::Create(c);
    apm->echo_cancellation()->Enable(true);
    apm->echo_cancellation()->enable_drift_compensation(false);
    apm->echo_cancellation()->set_suppression_level((webrtc::EchoCancellation::SuppressionLevel)level);
    apm->echo_cancellation()->enable_metrics(true);
    apm->echo_cancellation()->enable_delay_logging(true);
    apm->high_pass_filter()->Enable(false);
    apm->noise_suppression()->Enable(false);
    apm->gain_control()->Enable(false);
  }
  ~Webrtc(){ delete apm; }
  void process(const float* far, const float* mic, float* out) override {
    webrtc::StreamConfig sc(RATE, 1);
    const float* fs[1] = {far}; float fo[480]; float* fop[1] = {fo};
    apm->ProcessReverseStream(fs, sc, sc, fop);
    apm->set_stream_delay_ms(delay);
    const float* ms[1] = {mic}; float* os[1] = {out};
    int e = apm->ProcessStream(ms, sc, sc, os);
    if (e) { fprintf(stderr, "ProcessStream %d\n", e); }
  }
};

int main(int argc, char** argv) {
  std::string eng = argv[1];        // speex | webrtc
  std::string kind = argv[2];       // tone | speech
  int D = atoi(argv[3]);            // acoustic delay ms
  std::string mode = argv[4];       // oracle | none
  int tailms = argc > 5 ? atoi(argv[5]) : 64;
  bool room = argc > 6 && std::string(argv[6]) == "room";
  const int N = 12*RATE, W = RATE/10;
  auto far = kind == "tone" ? tone(N, 880, 0.3) : speechlike(N, 7, 0.3);
  auto near = tone(N, 440, 0.15);
  for (int i=0;i<N;i++){ double t=(double)i/RATE; if (t<5 || t>=9) near[i]=0; }
  for (int i=0;i<N;i++){ double t=(double)i/RATE; if (t>=8 && t<9) far[i]=0; }
  int d = D*RATE/1000;
  std::vector<float> echo(N,0), mic(N), out(N), ref(N,0);
  for (int i=0;i<N;i++) {
    double e = i>=d ? 0.5*far[i-d] : 0;
    if (room) { // a few reflections and a short diffuse tail
      int r1=d+5*48, r2=d+13*48;
      if (i>=r1) e += 0.2*far[i-r1];
      if (i>=r2) e -= 0.1*far[i-r2];
    }
    echo[i]=e;
  }
  Rng rn{99};
  for (int i=0;i<N;i++) mic[i] = echo[i] + near[i] + 3e-4*rn.g();
  int pre = 10*RATE/1000;
  int shift = mode == "oracle" ? std::max(0, d - pre) : 0;
  for (int i=0;i<N;i++) ref[i] = i>=shift ? far[i-shift] : 0;
  std::unique_ptr<Engine> e;
  if (eng == "speex") e.reset(new Speex(tailms*RATE/1000, true, -1, true));
  else if (eng == "speexnores") e.reset(new Speex(tailms*RATE/1000, false, -1, true));
  else if (eng == "speexns15") e.reset(new Speex(tailms*RATE/1000, true, -15, true));
  else if (eng == "webrtc") e.reset(new Webrtc(mode!="oracle", true, mode=="oracle"?D:0, 1));
  else if (eng == "webrtchigh") e.reset(new Webrtc(mode!="oracle", true, mode=="oracle"?D:0, 2));
  else if (eng == "webrtclow") e.reset(new Webrtc(mode!="oracle", true, mode=="oracle"?D:0, 0));
  else if (eng == "webrtclownoext") e.reset(new Webrtc(mode!="oracle", false, mode=="oracle"?D:0, 0));
  else if (eng == "webrtcnoext") e.reset(new Webrtc(mode!="oracle", false, mode=="oracle"?D:0, 1));
  // webrtc gets the unshifted far end and the delay as a number (oracle) or nothing (agnostic)
  const std::vector<float>& feed = eng.rfind("webrtc",0)==0 ? far : ref;
  double t0 = now();
  for (int i=0;i+480<=N;i+=480) e->process(&feed[i], &mic[i], &out[i]);
  double cpu = now()-t0;
  // metrics per 100 ms window
  int conv = -1; double erle_a=0, erle_b=0; int na=0, nb=0; double dtmin=1e9, dtsum=0; int ndt=0; double nearonly=0; int nno=0;
  std::vector<double> erles;
  for (int w=0; w*W+W<=N; w++) {
    const float* mw=&mic[w*W]; const float* ow=&out[w*W]; double t=w*0.1;
    double er;
    if (kind=="tone") er = db(level(&echo[w*W],W,880)) - db(level(ow,W,880));
    else { double pe=pow_(&echo[w*W],W); if (pe < 1e-6) er = NAN; else er = 10*log10(pe/std::max(pow_(ow,W),1e-12)); }
    erles.push_back(er);
    if (t>=3 && t<5 && !std::isnan(er)) { erle_a+=std::min(er,60.0); na++; }
    if (t>=10 && t<12 && !std::isnan(er)) { erle_b+=std::min(er,60.0); nb++; }
    if (t>=5 && t<8-1e-9) { double l = db(level(ow,W,440)) - db(level(&near[w*W],W,440)); dtmin=std::min(dtmin,l); dtsum+=l; ndt++; }
    if (t>=8.2 && t<9-1e-9) { nearonly += db(level(ow,W,440)) - db(level(&near[w*W],W,440)); nno++; }
    (void)mw;
  }
  // convergence: end of the first window after which every far-only window
  // before 5 s has ERLE >= 20 dB. Tone: 100 ms windows (Goertzel at 880 Hz);
  // speech: 500 ms windows stepped by 100 ms (energy ratio), so syllable tails
  // do not dominate.
  if (kind=="tone") {
    for (int w=0; w<50; w++) { bool ok=true; for (int k=w;k<50;k++) if (!std::isnan(erles[k]) && erles[k]<20) { ok=false; break; } if (ok) { conv=(w+1)*100; break; } }
  } else {
    std::vector<double> e5;
    for (int s=0; s+5<=50; s++) { double pe=pow_(&echo[s*W],5*W), po=pow_(&out[s*W],5*W); e5.push_back(10*log10(pe/std::max(po,1e-12))); }
    for (size_t w=0; w<e5.size(); w++) { bool ok=true; for (size_t k=w;k<e5.size();k++) if (e5[k]<20) { ok=false; break; } if (ok) { conv=(w+5)*100; break; } }
  }
  printf("%-11s %-6s D=%3dms %-6s tail=%3d%s  ERLE(3-5s)=%5.1f dB ERLE(10-12s)=%5.1f dB conv=%s  near(DT) mean=%5.1f min=%5.1f dB near-only=%5.1f dB  CPU=%.2f ms/s\n",
    eng.c_str(), kind.c_str(), D, mode.c_str(), tailms, room?" room":"", erle_a/na, erle_b/nb,
    conv<0 ? "never" : (std::to_string(conv)+"ms").c_str(), dtsum/ndt, dtmin, nearonly/nno, cpu/12*1000);
  if (getenv("DUMP")) { FILE* f=fopen(getenv("DUMP"),"w"); for (size_t w=0; w<erles.size(); w++) fprintf(f,"%.1f %.1f\n", w*0.1, erles[w]); fclose(f);} 
}
