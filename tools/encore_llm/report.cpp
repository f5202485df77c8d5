#include "report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#ifndef ENCORE_GIT_REVISION
#define ENCORE_GIT_REVISION "unknown"
#endif

namespace encore::llm::cli {

namespace {

std::string format(const char* fmt, auto... args) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, fmt, args...);
  return buffer;
}

std::string join(const std::vector<std::uint32_t>& ids, std::size_t limit = 64) {
  std::string s;
  for (std::size_t i = 0; i < ids.size() && i < limit; ++i) {
    if (i > 0) s += ' ';
    s += std::to_string(ids[i]);
  }
  if (ids.size() > limit) s += " ... (" + std::to_string(ids.size()) + " in all)";
  return s;
}

}  // namespace

void finish(Report& r) {
  const GenerateResult& g = r.result;
  r.step = summarize(g.step_seconds, r.warmup);
  r.step_device = summarize(g.step_device_seconds, r.warmup);
  r.step_host = summarize(g.step_host_seconds, r.warmup);
  const std::size_t skip = std::min<std::size_t>(r.warmup, g.step_seconds.size());
  const std::size_t timed = g.step_seconds.size() - skip;
  double timed_seconds = 0;
  for (std::size_t i = skip; i < g.step_seconds.size(); ++i) timed_seconds += g.step_seconds[i];
  r.tokens_per_second = timed_seconds > 0 ? static_cast<double>(timed) / timed_seconds : 0;
  // Decode step i (0-based) runs at position prompt_steps + i, attending over pos + 1 rows.
  const double first = g.prompt_steps + static_cast<double>(skip) + 1;
  const double last = g.prompt_steps + static_cast<double>(g.step_seconds.size());
  r.mean_kv_len = static_cast<std::uint32_t>((first + last) / 2);
  // Each rank reads its own share (and the replicated embedding, norms and lm_head) from its
  // own memory, so a step's bound is one rank's bytes over one device's bandwidth.
  r.bytes = step_bytes(r.rank_config, r.mean_kv_len);
  if (r.bandwidth.bytes_per_second > 0) {
    r.roofline_seconds = static_cast<double>(r.bytes.total()) / r.bandwidth.bytes_per_second;
    if (r.step.count > 0) r.roofline_ratio = r.step.median / r.roofline_seconds;
  }
}

std::string to_text(const Report& r) {
  const ModelConfig& c = r.config;
  std::string s;
  s += format("encore-llm: %s, %s weights, on %s, tp %u\n", r.model.c_str(),
              r.weights_source.c_str(), r.device.c_str(), r.tp);
  if (!r.fallback_reason.empty()) s += "  (CPU backend: " + r.fallback_reason + ")\n";
  s += format(
      "  model     %s, %u layers, hidden %u, heads %u/%u x %u, ffn %u, vocab %u, "
      "%.3f B parameters\n",
      std::string(llm::to_string(c.arch)).c_str(), c.num_layers, c.hidden_size, c.num_heads,
      c.num_kv_heads, c.head_dim, c.intermediate_size, c.vocab_size,
      static_cast<double>(r.parameters) * 1e-9);
  s += format(
      "  step      %zu dispatches (%zu encoded); path %s, ordering %s, replay %s, norm %s, "
      "passes %s\n",
      r.dispatches_per_step, r.encoded_dispatches_per_step, r.path.c_str(), r.ordering.c_str(),
      r.replay.c_str(), r.norm.c_str(), r.passes.c_str());
  s += "prompt      " + std::to_string(r.prompt.size()) + " tokens: " + join(r.prompt, 16) + "\n";
  s += "generated   " + join(r.result.tokens) + "\n";
  const GenerateResult& g = r.result;
  s += format("prompt      %u steps in %.2f ms\n", g.prompt_steps, g.prompt_seconds * 1e3);
  if (r.step.count > 0) {
    s += format(
        "decode      %zu tokens in %.2f ms; timed %zu steps after %u warm-up: "
        "%.1f tokens/s, %.4f ms/step median, %.4f mean\n",
        g.step_seconds.size(), g.decode_seconds * 1e3, r.step.count, r.warmup, r.tokens_per_second,
        r.step.median * 1e3, r.step.mean * 1e3);
  } else {
    s += format("decode      %zu tokens in %.2f ms (too few steps to time after %u warm-up)\n",
                g.step_seconds.size(), g.decode_seconds * 1e3, r.warmup);
  }
  if (r.step_host.count > 0) {
    s += format(
        "host        %.4f ms/step median, %.4f mean to queue a step (host-bound when near "
        "ms/step)\n",
        r.step_host.median * 1e3, r.step_host.mean * 1e3);
  }
  if (r.show_device_time && r.step_device.count > 0 && r.step_device.median > 0) {
    s += format("device      %.4f ms/step median, %.4f mean (device timer)\n",
                r.step_device.median * 1e3, r.step_device.mean * 1e3);
  }
  if (r.bandwidth.bytes_per_second > 0) {
    s += format(
        "roofline    %.1f MB/step (weights %.1f, kv %.2f, activations %.2f) at kv_len "
        "%u / %.1f GB/s measured = %.4f ms; step/roofline = %.2fx\n",
        static_cast<double>(r.bytes.total()) * 1e-6, static_cast<double>(r.bytes.weights) * 1e-6,
        static_cast<double>(r.bytes.kv_cache) * 1e-6,
        static_cast<double>(r.bytes.activations) * 1e-6, r.mean_kv_len,
        r.bandwidth.bytes_per_second * 1e-9, r.roofline_seconds * 1e3, r.roofline_ratio);
  }
  return s;
}

