// The fused small-batch scan (distance + per-block top-k), templated on the storage format of
// the rows. Included by distance.cu (float32 rows) and scan16.cu (16-bit scan copies), so a
// float32-only process never compiles the 16-bit instances.
#pragma once
#include "common.cuh"

// One block scans a contiguous range of rows for all nq (<= NQ) queries. A warp takes ROWS rows
// at a time (rows r, r + nwarps, ...; a lane reads 16 bytes of each per step), so each query
// slice it loads serves ROWS rows. X is stored as STORE says (GM_STORE_F32, _F16 or _BF16:
// common.cuh); queries are float32.
// Each query keeps, in shared memory, L = 2H entries: [0, H) the block's best so far (sorted,
// descending), [H, L) a candidate buffer. Rows are taken H at a time, so the buffer can never
// overflow; after each round with candidates the L entries are bitonic-sorted. Output: the
// block's best k (k <= H) per query, in out[(q * gridDim.x + block) * k + i].
// Dynamic shared memory: nq * (8 + 8 * L) bytes.
template <int METRIC, int NQ, int STORE, int ROWS>  // NQ * ROWS: a power of two, <= 32
__global__ void __launch_bounds__(256) gm_fused_scan(
    const void* __restrict__ X, int n, int d, const float* __restrict__ Q, int nq,
    const float* __restrict__ aux, const float* __restrict__ qsq,
    const unsigned int* __restrict__ mask, long long mask_words,  // bitsets: common.cuh
    const int* __restrict__ mask_row, int mask_mode,  // 0 none, 1 shared, 2 per query
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

  const unsigned int* my_mask =
      gm::query_mask(mask, mask_words, mask_row, mask_mode, lane < nq ? lane : 0);
  const long long start = (long long)blockIdx.x * rows_per_block;
  const long long stop = min((long long)n, start + rows_per_block);
  const bool vec4 = (d & 3) == 0;
  for (long long base = start; base < stop; base += H) {
    const long long round_end = min(stop, base + H);
    for (long long r0 = base + warp; r0 < round_end; r0 += (long long)nwarps * ROWS) {
      // Bit i: row r0 + i * nwarps exists and passes the mask (warp-uniform); others are not read.
      unsigned int live = 0u;
#pragma unroll
      for (int i = 0; i < ROWS; ++i) {
        const long long r = r0 + (long long)i * nwarps;
        bool ok = r < round_end;
        if (ok && mask_mode == 1) ok = gm::bit_set(mask, r);
        if (ok && mask_mode == 2)
          ok = __ballot_sync(0xffffffffu, lane < nq && gm::bit_set(my_mask, r)) != 0u;
        live |= (ok ? 1u : 0u) << i;
      }
      if (live == 0u) continue;
      float acc[NQ * ROWS];  // acc[qi * ROWS + i]: this lane's share of query qi . row i
#pragma unroll
      for (int v = 0; v < NQ * ROWS; ++v) acc[v] = 0.0f;
      if (vec4) {
        for (int j = lane * 4; j < d; j += 128) {
          float4 xv[ROWS];
#pragma unroll
          for (int i = 0; i < ROWS; ++i)
            xv[i] = ((live >> i) & 1u) ? gm::load4<STORE>(X, (r0 + (long long)i * nwarps) * d + j)
                                       : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
          for (int qi = 0; qi < NQ; ++qi) {
            if (qi < nq) {
              const float4 qv = *reinterpret_cast<const float4*>(Q + (long long)qi * d + j);
#pragma unroll
              for (int i = 0; i < ROWS; ++i)
                acc[qi * ROWS + i] +=
                    xv[i].x * qv.x + xv[i].y * qv.y + xv[i].z * qv.z + xv[i].w * qv.w;
            }
          }
        }
      } else {
        for (int j = lane; j < d; j += 32) {
          float xv[ROWS];
#pragma unroll
          for (int i = 0; i < ROWS; ++i)
            xv[i] = ((live >> i) & 1u) ? gm::load1<STORE>(X, (r0 + (long long)i * nwarps) * d + j)
                                       : 0.0f;
#pragma unroll
          for (int qi = 0; qi < NQ; ++qi) {
            if (qi < nq) {
              const float qv = Q[(long long)qi * d + j];
#pragma unroll
              for (int i = 0; i < ROWS; ++i) acc[qi * ROWS + i] += xv[i] * qv;
            }
          }
        }
      }
      // One shuffle tree for all NQ * ROWS dot products; then the first lane holding each
      // (query, row) total offers it as a candidate.
      gm::warp_reduce_scatter<NQ * ROWS>(acc, lane);
      constexpr int COPIES = 32 / (NQ * ROWS);
      const int pair = lane / COPIES, qi = pair / ROWS, i = pair - qi * ROWS;
      const long long r = r0 + (long long)i * nwarps;
      if (lane % COPIES == 0 && qi < nq && ((live >> i) & 1u)) {
        bool ok = mask_mode != 2 ||
                  gm::bit_set(gm::query_mask(mask, mask_words, mask_row, mask_mode, qi), r);
        const float key = gm::make_key<METRIC>(acc[0], aux[r]);
        ok = ok && gm::in_bounds<METRIC>(key, qsq[qi], has_radius, radius, has_rf, rf);
        if (ok && key > thr[qi]) {
          const int pos = atomicAdd(&cand_n[qi], 1);
          skeys[qi * L + H + pos] = key;
          srows[qi * L + H + pos] = (int)r;
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
