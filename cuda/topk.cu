// Batched exact top-k selection (any k <= n) by radix select on orderable keys
// (gm::float_to_ordered), larger is better. keys: [nq, n] row-major with row stride ld. Every
// selection writes exactly k entries per query, unsorted: each key above the k-th, then keys
// equal to it. Ids come from ids[] (row stride ids_ld; 0 means one id row shared by all
// queries) or, without ids, are id_offset + column.
//
// Short rows: gm_radix_select_block, one block per query, 8-bit passes in shared memory.
// Long rows: grid-wide launches that read every key twice (where 8-bit passes read it 5 times):
//   gm_radix_top_hist  per query, a histogram of the keys' top 12 bits (4096 bins);
//   gm_radix_top_pick  a warp per query finds the bin of the k-th key: its prefix, and how
//                      many keys of it (remaining) the answer still needs;
//   gm_radix_filter    writes every key of a higher bin to the output, and copies the keys of
//                      that bin (the candidates; a few hundred for spread-out keys) to a buffer
//                      of cap entries per query;
//   gm_radix_finish    a block per query selects the remaining ones among the candidates, or,
//                      where they overflowed the buffer (keys bunched into one bin), among the
//                      row's keys in that bin, read from the row itself.
#include "common.cuh"

#define GM_TOP_BITS 12
#define GM_TOP_BINS (1 << GM_TOP_BITS)
#define GM_TOP_SHIFT (32 - GM_TOP_BITS)

namespace {

// hist[bin] += 1 for each lane whose take is set, called by every lane of the warp. Keys near
// one value share their top bits, so most of a pass's keys can fall into a few bins, where
// one plain atomic per key would serialise; so twice the lanes sharing the first remaining
// lane's bin add their count with one atomic, and the lanes left add one each.
__device__ __forceinline__ void warp_hist_inc(unsigned int* hist, unsigned int bin, bool take) {
  const int lane = threadIdx.x & 31;
  unsigned int left = __ballot_sync(0xffffffffu, take);
#pragma unroll
  for (int round = 0; round < 2; ++round) {
    if (left == 0u) return;  // the same for the whole warp
    const int leader = __ffs(left) - 1;
    const unsigned int lead_bin = __shfl_sync(0xffffffffu, bin, leader);
    const unsigned int same = __ballot_sync(0xffffffffu, take && bin == lead_bin) & left;
    if (lane == leader) atomicAdd(&hist[lead_bin], (unsigned int)__popc(same));
    left &= ~same;
  }
  if ((left >> lane) & 1u) atomicAdd(&hist[bin], 1u);
}

// A slot in [*counter, ...) for each lane whose take is set (one atomic per warp), called by
// every lane; -1 for the others.
__device__ __forceinline__ int warp_claim(unsigned int* counter, bool take) {
  const int lane = threadIdx.x & 31;
  const unsigned int who = __ballot_sync(0xffffffffu, take);
  if (who == 0u) return -1;
  const int leader = __ffs(who) - 1;
  unsigned int base = 0u;
  if (lane == leader) base = atomicAdd(counter, (unsigned int)__popc(who));
  base = __shfl_sync(0xffffffffu, base, leader);
  return take ? (int)(base + __popc(who & ((1u << lane) - 1u))) : -1;
}

__device__ __forceinline__ int id_of(const int* ids, long long ids_ld, int use_ids, int id_offset,
                                     int q, long long j) {
  return use_ids ? ids[(long long)q * ids_ld + j] : id_offset + (int)j;
}

struct SelectShared {
  unsigned int hist[256];
  unsigned int prefix, above, equal;
  int remaining;
};

// Block-wide: writes to out_keys/out_ids[0 .. need) the `need` best keys of row[0 .. n) among
// those whose bits under `fixed` equal prefix's (bits of the k-th key found before; 0, 0: all
// keys), by 8-bit passes from bit `shift` down. Every thread of the block calls it.
__device__ void block_select(SelectShared& sh, const float* row, int n, const int* ids,
                             long long ids_ld, int use_ids, int id_offset, int q,
                             unsigned int prefix, unsigned int fixed, int shift, int need,
                             float* out_keys, int* out_ids) {
  const unsigned int in_fixed = fixed, want0 = prefix & fixed;
  if (threadIdx.x == 0) {
    sh.prefix = want0;
    sh.remaining = need;
    sh.above = sh.equal = 0u;
  }
  for (;; shift = shift > 8 ? shift - 8 : 0) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) sh.hist[i] = 0u;
    __syncthreads();
    const unsigned int want = sh.prefix & fixed;
    for (int base = threadIdx.x & ~31; base < n; base += blockDim.x) {  // whole warps step
      const int j = base + (threadIdx.x & 31);
      const unsigned int u = j < n ? gm::float_to_ordered(row[j]) : 0u;
      warp_hist_inc(sh.hist, (u >> shift) & 255u, j < n && (u & fixed) == want);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const unsigned int left = (unsigned int)sh.remaining;
      unsigned int above = 0u;
      int chosen = 0;
      for (int b = 255; b >= 0; --b) {
        if (above + sh.hist[b] >= left) {
          chosen = b;
          break;
        }
        above += sh.hist[b];
      }
      sh.prefix |= ((unsigned int)chosen) << shift;
      sh.remaining = (int)(left - above);
    }
    __syncthreads();
    fixed |= 0xffffffffu << shift;
    if (shift == 0) break;
  }
  const unsigned int t = sh.prefix;
  const int rem = sh.remaining;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float key = row[j];
    const unsigned int u = gm::float_to_ordered(key);
    if ((u & in_fixed) != want0) continue;
    int pos = -1;
    if (u > t) {
      pos = (int)atomicAdd(&sh.above, 1u);
    } else if (u == t) {
      const int e = (int)atomicAdd(&sh.equal, 1u);
      if (e < rem) pos = need - rem + e;
    }
    if (pos >= 0 && pos < need) {
      out_keys[pos] = key;
      out_ids[pos] = id_of(ids, ids_ld, use_ids, id_offset, q, j);
    }
  }
}

}  // namespace

