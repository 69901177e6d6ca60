// Shared test signals for the AEC comparison (48 kHz mono float in [-1,1]).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>
#include <cstdio>
static const int RATE = 48000;

struct Rng { uint64_t s; double u() { s = s*6364136223846793005ULL + 1442695040888963407ULL; return ((s>>11)*(1.0/9007199254740992.0)); } double g(){ double a=u()+1e-12,b=u(); return sqrt(-2*log(a))*cos(2*M_PI*b);} };

// Speech-like: syllables 120-300 ms with pauses, glottal pulse train (F0 glides
// 100-220 Hz) through three formant resonators, some fricative noise.
static std::vector<float> speechlike(int n, uint64_t seed, double amp) {
  std::vector<float> out(n, 0);
  Rng r{seed};
  int i = 0;
  double ph = 0;
  while (i < n) {
    int syl = (int)((0.12 + 0.18*r.u()) * RATE);
    int pause = r.u() < 0.3 ? (int)((0.05 + 0.25*r.u()) * RATE) : (int)(0.02*RATE);
    double f0a = 100 + 120*r.u(), f0b = 100 + 120*r.u();
    double F[3] = {300 + 500*r.u(), 900 + 1400*r.u(), 2200 + 1000*r.u()};
    double fric = r.u() < 0.25 ? 0.3 : 0.0;
    // resonator states
    double y1[3]={0}, y2[3]={0};
    double a1[3], a2[3], g[3];
    for (int k=0;k<3;k++){ double bw=80+40*k; double R=exp(-M_PI*bw/RATE); a1[k]=2*R*cos(2*M_PI*F[k]/RATE); a2[k]=-R*R; g[k]=(1-R); }
    for (int j=0;j<syl && i<n;j++,i++) {
      double t = (double)j/syl;
      double env = sin(M_PI*t); env *= env;
      double f0 = f0a + (f0b-f0a)*t;
      ph += f0/RATE;
      double src = 0;
      if (ph >= 1) { ph -= 1; src = 1; }
      src += fric * r.g() * 0.2;
      double s = 0;
      for (int k=0;k<3;k++){ double y = g[k]*src*8 + a1[k]*y1[k] + a2[k]*y2[k]; y2[k]=y1[k]; y1[k]=y; s += y / (k+1); }
      out[i] = (float)(s*env);
    }
    i += pause;
  }
  // normalise to amp peak-ish (RMS based: speech crest ~ 4)
  double e=0; for (float v: out) e+=v*v; double rms=sqrt(e/n);
  for (auto &v: out) { v = (float)(v/rms*amp/4); if (v>0.99f) v=0.99f; if (v<-0.99f) v=-0.99f; }
  return out;
}

static std::vector<float> tone(int n, double hz, double amp) {
  std::vector<float> out(n);
  for (int i=0;i<n;i++) out[i] = (float)(amp*sin(2*M_PI*hz*i/RATE));
  return out;
}

// Goertzel amplitude (Hann) of hz in x[a..b)
static double level(const float* x, int n, double hz) {
  double w=2*M_PI*hz/RATE, c=cos(w), s=sin(w), k=2*c, s1=0,s2=0, ws=0;
  for (int i=0;i<n;i++){ double win=0.5-0.5*cos(2*M_PI*i/(n-1)); ws+=win; double s0=x[i]*win+k*s1-s2; s2=s1; s1=s0; }
  double re=s1-s2*c, im=s2*s;
  return 2*hypot(re,im)/ws;
}
static double db(double x) { return x <= 1e-9 ? -180 : 20*log10(x); }
static double pow_(const float* x, int n) { double e=0; for(int i=0;i<n;i++) e+=(double)x[i]*x[i]; return e/n; }
