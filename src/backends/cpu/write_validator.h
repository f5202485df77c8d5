#pragma once

// Validation mode: proves that a dispatch changed no byte it did not declare as written.
// Before the dispatch it copies every allocation the command list binds; afterwards it compares
// them, skipping the ranges the dispatch declared as written (out/inout args and extra writes).
// Dispatches run one at a time in this mode, so a difference can only be theirs. The cost is a
// copy and a compare of the bound memory per dispatch: a debugging mode, not a production one.

#include <cstddef>
#include <optional>
#include <vector>

#include "encore/error.h"

#include "core/command_list.h"

namespace encore::detail {

class WriteValidator {
 public:
  explicit WriteValidator(const CommandList& list) : list_(list) {}

  /// Snapshots the command list's memory.
  void before();
  /// Compares against the snapshot; the error names the dispatch, the buffer and the bytes.
  std::optional<Error> after(std::size_t node_index) const;

 private:
  const CommandList& list_;
  std::vector<std::vector<std::byte>> snapshot_;
};

}  // namespace encore::detail
