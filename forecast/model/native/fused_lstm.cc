// forecast's compiled CPU kernels: the fused LSTM layer (two TensorFlow ops, the forward
// pass and its gradient) and a one-op dropout (at the end of this file).
//
// The stock Keras LSTM runs a dozen small TensorFlow ops per time step, and its weight
// gradients as large products after the loop. Here one op runs the whole sequence: per time
// step one product [x(t), h(t-1)]·[W; U] and the gate arithmetic, and on the way back one
// product for dz(t)·[W; U]ᵀ and one accumulating [x(t), h(t-1)]ᵀ·dz(t) into the weight
// gradient while both are still in cache. Inputs, hidden states and their gradients are
// batch-major like Keras (batch, time, ·); the cell states and gates kept for the gradient
// are time-major (time, batch, ·), so each step's rows are contiguous. Gates are in Keras
// order i, f, c, o; the initial state is zero. Samples are processed in fixed chunks of
// 32, shared between the calling thread and TensorFlow's intra-op threads, and the chunks'
// weight gradients are summed in chunk order, so results do not depend on the threads.
// Built on first use by forecast/model/native/__init__.py.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include <Eigen/Core>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"
#include "tsl/platform/blocking_counter.h"

namespace {

using namespace tensorflow;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColumnMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;
using Map = Eigen::Map<Matrix>;
using ConstMap = Eigen::Map<const Matrix>;
using Stride = Eigen::OuterStride<>;
using StridedMap = Eigen::Map<Matrix, 0, Stride>;
using ConstStridedMap = Eigen::Map<const Matrix, 0, Stride>;

constexpr int64_t kChunk = 32;  // samples per task

int64_t Chunks(int64_t batch) { return (batch + kChunk - 1) / kChunk; }

// Calls work(chunk, first_sample, end_sample) for every chunk. The calling thread takes
// chunks too, helped by up to (intra-op threads - 1) of TensorFlow's CPU workers; chunks
// are handed out one at a time, and each chunk's result is independent of who computes it.
template <typename Work>
void ForChunks(OpKernelContext* context, int64_t batch, const Work& work) {
  const int64_t chunks = Chunks(batch);
  std::atomic<int64_t> next{0};
  auto take = [&] {
    for (int64_t k = next++; k < chunks; k = next++)
      work(k, k * kChunk, std::min(batch, (k + 1) * kChunk));
  };
  const auto* workers = context->device()->tensorflow_cpu_worker_threads();
  const int64_t helpers = std::min<int64_t>(chunks, workers->num_threads) - 1;
  if (helpers <= 0) return take();
  tsl::BlockingCounter done(helpers);
  for (int64_t h = 0; h < helpers; ++h)
    workers->workers->Schedule([&] {
      take();
      done.DecrementCount();
    });
  take();
  done.Wait();
}

// Samples [row, row + rows) at time step t of a (time, batch, width) tensor.
inline ConstMap At(const float* data, int64_t batch, int64_t width, int64_t t, int64_t row,
                   int64_t rows) {
  return ConstMap(data + (t * batch + row) * width, rows, width);
}
inline Map At(float* data, int64_t batch, int64_t width, int64_t t, int64_t row, int64_t rows) {
  return Map(data + (t * batch + row) * width, rows, width);
}

// Samples [row, row + rows) at time step t of a (batch, time, width) tensor.
inline ConstStridedMap Seq(const float* data, int64_t time, int64_t width, int64_t t,
                           int64_t row, int64_t rows) {
  return ConstStridedMap(data + (row * time + t) * width, rows, width, Stride(time * width));
}
inline StridedMap Seq(float* data, int64_t time, int64_t width, int64_t t, int64_t row,
                      int64_t rows) {
  return StridedMap(data + (row * time + t) * width, rows, width, Stride(time * width));
}

// [W; U]: (features + u, 4u), so that [x(t), h(t-1)]·[W; U] = x(t)·W + h(t-1)·U.
Matrix Stacked(const Tensor& kernel, const Tensor& recurrent) {
  const int64_t features = kernel.dim_size(0), u = recurrent.dim_size(0);
  Matrix stacked(features + u, 4 * u);
  stacked.topRows(features) = ConstMap(kernel.flat<float>().data(), features, 4 * u);
  stacked.bottomRows(u) = ConstMap(recurrent.flat<float>().data(), u, 4 * u);
  return stacked;
}

// Fills xh with [x(t), h(t-1)] for rows [row, row + rows); h(-1) = 0.
inline void Gather(Matrix& xh, const float* x, const float* h, int64_t time, int64_t features,
                   int64_t u, int64_t t, int64_t row, int64_t rows) {
  xh.leftCols(features) = Seq(x, time, features, t, row, rows);
  if (t > 0)
    xh.rightCols(u) = Seq(h, time, u, t - 1, row, rows);
  else
    xh.rightCols(u).setZero();
}

#if defined(__AVX512F__)
// The per-step products where the compiler targets AVX-512 (elsewhere they are Eigen's):
// C (rows × n) = or += A (rows × depth) · B (depth × n), computed in 8 × 32 tiles of C held
// in 16 vector registers. [W; U] is packed into 32-column panels once per op call (Eigen's
// general product packs it again at every time step), and the step's dz is read in place.
// Each element of C adds its depth terms in order 0, 1, …, whatever the tiling or thread.
// At these sizes (32 × 150 × 400) it runs near the core's FMA peak, like Eigen's, minus the
// re-packing.
constexpr int64_t kPanel = 32;  // columns per panel: two 16-float vectors

int64_t Panels(int64_t n) { return (n + kPanel - 1) / kPanel; }

// B (depth × n, row-major) as panels of 32 columns, zero-padded: panel p holds
// B[k][32p + j] at p·depth·32 + k·32 + j. transposed: pack Bᵀ instead (B given as n × depth).
std::vector<float> PackPanels(const Matrix& matrix, bool transposed) {
  const int64_t depth = transposed ? matrix.cols() : matrix.rows();
  const int64_t n = transposed ? matrix.rows() : matrix.cols();
  std::vector<float> packed(Panels(n) * depth * kPanel, 0.0f);
  for (int64_t p = 0; p < Panels(n); ++p)
    for (int64_t k = 0; k < depth; ++k)
      for (int64_t j = 0; j < kPanel && p * kPanel + j < n; ++j)
        packed[(p * depth + k) * kPanel + j] =
            transposed ? matrix(p * kPanel + j, k) : matrix(k, p * kPanel + j);
  return packed;
}

inline __mmask16 Lanes(int64_t n) {  // the first n of 16 lanes (none for n <= 0)
  if (n <= 0) return 0;
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// The products' operands: float32 numbers, multiplied and added by FMA.
struct Float32 {
  using Value = float;
  using Vector = __m512;
  static Vector Load(const float* row, __mmask16 lanes) { return _mm512_maskz_loadu_ps(lanes, row); }
  static Vector Broadcast(float a) { return _mm512_set1_ps(a); }
  static __m512 Add(__m512 sum, Vector a, Vector b) { return _mm512_fmadd_ps(a, b, sum); }
};

// One tile: C[r][0, 32) for r < R (masked to the columns that exist) = or += Σ_k A(r, k) ·
// B[k][0, 32), A(r, k) at a[r·a_row + k·a_col], B row k at b + k·ldb; start from `init`
// (a row of 32, e.g. the bias), from C (accumulate), or from zero. Operands: Float32, or
// Bf16Pairs (k then runs over pairs of the depth).
template <typename Operands, int R>
inline void Tile(const typename Operands::Value* a, int64_t a_row, int64_t a_col,
                 const typename Operands::Value* b, int64_t ldb, int64_t depth, float* c,
                 int64_t ldc, __mmask16 low, __mmask16 high, const float* init,
                 bool accumulate) {
  __m512 sum_low[R], sum_high[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    if (accumulate) {
      sum_low[r] = _mm512_maskz_loadu_ps(low, c + r * ldc);
      sum_high[r] = _mm512_maskz_loadu_ps(high, c + r * ldc + 16);
    } else if (init) {
      sum_low[r] = _mm512_maskz_loadu_ps(low, init);
      sum_high[r] = _mm512_maskz_loadu_ps(high, init + 16);
    } else {
      sum_low[r] = _mm512_setzero_ps();
      sum_high[r] = _mm512_setzero_ps();
    }
  }
  for (int64_t k = 0; k < depth; ++k) {
    const auto b_low = Operands::Load(b + k * ldb, low);
    const auto b_high = Operands::Load(b + k * ldb + 16, high);
    const auto* a_k = a + k * a_col;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const auto a_rk = Operands::Broadcast(a_k[r * a_row]);
      sum_low[r] = Operands::Add(sum_low[r], a_rk, b_low);
      sum_high[r] = Operands::Add(sum_high[r], a_rk, b_high);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, low, sum_low[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, high, sum_high[r]);
  }
}

// C (rows × n, leading dimension ldc) = or += A · B; B's 32-column panel p starts at
// b + p·panel_stride with rows ldb apart (packed: panel_stride = depth·32, ldb = 32; read in
// place: panel_stride = 32, ldb = n).
template <typename Operands>
void Product(const typename Operands::Value* a, int64_t a_row, int64_t a_col, int64_t rows,
             int64_t depth, const typename Operands::Value* b, int64_t panel_stride,
             int64_t ldb, int64_t n, float* c, int64_t ldc, const float* init,
             bool accumulate) {
  for (int64_t p = 0; p < Panels(n); ++p) {
    const int64_t width = std::min(kPanel, n - p * kPanel);
    const __mmask16 low = Lanes(width), high = Lanes(width - 16);
    const auto* b_panel = b + p * panel_stride;
    float* c_panel = c + p * kPanel;
    const float* init_panel = init ? init + p * kPanel : nullptr;
    for (int64_t r = 0; r < rows; r += 8) {
      const auto* a_block = a + r * a_row;
      float* c_block = c_panel + r * ldc;
      switch (std::min<int64_t>(8, rows - r)) {
#define FORECAST_TILE(R)                                                                 \
  case R:                                                                                \
    Tile<Operands, R>(a_block, a_row, a_col, b_panel, ldb, depth, c_block, ldc, low, high, \
                      init_panel, accumulate);                                           \
    break;
        FORECAST_TILE(1) FORECAST_TILE(2) FORECAST_TILE(3) FORECAST_TILE(4)
        FORECAST_TILE(5) FORECAST_TILE(6) FORECAST_TILE(7) FORECAST_TILE(8)
#undef FORECAST_TILE
      }
    }
  }
}
#endif

#if defined(__AVX512BF16__)
// bfloat16 products (train.precision: bfloat16, training steps only): the same products with
// each operand rounded to bfloat16 (round to nearest even) and float32 accumulation, by
// AVX512-BF16's vdpbf16ps, which adds the products of a pair of bf16 numbers into each
// float32 lane: twice the float32 FMA's rate. Operands are packed as pairs along the depth
// of the product: one uint32 holds bf16(x[k]) in its low half and bf16(x[k + 1]) in its
// high half (an odd depth gets a zero partner).
constexpr bool kHasBf16 = true;

inline __m512i RoundedBf16(__m512 x) {  // each lane's upper 16 bits: bf16(x), rounded
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
}

inline uint32_t Bf16Bits(float x) {  // the same rounding, one number
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
}

// Pairs along each row: out[r·pairs + k] = (a[r][2k], a[r][2k + 1]) for a (rows × depth,
// leading dimension lda); pairs = ceil(depth / 2).
void RowPairs(const float* a, int64_t rows, int64_t depth, int64_t lda, uint32_t* out) {
  const int64_t pairs = (depth + 1) / 2;
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t* row = out + r * pairs;
    for (int64_t k = 0; k < pairs; k += 16) {  // 16 pairs: 32 numbers
      const int64_t first = 2 * k, count = std::min<int64_t>(32, depth - first);
      const __m512 low = _mm512_maskz_loadu_ps(Lanes(count), a + r * lda + first);
      const __m512 high = _mm512_maskz_loadu_ps(Lanes(count - 16), a + r * lda + first + 16);
      // (high, low) -> 32 bf16 in order: low's 16 then high's, i.e. 16 pairs in order
      const __m512i both = (__m512i)(_mm512_cvtne2ps_pbh(high, low));
      _mm512_mask_storeu_epi32(row + k, Lanes(pairs - k), both);
    }
  }
}

// Pairs down each column: out[p·ldo + j] = (a[2p][j], a[2p + 1][j]) for a (rows × cols,
// leading dimension lda); ceil(rows / 2) rows of pairs.
void ColumnPairs(const float* a, int64_t rows, int64_t cols, int64_t lda, uint32_t* out,
                 int64_t ldo) {
  for (int64_t p = 0; 2 * p < rows; ++p) {
    const float* first = a + 2 * p * lda;
    const bool second_exists = 2 * p + 1 < rows;
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 lanes = Lanes(cols - j);
      const __m512i low = RoundedBf16(_mm512_maskz_loadu_ps(lanes, first + j));
      const __m512i high = second_exists
                               ? RoundedBf16(_mm512_maskz_loadu_ps(lanes, first + lda + j))
                               : _mm512_setzero_si512();
      const __m512i pair = _mm512_or_si512(
          _mm512_srli_epi32(low, 16), _mm512_and_si512(high, _mm512_set1_epi32(0xFFFF0000)));
      _mm512_mask_storeu_epi32(out + p * ldo + j, lanes, pair);
    }
  }
}