std::string to_json(const Report& r) {
  using nlohmann::json;
  const GenerateResult& g = r.result;
  const ModelConfig& c = r.config;
  json j = {
      {"revision", ENCORE_GIT_REVISION},
      {"device", r.device},
      {"backend", r.backend},
      {"model", r.model},
      {"weights", r.weights_source},
      {"tp", r.tp},
      {"config",
       {{"arch", std::string(llm::to_string(c.arch))},
        {"layers", c.num_layers},
        {"hidden", c.hidden_size},
        {"heads", c.num_heads},
        {"kv_heads", c.num_kv_heads},
        {"head_dim", c.head_dim},
        {"intermediate", c.intermediate_size},
        {"vocab", c.vocab_size},
        {"tied_embeddings", c.tie_word_embeddings},
        {"parameters", r.parameters}}},
      {"mode",
       {{"path", r.path},
        {"ordering", r.ordering},
        {"replay", r.replay},
        {"norm", r.norm},
        {"passes", r.passes}}},
      {"dispatches_per_step", r.dispatches_per_step},
      {"encoded_dispatches_per_step", r.encoded_dispatches_per_step},
      {"prompt", r.prompt},
      {"tokens", g.tokens},
      {"prompt_steps", g.prompt_steps},
      {"prompt_seconds", g.prompt_seconds},
      {"decode_seconds", g.decode_seconds},
      {"warmup_steps", r.warmup},
      {"timed_steps", r.step.count},
      {"tokens_per_second", r.tokens_per_second},
      {"ms_per_step_median", r.step.median * 1e3},
      {"ms_per_step_mean", r.step.mean * 1e3},
      {"device_ms_per_step_median", r.step_device.median * 1e3},
      {"device_ms_per_step_mean", r.step_device.mean * 1e3},
      {"host_ms_per_step_median", r.step_host.median * 1e3},
      {"step_seconds", g.step_seconds},
      {"step_device_seconds", g.step_device_seconds},
      {"step_host_seconds", g.step_host_seconds},
      {"roofline",
       {{"bytes_per_step", r.bytes.total()},
        {"weight_bytes", r.bytes.weights},
        {"kv_cache_bytes", r.bytes.kv_cache},
        {"activation_bytes", r.bytes.activations},
        {"kv_len", r.mean_kv_len},
        {"bandwidth_bytes_per_second", r.bandwidth.bytes_per_second},
        {"bandwidth_buffer_bytes", r.bandwidth.buffer_bytes},
        {"bandwidth_device_timed", r.bandwidth.device_timed},
        {"roofline_ms", r.roofline_seconds * 1e3},
        {"ratio", r.roofline_ratio}}},
  };
  if (!r.profile_ops.empty()) {
    json ops = json::array();
    for (const ProfileRow& row : r.profile_ops) {
      ops.push_back({{"op", row.name},
                     {"dispatches", row.count},
                     {"total_ms", static_cast<double>(row.total_ns) * 1e-6},
                     {"exposed_ms", static_cast<double>(row.exposed_ns) * 1e-6},
                     {"share", row.share}});
    }
    j["profile"] = {{"steps", r.profiled_steps}, {"ops", std::move(ops)}};
  }
  return j.dump(2) + "\n";
}

}  // namespace encore::llm::cli
