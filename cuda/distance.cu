// Dense distance kernels: fused scan + per-block top-k (small nq), key epilogue for the GEMM
// path, and the float64 refine of the winners. Conventions in common.cuh.
#include "common.cuh"

// One block scans a contiguous range of rows for all nq (<= NQ) queries, one warp per row.
// Each query keeps, in shared memory, L = 2H entries: [0, H) the block's best so far (sorted,
// descending), [H, L) a candidate buffer. Rows are taken H at a time, so the buffer can never
// overflow; after each round with candidates the L entries are bitonic-sorted. Output: the
// block's best k (k <= H) per query, in out[(q * gridDim.x + block) * k + i].
// Dynamic shared memory: nq * (8 + 8 * L) bytes.
template <int METRIC, int NQ>
__global__ void __launch_bounds__(256) gm_fused_scan(
    const float* __restrict__ X, int n, int d, const float* __restrict__ Q, int nq,
    const float* __restrict__ aux, const float* __restrict__ qsq,
    const unsigned char* __restrict__ mask, int mask_mode,  // 0 none, 1 shared, 2 per query
    int has_radius, float radius, int has_rf, float rf, int k, int L, int rows_per_block,
    float* __restrict__ out_keys, int* __restrict__ out_rows) {
  extern __shared__ float smem[];
  float* thr = smem;                                   // [nq]
  int* cand_n = reinterpret_cast<int*>(smem + nq);     // [nq]
  float* skeys = smem + 2 * nq;                        // [nq * L]
  int* srows = reinterpret_cast<int*>(skeys + nq * L);  // [nq * L]
  const int H = L / 2;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;

  for (int i = tid; i < nq * L; i += blockDim.x) {
    skeys[i] = GM_NEG_INF;
    srows[i] = -1;
  }
  for (int i = tid; i < nq; i += blockDim.x) {
    thr[i] = GM_NEG_INF;
    cand_n[i] = 0;
  }
  __syncthreads();

  const long long start = (long long)blockIdx.x * rows_per_block;
  const long long stop = min((long long)n, start + rows_per_block);
  const bool vec4 = (d & 3) == 0;
  for (long long base = start; base < stop; base += H) {
    const long long round_end = min(stop, base + H);
    for (long long r = base + warp; r < round_end; r += nwarps) {
      if (mask_mode == 1 && !mask[r]) continue;  // warp-uniform: skip the row's bytes
      if (mask_mode == 2) {
        bool mine = lane < nq && mask[(long long)lane * n + r];
        if (__ballot_sync(0xffffffffu, mine) == 0u) continue;
      }
      float acc[NQ];
#pragma unroll
      for (int qi = 0; qi < NQ; ++qi) acc[qi] = 0.0f;
      const float* xr = X + r * d;
      if (vec4) {
        for (int j = lane * 4; j < d; j += 128) {
          const float4 xv = *reinterpret_cast<const float4*>(xr + j);
#pragma unroll
          for (int qi = 0; qi < NQ; ++qi) {
            if (qi < nq) {
              const float4 qv = *reinterpret_cast<const float4*>(Q + (long long)qi * d + j);
              acc[qi] += xv.x * qv.x + xv.y * qv.y + xv.z * qv.z + xv.w * qv.w;
            }
          }
        }
      } else {
        for (int j = lane; j < d; j += 32) {
          const float xv = xr[j];
#pragma unroll
          for (int qi = 0; qi < NQ; ++qi)
            if (qi < nq) acc[qi] += xv * Q[(long long)qi * d + j];
        }
      }
      float dot = 0.0f;
#pragma unroll
      for (int qi = 0; qi < NQ; ++qi) {
        const float s = gm::warp_sum(acc[qi]);
        if (lane == qi) dot = s;
      }
      if (lane < nq) {
        bool ok = mask_mode != 2 || mask[(long long)lane * n + r];
        const float key = gm::make_key<METRIC>(dot, aux[r]);
        ok = ok && gm::in_bounds<METRIC>(key, qsq[lane], has_radius, radius, has_rf, rf);
        if (ok && key > thr[lane]) {
          const int pos = atomicAdd(&cand_n[lane], 1);
          skeys[lane * L + H + pos] = key;
          srows[lane * L + H + pos] = (int)r;
        }
      }
    }
    __syncthreads();
    const bool any = __syncthreads_or(tid < nq && cand_n[tid] > 0);
    if (!any) continue;
    // Bitonic sort of each query's L entries, descending.
    for (int size = 2; size <= L; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int t = tid; t < nq * H; t += blockDim.x) {
          const int q = t / H, i = t - q * H;
          const int lo = 2 * stride * (i / stride) + (i % stride), hi = lo + stride;
          float* kq = skeys + q * L;
          int* rq = srows + q * L;
          const bool desc = (lo & size) == 0;
          const float a = kq[lo], b = kq[hi];
          if (desc ? (a < b) : (a > b)) {
            kq[lo] = b;
            kq[hi] = a;
            const int tr = rq[lo];
            rq[lo] = rq[hi];
            rq[hi] = tr;
          }
        }
        __syncthreads();
      }
    }
    for (int t = tid; t < nq * H; t += blockDim.x) {
      const int q = t / H, i = t - q * H;
      skeys[q * L + H + i] = GM_NEG_INF;
      srows[q * L + H + i] = -1;
    }
    for (int q = tid; q < nq; q += blockDim.x) {
      thr[q] = skeys[q * L + k - 1];
      cand_n[q] = 0;
    }
    __syncthreads();
  }
  for (int t = tid; t < nq * k; t += blockDim.x) {
    const int q = t / k, i = t - q * k;
    const long long o = ((long long)q * gridDim.x + blockIdx.x) * k + i;
    out_keys[o] = skeys[q * L + i];
    out_rows[o] = srows[q * L + i];
  }
}