// bf16 pairs as the products' operands: vdpbf16ps adds a pair's two products into each lane.
struct Bf16Pairs {
  using Value = uint32_t;
  using Vector = __m512bh;
  static Vector Load(const uint32_t* row, __mmask16 lanes) {
    return (__m512bh)(_mm512_maskz_loadu_epi32(lanes, row));
  }
  static Vector Broadcast(uint32_t pair) { return (__m512bh)(_mm512_set1_epi32(pair)); }
  static __m512 Add(__m512 sum, Vector a, Vector b) { return _mm512_dpbf16_ps(sum, a, b); }
};

// [W; U] (depth × 4u) as pairs down its columns, (ceil(depth / 2) × 4u), for the forward
// product; and [W; U]ᵀ as pairs along its rows, (2u × depth), for dz·[W; U]ᵀ.
std::vector<uint32_t> WeightPairs(const Matrix& weights) {
  std::vector<uint32_t> pairs(((weights.rows() + 1) / 2) * weights.cols());
  ColumnPairs(weights.data(), weights.rows(), weights.cols(), weights.cols(), pairs.data(),
              weights.cols());
  return pairs;
}
std::vector<uint32_t> TransposedWeightPairs(const Matrix& weights) {
  const int64_t depth = weights.rows(), gates = weights.cols();  // (depth, 4u), 4u even
  std::vector<uint32_t> pairs((gates / 2) * depth);
  for (int64_t k = 0; k < gates / 2; ++k)
    for (int64_t m = 0; m < depth; ++m)
      pairs[k * depth + m] =
          Bf16Bits(weights(m, 2 * k)) | (Bf16Bits(weights(m, 2 * k + 1)) << 16);
  return pairs;
}
#else
constexpr bool kHasBf16 = false;
#endif

