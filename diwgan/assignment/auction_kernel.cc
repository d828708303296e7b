// Gauss-Seidel epsilon-scaling auction for square assignment problems, as an
// XLA FFI custom call on the CPU.
//
// This is the phase loop of `diwgan.assignment.driver._auction` (Gauss-Seidel
// bidding, n == m) compiled ahead of time: the same bids in the same order
// with the same float32 arithmetic, so it returns the same prices, assignment
// and bid count as the pure-JAX loop. XLA:CPU runs a `while_loop` iteration
// in about as long as the bid itself takes, and a solve is ~16k bids at
// n = 512; here a bid is one SIMD pass over a row (with AVX-512, then a scan
// for the first column attaining its best, which stops there;
// docs/benchmarks.md).
//
// The JAX side normalises the costs to benefits in [-1, 0] (forbidden pairs
// get -2 (n + 1)), shifts the prices, applies the warm start and passes:
//   benefit (..., n, n) f32, prices (..., n) f32, assign (..., n) s32 (-1 for
//   a free row), eps (...) f32 first eps, eps_final (...) f32, eps_decay
//   (...) f32, max_rounds (...) s32, done (...) pred (already solved)
// and gets back prices (..., n), assign (..., n), rounds (...), done (...).
// Leading axes are a batch of independent problems (vmap).

#include <Python.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "xla/ffi/api/ffi.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__APPLE__)
#define DIWGAN_X86 1
#include <immintrin.h>
#endif

namespace ffi = xla::ffi;

