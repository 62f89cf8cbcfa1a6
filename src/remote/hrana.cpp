#include "remote/hrana.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync::hrana {

namespace od = simdjson::ondemand;

namespace {

void write_condition(JsonWriter& w, const BatchCondition& c) {
  w.begin_object();
  switch (c.kind) {
    case BatchCondition::Kind::ok:
      w.key("type").string("ok").key("step").integer(c.step);
      break;
    case BatchCondition::Kind::error:
      w.key("type").string("error").key("step").integer(c.step);
      break;
    case BatchCondition::Kind::not_:
      w.key("type").string("not").key("cond");
      write_condition(w, c.children.at(0));
      break;
    case BatchCondition::Kind::and_:
    case BatchCondition::Kind::or_:
      w.key("type").string(c.kind == BatchCondition::Kind::and_ ? "and" : "or").key("conds").begin_array();
      for (const auto& child : c.children) write_condition(w, child);
      w.end_array();
      break;
  }
  w.end_object();
}

Status write_stmt(JsonWriter& w, const SqlStatement& s) {
  if (!is_valid_utf8(s.sql)) return Error(ErrorKind::usage, "SQL text is not valid UTF-8");
  w.begin_object().key("sql").string(s.sql).key("args").begin_array();
  for (const auto& v : s.args) TS_TRY_STATUS(write_value(w, v));
  w.end_array().key("want_rows").boolean(true).end_object();
  return {};
}

std::string cut(std::string_view s, size_t n = 200) {
  return s.size() <= n ? std::string(s) : std::string(s.substr(0, n)) + "…";
}

Error protocol_error(std::string_view what, simdjson::error_code code) {
  return Error(ErrorKind::protocol, fmt::format("unexpected answer from the server ({}): {}", what,
                                                simdjson::error_message(code)));
}

#define TS_JSON(expr, what)                                                            \
  ({                                                                                   \
    auto ts_json_result_ = (expr);                                                     \
    if (ts_json_result_.error()) return protocol_error(what, ts_json_result_.error()); \
    std::move(ts_json_result_).value_unsafe();                                         \
  })

Result<Value> decode_value(od::value json) {
  od::object obj = TS_JSON(json.get_object(), "value");
  std::string type;
  Value out;
  bool have_value = false;
  for (auto field_result : obj) {
    od::field field = TS_JSON(std::move(field_result), "value field");
    std::string_view key = TS_JSON(field.unescaped_key(), "value key");
    od::value v = field.value();
    if (key == "type") {
      type = std::string(TS_JSON(v.get_string(), "value type"));
    } else if (key == "value") {
      if (type.empty())
        return Error(ErrorKind::protocol, "unexpected answer from the server: value before type");
      if (type == "integer") {
        std::string_view digits = TS_JSON(v.get_string(), "integer value");
        int64_t i = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
        if (ec != std::errc() || ptr != digits.data() + digits.size())
          return Error(ErrorKind::protocol,
                       fmt::format("unexpected answer from the server: integer `{}`", cut(digits)));
        out = Value::integer(i);
      } else if (type == "float") {
        bool is_null = TS_JSON(v.is_null(), "float value");
        if (is_null)
          return Error(
              ErrorKind::protocol,
              "the server sent a REAL that JSON cannot carry (infinity); read it with an encoded query");
        out = Value::real(TS_JSON(v.get_double(), "float value"));
      } else if (type == "text") {
        out = Value::text(std::string(TS_JSON(v.get_string(), "text value")));
      } else {
        return Error(ErrorKind::protocol,
                     fmt::format("unexpected answer from the server: value of type `{}`", type));
      }
      have_value = true;
    } else if (key == "base64") {
      std::string_view b64 = TS_JSON(v.get_string(), "blob value");
      auto bytes = base64_decode(b64);
      if (!bytes)
        return Error(ErrorKind::protocol, "unexpected answer from the server: invalid base64 in a blob");
      out = Value::blob(std::move(*bytes));
      have_value = true;
    }
  }
  if (type == "null") return Value::null();
  if (type == "blob" && !have_value) return Value::blob("");
  if (type == "text" && !have_value) return Value::text("");
  if (!have_value)
    return Error(ErrorKind::protocol,
                 fmt::format("unexpected answer from the server: `{}` value without data", type));
  return out;
}

// Reads {"message": "...", "code": "..."}.
Result<std::string> decode_error(od::value json) {
  od::object obj = TS_JSON(json.get_object(), "error");
  std::string message, code;
  for (auto field_result : obj) {
    od::field field = TS_JSON(std::move(field_result), "error field");
    std::string_view key = TS_JSON(field.unescaped_key(), "error key");
    if (key == "message") message = std::string(TS_JSON(field.value().get_string(), "error message"));
    if (key == "code") {
      auto code_str = field.value().get_string();
      if (!code_str.error()) code = std::string(code_str.value_unsafe());
    }
  }
  return code.empty() ? message : message + " [" + code + "]";
}

// Decodes a StmtResult object; rows go to `on_row` when given, else into `out`.
Status decode_stmt_result(od::value json, StatementResult* out,
                          const std::function<Status(std::span<const Value>)>* on_row) {
  od::object obj = TS_JSON(json.get_object(), "result");
  std::vector<Value> row;
  for (auto field_result : obj) {
    od::field field = TS_JSON(std::move(field_result), "result field");
    std::string_view key = TS_JSON(field.unescaped_key(), "result key");
    if (key == "cols" && out) {
      od::array cols = TS_JSON(field.value().get_array(), "cols");
      for (auto col_result : cols) {
        od::object col = TS_JSON(col_result.get_object(), "col");
        std::string name;
        for (auto cf_result : col) {
          od::field cf = TS_JSON(std::move(cf_result), "col field");
          std::string_view ck = TS_JSON(cf.unescaped_key(), "col key");
          if (ck == "name") {
            auto n = cf.value().get_string();
            if (!n.error()) name = std::string(n.value_unsafe());
          }
        }
        out->columns.push_back(std::move(name));
      }
    } else if (key == "rows") {
      od::array rows = TS_JSON(field.value().get_array(), "rows");
      for (auto row_result : rows) {
        od::array cells = TS_JSON(row_result.get_array(), "row");
        row.clear();
        for (auto cell_result : cells) {
          od::value cell = TS_JSON(std::move(cell_result), "cell");
          row.push_back(TS_TRY(decode_value(cell)));
        }
        if (on_row) {
          TS_TRY_STATUS((*on_row)(row));
        } else if (out) {
          out->rows.push_back(row);
        }
      }
    }
  }
  return {};
}

// Iterates "results" of a pipeline response, calling `each(index, result_object_value)`.
Status for_each_result(std::string& body, const std::function<Status(size_t, od::object)>& each) {
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  od::parser parser;
  od::document doc = TS_JSON(parser.iterate(body.data(), body.size(), body.capacity()), "pipeline");
  od::object root = TS_JSON(doc.get_object(), "pipeline");
  bool seen = false;
  for (auto field_result : root) {
    od::field field = TS_JSON(std::move(field_result), "pipeline field");
    std::string_view key = TS_JSON(field.unescaped_key(), "pipeline key");
    if (key != "results") continue;
    seen = true;
    od::array results = TS_JSON(field.value().get_array(), "results");
    size_t i = 0;
    for (auto r : results) {
      od::object obj = TS_JSON(r.get_object(), "result");
      TS_TRY_STATUS(each(i++, obj));
    }
  }
  if (!seen) return Error(ErrorKind::protocol, "unexpected answer from the server: no `results`");
  // simdjson 3.0 has no document::at_end(); past the last token current_location() reports OUT_OF_BOUNDS.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
    return Error(ErrorKind::protocol, "unexpected answer from the server: data after the JSON");
  return {};
}

// For one StreamResult object: on "ok" calls on_ok(response object) and returns true; on "error" stores the
// message and returns false.
Result<bool> visit_stream_result(od::object obj, std::string& error_message,
                                 const std::function<Status(od::object)>& on_ok) {
  std::string type;
  bool ok = false;
  for (auto field_result : obj) {
    od::field field = TS_JSON(std::move(field_result), "stream result");
    std::string_view key = TS_JSON(field.unescaped_key(), "stream result key");
    if (key == "type") {
      type = std::string(TS_JSON(field.value().get_string(), "stream result type"));
    } else if (key == "response") {
      od::object resp = TS_JSON(field.value().get_object(), "response");
      TS_TRY_STATUS(on_ok(resp));
      ok = true;
    } else if (key == "error") {
      error_message = TS_TRY(decode_error(field.value()));
    }
  }
  if (type == "ok" && ok) return true;
  if (type == "error") return false;
  return Error(ErrorKind::protocol,
               fmt::format("unexpected answer from the server: result of type `{}`", type));
}

Status visit_response_result(od::object resp, const std::function<Status(od::value)>& on_result) {
  for (auto field_result : resp) {
    od::field field = TS_JSON(std::move(field_result), "response");
    std::string_view key = TS_JSON(field.unescaped_key(), "response key");
    if (key == "result") TS_TRY_STATUS(on_result(field.value()));
  }
  return {};
}

Error sql_error(const std::string& message, const SqlStatement& stmt) {
  return Error(ErrorKind::sql, fmt::format("remote rejected `{}`: {}", cut(stmt.sql, 300), message));
}

}  // namespace

