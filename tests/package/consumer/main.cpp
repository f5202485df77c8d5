// Proves that an installed encore is usable from another project: the headers are found, the
// libraries link, and a CPU device round-trips a buffer. Prints "ok" on success.
#include <array>
#include <cstdio>
#include <encore/encore.h>
#include <exception>
#include <span>
#include <vector>

int main() {
  try {
    encore::Device device =
        encore::Device::open(encore::DeviceOptions{.backend = encore::BackendKind::Cpu});
    encore::Buffer buffer = device.alloc(16, "package-test");
    const std::array<float, 4> input{1.0F, -2.5F, 3.25F, 1024.0F};
    buffer.upload(std::span<const float>(input));
    const std::vector<float> output = buffer.download<float>();
    if (output.size() != input.size()) {
      std::fprintf(stderr, "downloaded %zu floats, expected %zu\n", output.size(), input.size());
      return 1;
    }
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (output[i] != input[i]) {
        std::fprintf(stderr, "float %zu: got %g, expected %g\n", i, static_cast<double>(output[i]),
                     static_cast<double>(input[i]));
        return 1;
      }
    }
    std::puts("ok");
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "encore error: %s\n", error.what());
    return 1;
  }
}
