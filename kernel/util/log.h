// Gateway log: one line per event on stderr, "time level component: message".
// Thread-safe (each line is written with a single write()).
#pragma once

#include <string_view>

namespace sluice::util {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void setLogLevel(LogLevel level);
LogLevel logLevel();
void log(LogLevel level, std::string_view component, std::string_view message);

inline void logInfo(std::string_view c, std::string_view m) { log(LogLevel::Info, c, m); }
inline void logWarn(std::string_view c, std::string_view m) { log(LogLevel::Warn, c, m); }
inline void logError(std::string_view c, std::string_view m) { log(LogLevel::Error, c, m); }

}  // namespace sluice::util
