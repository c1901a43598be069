// Result collection for the C++ benchmarks: one row per (suite, case, implementation), printed as a
// markdown table and written as JSON. benchmarks/harness_py.py writes the same JSON schema, so
// C++ and Python results can be merged by later tooling (roofline plot, reports).
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "harness/timing.h"

namespace triageattention::bench {

struct Metric {
  std::string name;  // column header, unit included: "useful TFLOP/s", "B-read GB/s"
  double value = 0;
};

struct Row {
  std::string suite, case_name, impl;
  Timing timing;  // timing.runs == 0: not measured (the notes say why)
  std::vector<Metric> metrics;
  std::string sha256;  // of the output buffer, empty if not hashed
  std::string notes;
};

class Report {
 public:
  // Run-wide facts (device, library versions, dtype, command line), printed above the tables.
  void set_meta(std::string key, std::string value);
  void add(Row row);

  // One table per suite, rows in the order added; metric columns in order of first appearance.
  void print_markdown(std::ostream& out) const;
  // Throws std::runtime_error if the file cannot be written.
  void write_json(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, std::string>> meta_;
  std::vector<Row> rows_;
};

}  // namespace triageattention::bench