// One sample's gate gradients at one step (gates i, f, candidate g, o; σ' = σ(1-σ),
// tanh' = 1-tanh²): dz from the activated gates, c(t-1), dh(t) and tanh c(t); dc holds
// dc(t) on entry and the gradient for c(t-1) on return. A plain function with restrict
// pointers, so that the compiler vectorises the loop (inline in the step it stayed scalar).
void GateGradients(const float* __restrict gates, const float* __restrict c_previous,
                   const float* __restrict dh, const float* __restrict tanh_c,
                   float* __restrict dc, float* __restrict dz, int64_t u) {
  for (int64_t k = 0; k < u; ++k) {
    const float i = gates[k], f = gates[u + k], g = gates[2 * u + k], o = gates[3 * u + k];
    const float tanh_ck = tanh_c[k];
    const float dc_k = dc[k] + dh[k] * o * (1.0f - tanh_ck * tanh_ck);
    dz[k] = dc_k * g * i * (1.0f - i);
    dz[u + k] = dc_k * c_previous[k] * f * (1.0f - f);
    dz[2 * u + k] = dc_k * i * (1.0f - g * g);
    dz[3 * u + k] = dh[k] * tanh_ck * o * (1.0f - o);
    dc[k] = dc_k * f;
  }
}

Status CheckShapes(const Tensor& x, const Tensor& kernel, const Tensor& recurrent,
                   const Tensor& bias) {
  const bool ok = x.dims() == 3 && kernel.dims() == 2 && recurrent.dims() == 2 &&
                  bias.dims() == 1 && recurrent.dim_size(1) == 4 * recurrent.dim_size(0) &&
                  kernel.dim_size(0) == x.dim_size(2) &&
                  kernel.dim_size(1) == recurrent.dim_size(1) &&
                  bias.dim_size(0) == recurrent.dim_size(1);
  if (ok) return absl::OkStatus();
  return errors::InvalidArgument("fused LSTM: shapes do not fit: x ", x.shape().DebugString(),
                                 ", kernel ", kernel.shape().DebugString(), ", recurrent ",
                                 recurrent.shape().DebugString(), ", bias ",
                                 bias.shape().DebugString());
}

