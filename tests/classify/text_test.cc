#include "classify/internal/text.h"

#include <gtest/gtest.h>

#include "classify/classifier.h"
#include "classify/internal/doc_codes.h"

namespace bouncestream::classify {
namespace {

TEST(TextTest, ReplyCodeIsTheFirstStandaloneCode) {
  EXPECT_EQ(ExtractReplyCode("550 5.1.1 user unknown"), 550);
  EXPECT_EQ(ExtractReplyCode("550-5.7.1 part one"), 550);
  EXPECT_EQ(ExtractReplyCode("smtp; 451 try later"), 451);
  EXPECT_EQ(ExtractReplyCode("host mx[192.0.2.250] said: 554 blocked"), 554);
  EXPECT_EQ(ExtractReplyCode("on Thu, 29 Apr 2009 00:00:00 nothing"), 0);
  EXPECT_EQ(ExtractReplyCode("DOC-1369#550 only an anchor"), 0);
  EXPECT_EQ(ExtractReplyCode(""), 0);
}

TEST(TextTest, EnhancedCodeSkipsIpAddresses) {
  EXPECT_EQ(ExtractEnhancedCode("550 5.1.1 <a@b>"), "5.1.1");
  EXPECT_EQ(ExtractEnhancedCode("from 192.0.2.1 said 4.7.0 later"), "4.7.0");
  EXPECT_EQ(ExtractEnhancedCode("(#5.7.1)"), "5.7.1");
  EXPECT_EQ(ExtractEnhancedCode("end of sentence 5.2.2."), "5.2.2");
  EXPECT_EQ(ExtractEnhancedCode("10.5.1.1 is an address"), "");
  EXPECT_EQ(ExtractEnhancedCode("5.7.606 Access denied"), "5.7.606");
  EXPECT_EQ(ExtractEnhancedCode("version 5.1"), "");
  // Edges of the dot-to-dot search: a dot first or last, dots without a code, a code at the end.
  EXPECT_EQ(ExtractEnhancedCode(".5.1.1"), "");
  EXPECT_EQ(ExtractEnhancedCode("."), "");
  EXPECT_EQ(ExtractEnhancedCode("5"), "");
  EXPECT_EQ(ExtractEnhancedCode("a.b. c.5.7.1 then 4.2.2"), "4.2.2");
  EXPECT_EQ(ExtractEnhancedCode("host 15.1.1 and 5.1.10."), "5.1.10");
  EXPECT_EQ(ExtractEnhancedCode("5.1.1"), "5.1.1");
  EXPECT_EQ(ExtractEnhancedCode("said 4.7.1000 then 5.7.1"), "5.7.1");
  EXPECT_EQ(ExtractEnhancedCode("x 5.7.1.2 y 5.7.1"), "5.7.1");
  EXPECT_EQ(ExtractEnhancedCode("x 5.7.1.z"), "5.7.1");
}

TEST(TextTest, LeadingEnhancedCodeOfAStatusField) {
  EXPECT_EQ(internal::LeadingEnhancedCode("5.2.1"), "5.2.1");
  EXPECT_EQ(internal::LeadingEnhancedCode("5.2.1 (mailbox disabled)"), "5.2.1");
  EXPECT_EQ(internal::LeadingEnhancedCode(" 4.4.7"), "4.4.7");
  EXPECT_EQ(internal::LeadingEnhancedCode("5.2.1x"), "");
  EXPECT_EQ(internal::LeadingEnhancedCode("smtp; 5.1.1"), "");
  EXPECT_EQ(internal::LeadingEnhancedCode(""), "");
}

TEST(TextTest, EnhancedCodeShape) {
  EXPECT_TRUE(internal::IsEnhancedCode("5.1.1"));
  EXPECT_TRUE(internal::IsEnhancedCode("4.7.650"));
  EXPECT_FALSE(internal::IsEnhancedCode("5.1"));
  EXPECT_FALSE(internal::IsEnhancedCode("3.1.1"));
  EXPECT_FALSE(internal::IsEnhancedCode("5.1.1 "));
  EXPECT_TRUE(internal::IsGenericEnhancedCode("5.0.0"));
  EXPECT_FALSE(internal::IsGenericEnhancedCode("5.0.1"));
}

TEST(DocCodeTest, VendorCodes) {
  DocCode d;
  internal::ExtractDocCode(Vendor::kMimecast, "x https://community.mimecast.com/docs/DOC-1369#451 [a.uk1]", &d);
  EXPECT_EQ(d.view(), "DOC-1369#451");
  d = {};
  internal::ExtractDocCode(Vendor::kMimecast, "KBID10473 - http://www.mimecast.com/knowledgebase/kbid10473.htm#451", &d);
  EXPECT_EQ(d.view(), "KBID10473#451");
  d = {};
  internal::ExtractDocCode(Vendor::kMicrosoft, "banned sending IP [1.2.3.4] AS(1430)", &d);
  EXPECT_EQ(d.view(), "AS(1430)");
  d = {};
  internal::ExtractDocCode(Vendor::kMicrosoft, "see lookup (AS16012611)", &d);
  EXPECT_EQ(d.view(), "AS16012611");
  d = {};
  internal::ExtractDocCode(Vendor::kMicrosoft, "on our block list (S3150). You can", &d);
  EXPECT_EQ(d.view(), "S3150");
  d = {};
  internal::ExtractDocCode(Vendor::kYahoo, "421 4.7.0 [TSS04] Messages from", &d);
  EXPECT_EQ(d.view(), "TSS04");
  d = {};
  internal::ExtractDocCode(Vendor::kGoogle, "https://support.google.com/mail/?p=NoSuchUser x - gsmtp", &d);
  EXPECT_EQ(d.view(), "p=NoSuchUser");
  d = {};
  internal::ExtractDocCode(Vendor::kSophos, "rejected XGEMAIL_0009 user block", &d);
  EXPECT_EQ(d.view(), "XGEMAIL_0009");
  d = {};
  internal::ExtractDocCode(Vendor::kOther, "DOC-1369#550", &d);
  EXPECT_TRUE(d.empty()) << "doc codes are read only for the attributed vendor";
}

TEST(DocCodeTest, LongCodesAreCutNotOverflowed) {
  DocCode d;
  d.Assign({std::string(100, 'x')});
  EXPECT_EQ(d.view().size(), DocCode::kCapacity);
}

TEST(MxTest, SuffixTable) {
  std::vector<MxFingerprint> table{{Vendor::kMimecast, "mimecast-offshore.com", "", 0},
                                   {Vendor::kGoogle, "google.com", "", 0}};
  EXPECT_EQ(internal::VendorOfHost(table, "je-smtp-inbound-1.mimecast-offshore.com"),
            Vendor::kMimecast);
  EXPECT_EQ(internal::VendorOfHost(table, "ASPMX.L.GOOGLE.COM"), Vendor::kGoogle);
  EXPECT_EQ(internal::VendorOfHost(table, "evilgoogle.com"), std::nullopt);
  EXPECT_EQ(internal::VendorOfHost(table, ""), std::nullopt);
}

}  // namespace
}  // namespace bouncestream::classify

