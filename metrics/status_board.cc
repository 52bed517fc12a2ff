#include "metrics/status_board.h"

#include <algorithm>
#include <utility>

namespace bouncestream::metrics {
namespace {

// Characters that end an address's local part when scanning back from '@'.
bool EndsLocalPart(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '<' || c == '>' || c == '(' ||
         c == ')' || c == '[' || c == ']' || c == ',' || c == ';' || c == ':' || c == '"' ||
         c == '\'' || c == '=' || c == '/';
}

void Cut(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  s.resize(max);
  // Do not leave half of a UTF-8 sequence at the end.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) s.pop_back();
}

}  // namespace

std::string MaskAddresses(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t done = 0;  // text[0, done) has been copied to out
  for (std::size_t at = text.find('@'); at != std::string_view::npos;
       at = text.find('@', at + 1)) {
    std::size_t start = at;
    while (start > done && !EndsLocalPart(text[start - 1])) --start;
    out.append(text.substr(done, start - done));
    out.append("***@");
    done = at + 1;
  }
  out.append(text.substr(done));
  return out;
}

StatusBoard::StatusBoard(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void StatusBoard::AddDecision(DecisionNote note) {
  for (std::string* field :
       {&note.kind, &note.scope, &note.reason, &note.party, &note.vendor}) {
    if (field->find('@') != std::string::npos) *field = MaskAddresses(*field);
    Cut(*field, 64);
  }
  note.subject = MaskAddresses(note.subject);
  Cut(note.subject, 256);
  std::lock_guard lock(mu_);
  notes_.push_front(std::move(note));
  while (notes_.size() > capacity_) notes_.pop_back();
}

std::vector<DecisionNote> StatusBoard::Latest() const {
  std::lock_guard lock(mu_);
  return {notes_.begin(), notes_.end()};
}

}  // namespace bouncestream::metrics