class ForwardOp : public OpKernel {
 public:
  explicit ForwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bf16", &bf16_));
    OP_REQUIRES(context, !bf16_ || kHasBf16,
                errors::InvalidArgument("fused LSTM: bf16 products need AVX512-BF16"));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);          // (batch, time, features)
    const Tensor& kernel = context->input(1);     // (features, 4u): W
    const Tensor& recurrent = context->input(2);  // (u, 4u): U
    const Tensor& bias = context->input(3);       // (4u)
    OP_REQUIRES_OK(context, CheckShapes(x, kernel, recurrent, bias));
    const int64_t batch = x.dim_size(0), time = x.dim_size(1), features = x.dim_size(2);
    const int64_t u = recurrent.dim_size(0);
    Tensor *h = nullptr, *c = nullptr, *gates = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, {batch, time, u}, &h));
    OP_REQUIRES_OK(context, context->allocate_output(1, {time, batch, u}, &c));
    OP_REQUIRES_OK(context, context->allocate_output(2, {time, batch, 4 * u}, &gates));
    const Matrix weights = Stacked(kernel, recurrent);
    const Eigen::Map<const RowVector> b(bias.flat<float>().data(), 4 * u);
#if defined(__AVX512F__)
    const std::vector<float> packed = PackPanels(weights, false);  // (features + u, 4u) panels
