// Gauss-Seidel epsilon-scaling auction for square assignment problems, as an
// XLA FFI custom call on the CPU.
//
// This is the phase loop of `diwgan.assignment.driver._auction` (Gauss-Seidel
// bidding, n == m) compiled ahead of time: the same bids in the same order
// with the same float32 arithmetic, so it returns the same prices, assignment
// and bid count as the pure-JAX loop. XLA:CPU runs a `while_loop` iteration
// in about as long as the bid itself takes, and a solve is ~16k bids at
// n = 512; here a bid is one SIMD pass over a row (docs/benchmarks.md).
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
#include <cstring>
#include <limits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// 4 x float32 eps: the smallest relative eps the JAX driver uses
// (`base.MIN_RELATIVE_EPS`), a power of two, so exact in float32.
constexpr float kMinRelativeEps = 4.0f * std::numeric_limits<float>::epsilon();
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

typedef float Floats8 __attribute__((vector_size(32)));
typedef int32_t Ints8 __attribute__((vector_size(32)));

struct BestTwo {
  float best;    // max_j benefit[j] - prices[j]
  float second;  // max over j != column (-inf when m == 1)
  int column;    // lowest j attaining `best`
};

// The best and second-best value of one row, in one pass of 8 lanes.
// Each lane keeps its max, its second max and the first column of its max;
// the lanes are merged at the end, ties going to the lowest column as in the
// JAX bid (`_min` over the columns attaining the max).
inline __attribute__((always_inline)) BestTwo RowBestTwo(
    const float* row, const float* prices, int m) {
  Floats8 max1, max2;
  Ints8 col1, lane;
  for (int k = 0; k < 8; ++k) {
    max1[k] = kNegInf;
    max2[k] = kNegInf;
    col1[k] = 0;
    lane[k] = k;
  }
  int j = 0;
  for (; j + 8 <= m; j += 8) {
    Floats8 benefit, price;
    std::memcpy(&benefit, row + j, sizeof(benefit));
    std::memcpy(&price, prices + j, sizeof(price));
    const Floats8 value = benefit - price;
    const Ints8 greater = value > max1;
    // The old max competes for second place when it is beaten, else the value.
    const Floats8 runner_up = greater ? max1 : value;
    max2 = runner_up > max2 ? runner_up : max2;
    max1 = greater ? value : max1;
    col1 = greater ? lane + j : col1;
  }
  BestTwo out{kNegInf, kNegInf, m};
  if (j > 0) {
    int best_lane = 0;
    for (int k = 0; k < 8; ++k) {
      if (max1[k] > out.best || (max1[k] == out.best && col1[k] < out.column)) {
        out.best = max1[k];
        out.column = col1[k];
        best_lane = k;
      }
    }
    for (int k = 0; k < 8; ++k) {
      if (max2[k] > out.second) out.second = max2[k];
      if (k != best_lane && max1[k] > out.second) out.second = max1[k];
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

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__APPLE__) && \
    !defined(__clang__)
#define DIWGAN_TARGET_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DIWGAN_TARGET_CLONES
#endif

// Solves one problem in place; returns the bids made.
DIWGAN_TARGET_CLONES int32_t Solve(Problem& p) {
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
      const BestTwo bid = RowBestTwo(p.benefit + static_cast<size_t>(person) * n,
                                     prices, n);
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
      const float best = RowBestTwo(row, prices, n).best;
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
