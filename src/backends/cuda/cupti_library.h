#pragma once

// CUPTI, loaded at run time: encore never links libcupti, so it runs where CUPTI is absent and
// loads it only when a device profiles per dispatch. Every function encore calls is resolved
// with dlsym into this table; the types come from the toolkit's CUPTI headers (included only
// here and in cupti_session.cpp).

#include <cupti.h>
#include <string>
#include <vector>

namespace encore::detail {

struct CuptiLibrary {
  decltype(&cuptiGetVersion) get_version = nullptr;
  decltype(&cuptiGetResultString) get_result_string = nullptr;
  decltype(&cuptiSubscribe) subscribe = nullptr;
  decltype(&cuptiUnsubscribe) unsubscribe = nullptr;
  decltype(&cuptiEnableCallback) enable_callback = nullptr;
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
  decltype(&cuptiActivityEnable) activity_enable = nullptr;
  decltype(&cuptiActivityDisable) activity_disable = nullptr;
  decltype(&cuptiActivityFlushAll) flush_all = nullptr;
  decltype(&cuptiActivityGetNextRecord) next_record = nullptr;
  decltype(&cuptiActivityGetNumDroppedRecords) dropped_records = nullptr;
  decltype(&cuptiGetTimestamp) get_timestamp = nullptr;
  decltype(&cuptiGetGraphNodeId) graph_node_id = nullptr;

  std::string path;  ///< the file that was loaded
  unsigned version = 0;

  /// "CUPTI_ERROR_... (text)" for a result.
  std::string describe(CUptiResult result) const;
};

/// Where to look for CUPTI, in order: `explicit_path` alone when given; otherwise the loader's
/// path (libcupti.so.13, libcupti.so), then `cuda_home` and `toolkit_root` (lib64 and
/// extras/CUPTI/lib64 under each).
std::vector<std::string> cupti_candidates(const std::string& explicit_path,
                                          const std::string& cuda_home,
                                          const std::string& toolkit_root);

/// Loads the first candidate that opens and resolves every function, of a CUPTI 13 (the record
/// layouts encore reads are those of CUPTI 13). On failure `why` lists every path tried and why
/// it was refused. The library stays loaded for the life of the process (CUPTI keeps threads
/// and callbacks into it).
bool load_cupti(const std::vector<std::string>& candidates, CuptiLibrary& out, std::string& why);

}  // namespace encore::detail
