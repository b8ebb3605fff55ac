// Where results go: plain text (bpftool's layout) or JSON (-j, -p for pretty).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bpfmap::inspect {

class Output {
  public:
    bool json = false;
    bool pretty = false;

    // Prints a JSON document (one line, or indented with -p) and a newline.
    void print_json(const nlohmann::json& j) const;
    // Prints text as is.
    void print_text(std::string_view s) const;

    // Streaming a JSON array element by element (map dump): begin, item..., end.
    void array_begin();
    void array_item(const nlohmann::json& j);
    void array_end();

    // Reports an error: `Error: msg` on stderr and, with -j, {"error": msg} on stdout.
    void error(const std::string& msg) const;
    // A warning on stderr (never on stdout, so JSON output stays parseable).
    void warn(const std::string& msg) const;

  private:
    std::string dump(const nlohmann::json& j) const;
    bool first_item_ = true;
};

}  // namespace bpfmap::inspect
