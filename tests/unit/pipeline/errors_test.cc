#include "pipeline/errors.h"

#include <gtest/gtest.h>

namespace sluice::pipeline {
namespace {

TEST(Errors, OpenAiShapeWithNulls) {
  EXPECT_EQ(errorBody(makeError(404, "no such model", "model_not_found", "model")),
            R"({"error":{"message":"no such model","type":"invalid_request_error","code":"model_not_found","param":"model"}})");
  EXPECT_EQ(errorBody(makeError(502, "down")),
            R"({"error":{"message":"down","type":"upstream_error","code":null,"param":null}})");
}

TEST(Errors, EscapesMessage) {
  EXPECT_EQ(errorBody(makeError(400, "bad \"x\"\n\\")),
            R"({"error":{"message":"bad \"x\"\n\\","type":"invalid_request_error","code":null,"param":null}})");
}

}  // namespace
}  // namespace sluice::pipeline
