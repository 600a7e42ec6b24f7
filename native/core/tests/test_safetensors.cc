#include <fstream>

#include "testing.h"
#include "xclip/weights.h"

using namespace xclip;

TEST(safetensors_round_trip_and_mmap) {
  std::string dir = testing::temp_dir();
  TensorMap m;
  m["a.weight"] = at::arange(12, at::kFloat).reshape({3, 4});
  m["b"] = at::tensor({1.5, -2.0}).to(at::kHalf);
  m["c"] = at::tensor({7, 8, 9}, at::kLong);
  save_safetensors(dir + "/x.safetensors", m);
  TensorMap r = load_safetensors(dir + "/x.safetensors");
  EXPECT_EQ(r.size(), size_t(3));
  EXPECT_TRUE(r["a.weight"].equal(m["a.weight"]));
  EXPECT_TRUE(r["b"].equal(m["b"]));
  EXPECT_TRUE(r["c"].equal(m["c"]));
}

TEST(safetensors_reads_fixture_checkpoint) {
  TensorMap r = load_safetensors(testing::fixture("models/xclip-tiny8/model.safetensors"));
  EXPECT_EQ(r.size(), size_t(138));
  EXPECT_EQ(r.at("logit_scale").dim(), 0);
  EXPECT_EQ(r.at("vision_model.embeddings.patch_embedding.weight").size(3), 8);
}