namespace {

// 4 x float32 eps: the smallest relative eps the JAX driver uses
// (`base.MIN_RELATIVE_EPS`), a power of two, so exact in float32.
constexpr float kMinRelativeEps = 4.0f * std::numeric_limits<float>::epsilon();
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The generic row pass (AVX2, SSE and CPUs other than x86-64) keeps
// `Chains` independent running maxima of `Lanes` float32 lanes (8 in a
// 256-bit AVX2 register, 4 in a 128-bit SSE one), so that their chains of
// compare and blend overlap. How
// many lanes and chains pay depends on the registers, so `Solve` picks
// them per instruction set. Vectors wider than the target's registers
// compile to scalar code (8 lanes without AVX ran several times slower
// than 4 on the recorded ring problems).
template <int Lanes>
struct Vectors {
  typedef float Floats __attribute__((vector_size(4 * Lanes)));
  typedef int32_t Ints __attribute__((vector_size(4 * Lanes)));
};

struct BestTwo {
  float best;    // max_j benefit[j] - prices[j]
  float second;  // max over j != column (-inf when m == 1)
  int column;    // lowest j attaining `best`
};

// Merges the running maxima (best, second best, first column of the best)
// of lanes or chains `a` and `b`: the larger best wins, ties going to the
// lower column as in the JAX bid (`_min` over the columns attaining the
// max), and the smaller best competes for second place.
template <typename F, typename I>
inline __attribute__((always_inline)) void Merge(
    F& best, F& second, I& column, const F& other_best,
    const F& other_second, const I& other_column) {
  const auto wins = best > other_best, loses = other_best > best;
  const F low = wins ? other_best : best;
  const F runner_up = second > other_second ? second : other_second;
  second = runner_up > low ? runner_up : low;
  const I lower = column < other_column ? column : other_column;
  column = wins ? column : (loses ? other_column : lower);
  best = wins ? best : other_best;
}

// The best and second-best value of one row, in one pass over Chains x
// Lanes columns at a time; each lane keeps its max, its second max and the
// first column of its max, and the chains, then the lanes, are merged at
// the end. Every split of the row gives the same result: the merge is
// exact (max, ties to the lowest column).
template <int Lanes, int Chains>
inline __attribute__((always_inline)) BestTwo RowBestTwo(
    const float* row, const float* prices, int m) {
  typedef typename Vectors<Lanes>::Floats Floats;
  typedef typename Vectors<Lanes>::Ints Ints;
  constexpr int kStride = Lanes * Chains;  // columns per iteration
  Floats max1[Chains], max2[Chains];
  Ints col1[Chains], lane;
  for (int k = 0; k < Lanes; ++k) lane[k] = k;
  for (int c = 0; c < Chains; ++c) {
    for (int k = 0; k < Lanes; ++k) {
      max1[c][k] = kNegInf;
      max2[c][k] = kNegInf;
      col1[c][k] = 0;
    }
  }
  int j = 0;
  for (; j + kStride <= m; j += kStride) {
    for (int c = 0; c < Chains; ++c) {
      const int start = j + c * Lanes;
      Floats benefit, price;
      std::memcpy(&benefit, row + start, sizeof(benefit));
      std::memcpy(&price, prices + start, sizeof(price));
      const Floats value = benefit - price;
      const Ints greater = value > max1[c];
      // The old max competes for second place when it is beaten, else the
      // value.
      const Floats runner_up = greater ? max1[c] : value;
      max2[c] = runner_up > max2[c] ? runner_up : max2[c];
      max1[c] = greater ? value : max1[c];
      col1[c] = greater ? lane + start : col1[c];
    }
  }
  BestTwo out{kNegInf, kNegInf, m};
  if (j > 0) {
    for (int c = 1; c < Chains; ++c) {
      Merge(max1[0], max2[0], col1[0], max1[c], max2[c], col1[c]);
    }
    out = BestTwo{max1[0][0], max2[0][0], col1[0][0]};
    for (int k = 1; k < Lanes; ++k) {
      Merge(out.best, out.second, out.column, max1[0][k], max2[0][k],
            col1[0][k]);
    }
  }
  for (; j < m; ++j) {
    const float value = row[j] - prices[j];
    if (value > out.best) {
      out.second = out.best;
      out.best = value;
      out.column = j;
    } else if (value > out.second) {
      out.second = value;
    }
  }
  return out;
}

// The generic row pass (AVX2, SSE and other CPUs), as a policy of
// `SolveWith`.
template <int Lanes, int Chains>
struct VectorRows {
  static inline __attribute__((always_inline)) BestTwo BestAndSecond(
      const float* row, const float* prices, int m) {
    return RowBestTwo<Lanes, Chains>(row, prices, m);
  }
  static inline __attribute__((always_inline)) float Best(
      const float* row, const float* prices, int m) {
    return RowBestTwo<Lanes, Chains>(row, prices, m).best;
  }
};

#ifdef DIWGAN_X86
// The AVX-512 row pass: full 512-bit registers, and no column bookkeeping
// in the pass over the row. A running pair (largest, second largest) takes
// a value v as (max(b, v), max(s, min(b, v))), and two pairs merge as
// (max(b1, b2), max(s1, s2, min(b1, b2))): the second largest counts a tie
// with the largest, as the max over every column but the chosen one does.
// Maxima and minima only, so the pass returns the values the generic pass
// returns (no value is NaN: benefits and prices are finite). The first
// column attaining the best is then found by a scan that stops there.
struct Avx512Rows {
  static inline __attribute__((target("avx512f"), always_inline)) void Take(
      __m512& best, __m512& second, __m512 value) {
    second = _mm512_max_ps(second, _mm512_min_ps(best, value));
    best = _mm512_max_ps(best, value);
  }
  static inline __attribute__((target("avx512f"), always_inline)) void Merge(
      __m512& best, __m512& second, __m512 other_best, __m512 other_second) {
    const __m512 low = _mm512_min_ps(best, other_best);
    best = _mm512_max_ps(best, other_best);
    second = _mm512_max_ps(_mm512_max_ps(second, other_second), low);
  }
  // Columns [start, start + 16).
  static inline __attribute__((target("avx512f"), always_inline)) __m512
  Values(const float* row, const float* prices, int start) {
    return _mm512_sub_ps(_mm512_loadu_ps(row + start),
                         _mm512_loadu_ps(prices + start));
  }
  // Columns [start, m), fewer than 16: -inf past the row.
  static inline __attribute__((target("avx512f"), always_inline)) __m512
  Tail(const float* row, const float* prices, int start, int m) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (m - start)) - 1u);
    return _mm512_mask_sub_ps(_mm512_set1_ps(kNegInf), mask,
                              _mm512_maskz_loadu_ps(mask, row + start),
                              _mm512_maskz_loadu_ps(mask, prices + start));
  }
  template <bool kWantSecond>
  static inline __attribute__((target("avx512f"), always_inline)) BestTwo
  Pass(const float* row, const float* prices, int m) {
    const __m512 neg_inf = _mm512_set1_ps(kNegInf);
    __m512 b0 = neg_inf, b1 = neg_inf, b2 = neg_inf, b3 = neg_inf;
    __m512 s0 = neg_inf, s1 = neg_inf, s2 = neg_inf, s3 = neg_inf;
    int j = 0;
    for (; j + 64 <= m; j += 64) {
      const __m512 v0 = Values(row, prices, j);
      const __m512 v1 = Values(row, prices, j + 16);
      const __m512 v2 = Values(row, prices, j + 32);
      const __m512 v3 = Values(row, prices, j + 48);
      if (kWantSecond) {
        Take(b0, s0, v0); Take(b1, s1, v1); Take(b2, s2, v2); Take(b3, s3, v3);
      } else {
        b0 = _mm512_max_ps(b0, v0); b1 = _mm512_max_ps(b1, v1);
        b2 = _mm512_max_ps(b2, v2); b3 = _mm512_max_ps(b3, v3);
      }
    }
    for (; j + 16 <= m; j += 16) Take(b0, s0, Values(row, prices, j));
    if (j < m) Take(b0, s0, Tail(row, prices, j, m));
    Merge(b0, s0, b1, s1);
    Merge(b2, s2, b3, s3);
    Merge(b0, s0, b2, s2);
    // Lanes: swap 256-bit halves, 128-bit quarters, then within 128 bits.
    Merge(b0, s0, _mm512_shuffle_f32x4(b0, b0, _MM_SHUFFLE(1, 0, 3, 2)),
          _mm512_shuffle_f32x4(s0, s0, _MM_SHUFFLE(1, 0, 3, 2)));
    Merge(b0, s0, _mm512_shuffle_f32x4(b0, b0, _MM_SHUFFLE(2, 3, 0, 1)),
          _mm512_shuffle_f32x4(s0, s0, _MM_SHUFFLE(2, 3, 0, 1)));
    Merge(b0, s0, _mm512_permute_ps(b0, _MM_SHUFFLE(1, 0, 3, 2)),
          _mm512_permute_ps(s0, _MM_SHUFFLE(1, 0, 3, 2)));
    Merge(b0, s0, _mm512_permute_ps(b0, _MM_SHUFFLE(2, 3, 0, 1)),
          _mm512_permute_ps(s0, _MM_SHUFFLE(2, 3, 0, 1)));
    BestTwo out{_mm512_cvtss_f32(b0), _mm512_cvtss_f32(s0), m};
    if (!kWantSecond) return out;
    const __m512 best = _mm512_set1_ps(out.best);
    for (int t = 0; t < m; t += 16) {
      const __m512 values =
          t + 16 <= m ? Values(row, prices, t) : Tail(row, prices, t, m);
      const __mmask16 equal = _mm512_cmp_ps_mask(values, best, _CMP_EQ_OQ);
      if (equal != 0) {
        out.column = t + __builtin_ctz(static_cast<unsigned>(equal));
        break;
      }
    }
    return out;
  }
  static __attribute__((target("avx512f"))) BestTwo
  BestAndSecond(const float* row, const float* prices, int m) {
    return Pass<true>(row, prices, m);
  }
  static __attribute__((target("avx512f"))) float Best(
      const float* row, const float* prices, int m) {
    return Pass<false>(row, prices, m).best;
  }
};
#endif

