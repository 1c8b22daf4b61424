// Captures every log line while alive: the object installs itself as the log
// sink and sets the threshold (info unless told otherwise), and puts the
// previous sink and threshold back when it goes.
#pragma once

#include <sluice/log.hpp>

#include <cstddef>
#include <initializer_list>
#include <string>
#include <vector>

namespace sluice::testing {

class LogCapture final : public LogSink {
public:
    explicit LogCapture(LogLevel threshold = LogLevel::info)
        : previous_sink_(set_log_sink(this)), previous_threshold_(log_threshold()) {
        set_log_threshold(static_cast<uint8_t>(threshold));
    }
    ~LogCapture() {
        set_log_sink(previous_sink_);
        set_log_threshold(previous_threshold_);
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    void write_line(LogLevel level, StringView line) override {
        lines_.emplace_back(line.data(), line.length());
        if (level == LogLevel::warning) warnings_.emplace_back(line.data(), line.length());
        if (level <= LogLevel::warning) problems_.emplace_back(line.data(), line.length());
    }

    [[nodiscard]] const std::vector<std::string>& lines() const { return lines_; }
    // The lines logged at warning level.
    [[nodiscard]] const std::vector<std::string>& warnings() const { return warnings_; }
    // The lines logged at warning or error level.
    [[nodiscard]] const std::vector<std::string>& problems() const { return problems_; }

    // How many warnings contain every one of fragments.
    [[nodiscard]] size_t count_warnings(std::initializer_list<std::string> fragments) const {
        return count_matching(warnings_, fragments);
    }
    [[nodiscard]] size_t count_warnings(const std::string& fragment) const { return count_warnings({fragment}); }
    // How many lines (of any level) contain every one of fragments.
    [[nodiscard]] size_t count_lines(std::initializer_list<std::string> fragments) const {
        return count_matching(lines_, fragments);
    }
    [[nodiscard]] size_t count_lines(const std::string& fragment) const { return count_lines({fragment}); }

    // Whether a line is exactly expected.
    [[nodiscard]] bool has_line(const std::string& expected) const {
        for (const std::string& line : lines_)
            if (line == expected) return true;
        return false;
    }
    // Whether a line contains fragment.
    [[nodiscard]] bool contains(const std::string& fragment) const {
        for (const std::string& line : lines_)
            if (line.find(fragment) != std::string::npos) return true;
        return false;
    }
    // Every line, each ended by a newline: for failure messages.
    [[nodiscard]] std::string all() const {
        std::string text;
        for (const std::string& line : lines_) text += line + "\n";
        return text;
    }

    void clear() {
        lines_.clear();
        warnings_.clear();
        problems_.clear();
    }

private:
    static size_t count_matching(const std::vector<std::string>& lines, std::initializer_list<std::string> fragments) {
        size_t matches = 0;
        for (const std::string& line : lines) {
            bool all = true;
            for (const std::string& fragment : fragments) all = all && line.find(fragment) != std::string::npos;
            if (all) ++matches;
        }
        return matches;
    }

    LogSink* previous_sink_;
    uint8_t previous_threshold_;
    std::vector<std::string> lines_;
    std::vector<std::string> warnings_;
    std::vector<std::string> problems_;
};

}  // namespace sluice::testing
