// Runs the CUDA kernels of cuda/*.cu, unchanged, on one CPU thread (x86-64, g++).
//
// Every CUDA thread of a block is a fiber with its own stack; fibers switch only at
// synchronisation points (__syncthreads*, __shfl*_sync, __ballot_sync), so between two such
// points each thread runs alone. Threads start in a shuffled order and a completed barrier
// releases its waiters from a random one on, so code that relies on an order CUDA does not
// promise shows (FAKE_CUPY_SEED replays one). Blocks run one after another, also shuffled.
// A barrier reached from two different lines, a warp-synchronous call missing lanes (exited or
// diverged), and a deadlock are reported as launch errors, as are partial-mask warp calls
// (not emulated). Shared memory starts as random bytes in every block.
// Included first by the sources that fake_cupy/cupy/_on_cpu.py compiles.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct uint3 { unsigned int x = 0, y = 0, z = 0; };
struct dim3 { unsigned int x = 1, y = 1, z = 1; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }

template <class To, class From>
inline To gm_bits(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To t;
  std::memcpy(&t, &v, sizeof t);
  return t;
}
inline float __int_as_float(int i) { return gm_bits<float>(i); }
inline float __uint_as_float(unsigned int u) { return gm_bits<float>(u); }
inline unsigned int __float_as_uint(float f) { return gm_bits<unsigned int>(f); }
inline int __float_as_int(float f) { return gm_bits<int>(f); }
inline long long __double_as_longlong(double d) { return gm_bits<long long>(d); }
inline int __ffs(unsigned int x) { return __builtin_ffs((int)x); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }

// Atomics: fibers never switch inside one, so a plain read-modify-write is atomic here.
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}

extern "C" void gm_cpu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .globl gm_cpu_switch
  .hidden gm_cpu_switch
  .type gm_cpu_switch, @function
gm_cpu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size gm_cpu_switch, .-gm_cpu_switch
)");

namespace gm_cpu {

constexpr size_t kStack = 128 * 1024;

struct Barrier {
  int count = 0;     // arrivals in this generation
  unsigned gen = 0;  // completed generations
  int site = 0;      // source line of this generation's first arrival
  int acc = 0;       // OR of the predicates (__syncthreads_or)
  int result[2] = {0, 0};
  unsigned long long slot[2][32] = {};  // warp exchange, double-buffered by generation
  std::vector<int> waiters;
};

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;
  uint3 tid;
  int lane = 0, warp = 0;
  bool done = false;
};

struct Runtime {
  std::vector<Fiber> fibers;
  std::vector<int> ready;  // runnable fibers, FIFO from ready_head
  size_t ready_head = 0;
  std::vector<Barrier> warps;
  Barrier block;
  int live = 0;
  void* sched_sp = nullptr;
  Fiber* cur = nullptr;
  std::vector<unsigned char> dynamic;
  std::vector<void*> fresh;
  unsigned long long rng = 1;
  std::string error;
  void (*body)(void*) = nullptr;
  void* body_arg = nullptr;
};
inline Runtime R;

inline unsigned long long next_random() {  // xorshift64*
  R.rng ^= R.rng >> 12;
  R.rng ^= R.rng << 25;
  R.rng ^= R.rng >> 27;
  return R.rng * 0x2545F4914F6CDD1DULL;
}

inline void randomize(void* p, size_t n) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; i += 8) {
    const unsigned long long r = next_random();
    std::memcpy(b + i, &r, std::min<size_t>(8, n - i));
  }
}

// Leave the current fiber for the next ready one (or the scheduler when none is ready).
inline void yield_to_next() {
  Fiber* me = R.cur;
  if (R.ready_head == R.ready.size() || !R.error.empty()) {
    gm_cpu_switch(&me->sp, R.sched_sp);
    return;
  }
  Fiber* next = &R.fibers[R.ready[R.ready_head++]];
  R.cur = next;
  threadIdx = next->tid;
  gm_cpu_switch(&me->sp, next->sp);
}

[[noreturn]] inline void leave_forever() {
  for (;;) yield_to_next();
}

inline void fail(const std::string& why) {
  if (R.error.empty()) R.error = why;
  leave_forever();
}

