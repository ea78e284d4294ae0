// Sparse inner product (SPLADE-style): document-parallel for batches, term-parallel for a few
// queries.
//
// Document-parallel (gm_sparse_ip): the batch's query terms are compacted on the host into U
// slots; qtab[slot * nq + q] holds query q's weight on that term. A store column maps to its slot
// either through a dense lookup table lut[col] (-1 = no query uses it; used when the column
// space is small) or by binary search in the sorted term list. One warp scans one document row.
// Term-parallel (gm_sparse_postings): the store's columns as posting lists (CSC); each posting
// of a query term adds its product into the query's row of scores, which gm_sparse_finish then
// turns into keys.
// Either way the result is a key per (query, row): the IP when it is non-zero (SciPy's product
// drops exact zeros, and the CPU reference only returns rows sharing a dimension), else -inf;
// masks (shared / per query) and range bounds also give -inf.
#include "common.cuh"

// The key of query q and row `row` from their inner product acc (see the top of the file).
__device__ __forceinline__ float gm_sparse_key(float acc, int q, long long row,
                                               const unsigned int* __restrict__ mask,
                                               long long mask_words,
                                               const int* __restrict__ mask_row, int mask_mode,
                                               int has_radius, float radius, int has_rf, float rf) {
  if (acc == 0.0f) return GM_NEG_INF;  // no shared dimension (or an exact zero, as in SciPy)
  return gm::masked_key<GM_METRIC_IP>(acc, q, row, 0.0f, mask, mask_words, mask_row, mask_mode,
                                      has_radius, radius, has_rf, rf);
}

template <typename IdxT>
__device__ __forceinline__ int gm_slot(IdxT col, const int* __restrict__ lut, long long lut_n,
                                       const long long* __restrict__ terms, int n_terms,
                                       int use_lut) {
  if (use_lut) return ((long long)col < lut_n) ? lut[col] : -1;
  int lo = 0, hi = n_terms - 1;
  const long long c = (long long)col;
  while (lo <= hi) {
    const int mid = (lo + hi) >> 1;
    const long long t = terms[mid];
    if (t == c) return mid;
    if (t < c) lo = mid + 1; else hi = mid - 1;
  }
  return -1;
}

// Two thread layouts, one warp per document row:
//  * QUERY_LANES = 0 (small batches): for each query in turn the lanes split the row's entries
//    and a warp sum ends it;
//  * QUERY_LANES = 1 (batches of about 8+): lane l owns queries l, l + 32, ...; the row's
//    entries are read and their slots looked up once per 32 queries (32 at a time, one per
//    lane, then broadcast), and a slot's weights are read contiguously (qtab[slot * nq + q]),
//    where the first layout re-reads the row for every query.
template <typename IdxT, int QUERY_LANES>
__global__ void gm_sparse_ip(const long long* __restrict__ indptr, const IdxT* __restrict__ indices,
                             const float* __restrict__ data, long long row0, int rows,
                             const int* __restrict__ lut, long long lut_n,
                             const long long* __restrict__ terms, int n_terms, int use_lut,
                             const float* __restrict__ qtab, int nq,
                             const unsigned int* __restrict__ mask, long long mask_words,
                             const int* __restrict__ mask_row, int mask_mode,
                             int has_radius, float radius, int has_rf, float rf,
                             float* __restrict__ out) {
  const int lane = threadIdx.x & 31;
  const long long warps = ((long long)gridDim.x * blockDim.x) >> 5;
  for (long long w = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5; w < rows;
       w += warps) {
    const long long row = row0 + w;
    const long long lo = indptr[row], hi = indptr[row + 1];
    auto store_key = [&](int q, float acc) {
      out[(long long)q * rows + w] = gm_sparse_key(acc, q, row, mask, mask_words, mask_row,
                                                   mask_mode, has_radius, radius, has_rf, rf);
    };
    if (QUERY_LANES) {
      for (int q0 = 0; q0 < nq; q0 += 32) {
        const int q = q0 + lane;
        float acc = 0.0f;
        for (long long base = lo; base < hi; base += 32) {
          const long long p = base + lane;
          const int my_slot =
              p < hi ? gm_slot<IdxT>(indices[p], lut, lut_n, terms, n_terms, use_lut) : -1;
          const float my_val = p < hi ? data[p] : 0.0f;
          const int count = (int)min(32LL, hi - base);
          for (int j = 0; j < count; ++j) {
            const int s = __shfl_sync(0xffffffffu, my_slot, j);
            const float v = __shfl_sync(0xffffffffu, my_val, j);
            if (s >= 0 && q < nq) acc += v * qtab[(long long)s * nq + q];
          }
        }
        if (q < nq) store_key(q, acc);
      }
    } else {
      for (int q = 0; q < nq; ++q) {
        float acc = 0.0f;
        for (long long p = lo + lane; p < hi; p += 32) {
          const int s = gm_slot<IdxT>(indices[p], lut, lut_n, terms, n_terms, use_lut);
          if (s >= 0) acc += data[p] * qtab[(long long)s * nq + q];
        }
        acc = gm::warp_sum(acc);
        if (lane == 0) store_key(q, acc);
      }
    }
  }
}

