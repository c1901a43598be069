#include "harness/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace triageattention::bench {
namespace {

// Digits of the sha256 shown in the table; the JSON holds all 64.
constexpr std::size_t kShortHash = 16;

// Four significant digits without an exponent: 0.01234, 1.234, 123.4, 12345.
std::string format_number(double v) {
  if (!std::isfinite(v)) return "-";
  const double magnitude = std::fabs(v);
  const int decimals =
      magnitude == 0 ? 0 : std::clamp(3 - int(std::floor(std::log10(magnitude))), 0, 6);
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, v);
  return text;
}

std::string format_percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", fraction * 100);
  return text;
}

// Markdown cells cannot hold '|' or line breaks.
std::string markdown_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof(esc), "\\u%04x", c);
          out += esc;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

// JSON has no NaN or infinity: unmeasured values become null.
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char text[64];
  std::snprintf(text, sizeof(text), "%.9g", v);
  return text;
}

}  // namespace

void Report::set_meta(std::string key, std::string value) {
  for (auto& [k, v] : meta_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  meta_.emplace_back(std::move(key), std::move(value));
}

void Report::add(Row row) { rows_.push_back(std::move(row)); }

void Report::print_markdown(std::ostream& out) const {
  for (const auto& [k, v] : meta_) out << "- " << k << ": " << v << "\n";
  std::vector<std::string> suites;
  for (const Row& r : rows_)
    if (std::find(suites.begin(), suites.end(), r.suite) == suites.end())
      suites.push_back(r.suite);

  for (const std::string& suite : suites) {
    std::vector<std::string> metric_names;
    for (const Row& r : rows_)
      if (r.suite == suite)
        for (const Metric& m : r.metrics)
          if (std::find(metric_names.begin(), metric_names.end(), m.name) == metric_names.end())
            metric_names.push_back(m.name);

    out << "\n### " << suite << "\n\n| case | impl | median ms | min ms | spread |";
    for (const std::string& name : metric_names) out << ' ' << name << " |";
    out << " sha256 | notes |\n|---|---|---:|---:|---:|";
    for (std::size_t i = 0; i < metric_names.size(); ++i) out << "---:|";
    out << "---|---|\n";

    for (const Row& r : rows_) {
      if (r.suite != suite) continue;
      const bool timed = r.timing.runs > 0;
      out << "| " << markdown_cell(r.case_name) << " | " << markdown_cell(r.impl) << " | "
          << (timed ? format_number(r.timing.median_ms) : "-") << " | "
          << (timed ? format_number(r.timing.min_ms) : "-") << " | "
          << (timed ? format_percent(r.timing.spread) : "-") << " |";
      for (const std::string& name : metric_names) {
        auto it = std::find_if(r.metrics.begin(), r.metrics.end(),
                               [&](const Metric& m) { return m.name == name; });
        out << ' ' << (it != r.metrics.end() ? format_number(it->value) : "") << " |";
      }
      out << ' ' << r.sha256.substr(0, kShortHash) << " | " << markdown_cell(r.notes) << " |\n";
    }
  }
  out.flush();
}

void Report::write_json(const std::string& path) const {
  std::ofstream file(path);
  if (!file) throw std::runtime_error("cannot open " + path + " for writing");
  file << "{\n  \"meta\": {";
  for (std::size_t i = 0; i < meta_.size(); ++i)
    file << (i ? ", " : "") << "\n    " << json_string(meta_[i].first) << ": "
         << json_string(meta_[i].second);
  file << "\n  },\n  \"rows\": [";
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    const bool timed = r.timing.runs > 0;
    auto timing_value = [&](double v) { return timed ? json_number(v) : std::string("null"); };
    file << (i ? "," : "") << "\n    {\"suite\": " << json_string(r.suite)
         << ", \"case\": " << json_string(r.case_name) << ", \"impl\": " << json_string(r.impl)
         << ", \"runs\": " << r.timing.runs
         << ", \"median_ms\": " << timing_value(r.timing.median_ms)
         << ", \"min_ms\": " << timing_value(r.timing.min_ms)
         << ", \"max_ms\": " << timing_value(r.timing.max_ms)
         << ", \"p10_ms\": " << timing_value(r.timing.p10_ms)
         << ", \"p90_ms\": " << timing_value(r.timing.p90_ms)
         << ", \"spread\": " << timing_value(r.timing.spread) << ", \"metrics\": {";
    for (std::size_t j = 0; j < r.metrics.size(); ++j)
      file << (j ? ", " : "") << json_string(r.metrics[j].name) << ": "
           << json_number(r.metrics[j].value);
    file << "}, \"sha256\": " << json_string(r.sha256) << ", \"notes\": " << json_string(r.notes)
         << "}";
  }
  file << "\n  ]\n}\n";
  file.close();
  if (!file) throw std::runtime_error("error while writing " + path);
}

}  // namespace triageattention::bench