struct Problem {
  const float* benefit;  // (n, n)
  float* prices;         // (n,)
  int32_t* assign;       // (n,)
  int n;
  float eps;
  float eps_final;
  float eps_decay;
  int32_t max_rounds;
  bool done;
};

// Solves one problem in place; returns the bids made.
template <typename Rows>
inline __attribute__((always_inline)) int32_t SolveWith(Problem& p) {
  const int n = p.n;
  float* prices = p.prices;
  int32_t* assign = p.assign;
  std::vector<int32_t> owner(n, -1), stack;
  stack.reserve(n);
  for (int i = 0; i < n; ++i) {
    if (assign[i] >= 0) owner[assign[i]] = i;
  }
  int32_t rounds = 0;
  bool last_phase = p.eps <= p.eps_final;
  float eps = p.eps;
  while (!p.done && rounds < p.max_rounds) {
    // Forward bidding of one phase: the free persons queue up in increasing
    // order; each bid wins, and the person it evicts bids next.
    stack.clear();
    for (int i = n - 1; i >= 0; --i) {
      if (assign[i] < 0) stack.push_back(i);
    }
    while (!stack.empty() && rounds < p.max_rounds) {
      const int person = stack.back();
      stack.pop_back();
      const BestTwo bid = Rows::BestAndSecond(
          p.benefit + static_cast<size_t>(person) * n, prices, n);
      // A single column has no second best: any finite increment works.
      const float second = std::isfinite(bid.second) ? bid.second
                                                     : bid.best - 1.0f;
      const float old_price = prices[bid.column];
      const float raised = old_price + (bid.best - second) + eps;
      // nextafter keeps prices strictly increasing below float32 resolution.
      const float next = std::nextafter(old_price, std::numeric_limits<float>::infinity());
      prices[bid.column] = raised > next ? raised : next;
      const int evicted = owner[bid.column];
      owner[bid.column] = person;
      assign[person] = bid.column;
      ++rounds;
      if (evicted >= 0) {
        assign[evicted] = -1;
        stack.push_back(evicted);
      }
    }
    bool complete = true;
    for (int i = 0; i < n; ++i) complete &= assign[i] >= 0;
    p.done = complete && last_phase;
    if (!complete || p.done) break;
    // Next phase: shift the prices to a zero minimum, shrink eps (never
    // below float32 resolution at this price scale) and release the pairs
    // that are not eps-complementary-slack under the new eps.
    const float target = last_phase ? p.eps_final
                                    : std::fmax(eps * p.eps_decay, p.eps_final);
    float low = prices[0];
    for (int j = 1; j < n; ++j) low = prices[j] < low ? prices[j] : low;
    float high = kNegInf;
    for (int j = 0; j < n; ++j) {
      prices[j] = prices[j] - low;
      high = prices[j] > high ? prices[j] : high;
    }
    const float floor = kMinRelativeEps * (high > 1.0f ? high : 1.0f);
    eps = target > floor ? target : floor;
    for (int i = 0; i < n; ++i) {
      const float* row = p.benefit + static_cast<size_t>(i) * n;
      const float best = Rows::Best(row, prices, n);
      const int column = assign[i];
      if (row[column] - prices[column] < best - eps) {
        owner[column] = -1;
        assign[i] = -1;
      }
    }
    last_phase = target <= p.eps_final;
  }
  return rounds;
}

