#pragma once

/// \file
/// The decode op library: each op is a registered kernel (CUDA and CPU reference, op kind,
/// signature) plus an encode helper that picks the kernel and the launch shape and declares the
/// buffers it reads and writes, so hazard tracking, passes and profiling see every op.
///
/// Conventions (every op):
///  - activations, norm weights and biases are f32; weight matrices and the embedding table are
///    bf16 (row-major); the KV cache is bf16;
///  - sizes are given in elements; views must hold exactly the elements the op touches, except
///    the KV cache views, which hold `max_ctx` rows;
///  - a shape the kernels cannot run is refused before anything is recorded: the encode helpers
///    throw Error(InvalidArgument) naming the op, the label and the reason, and each op has a
///    `can_*` check that answers the same question without throwing;
///  - per-step scalars (position, KV length) are passed as `Arg`, so a caller may bind a
///    `value<std::uint32_t>` or a patchable `slot<std::uint32_t>("pos")`.
///
/// | kernel                  | op kind    | what it computes                                     |
/// |-------------------------|------------|------------------------------------------------------|
/// | embedding_bf16          | Embedding  | out = f32(table[token[0]])                           |
/// | rms_norm_f32            | RmsNorm    | y = x * rsqrt(mean(x^2) + eps), per row of n         |
/// | rms_norm_mul_f32        | RmsNormMul | y = rms_norm(x) * w                                  |
/// | add_rms_norm_f32        | AddRmsNorm | sum = a + b; y = rms_norm(sum)                       |
/// | add_rms_norm_mul_f32    | AddRmsNorm | sum = a + b; y = rms_norm(sum) * w                   |
/// | add_f32 / mul_f32       | ElemAdd/Mul| elementwise (the basic kernels)                      |
/// | silu_mul_f32            | SiluMul    | out = silu(gate) * up                                |
/// | rope_f32                | Rope       | rotates pairs of each head at `pos` (NeoX/interleave)|
/// | gemv_[bias_]bf16_<var>  | Gemv       | y = W x (+ bias), W bf16 [rows, cols], fp32 accum    |
/// | gemv_[add_]norm_*, gemv_*silu_* | Gemv | gemv with an rms_norm prologue / silu*mul epilogue |
/// | kv_append_bf16          | KvAppend   | k_cache[pos] = bf16(k); v_cache[pos] = bf16(v)       |
/// | rope_kv_append_bf16     | KvAppend   | rope(q) in place; caches[pos] = bf16(rope(k)), bf16(v)|
/// | attention_decode_hd*_bf16 | Sdpa  | softmax(q K^T scale) V, GQA, split-K merged in-kernel |
/// | attention_append_decode_hd*_bf16 | Sdpa | the same, appending the staged row kv_len - 1 |
/// | attention_o_decode_hd*_bf16 | Sdpa | W_o (attention_decode), one block per SM, grid barrier|
/// | softmax_f32             | Softmax    | row softmax                                          |
/// | argmax_f32 (+ _partial_f32, _final_f32) | Argmax | token[0] = index of the max (lowest wins)|
///
/// gemv variants (<var>) are chosen from gemv_variant_table(); the headers under src/ops document
/// each kernel's parameters and launch.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "encore/arg.h"
#include "encore/buffer.h"
#include "encore/device.h"
#include "encore/encoder.h"
#include "encore/kernel.h"