#endif
#if defined(__AVX512BF16__)
    const int64_t depth_pairs = (features + u + 1) / 2;
    const std::vector<uint32_t> weight_pairs =
        bf16_ ? WeightPairs(weights) : std::vector<uint32_t>();  // (depth_pairs, 4u)
#endif
    const float* x_data = x.flat<float>().data();
    float* h_data = h->flat<float>().data();
    float* c_data = c->flat<float>().data();
    float* gate_data = gates->flat<float>().data();
    ForChunks(context, batch, [&](int64_t, int64_t row, int64_t end) {
      const int64_t rows = end - row;
      Matrix xh(rows, features + u);
#if defined(__AVX512BF16__)
      std::vector<uint32_t> xh_pairs(bf16_ ? rows * depth_pairs : 0);
#endif
      for (int64_t t = 0; t < time; ++t) {
        Gather(xh, x_data, h_data, time, features, u, t, row, rows);
        Map a = At(gate_data, batch, 4 * u, t, row, rows);  // pre-activation, then activated
#if defined(__AVX512BF16__)
        if (bf16_) {
          RowPairs(xh.data(), rows, features + u, features + u, xh_pairs.data());
          Product<Bf16Pairs>(xh_pairs.data(), depth_pairs, 1, rows, depth_pairs,
                             weight_pairs.data(), kPanel, 4 * u, 4 * u, a.data(), 4 * u,
                             b.data(), false);
        } else
#endif
#if defined(__AVX512F__)
        Product<Float32>(xh.data(), features + u, 1, rows, features + u, packed.data(),
                         (features + u) * kPanel, kPanel, 4 * u, a.data(), 4 * u, b.data(),
                         false);
#else
        a.noalias() = xh * weights;
        a.rowwise() += b;
#endif
        a.leftCols(2 * u) = a.leftCols(2 * u).array().logistic();        // i, f
        a.middleCols(2 * u, u) = a.middleCols(2 * u, u).array().tanh();  // candidate
        a.rightCols(u) = a.rightCols(u).array().logistic();              // o
        Map cell = At(c_data, batch, u, t, row, rows);
        cell = a.leftCols(u).array() * a.middleCols(2 * u, u).array();
        if (t > 0)
          cell.array() += a.middleCols(u, u).array() * At(c_data, batch, u, t - 1, row, rows).array();
        Seq(h_data, time, u, t, row, rows) = a.rightCols(u).array() * cell.array().tanh();
      }
    });
  }

 private:
  bool bf16_ = false;
};