namespace {

Encoded encoded(JsonWriter& w) {
  Encoded out;
  for (auto& [at, value, size] : w.spliced())
    out.splices.push_back(BodySplice{at, std::move(value), value.type() == ValueType::text ? size : 0});
  out.json = w.take();
  return out;
}

}  // namespace

Status write_value(JsonWriter& w, const Value& v) {
  w.begin_object();
  switch (v.type()) {
    case ValueType::null:
      w.key("type").string("null");
      break;
    case ValueType::integer:
      w.key("type").string("integer").key("value").string(std::to_string(v.as_integer()));
      break;
    case ValueType::real:
      if (!std::isfinite(v.as_real()))
        return Error(ErrorKind::usage, "a non-finite REAL cannot travel as a JSON number");
      w.key("type").string("float").key("value").real(v.as_real());
      break;
    case ValueType::text:
      if (v.byte_size() >= k_large_value_bytes) {
        // Checked and measured in chunks, escaped as the body is sent (request_body.h).
        TextScan scan = TS_TRY(scan_text(v));
        if (!scan.valid_utf8)
          return Error(ErrorKind::usage, "TEXT that is not valid UTF-8 cannot travel as JSON");
        w.key("type").string("text").key("value").spliced_text(v, scan.json_escaped_size);
        break;
      }
      if (!is_valid_utf8(v.as_bytes()))
        return Error(ErrorKind::usage, "TEXT that is not valid UTF-8 cannot travel as JSON");
      w.key("type").string("text").key("value").string(v.as_bytes());
      break;
    case ValueType::blob:
      w.key("type").string("blob").key("base64");
      if (v.byte_size() >= k_large_value_bytes)
        w.spliced_base64(v);
      else
        w.string(base64_encode(v.as_bytes()));
      break;
  }
  w.end_object();
  return {};
}

