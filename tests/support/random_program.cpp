#include "support/random_program.h"

#include <algorithm>
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
  }
  return "?";
}

std::string describe(const Program& p) {
  std::string out = "Program{buffers (u32 elements):";
  for (std::size_t b = 0; b < p.sizes.size(); ++b) {
    out += " b" + std::to_string(b) + "=" + std::to_string(p.sizes[b]);
  }
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

}  // namespace

Program generate_program(ProgramChoices& choices) {
  Program p;
  const std::uint32_t buffers = choices.in_range(3, 5);
  for (std::uint32_t b = 0; b < buffers; ++b) p.sizes.push_back(choices.in_range(16, 257));
  p.data_seed = choices.any_u64();
  const std::uint32_t steps = choices.in_range(1, 41);
  for (std::uint32_t i = 0; i < steps; ++i) {
    Step s;
    const std::uint32_t roll = choices.in_range(0, 100);
    // 65% mix, 30% fill, 5% barrier; shrinks toward mix.
    s.kind = roll < 65 ? StepKind::Mix : roll < 95 ? StepKind::Fill : StepKind::Barrier;
    if (s.kind == StepKind::Mix) s.src = pick_view(choices, p.sizes);
    if (s.kind != StepKind::Barrier) {
      s.dst = pick_view(choices, p.sizes);
      s.value = choices.any_u32();
    }
    p.steps.push_back(s);
  }
  return p;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::vector<Buffer> make_buffers(Device& device, const Program& p) {
  std::vector<Buffer> buffers;
  for (std::size_t b = 0; b < p.sizes.size(); ++b) {
    std::vector<std::uint32_t> data(p.sizes[b]);
    for (std::size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<std::uint32_t>(splitmix64(p.data_seed + b * 1000003 + i));
    }
    buffers.push_back(device.alloc(data.size() * 4, "b" + std::to_string(b)));
    buffers.back().upload(std::span<const std::uint32_t>(data));
  }
  return buffers;
}

BufferView view_of(const std::vector<Buffer>& buffers, ViewSpec v) {
  return buffers[static_cast<std::size_t>(v.buffer)].view_of<std::uint32_t>(v.first, v.count);
}

void encode(Device& device, Encoder& enc, const Program& p, const std::vector<Buffer>& buffers,
            const std::vector<bool>* inserted) {
  const Kernel mix = device.kernel("mix_u32");
  const Kernel fill = device.kernel("fill_u32");
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    if (s.kind == StepKind::Barrier) {
      enc.barrier();
      continue;
    }
    if (inserted != nullptr && (*inserted)[i]) enc.barrier();
    const Launch launch = Launch::threads(s.dst.count, 32);
    if (s.kind == StepKind::Mix) {
      enc.dispatch(mix, launch,
                   {in(view_of(buffers, s.src)), inout(view_of(buffers, s.dst)), value(s.value),
                    value(s.src.count), value(s.dst.count)});
    } else {
      enc.dispatch(fill, launch,
                   {out(view_of(buffers, s.dst)), value(s.value), value(s.dst.count)});
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