namespace encore::ops {

/// Adds every op kernel to `registry` (the built-in registry already has them).
void register_ops(KernelRegistry& registry);

/// Whether the CUDA op kernels were built with the kernel timeline (-DENCORE_KERNEL_TIMELINE=ON):
/// every block of every op kernel then records when it started, when its programmatic wait
/// returned and when it exited (src/ops/kernel_timeline.cuh). A diagnostic build; off by default.
bool kernel_timeline_enabled() noexcept;

/// Writes the kernel timeline to `path` as text, one line per recorded block: grid id, blocks
/// of the grid, block, then the global-timer ns of entry, wait returned, the kernel's own mark
/// and exit (0 where not reached). Each graph node's latest launch is kept.
/// scripts/kernel-timeline turns it into per-kernel phases. Throws Error(InvalidState) without
/// the build option, Error(IoError) when the file cannot be written.
void write_kernel_timeline(const std::string& path);

/// Whether an op can run a shape; `reason` says why not.
struct Support {
  bool ok = true;
  std::string reason;
  explicit operator bool() const noexcept { return ok; }
};

/// How rope pairs the elements of a head: NeoX / Hugging Face rotate_half pairs i with
/// i + head_dim/2; interleaved (GPT-J / GGUF) pairs 2i with 2i+1.
enum class RopeStyle : std::uint8_t { NeoX, Interleaved };

struct AttentionShape {
  std::uint32_t n_heads = 0;
  std::uint32_t n_kv_heads = 0;  ///< divides n_heads (grouped-query attention)
  std::uint32_t head_dim = 0;
  std::uint32_t max_ctx = 0;  ///< rows of the KV cache
};

/// The cache row an attention_decode appends itself: k and v (bf16 [n_kv_heads, head_dim], 16-byte
/// aligned), written by an earlier dispatch (a staged GemvRopeKv), are row kv_len - 1.
struct AttentionAppend {
  BufferView k;
  BufferView v;
};

Support can_gemv(std::uint32_t rows, std::uint32_t cols);
/// Whether gemv_fused can run a shape: can_gemv, and with a norm prologue cols <= 12288 (x is
/// formed in 48 KiB of shared memory); with silu_mul the weight has 2 * rows rows.
Support can_gemv_fused(std::uint32_t rows, std::uint32_t cols, bool norm, bool silu_mul);
Support can_rms_norm(std::uint32_t n);
Support can_rope(std::uint32_t head_dim);
Support can_rope_kv_append(std::uint32_t n_heads, std::uint32_t n_kv_heads, std::uint32_t head_dim);
Support can_attention(const AttentionShape& shape);
Support can_argmax(std::uint32_t n);

/// One row of a kernel-variant table: the first row whose predicate holds picks the kernel.
struct KernelVariant {
  std::string predicate;  ///< e.g. "rows >= 8192"
  std::string variant;    ///< e.g. "r2s1"
  std::string kernel;     ///< registered kernel name
};

/// gemv's variant table in selection order, for benchmarks and docs (every prologue shares it).
std::vector<KernelVariant> gemv_variant_table();
/// The variant table of the silu*mul output (rows = output rows, each a gate and an up row).
std::vector<KernelVariant> gemv_silu_variant_table();

/// The rms_norm prologue of a fused gemv: x = rms_norm(x_in [+ add]) * weight, formed by every
/// block of the gemv from the f32 views (x_in is the gemv's x; a few thousand floats from L2),
/// so the norm costs no dispatch of its own. With `add`, x_in + add is normalised and written
/// to `sum` (the new residual; written once, by block 0, so it must not overlap x_in or add).
/// Same arithmetic as rms_norm_mul / add_rms_norm_mul (bit for bit on the CPU).
struct GemvNorm {
  BufferView weight;              ///< f32 [cols], 16-byte aligned
  float eps = 1e-6F;              ///< finite, >= 0
  std::optional<BufferView> add;  ///< f32 [cols], 16-byte aligned
  std::optional<BufferView> sum;  ///< f32 [cols], 16-byte aligned; given exactly with `add`
};

/// The rope + kv-cache append epilogue of a fused q|k|v gemv: W holds the q, k and v heads
/// ([(n_heads + 2 n_kv_heads) head_dim, cols], gemv_fused's rows counting all of them); y
/// receives q turned by rope at `pos`, and row `pos` of the caches (bf16 [max_rows, n_kv_heads
/// head_dim]) receives bf16(rope(k)) and bf16(v) (nothing when pos >= max_rows): what gemv
/// followed by rope_kv_append leaves, bit for bit on the CPU, without the k and v floats.
/// `staged`: the caches are one row each (bf16 [n_kv_heads head_dim]), which receives k and v
/// whatever pos: the staging row that an attention_decode with an AttentionAppend moves into
/// the real cache.
struct GemvRopeKv {
  BufferView inv_freq;  ///< f32 [head_dim / 2]
  BufferView k_cache;
  BufferView v_cache;
  std::uint32_t n_heads = 0;
  std::uint32_t n_kv_heads = 0;
  std::uint32_t head_dim = 0;
  Arg pos = value(0U);  ///< u32 value or slot
  RopeStyle style = RopeStyle::NeoX;
  bool staged = false;  ///< k_cache and v_cache are one staging row (see above)
};

/// What a fused gemv computes beyond y = W x. Fields combine freely, except that silu_mul and
/// rope_kv exclude each other and silu_mul takes no bias.
struct GemvFusion {
  std::optional<GemvNorm> norm;    ///< x from an rms_norm prologue
  std::optional<BufferView> bias;  ///< y += bias (f32 [rows])
  /// silu*mul epilogue: W is [2 rows, cols] (gate rows, then up rows; the layout of a fused
  /// gate|up matrix) and y[i] = silu(W_gate[i] x) * (W_up[i] x), as silu_mul of the two
  /// halves of a plain gemv computes it (bit for bit on the CPU).
  bool silu_mul = false;
  std::optional<GemvRopeKv> rope_kv;  ///< rope + kv-cache append epilogue (y = q)
};
/// The kernel gemv launches for a shape (with or without a bias).
std::string gemv_kernel_for(std::uint32_t rows, std::uint32_t cols, bool bias = false);

/// Scratch bytes attention_decode needs for `shape` (split-K partial results, a ticket per q
/// head).
std::uint64_t attention_scratch_bytes(const AttentionShape& shape);
/// Scratch bytes argmax needs for n logits (per-block partial maxima).
std::uint64_t argmax_scratch_bytes(std::uint32_t n);

/// Encodes ops onto encoders of one device. Resolves the kernels once; cheap to copy; keeps the
/// device alive. The encode calls are const and may run on several threads at once (each on its
/// own encoder).
class OpEncoder {
 public:
  /// Throws Error(UnknownKernel) when the device's registry lacks an op kernel (the built-in
  /// registry has them all; register_ops adds them to another).
  explicit OpEncoder(const Device& device);