// Generation done: its waiters become ready, starting at a random one of them.
inline void complete(Barrier& b) {
  b.result[b.gen & 1] = b.acc;
  b.acc = 0;
  b.count = 0;
  b.gen++;
  const size_t n = b.waiters.size();
  if (n == 0) return;
  if (R.ready_head > 4096 && R.ready_head * 2 > R.ready.size()) {
    R.ready.erase(R.ready.begin(), R.ready.begin() + (long)R.ready_head);
    R.ready_head = 0;
  }
  const size_t r = next_random() % n;
  for (size_t i = 0; i < n; ++i) R.ready.push_back(b.waiters[(i + r) % n]);
  b.waiters.clear();
}

inline void trampoline() {
  R.body(R.body_arg);
  R.cur->done = true;
  R.live--;
  if (R.block.count > 0 && R.block.count == R.live) complete(R.block);
  leave_forever();
}

// Dynamic shared memory of the running block (`extern __shared__ T name[]`).
inline void* dynamic_shared() { return R.dynamic.data(); }

// A static `__shared__` variable starts as random bytes in each block (first thread there).
inline void fresh_shared(void* p, size_t n) {
  for (void* q : R.fresh)
    if (q == p) return;
  R.fresh.push_back(p);
  randomize(p, n);
}

// Arrive at b; wait until `need` threads have arrived in this generation. Returns it.
inline unsigned arrive(Barrier& b, int need, int site, const char* what) {
  const unsigned g = b.gen;
  if (b.count == 0) {
    b.site = site;
  } else if (b.site != site) {
    fail(std::string(what) + " reached from lines " + std::to_string(b.site) + " and " +
         std::to_string(site) + " in one generation (divergent barrier)");
  }
  if (++b.count == need) {
    complete(b);
    return g;
  }
  b.waiters.push_back((int)(R.cur - R.fibers.data()));
  yield_to_next();
  return g;
}

inline void full_mask(unsigned mask, const char* what) {
  if (mask != 0xffffffffu) fail(std::string(what) + ": only the full mask is emulated");
  if ((blockDim.x * blockDim.y * blockDim.z) % 32u)
    fail(std::string(what) + ": block size is not a multiple of 32 (missing lanes)");
}

inline int syncthreads_or(int pred, int site) {
  R.block.acc |= pred ? 1 : 0;
  const unsigned g = arrive(R.block, R.live, site, "__syncthreads");
  return R.block.result[g & 1];
}

template <class T>
inline T exchange(unsigned mask, T v, int src_lane, bool by_xor, int site, const char* what) {
  static_assert(sizeof(T) <= 8);
  full_mask(mask, what);
  Barrier& w = R.warps[R.cur->warp];
  const int lane = R.cur->lane;
  unsigned long long bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  w.slot[w.gen & 1][lane] = bits;
  const unsigned g = arrive(w, 32, site, what);
  const int src = (by_xor ? (lane ^ src_lane) : src_lane) & 31;
  T out;
  std::memcpy(&out, &w.slot[g & 1][src], sizeof out);
  return out;
}

inline unsigned ballot(unsigned mask, int pred, int site) {
  full_mask(mask, "__ballot_sync");
  Barrier& w = R.warps[R.cur->warp];
  w.slot[w.gen & 1][R.cur->lane] = pred ? 1u : 0u;
  const unsigned g = arrive(w, 32, site, "__ballot_sync");
  unsigned out = 0;
  for (int i = 0; i < 32; ++i) out |= (w.slot[g & 1][i] ? 1u : 0u) << i;
  return out;
}

inline void start(Fiber& f, size_t index) {
  // Initial frame for gm_cpu_switch: six callee-saved registers, then the trampoline as
  // return address, placed so that rsp % 16 == 8 on entry (as after a call). The FP control
  // words are not switched: no kernel changes them. Stack tops are staggered so that they do
  // not all map to the same cache sets.
  const size_t color = index * 448 % 16384;
  auto top = reinterpret_cast<uintptr_t>(f.stack + kStack - color) & ~uintptr_t(15);
  auto* a = reinterpret_cast<uint64_t*>(top - 16);
  a[1] = 0;
  a[0] = reinterpret_cast<uint64_t>(&trampoline);
  uint64_t* sp = a - 6;
  for (int i = 0; i < 6; ++i) sp[i] = 0;
  f.sp = sp;
  f.done = false;
}

