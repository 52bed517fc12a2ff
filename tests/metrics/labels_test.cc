#include "metrics/labels.h"

#include <gtest/gtest.h>

#include <string>

#include "classify/taxonomy.h"

namespace bouncestream::metrics {
namespace {

TEST(LabelsTest, LooksLikeAddress) {
  EXPECT_TRUE(LooksLikeAddress("a@b"));
  EXPECT_TRUE(LooksLikeAddress("@"));
  EXPECT_TRUE(LooksLikeAddress("user%40example.com"));
  EXPECT_TRUE(LooksLikeAddress("user\xEF\xBC\xA0" "example.com"));  // full-width at
  EXPECT_FALSE(LooksLikeAddress("gmail.com"));
  EXPECT_FALSE(LooksLikeAddress(""));
}

TEST(LabelsTest, SafeLabelValues) {
  EXPECT_TRUE(IsSafeLabelValue("filter_platform"));
  EXPECT_TRUE(IsSafeLabelValue("v1.2.3-rc1+g0e37c69"));
  EXPECT_FALSE(IsSafeLabelValue(""));
  EXPECT_FALSE(IsSafeLabelValue("a@b"));
  EXPECT_FALSE(IsSafeLabelValue("two words"));
  EXPECT_FALSE(IsSafeLabelValue("quote\""));
  EXPECT_FALSE(IsSafeLabelValue("new\nline"));
  EXPECT_FALSE(IsSafeLabelValue(std::string(129, 'a')));
  EXPECT_EQ(GuardFreeLabel("0.1.0"), "0.1.0");
  EXPECT_EQ(GuardFreeLabel("bob@example.com"), kInvalidLabel);
  EXPECT_EQ(GuardFreeLabel(""), kInvalidLabel);
  EXPECT_EQ(GuardFreeLabel(std::string(300, 'x'), 249), kInvalidLabel);
}

TEST(LabelsTest, ClosedSetMapsNonMembersToOther) {
  auto set = LabelSet::Create("party", {"filter_platform", "end_user"});
  ASSERT_TRUE(set.has_value()) << set.error();
  EXPECT_EQ(set->size(), 3u);
  EXPECT_EQ(set->Guard("end_user"), "end_user");
  EXPECT_EQ(set->Guard("End_User"), "other");  // exact match only
  EXPECT_EQ(set->Guard("bob@example.com"), "other");
  EXPECT_EQ(set->Guard(""), "other");
  EXPECT_EQ(set->Index("nope"), set->fallback_index());
}

TEST(LabelsTest, ClosedSetKeepsAMemberFallback) {
  auto set = LabelSet::Create("vendor", {"other", "mimecast"});
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->size(), 2u);
  EXPECT_EQ(set->fallback_index(), 0u);
}

TEST(LabelsTest, ClosedSetRejectsUnsafeOrDuplicateMembers) {
  EXPECT_FALSE(LabelSet::Create("x", {"a@b"}).has_value());
  EXPECT_FALSE(LabelSet::Create("x", {"a", "a"}).has_value());
  EXPECT_FALSE(LabelSet::Create("x", {""}).has_value());
}

TEST(LabelsTest, TenantAllowList) {
  auto tenants = TenantLabels::Create({"acme", "globex"});
  ASSERT_TRUE(tenants.has_value()) << tenants.error();
  EXPECT_EQ(tenants->Guard("acme"), "acme");
  EXPECT_EQ(tenants->Guard("globex"), "globex");
  EXPECT_EQ(tenants->Guard("initech"), "other");
  EXPECT_EQ(tenants->Guard("acme@example.com"), "other");
  EXPECT_EQ(tenants->set().size(), 3u);

  auto empty = TenantLabels::Create({});
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->Guard("acme"), "other");
}