// One build for every x86-64 CPU: the same phase loop compiled per
// instruction set, picked at run time. On the recorded ring problems
// (n = 512), on a 2-core Intel Xeon, the generic pass was fastest with 4
// chains in AVX2 (8 spill its 16 registers) and 8 chains of 8 lanes in
// AVX-512; one chain, the kernel before, was slower than either in
// interleaved runs. Without AVX2 (SSE, 4 lanes), 4 chains ran about as fast
// as AVX2 on the same CPU. The AVX-512 pass of `Avx512Rows` replaced the
// generic one there: what it saves is in the auction piece of the step
// profiles before and after (docs/RESULTS.md, "A cheaper step on the same
// CPU"). `flatten` inlines its row pass (a target-specific function) into
// the loop.
#ifdef DIWGAN_X86
__attribute__((target("avx512f"), flatten)) int32_t SolveAvx512(Problem& p) {
  return SolveWith<Avx512Rows>(p);
}
__attribute__((target("avx2"))) int32_t SolveAvx2(Problem& p) {
  return SolveWith<VectorRows<8, 4>>(p);
}
#endif

// 2: AVX-512, 1: AVX2, 0: neither. DIWGAN_AUCTION_ISA=avx2 or =sse caps
// it (the tests run every code path on one machine).
int InstructionSetLevel() {
  int level = 0;
#ifdef DIWGAN_X86
  level = __builtin_cpu_supports("avx512f") ? 2
          : __builtin_cpu_supports("avx2") ? 1
                                           : 0;
#endif
  const char* cap = std::getenv("DIWGAN_AUCTION_ISA");
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0 && level > 1) level = 1;
  if (cap != nullptr && std::strcmp(cap, "sse") == 0) level = 0;
  return level;
}