class BackwardOp : public OpKernel {
 public:
  explicit BackwardOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("bf16", &bf16_));
    OP_REQUIRES(context, !bf16_ || kHasBf16,
                errors::InvalidArgument("fused LSTM: bf16 products need AVX512-BF16"));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);          // (batch, time, features)
    const Tensor& kernel = context->input(1);     // (features, 4u)
    const Tensor& recurrent = context->input(2);  // (u, 4u)
    const Tensor& bias = context->input(3);       // (4u)
    const Tensor& h = context->input(4);          // (batch, time, u): forward hidden states
    const Tensor& c = context->input(5);          // (time, batch, u): forward cell states
    const Tensor& gates = context->input(6);      // (time, batch, 4u): forward activated gates
    const Tensor& dh = context->input(7);         // (batch, time, u): gradient reaching h
    const Tensor& dc = context->input(8);         // (time, batch, u), or empty for none
    OP_REQUIRES_OK(context, CheckShapes(x, kernel, recurrent, bias));
    const int64_t batch = x.dim_size(0), time = x.dim_size(1), features = x.dim_size(2);
    const int64_t u = recurrent.dim_size(0);
    const TensorShape sequence({batch, time, u}), state({time, batch, u});
    OP_REQUIRES(context,
                h.shape() == sequence && c.shape() == state && dh.shape() == sequence &&
                    (dc.NumElements() == 0 || dc.shape() == state) &&
                    gates.shape() == TensorShape({time, batch, 4 * u}),
                errors::InvalidArgument("fused LSTM gradient: state shapes do not fit"));
    Tensor *dx = nullptr, *dkernel = nullptr, *drecurrent = nullptr, *dbias = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(context, context->allocate_output(1, kernel.shape(), &dkernel));
    OP_REQUIRES_OK(context, context->allocate_output(2, recurrent.shape(), &drecurrent));
    OP_REQUIRES_OK(context, context->allocate_output(3, bias.shape(), &dbias));
    const Matrix weights = Stacked(kernel, recurrent);
#if defined(__AVX512F__)
    const std::vector<float> packed_t = PackPanels(weights, true);  // [W; U]ᵀ: (4u, features + u)
#endif
#if defined(__AVX512BF16__)
    const std::vector<uint32_t> transposed_pairs =
        bf16_ ? TransposedWeightPairs(weights) : std::vector<uint32_t>();  // (2u, features + u)
