#include "tools/inspect/output.hpp"

#include <cstdio>

#include <fmt/format.h>

namespace bpfmap::inspect {

std::string Output::dump(const nlohmann::json& j) const {
    // Bytes that are not UTF-8 (a str-formatted key) are replaced rather than thrown about.
    return j.dump(pretty ? 4 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Output::print_json(const nlohmann::json& j) const {
    fmt::print("{}\n", dump(j));
}

void Output::print_text(std::string_view s) const {
    fmt::print("{}", s);
}

void Output::array_begin() {
    first_item_ = true;
    fmt::print("[");
}

void Output::array_item(const nlohmann::json& j) {
    std::string s = dump(j);
    if (pretty) {
        // Indent the element one level, as a pretty-printed array would.
        std::string indented = "    ";
        for (char c : s) {
            indented += c;
            if (c == '\n') indented += "    ";
        }
        fmt::print("{}\n{}", first_item_ ? "" : ",", indented);
    } else {
        fmt::print("{}{}", first_item_ ? "" : ",", s);
    }
    first_item_ = false;
}

void Output::array_end() {
    fmt::print("{}]\n", pretty && !first_item_ ? "\n" : "");
}

void Output::error(const std::string& msg) const {
    std::fflush(stdout);
    fmt::print(stderr, "Error: {}\n", msg);
    if (json) print_json(nlohmann::json{{"error", msg}});
}

void Output::warn(const std::string& msg) const {
    fmt::print(stderr, "Warning: {}\n", msg);
}

}  // namespace bpfmap::inspect
