#include "testing.h"
#include "xclip/config.h"

using namespace xclip;

TEST(config_defaults_are_xclip_base_patch32) {
  XCLIPConfig c;
  EXPECT_EQ(c.projection_dim, 512);
  EXPECT_EQ(c.text_config.vocab_size, 49408);
  EXPECT_EQ(c.vision_config.hidden_size, 768);
  EXPECT_EQ(c.vision_config.patch_size, 32);
  EXPECT_EQ(c.vision_config.mit_hidden_size, 512);
  EXPECT_EQ(c.prompt_layers, 2);
  EXPECT_EQ(c.prompt_hidden_act, std::string("quick_gelu"));
  validate_config(c);
}

TEST(config_parses_fixture_models) {
  XCLIPConfig c = load_config(testing::fixture("models/xclip-tiny4-gelu/config.json"));
  EXPECT_EQ(c.vision_config.num_frames, 4);
  EXPECT_EQ(c.vision_config.patch_size, 6);
  EXPECT_EQ(c.text_config.hidden_act, std::string("gelu"));
  EXPECT_EQ(c.text_config.max_position_embeddings, 24);
  EXPECT_TRUE(c.text_config.layer_norm_eps == 1e-6);
  EXPECT_EQ(c.dtype, std::string("float32"));
}

TEST(config_round_trips_through_json) {
  XCLIPConfig c = load_config(testing::fixture("models/xclip-deep12/config.json"));
  XCLIPConfig d = parse_config(config_to_json(c));
  EXPECT_EQ(config_to_json(c), config_to_json(d));
  EXPECT_EQ(d.vision_config.num_hidden_layers, 12);
}

TEST(config_accepts_legacy_dict_keys_and_torch_dtype) {
  XCLIPConfig c = parse_config(R"({"projection_dim": 16, "torch_dtype": "float16",
    "text_config_dict": {"hidden_size": 24, "num_attention_heads": 2},
    "text_config": {"hidden_size": 999},
    "vision_config_dict": {"hidden_size": 16, "num_attention_heads": 2, "mit_hidden_size": 16, "mit_num_attention_heads": 2},
    "prompt_num_attention_heads": 2, "some_unknown_key": [1, 2]})");
  EXPECT_EQ(c.text_config.hidden_size, 24);  // *_config_dict wins, as in HF
  EXPECT_EQ(c.vision_config.hidden_size, 16);
  EXPECT_EQ(c.dtype, std::string("float16"));
}

TEST(config_errors_name_the_key) {
  EXPECT_ERROR(parse_config("{\"projection_dim\": \"512\"}"), ErrorCode::kConfigInvalid, "projection_dim", "integer");
  EXPECT_ERROR(parse_config("{\"text_config\": {\"hidden_size\": 1.5}}"), ErrorCode::kConfigInvalid, "text_config.hidden_size");
  EXPECT_ERROR(parse_config("{\"text_config\": {\"hidden_act\": \"swish\"}}"), ErrorCode::kConfigInvalid, "text_config.hidden_act", "swish");
  EXPECT_ERROR(parse_config("{\"vision_config\": {\"num_frames\": -3}}"), ErrorCode::kConfigInvalid, "vision_config.num_frames");
  EXPECT_ERROR(parse_config("{\"projection_dim\": 256}"), ErrorCode::kConfigInvalid, "mit_hidden_size", "projection_dim");
  EXPECT_ERROR(parse_config("{not json"), ErrorCode::kConfigInvalid, "malformed JSON");
  EXPECT_ERROR(parse_config("[1,2]"), ErrorCode::kConfigInvalid, "object");
  EXPECT_ERROR(parse_config("{\"text_config\": {\"vocab_size\": 1e300}}"), ErrorCode::kConfigInvalid, "vocab_size");
  EXPECT_ERROR(load_config("/nonexistent/config.json"), ErrorCode::kFileNotFound, "/nonexistent/config.json");
}
