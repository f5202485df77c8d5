#pragma once

// Model shapes the llm tests share beside the named ones.

#include "llm/config.h"

namespace encore::llm {

// The tiny shape with 8 query and 4 kv heads: splits over 4 ranks (tiny's 2 kv heads do not).
inline ModelConfig tiny_with_four_kv_heads() {
  ModelConfig c = named_config("tiny");
  c.name = "tiny-8-4";
  c.num_heads = 8;
  c.num_kv_heads = 4;
  return c;
}

}  // namespace encore::llm
