// Redis commands in RESP, written straight into one buffer: hiredis's
// printf-style formatter costs more than the rest of a reservation.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::governance {

// Command arguments as the server reads them ("$3\r\nGET\r\n"...).
struct RespArgs {
  std::string text;
  size_t count = 0;
  RespArgs& add(std::string_view arg);
  RespArgs& add(int64_t value);
  // Appends `other`'s arguments.
  RespArgs& append(const RespArgs& other);
  void clear() {
    text.clear();
    count = 0;
  }
  // The arguments back, as views into `text`.
  std::vector<std::string_view> views() const;
};

// A whole command: "*<n>\r\n", then the `head` words, then `tail`'s arguments.
std::string respCommand(std::initializer_list<std::string_view> head, const RespArgs& tail);

}  // namespace sluice::governance
