#include "state/internal/rocks.h"

#include <algorithm>
#include <deque>
#include <string>

#include "state/internal/codec.h"
#include "state/internal/keys.h"

namespace bouncestream::state::internal {
namespace {

class WindowMergeOperator final : public rocksdb::MergeOperator {
 public:
  explicit WindowMergeOperator(const WindowSpecs& specs) : specs_(specs) {}

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    const WindowSpec* spec = SpecOf(in.key);
    if (spec == nullptr) return false;
    Window w;
    if (in.existing_value != nullptr && !DecodeWindow(ToView(*in.existing_value), &w)) {
      return false;
    }
    if (!Fold(in.operand_list.begin(), in.operand_list.end(), *spec, &w)) return false;
    out->new_value.clear();
    EncodeWindow(w, &out->new_value);
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& key, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger*) const override {
    const WindowSpec* spec = SpecOf(key);
    if (spec == nullptr) return false;
    Window w;
    if (!Fold(operands.begin(), operands.end(), *spec, &w)) return false;
    new_value->clear();
    EncodeWindow(w, new_value);
    return true;
  }

  const char* Name() const override { return "bouncestream.window.v1"; }

 private:
  static std::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

  const WindowSpec* SpecOf(const rocksdb::Slice& key) const {
    if (key.size() <= kPartitionBytes) return nullptr;
    int k = WindowKindIndex(key[kPartitionBytes]);
    return k < 0 ? nullptr : &specs_[static_cast<std::size_t>(k)];
  }

  template <typename It>
  static bool Fold(It begin, It end, const WindowSpec& spec, Window* w) {
    Window op;
    for (It it = begin; it != end; ++it) {
      if (!DecodeWindow(ToView(*it), &op)) return false;
      MergeWindow(w, op, spec);
    }
    return true;
  }

  WindowSpecs specs_;
};

class WindowFilter final : public rocksdb::CompactionFilter {
 public:
  WindowFilter(const WindowSpecs& specs, std::int64_t lateness,
               std::unordered_map<std::int32_t, std::int64_t> wm)
      : specs_(specs), lateness_(lateness), wm_(std::move(wm)) {}
  Decision FilterV2(int, const rocksdb::Slice& key, ValueType type,
                    const rocksdb::Slice& value, std::string*, std::string*) const override {
    if (type != ValueType::kValue || key.size() <= kPartitionBytes) return Decision::kKeep;
    auto it = wm_.find(KeyPartition({key.data(), key.size()}));
    int k = WindowKindIndex(key[kPartitionBytes]);
    if (it == wm_.end() || k < 0) return Decision::kKeep;
    return PhysicallyExpired({value.data(), value.size()}, specs_[static_cast<std::size_t>(k)],
                             it->second, lateness_)
               ? Decision::kRemove
               : Decision::kKeep;
  }
  const char* Name() const override { return "bouncestream.window_filter"; }

 private:
  WindowSpecs specs_;
  std::int64_t lateness_;
  std::unordered_map<std::int32_t, std::int64_t> wm_;
};

class WindowFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  WindowFilterFactory(const WindowSpecs& specs, std::int64_t lateness,
                      std::shared_ptr<WatermarkTable> wm)
      : specs_(specs), lateness_(lateness), wm_(std::move(wm)) {}
  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context&) override {
    return std::make_unique<WindowFilter>(specs_, lateness_, wm_->Snapshot());
  }
  const char* Name() const override { return "bouncestream.window_filter_factory"; }

 private:
  WindowSpecs specs_;
  std::int64_t lateness_;
  std::shared_ptr<WatermarkTable> wm_;
};

class DedupeFilter final : public rocksdb::CompactionFilter {
 public:
  DedupeFilter(std::int64_t horizon, std::int64_t now,
               std::unordered_map<std::int32_t, std::int64_t> wm)
      : horizon_(horizon), now_(now), wm_(std::move(wm)) {}
  Decision FilterV2(int, const rocksdb::Slice& key, ValueType type,
                    const rocksdb::Slice& value, std::string*, std::string*) const override {
    if (type != ValueType::kValue || key.size() < kPartitionBytes) return Decision::kKeep;
    auto it = wm_.find(KeyPartition({key.data(), key.size()}));
    std::int64_t seen = 0;
    Reader r({value.data(), value.size()});
    if (it == wm_.end() || !r.Fixed(&seen)) return Decision::kKeep;
    return seen < std::min(it->second, now_) - horizon_ ? Decision::kRemove : Decision::kKeep;
  }
  const char* Name() const override { return "bouncestream.dedupe_filter"; }

 private:
  std::int64_t horizon_;
  std::int64_t now_;
  std::unordered_map<std::int32_t, std::int64_t> wm_;
};

class DedupeFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  DedupeFilterFactory(std::int64_t horizon, const Clock* clock, std::shared_ptr<WatermarkTable> wm)
      : horizon_(horizon), clock_(clock), wm_(std::move(wm)) {}
  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context&) override {
    return std::make_unique<DedupeFilter>(horizon_, clock_->NowMs(), wm_->Snapshot());
  }
  const char* Name() const override { return "bouncestream.dedupe_filter_factory"; }

 private:
  std::int64_t horizon_;
  const Clock* clock_;
  std::shared_ptr<WatermarkTable> wm_;
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewWindowMergeOperator(const WindowSpecs& specs) {
  return std::make_shared<WindowMergeOperator>(specs);
}
std::shared_ptr<rocksdb::CompactionFilterFactory> NewWindowFilterFactory(
    const WindowSpecs& specs, std::int64_t lateness_ms, std::shared_ptr<WatermarkTable> wm) {
  return std::make_shared<WindowFilterFactory>(specs, lateness_ms, std::move(wm));
}
std::shared_ptr<rocksdb::CompactionFilterFactory> NewDedupeFilterFactory(
    std::int64_t horizon_ms, const Clock* clock, std::shared_ptr<WatermarkTable> wm) {
  return std::make_shared<DedupeFilterFactory>(horizon_ms, clock, std::move(wm));
}

}  // namespace bouncestream::state::internal
