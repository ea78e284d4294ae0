// Shared device code for the gpu_milvus kernels: metric tags, orderable float keys, warp sums.
//
// Conventions used by every kernel:
//  * a "key" is larger-is-better: IP -> q.x, COSINE -> q.x / |x| (q pre-normalised),
//    L2 -> 2 q.x - |x|^2 (orders rows like -|q - x|^2); invalid entries get -inf;
//  * row numbers are int (N < 2^31), masks are bytes (0 = skip), shared (N) or per query (nq, N);
//  * no standard headers: the files compile both with nvcc and with NVRTC (through CuPy).
#pragma once

#define GM_METRIC_IP 0
#define GM_METRIC_L2 1
#define GM_METRIC_COSINE 2

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

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
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

}  // namespace gm
