#include "classify/internal/doc_codes.h"

#include "classify/internal/text.h"

namespace bouncestream::classify::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsWord(char c) {
  return IsDigit(c) || IsUpper(c) || (c >= 'a' && c <= 'z') || c == '_';
}

// The run of digits starting at `p` (at most `max`).
std::string_view Digits(std::string_view t, std::size_t p, std::size_t max) {
  std::size_t q = p;
  while (q < t.size() && IsDigit(t[q]) && q - p < max) ++q;
  return t.substr(p, q - p);
}

// `marker` (exact case, as vendors write it) followed by digits: the digits, empty if absent.
std::string_view AfterMarker(std::string_view t, std::string_view marker, std::size_t max) {
  const std::size_t at = t.find(marker);
  if (at == std::string_view::npos) return {};
  return Digits(t, at + marker.size(), max);
}

bool Mimecast(std::string_view t, DocCode* out) {
  if (auto d = AfterMarker(t, "DOC-1369#", 3); !d.empty()) {
    out->Assign({"DOC-1369#", d});
    return true;
  }
  if (t.find("KBID10473") != std::string_view::npos) {
    auto d = AfterMarker(t, "kbid10473.htm#", 3);
    if (d.empty()) d = AfterMarker(t, "KBID10473.htm#", 3);
    out->Assign({"KBID10473", d.empty() ? "" : "#", d});
    return true;
  }
  if (auto d = AfterMarker(t, "Mimecast_SMTP_Error_Codes#", 3); !d.empty()) {
    out->Assign({"SMTP-Error-Codes#", d});
    return true;
  }
  return false;
}

bool Microsoft(std::string_view t, DocCode* out) {
  // "AS(1430)", "(AS16012611)", "(S3150)", legacy "SC-001"/"OU-002"/"DY-001"/"RP-001".
  if (auto d = AfterMarker(t, "AS(", 12); !d.empty()) {
    out->Assign({"AS(", d, ")"});
    return true;
  }
  if (auto d = AfterMarker(t, "(AS", 12); !d.empty()) {
    out->Assign({"AS", d});
    return true;
  }
  if (auto d = AfterMarker(t, "(S", 5); d.size() == 4) {
    out->Assign({"S", d});
    return true;
  }
  // Legacy Hotmail codes: "SC-001", "OU-002", "DY-001", "RP-003".
  for (std::size_t at = t.find("-00"); at != std::string_view::npos; at = t.find("-00", at + 1)) {
    if (at < 2 || at + 4 > t.size() || !IsDigit(t[at + 3])) continue;
    const std::string_view code = t.substr(at - 2, 2);
    if (code == "SC" || code == "OU" || code == "DY" || code == "RP") {
      out->Assign({t.substr(at - 2, 6)});
      return true;
    }
  }
  return false;
}

bool Google(std::string_view t, DocCode* out) {
  const std::size_t at = t.find("?p=");
  if (at != std::string_view::npos) {
    std::size_t q = at + 3;
    while (q < t.size() && IsWord(t[q]) && q - at < 3 + 28) ++q;
    if (q > at + 3) {
      out->Assign({"p=", t.substr(at + 3, q - at - 3)});
      return true;
    }
  }
  if (t.find("gcdp") != std::string_view::npos) {
    out->Assign({"gcdp"});
    return true;
  }
  return false;
}

bool Yahoo(std::string_view t, DocCode* out) {
  // "[TSS04]", "[PH01]", "[BL21]": 2-4 capitals and 2 digits in brackets.
  for (std::size_t p = t.find('['); p != std::string_view::npos; p = t.find('[', p + 1)) {
    std::size_t q = p + 1;
    while (q < t.size() && IsUpper(t[q]) && q - p <= 4) ++q;
    const std::size_t letters = q - p - 1;
    if (letters < 2 || letters > 4) continue;
    const auto d = Digits(t, q, 2);
    if (d.size() == 2 && q + 2 < t.size() && t[q + 2] == ']') {
      out->Assign({t.substr(p + 1, letters + 2)});
      return true;
    }
  }
  return false;
}

bool Prefixed(std::string_view t, std::string_view marker, std::size_t digits, DocCode* out) {
  const std::size_t at = t.find(marker);
  if (at == std::string_view::npos) return false;
  const auto d = Digits(t, at + marker.size(), digits);
  if (d.size() != digits) return false;
  out->Assign({marker, d});
  return true;
}

}  // namespace

void ExtractDocCode(Vendor vendor, std::string_view t, DocCode* out) {
  switch (vendor) {
    case Vendor::kMimecast: Mimecast(t, out); return;
    case Vendor::kMicrosoft: Microsoft(t, out); return;
    case Vendor::kGoogle: Google(t, out); return;
    case Vendor::kYahoo: Yahoo(t, out); return;
    case Vendor::kSophos: Prefixed(t, "XGEMAIL_", 4, out); return;
    case Vendor::kTrellix: Prefixed(t, "ETP", 3, out); return;
    default: return;
  }
}

}  // namespace bouncestream::classify::internal
