// Shared device code for the gpu_milvus kernels: metric tags, orderable float keys, warp sums.
//
// Conventions used by every kernel:
//  * a "key" is larger-is-better: IP -> q.x, COSINE -> q.x / |x| (q pre-normalised),
//    L2 -> 2 q.x - |x|^2 (orders rows like -|q - x|^2); invalid entries get -inf;
//  * row numbers are int (N < 2^31);
//  * masks are bitsets (bit r % 32 of 32-bit word r / 32 set = row r may be returned): mode 1
//    one shared by every query; mode 2 one per distinct filter, mask_words words each, and
//    query q reads bitset mask_row[q] (queries with equal filters share one);
//  * no standard headers: the files compile both with nvcc and with NVRTC (through CuPy).
#pragma once

#define GM_METRIC_IP 0
#define GM_METRIC_L2 1
#define GM_METRIC_COSINE 2

// Storage formats of dense rows: float32, or 16-bit words holding IEEE half / bfloat16.
#define GM_STORE_F32 0
#define GM_STORE_F16 1
#define GM_STORE_BF16 2

#define GM_NEG_INF (__int_as_float(0xff800000))
#define GM_POS_INF (__int_as_float(0x7f800000))

namespace gm {

// Map a float to an unsigned int whose unsigned order equals the float order.
__device__ __forceinline__ unsigned int float_to_ordered(float f) {
  unsigned int u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float ordered_to_float(unsigned int u) {
  return __uint_as_float((u & 0x80000000u) ? (u & 0x7fffffffu) : ~u);
}

// 16-bit words to float, with no header (cuda_fp16.h / cuda_bf16.h) needed under NVRTC.
__device__ __forceinline__ float f16_to_float(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}

__device__ __forceinline__ float bf16_to_float(unsigned short h) {
  return __uint_as_float(((unsigned int)h) << 16);
}

template <int STORE>
__device__ __forceinline__ float word_to_float(unsigned short h) {
  return STORE == GM_STORE_F16 ? f16_to_float(h) : bf16_to_float(h);
}

// Element i of a row-major matrix stored as STORE.
template <int STORE>
__device__ __forceinline__ float load1(const void* X, long long i) {
  if (STORE == GM_STORE_F32) return static_cast<const float*>(X)[i];
  return word_to_float<STORE>(static_cast<const unsigned short*>(X)[i]);
}

// Elements i .. i + 3 (i a multiple of 4, the matrix 16-byte aligned): one 16- or 8-byte load.
template <int STORE>
__device__ __forceinline__ float4 load4(const void* X, long long i) {
  if (STORE == GM_STORE_F32) return *reinterpret_cast<const float4*>(static_cast<const float*>(X) + i);
  const uint2 w = *reinterpret_cast<const uint2*>(static_cast<const unsigned short*>(X) + i);
  return make_float4(word_to_float<STORE>((unsigned short)(w.x & 0xffffu)),
                     word_to_float<STORE>((unsigned short)(w.x >> 16)),
                     word_to_float<STORE>((unsigned short)(w.y & 0xffffu)),
                     word_to_float<STORE>((unsigned short)(w.y >> 16)));
}

__device__ __forceinline__ bool bit_set(const unsigned int* words, long long r) {
  return (words[r >> 5] >> (r & 31)) & 1u;
}

// The bitset query q reads: the shared one (mode 1) or its own row of the set (mode 2).
__device__ __forceinline__ const unsigned int* query_mask(const unsigned int* mask,
                                                         long long mask_words,
                                                         const int* mask_row, int mask_mode,
                                                         int q) {
  return mask_mode == 2 ? mask + (long long)mask_row[q] * mask_words : mask;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Sums each of V per-lane values (V a power of two, <= 32) over the warp, in place: afterwards
// v[0] of lane l holds the total of value l / (32 / V), so every value ends in 32 / V lanes.
// Each step halves the values a lane keeps (the half its lane bit picks) and adds the partner's
// copy of them: V - 1 + 5 - log2(V) shuffles, where a warp_sum per value takes 5 V.
template <int V>
__device__ __forceinline__ void warp_reduce_scatter(float (&v)[V], int lane) {
  static_assert(V >= 1 && V <= 32 && (V & (V - 1)) == 0, "V: a power of two up to 32");
#pragma unroll
  for (int off = 16, left = V; off > 0; off >>= 1) {
    if (left > 1) {
      const bool upper = (lane & off) != 0;
      left >>= 1;
#pragma unroll
      for (int i = 0; i < left; ++i) {
        const float send = upper ? v[i] : v[i + left];
        const float keep = upper ? v[i + left] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, off);
      }
    } else {
      v[0] += __shfl_xor_sync(0xffffffffu, v[0], off);
    }
  }
}

// Key of one (query, row) pair from its dot product; aux is |x|^2 (L2) or 1/|x| (COSINE).
template <int METRIC>
__device__ __forceinline__ float make_key(float dot, float aux) {
  if (METRIC == GM_METRIC_L2) return 2.0f * dot - aux;
  if (METRIC == GM_METRIC_COSINE) return dot * aux;
  return dot;
}

// Milvus range bounds applied on the distance; has_radius / has_rf switch each bound on.
// Larger-is-better (IP, COSINE): radius < d <= range_filter; L2: range_filter <= d < radius.
template <int METRIC>
__device__ __forceinline__ bool in_bounds(float key, float qsq, int has_radius, float radius,
                                          int has_rf, float rf) {
  if (METRIC == GM_METRIC_L2) {
    float d = qsq - key;
    if (has_radius && !(d < radius)) return false;
    if (has_rf && !(d >= rf)) return false;
  } else {
    if (has_radius && !(key > radius)) return false;
    if (has_rf && !(key <= rf)) return false;
  }
  return true;
}

// key if row `row` passes query q's mask (mode 0: no mask) and the range bounds, else -inf.
template <int METRIC>
__device__ __forceinline__ float masked_key(float key, int q, long long row, float qsq,
                                            const unsigned int* mask, long long mask_words,
                                            const int* mask_row, int mask_mode, int has_radius,
                                            float radius, int has_rf, float rf) {
  bool ok = mask_mode == 0 || bit_set(query_mask(mask, mask_words, mask_row, mask_mode, q), row);
  ok = ok && in_bounds<METRIC>(key, qsq, has_radius, radius, has_rf, rf);
  return ok ? key : GM_NEG_INF;
}

}  // namespace gm