#include "classify/internal/pattern.h"

namespace bouncestream::classify {
namespace {

TEST(PatternTest, MultiByteCharactersInClassesBecomeAlternatives) {
  EXPECT_EQ(internal::NormalizePattern("a[-–]b").value(), "a(?:[-]|–)b");
  EXPECT_EQ(internal::NormalizePattern("[–—]").value(), "(?:–|—)");
  EXPECT_EQ(internal::NormalizePattern("[a-z\\]]x").value(), "[a-z\\]]x");
  EXPECT_EQ(internal::NormalizePattern("\\[not a class]").value(), "\\[not a class]");
  EXPECT_EQ(internal::NormalizePattern("[]x]").value(), "[]x]");
  EXPECT_EQ(internal::NormalizePattern("[[:space:]é]").value(), "(?:[[:space:]]|é)");
  EXPECT_FALSE(internal::NormalizePattern("[^–]").has_value());
  EXPECT_FALSE(internal::NormalizePattern("[a-–]").has_value());
  EXPECT_FALSE(internal::NormalizePattern("[abc").has_value());
}

// RE2's \s leaves out the vertical tab, Vectorscan's includes it: both engines get the set
// written out, so they agree on "\x0b\n503 User unknown" (fuzz_classify found the difference).
TEST(PatternTest, SpaceClassesAreWrittenOutTheSameForBothEngines) {
  EXPECT_EQ(internal::NormalizePattern("^\\s*5").value(), "^[\\t\\n\\x0b\\f\\r ]*5");
  EXPECT_EQ(internal::NormalizePattern("a\\S+").value(), "a[^\\t\\n\\x0b\\f\\r ]+");
  EXPECT_EQ(internal::NormalizePattern("[^\\s<>]+").value(), "[^\\t\\n\\x0b\\f\\r <>]+");
  EXPECT_EQ(internal::NormalizePattern("[-\\s\\d.]").value(), "[-\\t\\n\\x0b\\f\\r \\d.]");
  EXPECT_EQ(internal::NormalizePattern("[\\s–]").value(), "(?:[\\t\\n\\x0b\\f\\r ]|–)");
  EXPECT_EQ(internal::NormalizePattern("\\\\s").value(), "\\\\s");  // an escaped backslash, then s
  EXPECT_FALSE(internal::NormalizePattern("[\\S]").has_value());
}

}  // namespace
}  // namespace bouncestream::classify