int32_t Solve(Problem& p) {
  static const int level = InstructionSetLevel();
#ifdef DIWGAN_X86
  if (level == 2) return SolveAvx512(p);
  if (level == 1) return SolveAvx2(p);
#endif
  return SolveWith<VectorRows<4, 4>>(p);
}

ffi::Error GaussSeidelAuctionImpl(
    ffi::Buffer<ffi::F32> benefit, ffi::Buffer<ffi::F32> prices,
    ffi::Buffer<ffi::S32> assign, ffi::Buffer<ffi::F32> eps,
    ffi::Buffer<ffi::F32> eps_final, ffi::Buffer<ffi::F32> eps_decay,
    ffi::Buffer<ffi::S32> max_rounds, ffi::Buffer<ffi::PRED> done,
    ffi::ResultBuffer<ffi::F32> prices_out,
    ffi::ResultBuffer<ffi::S32> assign_out,
    ffi::ResultBuffer<ffi::S32> rounds_out,
    ffi::ResultBuffer<ffi::PRED> done_out) {
  const auto dims = benefit.dimensions();
  if (dims.size() < 2 || dims[dims.size() - 1] != dims[dims.size() - 2]) {
    return ffi::Error::InvalidArgument(
        "diwgan auction kernel: benefit must be (..., n, n).");
  }
  const int64_t n = dims[dims.size() - 1];
  const size_t batch = eps.element_count();
  if (benefit.element_count() != batch * n * n ||
      prices.element_count() != batch * n ||
      assign.element_count() != batch * n ||
      eps_final.element_count() != batch ||
      eps_decay.element_count() != batch ||
      max_rounds.element_count() != batch || done.element_count() != batch) {
    return ffi::Error::InvalidArgument(
        "diwgan auction kernel: operands disagree on the batch shape.");
  }
  std::memcpy(prices_out->typed_data(), prices.typed_data(),
              batch * n * sizeof(float));
  std::memcpy(assign_out->typed_data(), assign.typed_data(),
              batch * n * sizeof(int32_t));
  for (size_t b = 0; b < batch; ++b) {
    Problem problem{benefit.typed_data() + b * n * n,
                    prices_out->typed_data() + b * n,
                    assign_out->typed_data() + b * n,
                    static_cast<int>(n),
                    eps.typed_data()[b],
                    eps_final.typed_data()[b],
                    eps_decay.typed_data()[b],
                    max_rounds.typed_data()[b],
                    done.typed_data()[b]};
    rounds_out->typed_data()[b] = Solve(problem);
    done_out->typed_data()[b] = problem.done;
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    DiwganGaussSeidelAuction, GaussSeidelAuctionImpl,
    ffi::Ffi::Bind()
        .Arg<ffi::Buffer<ffi::F32>>()
        .Arg<ffi::Buffer<ffi::F32>>()
        .Arg<ffi::Buffer<ffi::S32>>()
        .Arg<ffi::Buffer<ffi::F32>>()
        .Arg<ffi::Buffer<ffi::F32>>()
        .Arg<ffi::Buffer<ffi::F32>>()
        .Arg<ffi::Buffer<ffi::S32>>()
        .Arg<ffi::Buffer<ffi::PRED>>()
        .Ret<ffi::Buffer<ffi::F32>>()
        .Ret<ffi::Buffer<ffi::S32>>()
        .Ret<ffi::Buffer<ffi::S32>>()
        .Ret<ffi::Buffer<ffi::PRED>>());

// The Python module: `gauss_seidel_auction()` returns the handler as the
// PyCapsule that `jax.ffi.register_ffi_target` takes.
namespace {

PyObject* GaussSeidelAuctionCapsule(PyObject*, PyObject*) {
  return PyCapsule_New(reinterpret_cast<void*>(&DiwganGaussSeidelAuction),
                       nullptr, nullptr);
}

PyMethodDef kMethods[] = {
    {"gauss_seidel_auction", GaussSeidelAuctionCapsule, METH_NOARGS,
     "The XLA FFI handler of the square Gauss-Seidel auction (PyCapsule)."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_auction_kernel",
                       "Compiled auction kernels (XLA FFI, CPU).", -1,
                       kMethods};

}  // namespace

PyMODINIT_FUNC PyInit__auction_kernel() { return PyModule_Create(&kModule); }