#endif
    const bool has_dc = dc.NumElements() > 0;
    const float* x_data = x.flat<float>().data();
    const float* h_data = h.flat<float>().data();
    const float* c_data = c.flat<float>().data();
    const float* gate_data = gates.flat<float>().data();
    const float* dh_data = dh.flat<float>().data();
    const float* dc_data = has_dc ? dc.flat<float>().data() : nullptr;
    float* dx_data = dx->flat<float>().data();
    const int64_t chunks = Chunks(batch);
    std::vector<Matrix> d_weights(chunks);  // per chunk, summed in order below
    std::vector<RowVector> d_bias(chunks);
    ForChunks(context, batch, [&](int64_t chunk, int64_t row, int64_t end) {
      const int64_t rows = end - row;
      Matrix& d_weight = d_weights[chunk];
      RowVector& d_b = d_bias[chunk];
      d_weight.setZero(features + u, 4 * u);
      d_b.setZero(4 * u);
      Matrix dh_t = Matrix::Zero(rows, u), dc_t = Matrix::Zero(rows, u), tanh_c(rows, u);
      Matrix dz(rows, 4 * u), xh(rows, features + u);
#if defined(__AVX512F__)
      Matrix dxh(rows, features + u);
#else
      ColumnMatrix dxh(rows, features + u);  // column-major: Eigen's faster product here
#endif
      const std::vector<float> zeros(u, 0.0f);  // the initial cell state
#if defined(__AVX512BF16__)
      const int64_t row_pairs = (rows + 1) / 2, width_all = features + u;
      std::vector<uint32_t> xh_down(bf16_ ? row_pairs * width_all : 0);  // xhᵀ's pairs
      std::vector<uint32_t> dz_down(bf16_ ? row_pairs * 4 * u : 0);      // dz's, down
      std::vector<uint32_t> dz_along(bf16_ ? rows * 2 * u : 0);          // dz's, along
#endif
      for (int64_t t = time - 1; t >= 0; --t) {
        dh_t += Seq(dh_data, time, u, t, row, rows);  // from outside + from step t + 1
        if (has_dc) dc_t += At(dc_data, batch, u, t, row, rows);
        tanh_c = At(c_data, batch, u, t, row, rows).array().tanh();
        // Gate gradients in one pass per sample (i, f, candidate g, o; σ' = σ(1-σ),
        // tanh' = 1-tanh²); dc_t leaves holding the gradient for c(t-1).
        const float* gate_rows = gate_data + (t * batch + row) * 4 * u;
        const float* previous_cells = t > 0 ? c_data + ((t - 1) * batch + row) * u : nullptr;
        for (int64_t r = 0; r < rows; ++r)
          GateGradients(gate_rows + r * 4 * u,
                        previous_cells ? previous_cells + r * u : zeros.data(),
                        dh_t.data() + r * u, tanh_c.data() + r * u, dc_t.data() + r * u,
                        dz.data() + r * 4 * u, u);
        Gather(xh, x_data, h_data, time, features, u, t, row, rows);
        d_b += dz.colwise().sum();
#if defined(__AVX512BF16__)
        if (bf16_) {
          const int64_t width = features + u;
          ColumnPairs(xh.data(), rows, width, width, xh_down.data(), width);
          ColumnPairs(dz.data(), rows, 4 * u, 4 * u, dz_down.data(), 4 * u);
          Product<Bf16Pairs>(xh_down.data(), 1, width, width, row_pairs, dz_down.data(),
                             kPanel, 4 * u, 4 * u, d_weight.data(), 4 * u, nullptr,
                             true);  // += xhᵀ·dz
          RowPairs(dz.data(), rows, 4 * u, 4 * u, dz_along.data());
          Product<Bf16Pairs>(dz_along.data(), 2 * u, 1, rows, 2 * u, transposed_pairs.data(),
                             kPanel, width, width, dxh.data(), width, nullptr,
                             false);  // dz·[W; U]ᵀ
        } else {
#endif
#if defined(__AVX512F__)
        const int64_t width = features + u;
        Product<Float32>(xh.data(), 1, width, width, rows, dz.data(), kPanel, 4 * u, 4 * u,
                         d_weight.data(), 4 * u, nullptr, true);  // += xhᵀ·dz: (features + u, 4u)
        Product<Float32>(dz.data(), 4 * u, 1, rows, 4 * u, packed_t.data(), 4 * u * kPanel,
                         kPanel, width, dxh.data(), width, nullptr,
                         false);  // dz·[W; U]ᵀ: (rows, features + u)
#else
        d_weight.noalias() += xh.transpose() * dz;  // (features + u, 4u)
        dxh.noalias() = dz * weights.transpose();  // (rows, features + u)
#endif
#if defined(__AVX512BF16__)
        }
#endif
        Seq(dx_data, time, features, t, row, rows) = dxh.leftCols(features);
        dh_t = dxh.rightCols(u);  // to step t - 1
      }
    });
    Matrix d_weight = Matrix::Zero(features + u, 4 * u);
    RowVector d_b = RowVector::Zero(4 * u);
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {  // fixed order: deterministic
      d_weight += d_weights[chunk];
      d_b += d_bias[chunk];
    }
    Map(dkernel->flat<float>().data(), features, 4 * u) = d_weight.topRows(features);
    Map(drecurrent->flat<float>().data(), u, 4 * u) = d_weight.bottomRows(u);
    Eigen::Map<RowVector>(dbias->flat<float>().data(), 4 * u) = d_b;
  }

 private:
  bool bf16_ = false;
};

// Dropout for the Dropout layers around the LSTMs. TensorFlow's stateless dropout draws
// Philox numbers in one op and masks with them in four more; here one pass does both, with
// a counter-based generator: element n keeps its value (times 1/(1 - rate)) when its
// uniform number is >= rate. The numbers are SplitMix64 (Steele, Lea & Flood, 2014) outputs at
// state key + n·γ, 32 bits per element, so each depends on (seed, n) alone and any split
// of the work between threads gives the same mask.
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Element 2p (2p + 1) is kept, times 1/(1 - rate), when the low (high) 32 bits of draw p,
// as a 24-bit uniform u / 2^24, are >= rate, that is u >= threshold = ceil(rate · 2^24);
// otherwise it is 0. Plain arguments (nothing the stores could alias) let the compiler
// vectorise the loop.
void Drop(const float* __restrict in, float* __restrict out, int64_t begin, int64_t end,
          uint64_t key, uint32_t threshold, float kept) {
  for (int64_t p = begin; p < end; ++p) {  // draws [begin, end)
    const uint64_t bits = Mix64(key + static_cast<uint64_t>(p + 1) * kGamma);
    const float low = in[2 * p], high = in[2 * p + 1];  // loaded unconditionally: vectorises
    out[2 * p] = (static_cast<uint32_t>(bits) >> 8) >= threshold ? low * kept : 0.0f;
    out[2 * p + 1] = (static_cast<uint32_t>(bits >> 32) >> 8) >= threshold ? high * kept : 0.0f;
  }
}