  // Elementwise, n = elements of the output view.
  void add(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& c,
           std::string_view label = {}) const;
  void mul(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& c,
           std::string_view label = {}) const;
  void silu_mul(Encoder& enc, const BufferView& gate, const BufferView& up, const BufferView& out,
                std::string_view label = {}) const;

  // RMS norms over rows of n elements (rows = elements of x / n). `w` has as many elements as x
  // (for one row: the norm weight), so rms_norm followed by mul is exactly rms_norm_mul.
  void rms_norm(Encoder& enc, const BufferView& x, const BufferView& y, std::uint32_t n, float eps,
                std::string_view label = {}) const;
  void rms_norm_mul(Encoder& enc, const BufferView& x, const BufferView& w, const BufferView& y,
                    std::uint32_t n, float eps, std::string_view label = {}) const;
  void add_rms_norm(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& sum,
                    const BufferView& y, std::uint32_t n, float eps,
                    std::string_view label = {}) const;
  void add_rms_norm_mul(Encoder& enc, const BufferView& a, const BufferView& b, const BufferView& w,
                        const BufferView& sum, const BufferView& y, std::uint32_t n, float eps,
                        std::string_view label = {}) const;

  /// out[dim] = table[token[0], :] (bf16 table [vocab, dim], token u32 in device memory, so an
  /// argmax of the previous step can feed it without a host round trip). A token >= vocab
  /// writes zeros.
  void embedding(Encoder& enc, const BufferView& table, const BufferView& token,
                 const BufferView& out, std::uint32_t dim, std::string_view label = {}) const;

  /// Rotates x (f32 [n_heads, head_dim]) in place for position `pos` (u32 value or slot) with
  /// inverse frequencies `inv_freq` (f32 [head_dim / 2], so any rope scaling is the caller's).
  void rope(Encoder& enc, const BufferView& x, const BufferView& inv_freq, std::uint32_t n_heads,
            std::uint32_t head_dim, const Arg& pos, RopeStyle style,
            std::string_view label = {}) const;

  /// y[rows] = W[rows, cols] (bf16) * x[cols] (+ bias[rows] when given). cols is a multiple of
  /// 8; w and x start 16-byte aligned; y must not overlap x.
  void gemv(Encoder& enc, const BufferView& w, const BufferView& x, const BufferView& y,
            std::uint32_t rows, std::uint32_t cols, const std::optional<BufferView>& bias = {},
            std::string_view label = {}) const;

  /// The rope and kv-cache append of a decode step in one dispatch: rotates q (f32 [n_heads,
  /// head_dim]) in place and writes bf16(rope(k)) and bf16(v) (k, v f32 [n_kv_heads, head_dim])
  /// into row `pos` of the caches (bf16 [max_rows, n_kv_heads * head_dim]); k is not written.
  /// Equals rope over q and k followed by kv_append (bit for bit on the CPU). A pos >= max_rows
  /// rotates q and writes no cache row. q must not overlap k, v, inv_freq or the caches, nor a
  /// cache k, v or the other cache.
  void rope_kv_append(Encoder& enc, const BufferView& q, const BufferView& k, const BufferView& v,
                      const BufferView& inv_freq, const BufferView& k_cache,
                      const BufferView& v_cache, std::uint32_t n_heads, std::uint32_t n_kv_heads,
                      std::uint32_t head_dim, const Arg& pos, RopeStyle style,
                      std::string_view label = {}) const;