// Term-parallel scores: entry e (a query term found in the store) covers postings
// [post_lo[e], post_lo[e] + cum[e + 1] - cum[e]) of the CSC arrays (rows, vals); query
// entry_q[e] with weight entry_w[e]. The P = cum[n_entries] postings are spread evenly over the
// grid (a thread finds its entry by binary search in cum), so one long posting list does not
// hold one block; each adds w * val into scores[q * n + row] (zeroed first). Sums are in
// arrival order.
extern "C" __global__ void gm_sparse_postings(const int* __restrict__ rows,
                                              const float* __restrict__ vals,
                                              const long long* __restrict__ post_lo,
                                              const long long* __restrict__ cum,
                                              const int* __restrict__ entry_q,
                                              const float* __restrict__ entry_w, int n_entries,
                                              long long n, float* __restrict__ scores) {
  const long long total = cum[n_entries];
  for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    int lo = 0, hi = n_entries - 1;  // the last e with cum[e] <= t
    while (lo < hi) {
      const int mid = (lo + hi + 1) >> 1;
      if (cum[mid] <= t) lo = mid; else hi = mid - 1;
    }
    const long long p = post_lo[lo] + (t - cum[lo]);
    atomicAdd(&scores[(long long)entry_q[lo] * n + rows[p]], entry_w[lo] * vals[p]);
  }
}

// Term-parallel scores [nq, n] into keys, in place.
extern "C" __global__ void gm_sparse_finish(float* __restrict__ scores, int nq, long long n,
                                            const unsigned int* __restrict__ mask,
                                            long long mask_words,
                                            const int* __restrict__ mask_row, int mask_mode,
                                            int has_radius, float radius, int has_rf, float rf) {
  const long long total = (long long)nq * n;
  for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < total;
       t += (long long)gridDim.x * blockDim.x) {
    const int q = (int)(t / n);
    scores[t] = gm_sparse_key(scores[t], q, t - (long long)q * n, mask, mask_words, mask_row,
                              mask_mode, has_radius, radius, has_rf, rf);
  }
}

#ifndef __CUDACC_RTC__
#define GM_SPARSE(T, L)                                                                      \
  template __global__ void gm_sparse_ip<T, L>(                                              \
      const long long*, const T*, const float*, long long, int, const int*, long long,      \
      const long long*, int, int, const float*, int, const unsigned int*, long long,        \
      const int*, int, int, float, int, float, float*);
GM_SPARSE(int, 0)
GM_SPARSE(int, 1)
GM_SPARSE(long long, 0)
GM_SPARSE(long long, 1)
#endif
