#include "support/random_program.h"

#include <algorithm>
#include <bit>
#include <optional>
#include <span>

namespace encore::testing {

std::string describe(ViewSpec v) {
  return "b" + std::to_string(v.buffer) + "[" + std::to_string(v.first) + ", " +
         std::to_string(v.first + v.count) + ")";
}

std::string describe(const Step& s) {
  switch (s.kind) {
    case StepKind::Mix:
      return "mix_u32 src=" + describe(s.src) + " dst=" + describe(s.dst) +
             " salt=" + std::to_string(s.value);
    case StepKind::Fill:
      return "fill_u32 dst=" + describe(s.dst) + " v=" + std::to_string(s.value);
    case StepKind::Barrier:
      return "barrier";
    case StepKind::Norm:
      return "rms_norm_f32 x=" + describe(s.src) + " y=" + describe(s.dst) +
             " n=" + std::to_string(s.row);
    case StepKind::Mul:
    case StepKind::Add:
      return std::string(s.kind == StepKind::Mul ? "mul_f32" : "add_f32") +
             " a=" + describe(s.src) + " b=" + describe(s.src2) + " c=" + describe(s.dst);
    case StepKind::FillF:
      return "fill_f32 dst=" + describe(s.dst) +
             " v=" + std::to_string(std::bit_cast<float>(s.value));
  }
  return "?";
}

std::string describe(const Program& p) {
  std::string out = "Program{buffers (u32 elements):";
  for (std::size_t b = 0; b < p.sizes.size(); ++b) {
    out += " b" + std::to_string(b) + "=" + std::to_string(p.sizes[b]);
  }
  if (p.float_first < p.sizes.size())
    out += " (floats from b" + std::to_string(p.float_first) + ")";
  out += ", data_seed=" + std::to_string(p.data_seed) + ", " + std::to_string(p.steps.size()) +
         " steps:\n";
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    out += "  " + std::to_string(i) + ": " + describe(p.steps[i]) + "\n";
  }
  return out + "}";
}

std::uint32_t SeededChoices::in_range(std::uint32_t low, std::uint32_t high) {
  // The ranges are small, so the modulo bias is negligible.
  return low + static_cast<std::uint32_t>(engine_() % (std::uint64_t{high} - low));
}