  /// A gemv with the fusions of `fusion` in one dispatch (see GemvNorm, GemvFusion): y[rows] =
  /// W x' (+ bias) or silu(W_gate x') * (W_up x'), with x' = x or the norm prologue's result.
  /// Views as for gemv, plus the fusion's; no output (y, sum) may overlap an input (w, x, add,
  /// weight, bias) or the other output.
  void gemv_fused(Encoder& enc, const BufferView& w, const BufferView& x, const BufferView& y,
                  std::uint32_t rows, std::uint32_t cols, const GemvFusion& fusion,
                  std::string_view label = {}) const;

  /// Writes k and v (f32 [row_elems]) as bf16 (nearest, ties to even) into row `pos` of the
  /// caches (bf16 [max_rows, row_elems]); a pos >= max_rows writes nothing.
  void kv_append(Encoder& enc, const BufferView& k, const BufferView& v, const BufferView& k_cache,
                 const BufferView& v_cache, std::uint32_t row_elems, const Arg& pos,
                 std::string_view label = {}) const;

  /// out (f32 [n_heads, head_dim]) = attention of q over cache rows [0, kv_len), where kv_len is
  /// a u32 value or slot (1 <= kv_len <= max_ctx; larger is clamped to max_ctx, 0 gives zeros).
  /// The caches are bf16 [max_ctx, n_kv_heads, head_dim] (as kv_append writes them with
  /// row_elems = n_kv_heads * head_dim). One dispatch: the splits of the cache that kv_len
  /// activates are merged by the last block of each kv head. The launch shape does not depend on
  /// kv_len, so a recording replays for every length. `scratch` holds
  /// attention_scratch_bytes(shape) and must be zero-filled when first used (Device::alloc
  /// zero-fills); the op leaves it reusable by any later attention_decode of the same shape.
  /// out must not overlap q or scratch. With `append`, cache row kv_len - 1 (when kv_len <=
  /// max_ctx) is taken from append.k and append.v and written into the caches by the dispatch,
  /// which reads every other cache row before its programmatic wait: no earlier dispatch of the
  /// command buffer may write the caches then (the encoder launches it after everything before
  /// it completes if one does).
  void attention_decode(Encoder& enc, const BufferView& q, const BufferView& k_cache,
                        const BufferView& v_cache, const BufferView& out, const BufferView& scratch,
                        const AttentionShape& shape, const Arg& kv_len, float scale,
                        std::string_view label = {},
                        const std::optional<AttentionAppend>& append = {}) const;

  /// Whether attention_o_decode runs `shape` with an output projection of `rows` rows on this
  /// encoder's device: a block holds its share of W_o (rows over the device's multiprocessors)
  /// in shared memory, which must fit.
  Support attention_o_support(const AttentionShape& shape, std::uint32_t rows) const;
  /// Scratch bytes attention_o_decode needs for the shape on this device (0 when
  /// attention_o_support refuses it).
  std::uint64_t attention_o_scratch_bytes(const AttentionShape& shape, std::uint32_t rows) const;

  /// y (f32 [rows]) = w_o (bf16 [rows, n_heads * head_dim]) times the attention_decode output
  /// of the same arguments, in one dispatch that never writes the attention output to memory
  /// (the decode step's attention and o gemv without a kernel boundary between them). kv_len
  /// as for attention_decode. `scratch` holds attention_o_scratch_bytes(shape, rows) and must be
  /// zero-filled when first used (Device::alloc zero-fills); the op leaves it reusable by any
  /// later attention_o_decode of the same shape. y must not overlap any input or scratch.
  void attention_o_decode(Encoder& enc, const BufferView& q, const BufferView& k_cache,
                          const BufferView& v_cache, const BufferView& w_o, const BufferView& y,
                          const BufferView& scratch, const AttentionShape& shape,
                          std::uint32_t rows, const Arg& kv_len, float scale,
                          std::string_view label = {}) const;

  /// Row softmax of x (f32 [rows, n]) into y.
  void softmax(Encoder& enc, const BufferView& x, const BufferView& y, std::uint32_t rows,
               std::uint32_t n, std::string_view label = {}) const;

  /// token[0] (u32) = argmax of x (f32 [n]): the largest value, the lowest index among equal
  /// ones; NaN is never picked (all NaN gives 0). `scratch` holds argmax_scratch_bytes(n).
  void argmax(Encoder& enc, const BufferView& x, const BufferView& token, const BufferView& scratch,
              std::uint32_t n, std::string_view label = {}) const;

 private:
  struct Kernels;
  std::shared_ptr<const Kernels> k_;
};

}  // namespace encore::ops
