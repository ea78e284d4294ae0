// Batched exact top-k selection (any k <= n) by 4-pass radix select on orderable keys.
//
// keys: [nq, n] row-major with row stride ld, larger is better. Per query the state is
// prefix (the bits of the k-th key found so far) and remaining (how many keys equal to the
// final threshold still have to be taken). Passes (shift = 24, 16, 8, 0):
//   gm_radix_hist: histogram of the next 8 bits among keys matching the prefix (multi-block);
//   gm_radix_pick: one thread per query walks the 256 bins from the top and fixes 8 bits.
// gm_radix_gather then writes every key > threshold and the first `remaining` keys equal to
// it: exactly k entries per query, unsorted. Ids come from ids[] (row stride ids_ld; 0 means
// one id row shared by all queries) or, without ids, are id_offset + column.
#include "common.cuh"

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

}  // namespace

extern "C" __global__ void gm_radix_hist(const float* __restrict__ keys, int nq, int n,
                                         long long ld, const unsigned int* __restrict__ prefix,
                                         int shift, unsigned int* __restrict__ hist) {
  __shared__ unsigned int sh[256];
  const int q = blockIdx.y;
  for (int i = threadIdx.x; i < 256; i += blockDim.x) sh[i] = 0u;
  __syncthreads();
  const unsigned int hmask = shift >= 24 ? 0u : (0xffffffffu << (shift + 8));
  const unsigned int want = prefix[q] & hmask;
  const float* row = keys + (long long)q * ld;
  const int lane = threadIdx.x & 31;  // whole warps step together (blockDim % 32 == 0)
  for (long long base = (long long)blockIdx.x * blockDim.x + threadIdx.x - lane; base < n;
       base += (long long)gridDim.x * blockDim.x) {
    const long long j = base + lane;
    const unsigned int u = j < n ? gm::float_to_ordered(row[j]) : 0u;
    warp_hist_inc(sh, (u >> shift) & 255u, j < n && (u & hmask) == want);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < 256; i += blockDim.x)
    if (sh[i]) atomicAdd(&hist[q * 256 + i], sh[i]);
}

extern "C" __global__ void gm_radix_pick(int nq, int shift, unsigned int* __restrict__ hist,
                                         unsigned int* __restrict__ prefix,
                                         int* __restrict__ remaining) {
  const int q = blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= nq) return;
  unsigned int* h = hist + q * 256;
  unsigned int need = (unsigned int)remaining[q];
  unsigned int above = 0u;
  int chosen = 0;
  for (int b = 255; b >= 0; --b) {
    const unsigned int c = h[b];
    if (above + c >= need) {
      chosen = b;
      break;
    }
    above += c;
  }
  for (int b = 0; b < 256; ++b) h[b] = 0u;  // ready for the next pass
  prefix[q] |= ((unsigned int)chosen) << shift;
  remaining[q] = (int)(need - above);
}

extern "C" __global__ void gm_radix_gather(const float* __restrict__ keys, int nq, int n,
                                           long long ld, const int* __restrict__ ids,
                                           long long ids_ld, int use_ids, int id_offset,
                                           const unsigned int* __restrict__ prefix,
                                           const int* __restrict__ remaining, int k,
                                           unsigned int* __restrict__ counters,
                                           float* __restrict__ out_keys,
                                           int* __restrict__ out_ids) {
  const int q = blockIdx.y;
  const unsigned int t = prefix[q];
  const int rem = remaining[q];
  const float* row = keys + (long long)q * ld;
  for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < n;
       j += (long long)gridDim.x * blockDim.x) {
    const float key = row[j];
    const unsigned int u = gm::float_to_ordered(key);
    int pos = -1;
    if (u > t) {
      pos = (int)atomicAdd(&counters[2 * q], 1u);
    } else if (u == t) {
      const int e = (int)atomicAdd(&counters[2 * q + 1], 1u);
      if (e < rem) pos = k - rem + e;
    }
    if (pos >= 0 && pos < k) {
      const long long o = (long long)q * k + pos;
      out_keys[o] = key;
      out_ids[o] = use_ids ? ids[(long long)q * ids_ld + j] : id_offset + (int)j;
    }
  }
}

// The same selection for short rows (the fused scan's per-block lists): one block of 1024
// threads per query runs the four passes and the gather in shared memory, in one launch where
// the kernels above take nine.
extern "C" __global__ void __launch_bounds__(1024)
    gm_radix_select_block(const float* __restrict__ keys, int n, long long ld,
                          const int* __restrict__ ids, long long ids_ld, int use_ids,
                          int id_offset, int k, float* __restrict__ out_keys,
                          int* __restrict__ out_ids) {
  __shared__ unsigned int hist[256];
  __shared__ unsigned int s_prefix, s_counters[2];
  __shared__ int s_remaining;
  const int q = blockIdx.x;
  const float* row = keys + (long long)q * ld;
  if (threadIdx.x == 0) {
    s_prefix = 0u;
    s_remaining = k;
    s_counters[0] = s_counters[1] = 0u;
  }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0u;
    __syncthreads();
    const unsigned int hmask = shift >= 24 ? 0u : (0xffffffffu << (shift + 8));
    const unsigned int want = s_prefix & hmask;
    for (int base = threadIdx.x & ~31; base < n; base += blockDim.x) {
      const int j = base + (threadIdx.x & 31);
      const unsigned int u = j < n ? gm::float_to_ordered(row[j]) : 0u;
      warp_hist_inc(hist, (u >> shift) & 255u, j < n && (u & hmask) == want);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      const unsigned int need = (unsigned int)s_remaining;
      unsigned int above = 0u;
      int chosen = 0;
      for (int b = 255; b >= 0; --b) {
        if (above + hist[b] >= need) {
          chosen = b;
          break;
        }
        above += hist[b];
      }
      s_prefix |= ((unsigned int)chosen) << shift;
      s_remaining = (int)(need - above);
    }
    __syncthreads();
  }
  const unsigned int t = s_prefix;
  const int rem = s_remaining;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float key = row[j];
    const unsigned int u = gm::float_to_ordered(key);
    int pos = -1;
    if (u > t) {
      pos = (int)atomicAdd(&s_counters[0], 1u);
    } else if (u == t) {
      const int e = (int)atomicAdd(&s_counters[1], 1u);
      if (e < rem) pos = k - rem + e;
    }
    if (pos >= 0 && pos < k) {
      const long long o = (long long)q * k + pos;
      out_keys[o] = key;
      out_ids[o] = use_ids ? ids[(long long)q * ids_ld + j] : id_offset + j;
    }
  }
}
