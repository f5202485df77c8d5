#include "options.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <fstream>
#include <sstream>

#include "encore/error.h"
#include "encore/ops.h"

namespace encore::llm::cli {

std::vector<std::uint32_t> parse_token_list(const std::string& text) {
  std::string list = text;
  if (!text.empty() && text[0] == '@') {
    std::ifstream file(text.substr(1));
    if (!file) throw Error(ErrorCode::InvalidArgument, "cannot open token file " + text.substr(1));
    std::ostringstream all;
    all << file.rdbuf();
    list = all.str();
  }
  for (char& ch : list) {
    if (ch == ',' || ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
  }
  std::vector<std::uint32_t> ids;
  std::istringstream words(list);
  std::string word;
  while (words >> word) {
    std::uint32_t id = 0;
    const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
    if (ec != std::errc() || end != word.data() + word.size()) {
      throw Error(ErrorCode::InvalidArgument,
                  "token list: '" + word + "' is not a token id (an unsigned 32-bit integer)");
    }
    ids.push_back(id);
  }
  if (ids.empty()) throw Error(ErrorCode::InvalidArgument, "token list '" + text + "' is empty");
  return ids;
}

std::optional<Options> parse(int argc, char** argv, int& exit_code) {
  Options o;
  CLI::App app{
      "encore-llm: greedy decoding of a Llama / Qwen2 model on encore; the decode step is "
      "recorded once and replayed with patched slots every token."};
  std::string prompt_text;
  std::string teacher_text;

  app.add_option("--model", o.model_dir,
                 "Hugging Face checkpoint directory (config.json + "
                 "*.safetensors, bf16)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--shape", o.shape,
                 "random weights of a named shape: tiny, tiny-qwen2, llama-3.2-1b, qwen2.5-0.5b, "
                 "llama-3.1-8b "
                 "(default: tiny on the CPU backend, llama-3.2-1b on CUDA)");
  app.add_option("--seed", o.seed, "seed of the random weights and random prompt")
      ->capture_default_str();
  app.add_option("--prompt", prompt_text, "prompt token ids, '1,2,3' or @file (default 1,2,3,4)");
  app.add_option("--prompt-len", o.prompt_len, "a random prompt of this many tokens instead");
  app.add_option("--tokens,-n", o.tokens, "tokens to generate")->capture_default_str();
  app.add_option("--warmup", o.warmup, "decode steps left out of the timing")
      ->capture_default_str();
  app.add_option("--max-ctx", o.max_ctx, "KV cache positions (default: prompt + tokens)");
  app.add_option("--tp", o.tp,
                 "tensor-parallel ranks, one device each (CPU: that many CPU devices sharing the "
                 "cores; CUDA: GPUs from ENCORE_CUDA_DEVICE on); must divide the heads, the kv "
                 "heads and the ffn size")
      ->capture_default_str();
  std::string backend, path, ordering, replay = "slots", norm = "fused", profile = "off";
  app.add_option("--backend", backend, "auto, cpu or cuda (default: ENCORE_BACKEND, else auto)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--path", path, "CUDA submission path: graph, streams or stream")
      ->check(CLI::IsMember({"graph", "streams", "stream"}));
  app.add_option("--ordering", ordering, "serial, barriers, auto_barrier or auto_dag")
      ->check(CLI::IsMember({"serial", "barriers", "auto_barrier", "auto_dag"}));
  app.add_option("--replay", replay,
                 "slots: record the step once, patch pos/kv_len per token; rerecord: encode "
                 "every token")
      ->check(CLI::IsMember({"slots", "rerecord"}))
      ->capture_default_str();
  app.add_option("--norm", norm,
                 "fused: norms in the gemvs' prologues, rope+kv_append in the qkv gemv, silu in "
                 "the gate|up gemv (5 dispatches per layer); standalone: rms_norm_mul / "
                 "add_rms_norm_mul dispatches; split: add, rms_norm, mul (work for the fusion "
                 "pass)")
      ->check(CLI::IsMember({"fused", "standalone", "split"}))
      ->capture_default_str();
  app.add_flag("--attention-o", o.attention_o,
               "with --norm fused: attention and the o gemv as one dispatch (attention_o_decode, "
               "4 dispatches per layer)");
  bool fuse = false;
  bool reorder = false;
  std::string passes;
  CLI::Option* fuse_flag =
      app.add_flag("--fuse,!--no-fuse", fuse, "run the fusion pass on the step (--no-fuse: none)");
  CLI::Option* reorder_flag =
      app.add_flag("--reorder", reorder, "run the reorder pass on the step");
  CLI::Option* passes_option = app.add_option(
      "--passes", passes, "passes on the step: fuse,reorder,minimize (any list), all or none");
  passes_option->excludes(fuse_flag)->excludes(reorder_flag);
  app.add_option("--profile", profile,
                 "off; cb: device time of every step; dispatch: per-dispatch device times")
      ->check(CLI::IsMember({"off", "cb", "dispatch"}))
      ->capture_default_str();
  app.add_option("--trace", o.trace_file, "write a Chrome trace (Perfetto) of the timed steps");
  app.add_option("--kernel-timeline", o.kernel_timeline,
                 "CUDA, a build with -DENCORE_KERNEL_TIMELINE=ON: write when every block of the "
                 "last step's op kernels started, waited and exited (scripts/kernel-timeline "
                 "reads it)");
  app.add_option("--teacher-force", teacher_text,
                 "run these token ids ('1,2,3' or @file) teacher-forced instead of generating");
  app.add_option("--dump-logits", o.dump_logits,
                 "with --teacher-force: write the logits of every step as .npy (f32 [steps, "
                 "vocab])");
  app.add_option("--json", o.json_file, "write every number as JSON");
  app.add_option("--dump-step", o.dump_step, "write the recorded step (nodes, edges) as text");
  app.add_option("--bandwidth-mib", o.bandwidth_mib,
                 "buffer of the bandwidth measurement in MiB (default 2048 on CUDA, 64 on CPU; "
                 "0 skips it and the roofline)");
  app.add_flag("--quiet,-q", o.quiet, "no progress line on stderr");

  try {
    app.parse(argc, argv);
    if (!o.model_dir.empty() && !o.shape.empty()) {
      throw CLI::ValidationError("--model and --shape", "give one of them, not both");
    }
    if (!prompt_text.empty() && o.prompt_len > 0) {
      throw CLI::ValidationError("--prompt and --prompt-len", "give one of them, not both");
    }
    if (!o.kernel_timeline.empty() && !encore::ops::kernel_timeline_enabled()) {
      throw CLI::ValidationError("--kernel-timeline",
                                 "needs a build configured with -DENCORE_KERNEL_TIMELINE=ON");
    }
    if (!o.kernel_timeline.empty() && !teacher_text.empty()) {
      throw CLI::ValidationError("--kernel-timeline",
                                 "is written after generating; not with --teacher-force");
    }
    if (!o.dump_logits.empty() && teacher_text.empty()) {
      throw CLI::ValidationError("--dump-logits", "needs --teacher-force");
    }
    // The checks above admit only names these parsers know.
    if (!backend.empty()) o.backend = parse_backend_kind(backend);
    if (!path.empty()) o.path = parse_execution_path(path);
    if (!ordering.empty()) o.ordering = parse_ordering(ordering);
    o.replay = *parse_replay_mode(replay);
    o.norm = *parse_norm_mode(norm);
    if (o.attention_o && o.norm != NormMode::Fused) {
      throw CLI::ValidationError("--attention-o", "needs --norm fused");
    }
    o.profile = profile == "cb" ? Profile::CommandBuffer
                                : (profile == "dispatch" ? Profile::Dispatch : Profile::Off);
    if (passes_option->count() > 0) {
      std::string bad;
      o.passes = parse_pass_list(passes, &bad);
      if (!o.passes) {
        throw CLI::ValidationError("--passes", "'" + bad +
                                                   "' is not a pass (fuse, reorder, "
                                                   "minimize, all, none)");
      }
    } else if (fuse_flag->count() > 0 || reorder_flag->count() > 0) {
      o.passes.emplace();
      if (fuse) o.passes->push_back(Pass::Fuse);
      if (reorder) o.passes->push_back(Pass::Reorder);
    }
    if (!prompt_text.empty()) o.prompt = parse_token_list(prompt_text);
    if (!teacher_text.empty()) o.teacher_force = parse_token_list(teacher_text);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  return o;
}

}  // namespace encore::llm::cli
