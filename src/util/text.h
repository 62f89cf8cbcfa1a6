// Byte-string helpers shared by every module: hex, base64, UTF-8 validation, exact REAL formatting, quoting.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace turso_sync {

std::string to_hex(std::string_view bytes);  // upper case, as SQLite's hex()
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt on invalid input
bool is_valid_utf8(std::string_view bytes);

// is_valid_utf8 over bytes given in pieces (a large value read in chunks): a piece may end inside a
// character, whose first bytes are kept for the next piece.
class Utf8Validator {
 public:
  // Feeds the next piece; false once the bytes so far cannot be valid UTF-8.
  bool feed(std::string_view piece);
  // Whether the bytes fed were valid UTF-8 (no character left cut at the end).
  bool finish() const { return m_valid && m_carry.empty(); }

 private:
  std::string m_carry;  // the first bytes of a character cut at the end of the last piece
  bool m_valid = true;
};

// Shortest decimal that parses back to exactly `v` ("0.30000000000000004", "-0.0", "5e-324", "1.0").
// Always contains '.', 'e', "inf" or "nan" so SQLite reads it as REAL. Infinities as "Inf"/"-Inf".
std::string format_real(double v);

// SQL identifier quoting: "name" with embedded quotes doubled. Always quotes, so keywords and odd names work.
std::string quote_identifier(std::string_view name);
// SQL string literal: 'text' with embedded quotes doubled (no handling of NUL; see the SQL renderer for
// that).
std::string quote_literal(std::string_view text);

// For messages: control characters and invalid UTF-8 escaped, the rest as is.
std::string printable(std::string_view bytes);

// Masks a secret for display: first 4 characters then "…(masked)"; empty stays "(none)".
std::string mask_secret(std::string_view secret);

std::string trim(std::string_view s);
bool starts_with_icase(std::string_view s, std::string_view prefix);
// ASCII letters lower-cased, as SQLite folds identifiers.
std::string lower_ascii(std::string_view s);
// Whether two identifiers name the same object: equal with ASCII letters folded, as SQLite compares them.
bool same_identifier(std::string_view a, std::string_view b);

}  // namespace turso_sync