TEST(LabelsTest, TenantAllowListRefusesAddressesAndOther) {
  auto bad = TenantLabels::Create({"ceo@acme.example"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().find('@'), std::string::npos) << "the error must not echo the id";
  EXPECT_FALSE(TenantLabels::Create({"other"}).has_value());
}

TEST(LabelsTest, DefaultProviderBuckets) {
  auto p = ProviderBuckets::Create();
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(p->Guard("gmail.com"), "gmail");
  EXPECT_EQ(p->Guard("googlemail.com"), "gmail");
  EXPECT_EQ(p->Guard("GMail.COM"), "gmail");
  EXPECT_EQ(p->Guard("gmail.com."), "gmail");
  EXPECT_EQ(p->Guard("outlook.com"), "microsoft");
  EXPECT_EQ(p->Guard("hotmail.com"), "microsoft");
  EXPECT_EQ(p->Guard("live.com"), "microsoft");
  EXPECT_EQ(p->Guard("msn.com"), "microsoft");
  EXPECT_EQ(p->Guard("yahoo.com"), "yahoo");
  EXPECT_EQ(p->Guard("ymail.com"), "yahoo");
  EXPECT_EQ(p->Guard("aol.com"), "yahoo");
  EXPECT_EQ(p->Guard("icloud.com"), "apple");
  EXPECT_EQ(p->Guard("me.com"), "apple");
  EXPECT_EQ(p->Guard("mac.com"), "apple");
  EXPECT_EQ(p->Guard("acme.example"), "other");
}

TEST(LabelsTest, ProviderSuffixesMatchOnLabelBoundaries) {
  auto p = ProviderBuckets::Create();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->Guard("mail.gmail.com"), "gmail");
  EXPECT_EQ(p->Guard("a.b.c.yahoo.com"), "yahoo");
  EXPECT_EQ(p->Guard("notgmail.com"), "other");
  EXPECT_EQ(p->Guard("gmail.com.evil.example"), "other");
  EXPECT_EQ(p->Guard("com"), "other");
  EXPECT_EQ(p->Guard(""), "other");
  EXPECT_EQ(p->Guard("."), "other");
  EXPECT_EQ(p->Guard(std::string(400, 'a')), "other");
}

TEST(LabelsTest, ProviderOfAnAddressUsesItsDomain) {
  auto p = ProviderBuckets::Create();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->Guard("Bob.Smith@GMAIL.com"), "gmail");
  EXPECT_EQ(p->Guard("bob@acme.example"), "other");
  EXPECT_EQ(p->Guard("bob@"), "other");
}

TEST(LabelsTest, ProviderFoldReportsOther) {
  auto p = ProviderBuckets::Create();
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->Resolve("gmail.com").folded);
  EXPECT_TRUE(p->Resolve("acme.example").folded);
  EXPECT_EQ(p->set().value(p->Resolve("acme.example").index), "other");
}

TEST(LabelsTest, ConfiguredProviders) {
  auto p = ProviderBuckets::Create({{"gmail", {"gmail.com"}}, {"acme", {"Acme.Example", ".acme.test"}}});
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(p->Guard("acme.example"), "acme");
  EXPECT_EQ(p->Guard("eu.acme.test"), "acme");
  EXPECT_EQ(p->Guard("yahoo.com"), "other");  // the configured list replaces the defaults
  EXPECT_EQ(p->set().size(), 3u);
}

TEST(LabelsTest, ConfiguredProvidersAreValidated) {
  EXPECT_FALSE(ProviderBuckets::Create({{"other", {"x.example"}}}).has_value());
  EXPECT_FALSE(ProviderBuckets::Create({{"a@b", {"x.example"}}}).has_value());
  EXPECT_FALSE(ProviderBuckets::Create({{"a", {"bob@x.example"}}}).has_value());
  EXPECT_FALSE(ProviderBuckets::Create({{"a", {""}}}).has_value());
  EXPECT_FALSE(ProviderBuckets::Create({{"a", {"x..example"}}}).has_value());
  EXPECT_FALSE(ProviderBuckets::Create({{"a", {"x.example"}}, {"b", {"X.example"}}}).has_value());
}

// The built-in vocabularies must equal the classifier's (metrics/ cannot include classify/, so
// this test is where the two are tied together).
std::vector<std::string> ToStrings(std::span<const std::string_view> names) {
  return {names.begin(), names.end()};
}

TEST(LabelsTest, DefaultVocabularyMatchesTheClassifier) {
  const LabelVocabulary v = DefaultVocabulary();
  EXPECT_EQ(v.parties, ToStrings(classify::AllParties()));
  EXPECT_EQ(v.vendors, ToStrings(classify::AllVendors()));
  EXPECT_EQ(v.classes, ToStrings(classify::AllClasses()));
  EXPECT_EQ(v.reasons, ToStrings(classify::AllReasons()));
}

TEST(LabelsTest, DefaultVocabularyIsSafe) {
  const LabelVocabulary v = DefaultVocabulary();
  for (const auto* list : {&v.formats, &v.parties, &v.vendors, &v.classes, &v.reasons,
                           &v.dead_letter_reasons, &v.decision_kinds, &v.decision_scopes,
                           &v.active_kinds, &v.latency_stages, &v.batch_stages}) {
    auto set = LabelSet::Create("x", *list);
    EXPECT_TRUE(set.has_value()) << (set ? "" : set.error());
  }
}

}  // namespace
}  // namespace bouncestream::metrics