Result<Encoded> encode_execute_pipeline(std::span<const SqlStatement> statements) {
  JsonWriter w;
  w.begin_object().key("baton").null().key("requests").begin_array();
  for (const auto& s : statements) {
    w.begin_object().key("type").string("execute").key("stmt");
    TS_TRY_STATUS(write_stmt(w, s));
    w.end_object();
  }
  w.end_array().end_object();
  return encoded(w);
}

Result<Encoded> encode_batch_pipeline(std::span<const BatchStep> steps) {
  JsonWriter w;
  w.begin_object().key("baton").null().key("requests").begin_array();
  w.begin_object().key("type").string("batch").key("batch").begin_object().key("steps").begin_array();
  for (const auto& step : steps) {
    w.begin_object();
    if (step.condition) {
      w.key("condition");
      write_condition(w, *step.condition);
    }
    w.key("stmt");
    TS_TRY_STATUS(write_stmt(w, step.stmt));
    w.end_object();
  }
  w.end_array().end_object().end_object();
  w.end_array().end_object();
  return encoded(w);
}

Result<std::vector<StatementResult>> decode_execute_pipeline(std::string& body,
                                                             std::span<const SqlStatement> statements) {
  std::vector<StatementResult> out;
  std::optional<Error> failure;
  TS_TRY_STATUS(for_each_result(body, [&](size_t i, od::object obj) -> Status {
    if (failure) return {};
    if (i >= statements.size())
      return Error(ErrorKind::protocol, "unexpected answer from the server: extra results");
    std::string message;
    StatementResult result;
    bool ok = TS_TRY(visit_stream_result(obj, message, [&](od::object resp) {
      return visit_response_result(resp,
                                   [&](od::value r) { return decode_stmt_result(r, &result, nullptr); });
    }));
    if (!ok) failure = sql_error(message, statements[i]);
    out.push_back(std::move(result));
    return {};
  }));
  if (failure) return *failure;
  if (out.size() != statements.size())
    return Error(ErrorKind::protocol,
                 fmt::format("unexpected answer from the server: {} results for {} statements", out.size(),
                             statements.size()));
  return out;
}

