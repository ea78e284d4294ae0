// Dense distance kernels: fused scan + per-block top-k (small nq), key epilogue for the GEMM
// path, and the float64 refine of the winners. Conventions in common.cuh.
#include "common.cuh"
#include "fused_scan.cuh"

// GEMM path: turn dot products S[nq, c] (columns col0 .. col0 + c of the store, or gathered
// rows when row_ids is given) into keys in place: metric, mask (-inf), range bounds.
template <int METRIC>
__global__ void gm_key_epilogue(float* __restrict__ S, int nq, int c, long long col0,
                                const int* __restrict__ row_ids, int use_row_ids,
                                const float* __restrict__ aux, const float* __restrict__ qsq,
                                const unsigned int* __restrict__ mask, long long mask_words,
                                const int* __restrict__ mask_row, int mask_mode,
                                int has_radius, float radius, int has_rf, float rf) {
  const long long total = (long long)nq * c;
  for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const int q = (int)(t / c);
    const long long j = t - (long long)q * c;
    const long long row = use_row_ids ? (long long)row_ids[j] : col0 + j;
    S[t] = gm::masked_key<METRIC>(gm::make_key<METRIC>(S[t], aux[row]), q, row, qsq[q], mask,
                                  mask_words, mask_row, mask_mode, has_radius, radius, has_rf,
                                  rf);
  }
}

// Float64 distance of each winner: one warp per (query, slot). keys/ids [nq, k] are the
// selection's output (key -inf: no row). out [2, nq, k] int64: out[0] the row (-1 for none),
// out[1] the bits of the double distance (0.0 for none), so one copy brings both to the host.
// Q holds the raw (not normalised) queries.
template <int METRIC>
__global__ void gm_refine(const float* __restrict__ X, int d, const float* __restrict__ Q,
                          const float* __restrict__ keys, const int* __restrict__ ids, int nq,
                          int k, long long* __restrict__ out) {
  const long long gw = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  const long long total = (long long)nq * k;
  if (gw >= total) return;
  if (keys[gw] == GM_NEG_INF) {  // the whole warp takes this branch
    if (lane == 0) {
      out[gw] = -1;
      out[total + gw] = __double_as_longlong(0.0);
    }
    return;
  }
  const int q = (int)(gw / k);
  const long long row = ids[gw];
  const float* xr = X + row * d;
  const float* qr = Q + (long long)q * d;
  double a = 0.0, vv = 0.0, qq = 0.0;
  for (int j = lane; j < d; j += 32) {
    const double x = xr[j], y = qr[j];
    if (METRIC == GM_METRIC_L2) {
      a += (x - y) * (x - y);
    } else {
      a += x * y;
      vv += x * x;
      qq += y * y;
    }
  }
  a = gm::warp_sum(a);
  if (METRIC == GM_METRIC_COSINE) {
    vv = gm::warp_sum(vv);
    qq = gm::warp_sum(qq);
    const double denom = sqrt(vv) * sqrt(qq);
    a = a / (denom == 0.0 ? 1.0 : denom);
  }
  if (lane == 0) {
    out[gw] = row;
    out[total + gw] = __double_as_longlong(a);
  }
}

#ifndef __CUDACC_RTC__
// nvcc (CI) check: instantiate every template the Python side asks NVRTC for.
#define GM_FUSED(M, NQ, R)                                                                    \
  template __global__ void gm_fused_scan<M, NQ, GM_STORE_F32, R>(                             \
      const void*, int, int, const float*, int, const float*, const float*,                  \
      const unsigned int*, long long, const int*, int, int, float, int, float, int, int, int, \
      float*, int*);
// ROWS per NQ as kernels.FUSED_ROWS says, and ROWS = 1 for every NQ
#define GM_FUSED_ALL(M) GM_FUSED(M, 1, 4) GM_FUSED(M, 2, 4) GM_FUSED(M, 4, 4) GM_FUSED(M, 8, 4) \
  GM_FUSED(M, 16, 2) GM_FUSED(M, 1, 1) GM_FUSED(M, 2, 1) GM_FUSED(M, 4, 1) GM_FUSED(M, 8, 1)  \
  GM_FUSED(M, 16, 1) GM_FUSED(M, 32, 1)
GM_FUSED_ALL(0)
GM_FUSED_ALL(1)
GM_FUSED_ALL(2)
#define GM_EPI(M)                                                                             \
  template __global__ void gm_key_epilogue<M>(float*, int, int, long long, const int*, int,  \
                                              const float*, const float*,                    \
                                              const unsigned int*, long long, const int*, int, \
                                              int, float, int, float);                       \
  template __global__ void gm_refine<M>(const float*, int, const float*, const float*,       \
                                        const int*, int, int, long long*);
GM_EPI(0)
GM_EPI(1)
GM_EPI(2)
#endif