inline bool run_block(unsigned nthreads) {
  R.fresh.clear();
  randomize(R.dynamic.data(), R.dynamic.size());
  R.block = Barrier();
  R.warps.assign((nthreads + 31) / 32, Barrier());
  R.live = (int)nthreads;
  R.ready.clear();
  R.ready_head = 0;
  for (unsigned i = 0; i < nthreads; ++i) {
    Fiber& f = R.fibers[i];
    f.tid.x = i % blockDim.x;
    f.tid.y = (i / blockDim.x) % blockDim.y;
    f.tid.z = i / (blockDim.x * blockDim.y);
    f.lane = (int)(i % 32);
    f.warp = (int)(i / 32);
    start(f, i);
    R.ready.push_back((int)i);
  }
  for (size_t i = nthreads; i > 1; --i) std::swap(R.ready[i - 1], R.ready[next_random() % i]);
  Fiber* first = &R.fibers[R.ready[R.ready_head++]];
  R.cur = first;
  threadIdx = first->tid;
  gm_cpu_switch(&R.sched_sp, first->sp);  // back here when no fiber is ready (or on error)
  if (!R.error.empty()) return false;
  if (R.live > 0) {
    const int at_block = R.block.count;
    R.error = "deadlock: " + std::to_string(at_block) + " threads wait at __syncthreads, " +
              std::to_string(R.live - at_block) + " at a warp-synchronous call whose lanes " +
              "never all arrive (exited or diverged lanes)";
    return false;
  }
  return true;
}

// Runs body once per CUDA thread of the grid. Returns 0, or 1 with the reason in err.
inline int launch(const unsigned* dims, unsigned long long shared_bytes, unsigned long long seed,
                  void (*body)(void*), void* arg, char* err, int err_len) {
  gridDim = dim3{dims[0], dims[1], dims[2]};
  blockDim = dim3{dims[3], dims[4], dims[5]};
  const unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
  seed += 0x9E3779B97F4A7C15ULL;  // splitmix64: nearby seeds give unrelated streams
  seed = (seed ^ (seed >> 30)) * 0xBF58476D1CE4E5B9ULL;
  seed = (seed ^ (seed >> 27)) * 0x94D049BB133111EBULL;
  R.rng = (seed ^ (seed >> 31)) | 1;
  R.error.clear();
  R.body = body;
  R.body_arg = arg;
  R.dynamic.assign(shared_bytes + 16, 0);
  while (R.fibers.size() < nthreads) {
    R.fibers.emplace_back();
    R.fibers.back().stack = static_cast<char*>(std::malloc(kStack));
  }
  std::vector<uint3> blocks;
  for (unsigned z = 0; z < gridDim.z; ++z)
    for (unsigned y = 0; y < gridDim.y; ++y)
      for (unsigned x = 0; x < gridDim.x; ++x) blocks.push_back(uint3{x, y, z});
  for (size_t i = blocks.size(); i > 1; --i) std::swap(blocks[i - 1], blocks[next_random() % i]);
  for (const uint3& b : blocks) {
    blockIdx = b;
    if (!run_block(nthreads)) {
      std::snprintf(err, (size_t)err_len, "block (%u, %u, %u): %s", b.x, b.y, b.z,
                    R.error.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace gm_cpu

#define __syncthreads() ((void)gm_cpu::syncthreads_or(0, __LINE__))
#define __syncthreads_or(pred) gm_cpu::syncthreads_or((pred), __LINE__)
#define __shfl_sync(mask, v, src) gm_cpu::exchange((mask), (v), (src), false, __LINE__, "__shfl_sync")
#define __shfl_xor_sync(mask, v, m) \
  gm_cpu::exchange((mask), (v), (m), true, __LINE__, "__shfl_xor_sync")
#define __ballot_sync(mask, pred) gm_cpu::ballot((mask), (pred), __LINE__)
