// A small SQL tokenizer for schema statements, enough to compare definitions by meaning (whitespace,
// comments, identifier quoting and keyword case do not matter), to rename the object a CREATE statement
// makes, to split a CREATE TABLE into its column definitions, and to find which names a view or trigger
// refers to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace turso_sync::diff {

enum class TokenKind {
  word,        // bare keyword or identifier
  identifier,  // "quoted", [bracketed] or `backticked` identifier
  string,      // 'literal'
  blob,        // X'..'
  number,
  variable,  // ?1, :name, @name, $name
  punct,     // operators and punctuation, one token each ("(", ",", "||", "<=", ...)
};

struct Token {
  TokenKind kind;
  std::string_view text;  // exactly as in the source
  size_t offset;          // byte offset in the source
};

// Whitespace and comments are dropped. Never fails: an unterminated quote runs to the end.
std::vector<Token> tokenize_sql(std::string_view sql);

// The name a word or identifier token denotes (quotes removed, doubled quotes undone). Other tokens: the
// text.
std::string token_name(const Token& token);
bool is_keyword(std::string_view word);
bool iequals(std::string_view a, std::string_view b);

// Canonical form for comparing definitions: tokens separated by one space, keywords upper case, identifiers
// double-quoted with their case kept.
std::string normalize_sql(std::string_view sql);

// For "CREATE [TEMP] {TABLE|INDEX|VIEW|TRIGGER} [IF NOT EXISTS] [schema.]name ...": the byte range of
// "[schema.]name". Returns false when `sql` does not have that shape.
bool find_created_name(std::string_view sql, size_t* begin, size_t* end);
// `sql` with the created object's name replaced by `new_name` (already quoted/qualified as wanted).
std::string rename_created(std::string_view sql, std::string_view new_name);

// The parts of a "CREATE TABLE name (item, item, ...) options" statement.
struct TableDefinition {
  std::vector<std::string> items;  // column definitions and table constraints, raw text, in order
  std::vector<bool>
      item_is_column;   // false for table constraints (CONSTRAINT, PRIMARY, UNIQUE, CHECK, FOREIGN)
  std::string options;  // raw text after the closing parenthesis ("WITHOUT ROWID", "STRICT", "")
};
// False for shapes other than a parenthesised column list (e.g. CREATE TABLE ... AS SELECT).
bool parse_table_definition(std::string_view sql, TableDefinition* out);

// Whether a column definition can be added with ALTER TABLE ADD COLUMN (SQLite's documented restrictions,
// taken conservatively: no PRIMARY KEY, UNIQUE, REFERENCES or generated column; a DEFAULT that is a literal;
// NOT NULL only with a non-NULL default).
bool can_add_column(std::string_view column_definition);

// Whether the column definition's DEFAULT may give a different value each time it is evaluated (CURRENT_TIME,
// CURRENT_DATE, CURRENT_TIMESTAMP or a parenthesised expression).
bool has_volatile_default(std::string_view column_definition);

// Whether any word/identifier token of `sql` (after the created object's name) names `name`,
// case-insensitively.
bool refers_to(std::string_view sql, std::string_view name);

// Whether a CREATE TRIGGER statement inserts rows into `table` (INSERT [OR …] INTO / REPLACE INTO `table`,
// schema-qualified or not), case-insensitively.
bool trigger_inserts_into(std::string_view trigger_sql, std::string_view table);

// Whether a CREATE TABLE statement declares an AUTOINCREMENT key.
bool declares_autoincrement(std::string_view table_sql);

}  // namespace turso_sync::diff
