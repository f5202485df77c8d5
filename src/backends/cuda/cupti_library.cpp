#include "backends/cuda/cupti_library.h"

#include <dlfcn.h>

namespace encore::detail {

namespace {

// CUPTI 13.x: CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL delivers CUpti_ActivityKernel10. Versions are
// xxyyzz from CUDA 13 on.
constexpr unsigned kRequiredMajor = 13;

template <class Fn>
bool resolve(void* handle, const char* name, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (fn == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(name);
  return fn != nullptr;
}

bool resolve_all(void* handle, CuptiLibrary& lib, std::string& missing) {
  bool ok = true;
  ok &= resolve(handle, "cuptiGetVersion", lib.get_version, missing);
  ok &= resolve(handle, "cuptiGetResultString", lib.get_result_string, missing);
  ok &= resolve(handle, "cuptiSubscribe", lib.subscribe, missing);
  ok &= resolve(handle, "cuptiUnsubscribe", lib.unsubscribe, missing);
  ok &= resolve(handle, "cuptiEnableCallback", lib.enable_callback, missing);
  ok &= resolve(handle, "cuptiActivityRegisterCallbacks", lib.register_callbacks, missing);
  ok &= resolve(handle, "cuptiActivityEnable", lib.activity_enable, missing);
  ok &= resolve(handle, "cuptiActivityDisable", lib.activity_disable, missing);
  ok &= resolve(handle, "cuptiActivityFlushAll", lib.flush_all, missing);
  ok &= resolve(handle, "cuptiActivityGetNextRecord", lib.next_record, missing);
  ok &= resolve(handle, "cuptiActivityGetNumDroppedRecords", lib.dropped_records, missing);
  ok &= resolve(handle, "cuptiGetTimestamp", lib.get_timestamp, missing);
  ok &= resolve(handle, "cuptiGetGraphNodeId", lib.graph_node_id, missing);
  return ok;
}

}  // namespace

std::string CuptiLibrary::describe(CUptiResult result) const {
  const char* text = nullptr;
  if (get_result_string != nullptr && get_result_string(result, &text) == CUPTI_SUCCESS &&
      text != nullptr) {
    return text;
  }
  return "CUPTI error " + std::to_string(static_cast<int>(result));
}

std::vector<std::string> cupti_candidates(const std::string& explicit_path,
                                          const std::string& cuda_home,
                                          const std::string& toolkit_root) {
  if (!explicit_path.empty()) return {explicit_path};
  std::vector<std::string> out = {"libcupti.so.13", "libcupti.so"};
  for (const std::string& root : {cuda_home, toolkit_root}) {
    if (root.empty()) continue;
    for (const char* dir : {"/extras/CUPTI/lib64/", "/lib64/", "/lib/"}) {
      out.push_back(root + dir + "libcupti.so.13");
      out.push_back(root + dir + "libcupti.so");
    }
  }
  return out;
}

bool load_cupti(const std::vector<std::string>& candidates, CuptiLibrary& out, std::string& why) {
  std::string tried;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      // dlerror's text starts with the path it could not open.
      tried += "\n  " + (error != nullptr ? std::string(error) : path + ": cannot be opened");
      continue;
    }
    CuptiLibrary lib;
    std::string missing;
    std::uint32_t version = 0;
    if (!resolve_all(handle, lib, missing)) {
      tried += "\n  " + path + ": lacks " + missing;
    } else if (lib.get_version(&version) != CUPTI_SUCCESS || version / 10000 != kRequiredMajor) {
      tried += "\n  " + path + ": CUPTI version " + std::to_string(version) + ", encore needs " +
               std::to_string(kRequiredMajor) + ".x";
    } else {
      lib.path = path;
      lib.version = version;
      out = lib;
      return true;  // handle intentionally kept: CUPTI stays loaded for the process
    }
    dlclose(handle);
  }
  why = "no usable CUPTI library was found; tried:" + tried;
  return false;
}

}  // namespace encore::detail