namespace {

ViewSpec pick_view(ProgramChoices& choices, const std::vector<std::uint32_t>& sizes) {
  ViewSpec v;
  v.buffer = static_cast<int>(choices.in_range(0, static_cast<std::uint32_t>(sizes.size())));
  const std::uint32_t size = sizes[static_cast<std::size_t>(v.buffer)];
  v.first = choices.in_range(0, size);
  const std::uint32_t room = size - v.first;
  // Half the views are short, so independent dispatches are common too.
  const bool short_view = choices.any_bool();
  const std::uint32_t longest = short_view ? std::min<std::uint32_t>(room, 8) : room;
  v.count = choices.in_range(1, longest + 1);
  return v;
}

// A mix, fill or barrier over the uint32 buffers (the first p.float_first of p.sizes).
Step u32_step(ProgramChoices& choices, const Program& p, std::uint32_t roll) {
  const std::vector<std::uint32_t> sizes(
      p.sizes.begin(), p.sizes.begin() + static_cast<std::ptrdiff_t>(p.float_first));
  Step s;
  s.kind = roll < 65 ? StepKind::Mix : roll < 95 ? StepKind::Fill : StepKind::Barrier;
  if (s.kind == StepKind::Mix) s.src = pick_view(choices, sizes);
  if (s.kind != StepKind::Barrier) {
    s.dst = pick_view(choices, sizes);
    s.value = choices.any_u32();
  }
  return s;
}

// Exactly `count` elements of a float buffer (every float buffer holds at least 16).
ViewSpec float_view(ProgramChoices& choices, const Program& p, std::uint32_t count) {
  const auto floats = static_cast<std::uint32_t>(p.sizes.size() - p.float_first);
  ViewSpec v;
  v.buffer = static_cast<int>(p.float_first + choices.in_range(0, floats));
  v.first = choices.in_range(0, p.sizes[static_cast<std::size_t>(v.buffer)] - count + 1);
  v.count = count;
  return v;
}

// Finite, exactly representable fill values.
std::uint32_t float_value(ProgramChoices& choices) {
  constexpr float kValues[] = {0.25F, 0.5F, 1.0F, 1.5F, 2.0F};
  return std::bit_cast<std::uint32_t>(kValues[choices.in_range(0, 5)]);
}

// Rows of n elements, at most 16 elements in all.
struct Rows {
  std::uint32_t n = 1;
  std::uint32_t rows = 1;
  std::uint32_t count() const { return n * rows; }
};
Rows pick_rows(ProgramChoices& choices) {
  Rows r;
  r.n = choices.in_range(1, 9);
  r.rows = choices.in_range(1, 1 + std::min<std::uint32_t>(3, 16 / r.n));
  return r;
}

Step norm_step(ViewSpec x, ViewSpec y, std::uint32_t n) {
  Step s;
  s.kind = StepKind::Norm;
  s.src = x;
  s.dst = y;
  s.row = n;
  return s;
}

Step binary_step(StepKind kind, ViewSpec a, ViewSpec b, ViewSpec c) {
  Step s;
  s.kind = kind;
  s.src = a;
  s.src2 = b;
  s.dst = c;
  return s;
}

Step fill_float_step(ViewSpec dst, std::uint32_t value) {
  Step s;
  s.kind = StepKind::FillF;
  s.dst = dst;
  s.value = value;
  return s;
}

// One f32 step over random views.
Step lone_float_step(ProgramChoices& choices, const Program& p) {
  switch (choices.in_range(0, 4)) {
    case 0: {
      const Rows r = pick_rows(choices);
      const ViewSpec x = float_view(choices, p, r.count());
      return norm_step(x, float_view(choices, p, r.count()), r.n);
    }
    case 1:
    case 2: {
      const std::uint32_t count = choices.in_range(1, 17);
      const ViewSpec a = float_view(choices, p, count);
      const ViewSpec b = float_view(choices, p, count);
      return binary_step(choices.any_bool() ? StepKind::Mul : StepKind::Add, a, b,
                         float_view(choices, p, count));
    }
    default:
      return fill_float_step(float_view(choices, p, choices.in_range(1, 17)), float_value(choices));
  }
}

// 0-2 random steps (either kind of buffer) between the steps of a pattern.
void add_fillers(ProgramChoices& choices, Program& p) {
  for (std::uint32_t k = choices.in_range(0, 3); k > 0; --k) {
    p.steps.push_back(choices.any_bool() ? lone_float_step(choices, p)
                                         : u32_step(choices, p, choices.in_range(0, 100)));
  }
}

// norm -> mul, add -> norm, or add -> norm -> mul over views of one shape, then (usually) a
// fill that overwrites the intermediate so fusion may drop it.
void add_pattern(ProgramChoices& choices, Program& p) {
  const std::uint32_t kind = choices.in_range(0, 3);  // 0 norm+mul, 1 add+norm, 2 add+norm+mul
  const Rows r = pick_rows(choices);
  const auto view = [&] { return float_view(choices, p, r.count()); };
  ViewSpec x = view();
  if (kind != 0) {
    const ViewSpec a = view();
    const ViewSpec b = view();
    x = choices.in_range(0, 4) == 0 ? a : view();  // sometimes the in-place residual add
    p.steps.push_back(binary_step(StepKind::Add, a, b, x));
    add_fillers(choices, p);
  }
  const ViewSpec t = view();
  p.steps.push_back(norm_step(x, t, r.n));
  if (kind == 1) return;
  add_fillers(choices, p);
  const ViewSpec w = view();
  const bool t_first = choices.any_bool();
  p.steps.push_back(binary_step(StepKind::Mul, t_first ? t : w, t_first ? w : t, view()));
  if (choices.in_range(0, 100) < 60) {
    add_fillers(choices, p);
    p.steps.push_back(fill_float_step(t, float_value(choices)));
  }
}

}  // namespace

Program generate_program(ProgramChoices& choices, const GeneratorOptions& options) {
  Program p;
  const std::uint32_t buffers = choices.in_range(3, 5);
  for (std::uint32_t b = 0; b < buffers; ++b) p.sizes.push_back(choices.in_range(16, 257));
  p.float_first = p.sizes.size();
  if (options.fusion_patterns) {
    const std::uint32_t floats = choices.in_range(2, 4);
    for (std::uint32_t b = 0; b < floats; ++b) p.sizes.push_back(choices.in_range(16, 65));
  }
  p.data_seed = choices.any_u64();
  const std::uint32_t steps = choices.in_range(1, 41);
  while (p.steps.size() < steps) {
    // 65% mix, 30% fill, 5% barrier; shrinks toward mix. With fusion patterns, the upper 60% of
    // the rolls are f32 steps instead.
    const std::uint32_t roll = choices.in_range(0, 100);
    if (!options.fusion_patterns || roll < 40) {
      p.steps.push_back(u32_step(choices, p, options.fusion_patterns ? roll * 100 / 40 : roll));
    } else if (roll < 55) {
      p.steps.push_back(lone_float_step(choices, p));
    } else {
      add_pattern(choices, p);
    }
  }
  return p;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

namespace {

// Buffer b's initial elements: random bits, or floats in [0.5, 1.5) for float buffers.
std::vector<std::uint32_t> initial_contents(const Program& p, std::size_t b) {
  std::vector<std::uint32_t> data(p.sizes[b]);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const std::uint64_t bits = splitmix64(p.data_seed + b * 1000003 + i);
    data[i] = b < p.float_first
                  ? static_cast<std::uint32_t>(bits)
                  : std::bit_cast<std::uint32_t>(0.5F + static_cast<float>(bits % 1024) / 1024.0F);
  }
  return data;
}

}  // namespace