// Short rows (the fused scan's per-block lists, short GEMM chunks): one block per query.
extern "C" __global__ void __launch_bounds__(1024)
    gm_radix_select_block(const float* __restrict__ keys, int n, long long ld,
                          const int* __restrict__ ids, long long ids_ld, int use_ids,
                          int id_offset, int k, float* __restrict__ out_keys,
                          int* __restrict__ out_ids) {
  __shared__ SelectShared sh;
  const int q = blockIdx.x;
  block_select(sh, keys + (long long)q * ld, n, ids, ids_ld, use_ids, id_offset, q, 0u, 0u, 24,
               k, out_keys + (long long)q * k, out_ids + (long long)q * k);
}

// hist [nq, 4096], zeroed by the caller; grid (x, nq), blockDim a multiple of 32.
extern "C" __global__ void gm_radix_top_hist(const float* __restrict__ keys, int n, long long ld,
                                             unsigned int* __restrict__ hist) {
  __shared__ unsigned int sh[GM_TOP_BINS];
  const int q = blockIdx.y;
  for (int i = threadIdx.x; i < GM_TOP_BINS; i += blockDim.x) sh[i] = 0u;
  __syncthreads();
  const float* row = keys + (long long)q * ld;
  const int lane = threadIdx.x & 31;
  for (long long base = (long long)blockIdx.x * blockDim.x + threadIdx.x - lane; base < n;
       base += (long long)gridDim.x * blockDim.x) {
    const long long j = base + lane;
    const unsigned int u = j < n ? gm::float_to_ordered(row[j]) : 0u;
    warp_hist_inc(sh, u >> GM_TOP_SHIFT, j < n);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < GM_TOP_BINS; i += blockDim.x)
    if (sh[i]) atomicAdd(&hist[(long long)q * GM_TOP_BINS + i], sh[i]);
}

