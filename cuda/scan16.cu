// The fused small-batch scan over a 16-bit scan copy of the rows (IEEE half or bfloat16).
// Its keys are approximate: the host certifies each query's window against the copy's rounding
// error and re-scores the winners from the float32 rows (gpu_milvus/engine/gpu.py).
#include "common.cuh"
#include "fused_scan.cuh"

#ifndef __CUDACC_RTC__
// nvcc (CI) check: instantiate every template the Python side asks NVRTC for.
#define GM_FUSED16(M, NQ, S, R)                                                              \
  template __global__ void gm_fused_scan<M, NQ, S, R>(                                      \
      const void*, int, int, const float*, int, const float*, const float*,                \
      const unsigned int*, long long, const int*, int, int, float, int, float, int, int, int, \
      float*, int*);
#define GM_FUSED16_NQ(M, S) GM_FUSED16(M, 1, S, 4) GM_FUSED16(M, 2, S, 4) GM_FUSED16(M, 4, S, 4) \
  GM_FUSED16(M, 8, S, 4) GM_FUSED16(M, 16, S, 2) GM_FUSED16(M, 32, S, 1)
#define GM_FUSED16_ALL(S) GM_FUSED16_NQ(0, S) GM_FUSED16_NQ(1, S) GM_FUSED16_NQ(2, S)
GM_FUSED16_ALL(GM_STORE_F16)
GM_FUSED16_ALL(GM_STORE_BF16)
#endif