Status decode_rows(std::string& body, const SqlStatement& statement,
                   const std::function<Status(std::span<const Value>)>& on_row) {
  std::optional<Error> failure;
  size_t count = 0;
  TS_TRY_STATUS(for_each_result(body, [&](size_t, od::object obj) -> Status {
    ++count;
    std::string message;
    bool ok = TS_TRY(visit_stream_result(obj, message, [&](od::object resp) {
      return visit_response_result(resp,
                                   [&](od::value r) { return decode_stmt_result(r, nullptr, &on_row); });
    }));
    if (!ok) failure = sql_error(message, statement);
    return {};
  }));
  if (failure) return *failure;
  if (count != 1) return Error(ErrorKind::protocol, "unexpected answer from the server: expected one result");
  return {};
}

Result<std::vector<BatchStepOutcome>> decode_batch_pipeline(std::string& body, size_t step_count) {
  std::vector<BatchStepOutcome> out(step_count);
  std::optional<Error> failure;
  size_t count = 0;
  bool have_batch_result = false;
  TS_TRY_STATUS(for_each_result(body, [&](size_t, od::object obj) -> Status {
    // One batch request, one result: with none every step would look skipped, with more they would be merged.
    if (++count > 1)
      return Error(ErrorKind::protocol, "unexpected answer from the server: expected one result");
    std::string message;
    bool ok = TS_TRY(visit_stream_result(obj, message, [&](od::object resp) {
      return visit_response_result(resp, [&](od::value r) -> Status {
        have_batch_result = true;
        od::object batch = TS_JSON(r.get_object(), "batch result");
        for (auto field_result : batch) {
          od::field field = TS_JSON(std::move(field_result), "batch field");
          std::string_view key = TS_JSON(field.unescaped_key(), "batch key");
          bool results = key == "step_results";
          if (!results && key != "step_errors") continue;
          od::array arr = TS_JSON(field.value().get_array(), "step list");
          size_t i = 0;
          for (auto item_result : arr) {
            od::value item = TS_JSON(std::move(item_result), "step");
            if (i >= step_count)
              return Error(ErrorKind::protocol, "unexpected answer from the server: extra steps");
            bool is_null = TS_JSON(item.is_null(), "step");
            if (!is_null) {
              if (results) {
                StatementResult sr;
                TS_TRY_STATUS(decode_stmt_result(item, &sr, nullptr));
                out[i].result = std::move(sr);
              } else {
                out[i].error = TS_TRY(decode_error(item));
              }
            }
            ++i;
          }
        }
        return {};
      });
    }));
    if (!ok) failure = Error(ErrorKind::sql, "remote rejected the batch: " + message);
    return {};
  }));
  if (failure) return *failure;
  if (count != 1) return Error(ErrorKind::protocol, "unexpected answer from the server: expected one result");
  if (!have_batch_result)
    return Error(ErrorKind::protocol, "unexpected answer from the server: no batch result");
  return out;
}

bool is_malformed_answer(const Error& error) {
  return error.kind() == ErrorKind::protocol &&
         std::string_view(error.message()).starts_with("unexpected answer from the server");
}

}  // namespace turso_sync::hrana