// One warp per query: lane l sums bins 4095 - 128 l down to 3968 - 128 l, a scan over the
// lanes finds the lane whose bins reach k, and that lane walks them. prefix[q] gets the bin
// (top 12 bits), remaining[q] = k - (keys in higher bins) >= 1.
extern "C" __global__ void gm_radix_top_pick(int nq, int k, const unsigned int* __restrict__ hist,
                                             unsigned int* __restrict__ prefix,
                                             int* __restrict__ remaining) {
  const int q = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5);
  const int lane = threadIdx.x & 31;
  if (q >= nq) return;  // whole warps
  const int per_lane = GM_TOP_BINS / 32;
  const unsigned int* h = hist + (long long)q * GM_TOP_BINS;
  const int top = GM_TOP_BINS - 1 - lane * per_lane;  // this lane's highest bin
  unsigned int mine = 0u;
  for (int i = 0; i < per_lane; ++i) mine += h[top - i];
  unsigned int upto = mine;  // inclusive sum over lanes 0 .. lane
  for (int off = 1; off < 32; off <<= 1) {
    const unsigned int v = __shfl_sync(0xffffffffu, upto, lane >= off ? lane - off : 0);
    if (lane >= off) upto += v;
  }
  const unsigned int need = (unsigned int)k;
  const unsigned int reach = __ballot_sync(0xffffffffu, upto >= need);
  if (lane != __ffs(reach) - 1) return;  // k <= n: some lane reaches k
  unsigned int above = upto - mine;
  int b = top;
  for (; b > top - per_lane + 1 && above + h[b] < need; --b) above += h[b];
  prefix[q] = ((unsigned int)b) << GM_TOP_SHIFT;
  remaining[q] = (int)(need - above);
}

// Grid (x, nq). counters [2 nq], zeroed by the caller: [2q] keys written above the bin
// (ends at k - remaining[q]), [2q + 1] candidates seen (may exceed cap; only cap are kept).
extern "C" __global__ void gm_radix_filter(const float* __restrict__ keys, int n, long long ld,
                                           const int* __restrict__ ids, long long ids_ld,
                                           int use_ids, int id_offset,
                                           const unsigned int* __restrict__ prefix, int k,
                                           unsigned int* __restrict__ counters,
                                           float* __restrict__ out_keys,
                                           int* __restrict__ out_ids, int cap,
                                           float* __restrict__ cand_keys,
                                           int* __restrict__ cand_ids) {
  const int q = blockIdx.y;
  const unsigned int bin = prefix[q] >> GM_TOP_SHIFT;
  const float* row = keys + (long long)q * ld;
  const int lane = threadIdx.x & 31;
  for (long long base = (long long)blockIdx.x * blockDim.x + threadIdx.x - lane; base < n;
       base += (long long)gridDim.x * blockDim.x) {
    const long long j = base + lane;
    const float key = j < n ? row[j] : GM_NEG_INF;
    const unsigned int top = gm::float_to_ordered(key) >> GM_TOP_SHIFT;
    const int up = warp_claim(&counters[2 * q], j < n && top > bin);
    const int cand = warp_claim(&counters[2 * q + 1], j < n && top == bin);
    if (up >= 0 && up < k) {
      out_keys[(long long)q * k + up] = key;
      out_ids[(long long)q * k + up] = id_of(ids, ids_ld, use_ids, id_offset, q, j);
    }
    if (cand >= 0 && cand < cap) {
      cand_keys[(long long)q * cap + cand] = key;
      cand_ids[(long long)q * cap + cand] = id_of(ids, ids_ld, use_ids, id_offset, q, j);
    }
  }
}

// One block per query: the remaining[q] best keys of the candidates (or of the row's keys in
// the bin, when they overflowed cap), written after the counters[2q] keys above the bin.
extern "C" __global__ void __launch_bounds__(1024)
    gm_radix_finish(const float* __restrict__ keys, int n, long long ld,
                    const int* __restrict__ ids, long long ids_ld, int use_ids, int id_offset,
                    const unsigned int* __restrict__ prefix,
                    const int* __restrict__ remaining, const unsigned int* __restrict__ counters,
                    int cap, const float* __restrict__ cand_keys,
                    const int* __restrict__ cand_ids, int k, float* __restrict__ out_keys,
                    int* __restrict__ out_ids) {
  __shared__ SelectShared sh;
  const int q = blockIdx.x;
  const int need = remaining[q];
  const unsigned int seen = counters[2 * q + 1];
  const long long o = (long long)q * k + (k - need);
  const unsigned int fixed = 0xffffffffu << GM_TOP_SHIFT;
  if (seen <= (unsigned int)cap) {
    block_select(sh, cand_keys + (long long)q * cap, (int)seen, cand_ids + (long long)q * cap, 0,
                 1, 0, 0, prefix[q], fixed, GM_TOP_SHIFT - 8, need, out_keys + o, out_ids + o);
  } else {
    block_select(sh, keys + (long long)q * ld, n, ids, ids_ld, use_ids, id_offset, q, prefix[q],
                 fixed, GM_TOP_SHIFT - 8, need, out_keys + o, out_ids + o);
  }
}