// GEMM path: turn dot products S[nq, c] (columns col0 .. col0 + c of the store, or gathered
// rows when row_ids is given) into keys in place: metric, mask (-inf), range bounds.
template <int METRIC>
__global__ void gm_key_epilogue(float* __restrict__ S, int nq, int c, long long col0,
                                const int* __restrict__ row_ids, int use_row_ids,
                                const float* __restrict__ aux, const float* __restrict__ qsq,
                                const unsigned char* __restrict__ mask, int mask_mode, int n,
                                int has_radius, float radius, int has_rf, float rf) {
  const long long total = (long long)nq * c;
  for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const int q = (int)(t / c);
    const long long j = t - (long long)q * c;
    const long long row = use_row_ids ? (long long)row_ids[j] : col0 + j;
    float key = gm::make_key<METRIC>(S[t], aux[row]);
    bool ok = true;
    if (mask_mode == 1) ok = mask[row] != 0;
    if (mask_mode == 2) ok = mask[(long long)q * n + row] != 0;
    ok = ok && gm::in_bounds<METRIC>(key, qsq[q], has_radius, radius, has_rf, rf);
    S[t] = ok ? key : GM_NEG_INF;
  }
}

// Float64 distance of each winner: one warp per (query, slot). rows < 0 compute row 0
// (the caller zeroes them). Q holds the raw (not normalised) queries.
template <int METRIC>
__global__ void gm_refine(const float* __restrict__ X, int d, const float* __restrict__ Q,
                          const long long* __restrict__ rows, int nq, int k,
                          double* __restrict__ out) {
  const long long gw = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (gw >= (long long)nq * k) return;
  const int q = (int)(gw / k);
  long long row = rows[gw];
  if (row < 0) row = 0;
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
  if (lane == 0) out[gw] = a;
}

#ifndef __CUDACC_RTC__
// nvcc (CI) check: instantiate every template the Python side asks NVRTC for.
#define GM_FUSED(M, NQ)                                                                    \
  template __global__ void gm_fused_scan<M, NQ>(const float*, int, int, const float*, int, \
                                                const float*, const float*,                \
                                                const unsigned char*, int, int, float, int, \
                                                float, int, int, int, float*, int*);
#define GM_FUSED_ALL(M) GM_FUSED(M, 1) GM_FUSED(M, 2) GM_FUSED(M, 4) GM_FUSED(M, 8) \
  GM_FUSED(M, 16) GM_FUSED(M, 32)
GM_FUSED_ALL(0)
GM_FUSED_ALL(1)
GM_FUSED_ALL(2)
#define GM_EPI(M)                                                                             \
  template __global__ void gm_key_epilogue<M>(float*, int, int, long long, const int*, int,  \
                                              const float*, const float*,                    \
                                              const unsigned char*, int, int, int, float, int, \
                                              float);                                        \
  template __global__ void gm_refine<M>(const float*, int, const float*, const long long*, int, \
                                        int, double*);
GM_EPI(0)
GM_EPI(1)
GM_EPI(2)
#endif