std::vector<Buffer> make_buffers(Device& device, const Program& p) {
  std::vector<Buffer> buffers;
  for (std::size_t b = 0; b < p.sizes.size(); ++b) {
    buffers.push_back(device.alloc(std::uint64_t{p.sizes[b]} * 4, "b" + std::to_string(b)));
  }
  reset_contents(buffers, p);
  return buffers;
}

void reset_contents(const std::vector<Buffer>& buffers, const Program& p) {
  for (std::size_t b = 0; b < p.sizes.size(); ++b) {
    const std::vector<std::uint32_t> data = initial_contents(p, b);
    buffers[b].upload(std::span<const std::uint32_t>(data));
  }
}

BufferView view_of(const std::vector<Buffer>& buffers, ViewSpec v) {
  return buffers[static_cast<std::size_t>(v.buffer)].view_of<std::uint32_t>(v.first, v.count);
}

void encode(Device& device, Encoder& enc, const Program& p, const std::vector<Buffer>& buffers,
            const std::vector<bool>* inserted) {
  // Kernels are resolved on first use, so programs without f32 steps need no f32 kernels.
  struct Lazy {
    Device& device;
    const char* name;
    std::optional<Kernel> kernel;
    const Kernel& get() {
      if (!kernel) kernel = device.kernel(name);
      return *kernel;
    }
  };
  Lazy mix{device, "mix_u32", {}}, fill{device, "fill_u32", {}}, norm{device, "rms_norm_f32", {}};
  Lazy mul{device, "mul_f32", {}}, add{device, "add_f32", {}}, fill_f{device, "fill_f32", {}};
  const auto v = [&](ViewSpec spec) { return view_of(buffers, spec); };
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    if (s.kind == StepKind::Barrier) {
      enc.barrier();
      continue;
    }
    if (inserted != nullptr && (*inserted)[i]) enc.barrier();
    const Launch launch = Launch::threads(s.dst.count, 32);
    switch (s.kind) {
      case StepKind::Mix:
        enc.dispatch(mix.get(), launch,
                     {in(v(s.src)), inout(v(s.dst)), value(s.value), value(s.src.count),
                      value(s.dst.count)});
        break;
      case StepKind::Fill:
        enc.dispatch(fill.get(), launch, {out(v(s.dst)), value(s.value), value(s.dst.count)});
        break;
      case StepKind::Norm:
        enc.dispatch(norm.get(), Launch::groups(s.src.count / s.row, 32),
                     {in(v(s.src)), out(v(s.dst)), value(s.row), value(1e-5F)});
        break;
      case StepKind::Mul:
      case StepKind::Add:
        enc.dispatch((s.kind == StepKind::Mul ? mul : add).get(), launch,
                     {in(v(s.src)), in(v(s.src2)), out(v(s.dst)), value(s.dst.count)});
        break;
      case StepKind::FillF:
        enc.dispatch(fill_f.get(), launch,
                     {out(v(s.dst)), value(std::bit_cast<float>(s.value)), value(s.dst.count)});
        break;
      case StepKind::Barrier:
        break;
    }
  }
}

Contents download_all(const std::vector<Buffer>& buffers) {
  Contents out;
  for (const Buffer& b : buffers) out.push_back(b.download<std::uint32_t>());
  return out;
}

Contents run(Device& device, const Program& p, const EncoderOptions& options,
             const std::vector<bool>* inserted, Submit how) {
  const std::vector<Buffer> buffers = make_buffers(device, p);
  Encoder enc = device.encoder(options);
  encode(device, enc, p, buffers, inserted);
  if (how == Submit::Recording) {
    const Recording rec = enc.finish();
    device.submit(rec).wait();
  } else {
    enc.commit().wait();
  }
  return download_all(buffers);
}

std::string first_difference(const Contents& got, const Contents& want) {
  for (std::size_t b = 0; b < want.size(); ++b) {
    for (std::size_t i = 0; i < want[b].size(); ++i) {
      if (got[b][i] != want[b][i]) {
        return "b" + std::to_string(b) + "[" + std::to_string(i) + "] is " +
               std::to_string(got[b][i]) + ", the serial run gives " + std::to_string(want[b][i]);
      }
    }
  }
  return {};
}

}  // namespace encore::testing
