#include "manifest/yaml_parse.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>
#include <vector>

namespace sluice::manifest {
namespace {

// Records where each document starts; builds nothing.
class DocumentCounter : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;

  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

bool samePlace(const YAML::Mark& a, const YAML::Mark& b) {
  return a.line == b.line && a.column == b.column;
}

}  // namespace

bool parseSingleDocument(const std::string& text, YAML::Node* root, YAML::Mark* at,
                         std::string* why) {
  try {
    // A first pass only counts documents, and stops after two: a parser
    // stuck on a token reports the same document again and again.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.starts.size() < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.starts.size() == 2) {
      *at = counter.starts[1];
      size_t pos = static_cast<size_t>(at->pos);
      if (samePlace(counter.starts[0], counter.starts[1]) && pos < text.size()) {
        *why = "unexpected '" + std::string(1, text[pos]) + "'";
      } else {
        *why = "a manifest holds one YAML document";
      }
      return false;
    }
    *root = YAML::Load(text);
    return true;
  } catch (const YAML::Exception& e) {
    *at = e.mark;
    *why = e.msg;
    return false;
  }
}

}  // namespace sluice::manifest
