#include "encore/types.h"

namespace encore {

std::string to_string(Dim3 d) {
  // Built by appending: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string chains.
  std::string out = "(";
  out += std::to_string(d.x);
  out += ", ";
  out += std::to_string(d.y);
  out += ", ";
  out += std::to_string(d.z);
  out += ')';
  return out;
}

std::string_view to_string(Access a) noexcept {
  switch (a) {
    case Access::In:
      return "in";
    case Access::Out:
      return "out";
    case Access::InOut:
      return "inout";
  }
  return "?";
}

std::string_view to_string(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::Other:
      return "Other";
    case OpKind::Copy:
      return "Copy";
    case OpKind::Fill:
      return "Fill";
    case OpKind::ElemAdd:
      return "ElemAdd";
    case OpKind::ElemMul:
      return "ElemMul";
    case OpKind::ElemScale:
      return "ElemScale";
    case OpKind::Reduce:
      return "Reduce";
    case OpKind::RmsNorm:
      return "RmsNorm";
    case OpKind::RmsNormMul:
      return "RmsNormMul";
    case OpKind::AddRmsNorm:
      return "AddRmsNorm";
    case OpKind::Rope:
      return "Rope";
    case OpKind::Gemv:
      return "Gemv";
    case OpKind::MatMul:
      return "MatMul";
    case OpKind::Embedding:
      return "Embedding";
    case OpKind::KvAppend:
      return "KvAppend";
    case OpKind::Sdpa:
      return "Sdpa";
    case OpKind::Softmax:
      return "Softmax";
    case OpKind::SiluMul:
      return "SiluMul";
    case OpKind::Argmax:
      return "Argmax";
    case OpKind::Collective:
      return "Collective";
  }
  return "?";
}

}  // namespace encore
