#include "classify/event.h"

#include <array>

namespace bouncestream::classify {
namespace {
constexpr std::array<std::string_view, 5> kTypeNames{"bounce", "deferral", "complaint",
                                                     "delivered", "expired"};
}  // namespace

std::string_view ToString(EventType type) {
  const auto i = static_cast<std::size_t>(type);
  return i < kTypeNames.size() ? kTypeNames[i] : std::string_view{"?"};
}

std::optional<EventType> ParseEventType(std::string_view name) {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::string_view BounceEvent::RecipientDomain() const {
  const auto at = recipient.rfind('@');
  if (at == std::string_view::npos) return {};
  std::string_view domain = recipient.substr(at + 1);
  while (!domain.empty() && (domain.back() == '>' || domain.back() == ' ')) {
    domain.remove_suffix(1);
  }
  return domain;
}

}  // namespace bouncestream::classify