class DropoutOp : public OpKernel {
 public:
  explicit DropoutOp(OpKernelConstruction* context) : OpKernel(context) {
    OP_REQUIRES_OK(context, context->GetAttr("rate", &rate_));
    OP_REQUIRES_OK(context, context->GetAttr("scale", &kept_));
    OP_REQUIRES(context, rate_ >= 0.0f && rate_ < 1.0f,
                errors::InvalidArgument("fused dropout: rate must be in [0, 1), got ", rate_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);     // any shape
    const Tensor& seed = context->input(1);  // (2): a Keras SeedGenerator's draw
    OP_REQUIRES(context, seed.NumElements() == 2,
                errors::InvalidArgument("fused dropout: seed must have 2 values, got ",
                                        seed.shape().DebugString()));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &y));
    const auto seed_values = seed.flat<int64_t>();
    const uint64_t key = Mix64(Mix64(static_cast<uint64_t>(seed_values(0)) + kGamma) ^
                               static_cast<uint64_t>(seed_values(1)));
    const float kept = kept_;
    const float* in = x.flat<float>().data();
    float* out = y->flat<float>().data();
    const int64_t n = x.NumElements();
    const uint32_t threshold = static_cast<uint32_t>(std::ceil(rate_ * 16777216.0f));
    auto work = [=](int64_t begin, int64_t end) {  // draws [begin, end): elements 2p, 2p + 1
      Drop(in, out, begin, end, key, threshold, kept);
    };
    context->device()->tensorflow_cpu_worker_threads()->workers->ParallelFor(
        n / 2, /*cost_per_unit=*/20, work);
    if (n % 2) {  // an odd last element takes the low half of draw n / 2
      const float pair_in[2] = {in[n - 1], 0.0f};
      float pair_out[2];
      Drop(pair_in, pair_out, 0, 1, key + static_cast<uint64_t>(n / 2) * kGamma, threshold,
           kept);  // draw 0 of a key moved on by n / 2 draws is draw n / 2
      out[n - 1] = pair_out[0];
    }
  }

 private:
  float rate_;
  float kept_;  // 1/(1 - rate), computed by the caller in double precision like TensorFlow's
};

}  // namespace

REGISTER_OP("ForecastDropout")
    .Input("x: float")
    .Input("seed: int64")
    .Attr("rate: float")
    .Attr("scale: float")
    .Output("y: float")
    .SetShapeFn(shape_inference::UnchangedShape);

REGISTER_OP("ForecastLstmForward")
    .Input("x: float")
    .Input("kernel: float")
    .Input("recurrent_kernel: float")
    .Input("bias: float")
    .Attr("bf16: bool = false")
    .Output("h: float")
    .Output("c: float")
    .Output("gates: float")
    .SetShapeFn([](shape_inference::InferenceContext* context) {
      shape_inference::ShapeHandle x, recurrent;
      TF_RETURN_IF_ERROR(context->WithRank(context->input(0), 3, &x));
      TF_RETURN_IF_ERROR(context->WithRank(context->input(2), 2, &recurrent));
      auto batch = context->Dim(x, 0), time = context->Dim(x, 1);
      context->set_output(0, context->MakeShape({batch, time, context->Dim(recurrent, 0)}));
      context->set_output(1, context->MakeShape({time, batch, context->Dim(recurrent, 0)}));
      context->set_output(2, context->MakeShape({time, batch, context->Dim(recurrent, 1)}));
      return absl::OkStatus();
    });

REGISTER_OP("ForecastLstmBackward")
    .Attr("bf16: bool = false")
    .Input("x: float")
    .Input("kernel: float")
    .Input("recurrent_kernel: float")
    .Input("bias: float")
    .Input("h: float")
    .Input("c: float")
    .Input("gates: float")
    .Input("dh: float")
    .Input("dc: float")
    .Output("dx: float")
    .Output("dkernel: float")
    .Output("drecurrent_kernel: float")
    .Output("dbias: float")
    .SetShapeFn([](shape_inference::InferenceContext* context) {
      for (int index = 0; index < 4; ++index) context->set_output(index, context->input(index));
      return absl::OkStatus();
    });

REGISTER_KERNEL_BUILDER(Name("ForecastLstmForward").Device(DEVICE_CPU), ForwardOp);
REGISTER_KERNEL_BUILDER(Name("ForecastLstmBackward").Device(DEVICE_CPU), BackwardOp);
REGISTER_KERNEL_BUILDER(Name("ForecastDropout").Device(DEVICE_CPU), DropoutOp);
