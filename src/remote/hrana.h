// Hrana over HTTP (/v2/pipeline) wire format: request encoding and streaming response decoding.
// Spec: tursodatabase/libsql docs (HRANA_3_SPEC, "HTTP" and "Values"); the subset used is described in
// docs/protocol.md. Values are exact: integers travel as decimal strings, REALs as shortest round-trip JSON
// numbers, BLOBs as base64, TEXT as JSON strings (valid UTF-8 only; see exact_placeholder()).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/remote.h"
#include "util/json_writer.h"

namespace turso_sync::hrana {

// A request body: JSON with the large values (value.h, Value::is_large) left out, spliced in as it is sent.
struct Encoded {
  std::string json;
  std::vector<BodySplice> splices;
};

// Encodes a pipeline request holding one "execute" request per statement (and no baton).
Result<Encoded> encode_execute_pipeline(std::span<const SqlStatement> statements);
// Encodes a pipeline request holding one "batch" request.
Result<Encoded> encode_batch_pipeline(std::span<const BatchStep> steps);

// Writes one Hrana value; ErrorKind::usage for TEXT that is not valid UTF-8 and for non-finite REALs, which
// JSON cannot carry (callers use exact_placeholder() to avoid both). A BLOB of k_large_value_bytes or more
// is spliced (JsonWriter::spliced_base64), a large TEXT too (JsonWriter::spliced_text), checked in chunks.
Status write_value(JsonWriter& w, const Value& value);

// Decodes the answer to encode_execute_pipeline: one StatementResult per statement, or the first error
// (ErrorKind::sql naming the failing statement).
Result<std::vector<StatementResult>> decode_execute_pipeline(std::string& body,
                                                             std::span<const SqlStatement> statements);

// Decodes the answer to a single-statement execute pipeline, calling `on_row` for each row as it is parsed.
Status decode_rows(std::string& body, const SqlStatement& statement,
                   const std::function<Status(std::span<const Value>)>& on_row);

// Decodes the answer to encode_batch_pipeline.
Result<std::vector<BatchStepOutcome>> decode_batch_pipeline(std::string& body, size_t step_count);

// Whether a decoder's error says the answer is not Hrana at all (not JSON, or JSON of another shape: every
// such error reads "unexpected answer from the server…"), as opposed to a Hrana answer the client cannot use
// (a REAL that JSON cannot carry) or an error of the caller's `on_row`.
bool is_malformed_answer(const Error& error);

}  // namespace turso_sync::hrana
