#include "diff/sql_text.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace turso_sync::diff {

namespace {

// SQLite's keywords (https://www.sqlite.org/lang_keywords.html), upper case, sorted for binary search.
constexpr std::array<std::string_view, 147> k_keywords = {
    "ABORT",
    "ACTION",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "ALWAYS",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ATTACH",
    "AUTOINCREMENT",
    "BEFORE",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONFLICT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DETACH",
    "DISTINCT",
    "DO",
    "DROP",
    "EACH",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXCLUSIVE",
    "EXISTS",
    "EXPLAIN",
    "FAIL",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GENERATED",
    "GLOB",
    "GROUP",
    "GROUPS",
    "HAVING",
    "IF",
    "IGNORE",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDEXED",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INSTEAD",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATERIALIZED",
    "NATURAL",
    "NO",
    "NOT",
    "NOTHING",
    "NOTNULL",
    "NULL",
    "NULLS",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OTHERS",
    "OUTER",
    "OVER",
    "PARTITION",
    "PLAN",
    "PRAGMA",
    "PRECEDING",
    "PRIMARY",
    "QUERY",
    "RAISE",
    "RANGE",
    "RECURSIVE",
    "REFERENCES",
    "REGEXP",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROW",
    "ROWS",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIES",
    "TO",
    "TRANSACTION",
    "TRIGGER",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VACUUM",
    "VALUES",
    "VIEW",
    "VIRTUAL",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHOUT",
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool is_ident_char(unsigned char c) {
  return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

bool is_word(const Token& t, std::string_view keyword) {
  return t.kind == TokenKind::word && iequals(t.text, keyword);
}

// Index of the token after the matching ")" of the "(" at `open`, or tokens.size().
size_t skip_parens(const std::vector<Token>& tokens, size_t open) {
  int depth = 0;
  for (size_t i = open; i < tokens.size(); ++i) {
    if (tokens[i].kind != TokenKind::punct) continue;
    if (tokens[i].text == "(") ++depth;
    if (tokens[i].text == ")" && --depth == 0) return i + 1;
  }
  return tokens.size();
}

// Index of the first token after "CREATE ... [IF NOT EXISTS] [schema.]name", and that name's token range.
bool locate_name(const std::vector<Token>& t, size_t* name_first, size_t* name_last) {
  size_t i = 0;
  if (t.empty() || !is_word(t[0], "CREATE")) return false;
  ++i;
  while (i < t.size() && (is_word(t[i], "TEMP") || is_word(t[i], "TEMPORARY") || is_word(t[i], "UNIQUE") ||
                          is_word(t[i], "VIRTUAL")))
    ++i;
  if (i >= t.size()) return false;
  if (!(is_word(t[i], "TABLE") || is_word(t[i], "INDEX") || is_word(t[i], "VIEW") ||
        is_word(t[i], "TRIGGER")))
    return false;
  ++i;
  if (i + 2 < t.size() && is_word(t[i], "IF") && is_word(t[i + 1], "NOT") && is_word(t[i + 2], "EXISTS"))
    i += 3;
  if (i >= t.size() ||
      (t[i].kind != TokenKind::word && t[i].kind != TokenKind::identifier && t[i].kind != TokenKind::string))
    return false;
  *name_first = i;
  *name_last = i;
  if (i + 2 < t.size() && t[i + 1].kind == TokenKind::punct && t[i + 1].text == ".") *name_last = i + 2;
  return true;
}

std::string_view source_range(std::string_view sql, const Token& first, const Token& last) {
  return sql.substr(first.offset, last.offset + last.text.size() - first.offset);
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool is_keyword(std::string_view word) {
  std::string u = upper(word);
  return std::binary_search(k_keywords.begin(), k_keywords.end(), std::string_view(u));
}

std::vector<Token> tokenize_sql(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0, n = s.size();
  auto quoted = [&](char close, TokenKind kind, size_t start) {
    size_t j = start + 1;
    while (j < n) {
      if (s[j] == close) {
        if (close != ']' && j + 1 < n && s[j + 1] == close) {
          j += 2;
          continue;
        }
        ++j;
        break;
      }
      ++j;
    }
    out.push_back({kind, s.substr(start, j - start), start});
    i = j;
  };
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? n : end + 2;
    } else if (c == '\'') {
      quoted('\'', TokenKind::string, i);
    } else if (c == '"') {
      quoted('"', TokenKind::identifier, i);
    } else if (c == '`') {
      quoted('`', TokenKind::identifier, i);
    } else if (c == '[') {
      quoted(']', TokenKind::identifier, i);
    } else if ((c == 'x' || c == 'X') && i + 1 < n && s[i + 1] == '\'') {
      size_t start = i;
      ++i;
      quoted('\'', TokenKind::blob, i);
      out.back().text = s.substr(start, i - start);
      out.back().offset = start;
    } else if (std::isdigit(c) ||
               (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i;
      while (j < n) {
        auto d = static_cast<unsigned char>(s[j]);
        if (std::isalnum(d) || d == '.' || d == '_') {
          ++j;
        } else if ((d == '+' || d == '-') && (s[j - 1] == 'e' || s[j - 1] == 'E') &&
                   !(j >= i + 2 && (s[i + 1] == 'x' || s[i + 1] == 'X'))) {
          ++j;
        } else {
          break;
        }
      }
      out.push_back({TokenKind::number, s.substr(i, j - i), i});
      i = j;
    } else if (c == '?' || c == ':' || c == '@' || c == '$') {
      size_t j = i + 1;
      while (j < n && is_ident_char(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({TokenKind::variable, s.substr(i, j - i), i});
      i = j;
    } else if (is_ident_char(c)) {
      size_t j = i;
      while (j < n && is_ident_char(static_cast<unsigned char>(s[j]))) ++j;
      out.push_back({TokenKind::word, s.substr(i, j - i), i});
      i = j;
    } else {
      static constexpr std::string_view k_two[] = {"||", "<=", ">=", "==", "!=", "<>", "<<", ">>", "->"};
      size_t len = 1;
      for (auto two : k_two)
        if (s.substr(i, 2) == two) len = 2;
      if (len == 2 && s.substr(i, 3) == "->>") len = 3;
      out.push_back({TokenKind::punct, s.substr(i, len), i});
      i += len;
    }
  }
  return out;
}

std::string token_name(const Token& t) {
  if (t.kind != TokenKind::identifier && t.kind != TokenKind::word && t.kind != TokenKind::string)
    return std::string(t.text);
  if (t.kind == TokenKind::word) return std::string(t.text);
  std::string_view body = t.text.substr(1);
  char close = t.text[0] == '[' ? ']' : t.text[0];
  if (!body.empty() && body.back() == close) body.remove_suffix(1);
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    out.push_back(body[i]);
    if (close != ']' && body[i] == close && i + 1 < body.size() && body[i + 1] == close) ++i;
  }
  return out;
}

std::string normalize_sql(std::string_view sql) {
  std::string out;
  for (const Token& t : tokenize_sql(sql)) {
    if (!out.empty()) out.push_back(' ');
    if (t.kind == TokenKind::word && is_keyword(t.text)) {
      out += upper(t.text);
    } else if (t.kind == TokenKind::word || t.kind == TokenKind::identifier) {
      out.push_back('"');
      for (char c : token_name(t)) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
      }
      out.push_back('"');
    } else if (t.kind == TokenKind::blob) {
      out += upper(t.text);
    } else {
      out += t.text;
    }
  }
  return out;
}

bool find_created_name(std::string_view sql, size_t* begin, size_t* end) {
  auto tokens = tokenize_sql(sql);
  size_t first = 0, last = 0;
  if (!locate_name(tokens, &first, &last)) return false;
  *begin = tokens[first].offset;
  *end = tokens[last].offset + tokens[last].text.size();
  return true;
}

std::string rename_created(std::string_view sql, std::string_view new_name) {
  size_t begin = 0, end = 0;
  if (!find_created_name(sql, &begin, &end)) return std::string(sql);
  std::string out(sql.substr(0, begin));
  out += new_name;
  out += sql.substr(end);
  return out;
}

bool parse_table_definition(std::string_view sql, TableDefinition* out) {
  auto t = tokenize_sql(sql);
  size_t first = 0, last = 0;
  if (!locate_name(t, &first, &last)) return false;
  size_t open = last + 1;
  if (open >= t.size() || t[open].kind != TokenKind::punct || t[open].text != "(") return false;
  size_t close_after = skip_parens(t, open);
  if (close_after > t.size() || close_after == open + 1) return false;
  size_t close = close_after - 1;
  if (t[close].text != ")") return false;
  *out = TableDefinition{};
  size_t item_start = open + 1;
  int depth = 0;
  for (size_t i = open + 1; i <= close; ++i) {
    bool at_end = i == close;
    if (!at_end && t[i].kind == TokenKind::punct) {
      if (t[i].text == "(") ++depth;
      if (t[i].text == ")") --depth;
    }
    if (at_end || (depth == 0 && t[i].kind == TokenKind::punct && t[i].text == ",")) {
      if (i == item_start) return false;
      out->items.emplace_back(source_range(sql, t[item_start], t[i - 1]));
      const Token& head = t[item_start];
      bool constraint = is_word(head, "CONSTRAINT") || is_word(head, "PRIMARY") || is_word(head, "UNIQUE") ||
                        is_word(head, "CHECK") || is_word(head, "FOREIGN");
      out->item_is_column.push_back(!constraint);
      item_start = i + 1;
    }
  }
  if (close + 1 < t.size()) out->options = std::string(source_range(sql, t[close + 1], t.back()));
  return true;
}

namespace {

// The declared type of a column definition's tokens (name first), upper-cased: the words up to the first
// constraint.
std::string declared_type(const std::vector<Token>& t) {
  std::string type;
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i].kind != TokenKind::word || is_word(t[i], "CONSTRAINT") || is_word(t[i], "PRIMARY") ||
        is_word(t[i], "NOT") || is_word(t[i], "NULL") || is_word(t[i], "UNIQUE") || is_word(t[i], "CHECK") ||
        is_word(t[i], "DEFAULT") || is_word(t[i], "COLLATE") || is_word(t[i], "REFERENCES") ||
        is_word(t[i], "GENERATED") || is_word(t[i], "AS"))
      break;
    for (char c : t[i].text) type += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return type;
}

// The Turso server's ADD COLUMN on a table with rows refuses ("type mismatch on DEFAULT") a default whose
// value does not already have the column's affinity (measured on tursodb 0.6.0: BLOB DEFAULT 1, INTEGER
// DEFAULT 'x', INTEGER DEFAULT 1.5, REAL DEFAULT 'a'), where SQLite accepts it; such columns are added by a
// rebuild instead. Affinity as SQLite derives it from the declared type.
bool default_fits_affinity(const std::string& type, const Token& value) {
  auto has = [&](const char* part) { return type.find(part) != std::string::npos; };
  if (has("INT"))
    return (value.kind == TokenKind::number && value.text.find_first_of(".eE") == std::string::npos) ||
           is_word(value, "TRUE") || is_word(value, "FALSE");
  if (type.empty() || has("CHAR") || has("CLOB") || has("TEXT")) return true;
  if (has("BLOB")) return false;
  return value.kind == TokenKind::number;  // REAL and NUMERIC
}

}  // namespace

bool can_add_column(std::string_view def) {
  auto t = tokenize_sql(def);
  if (t.empty()) return false;
  bool not_null = false;
  bool has_default = false;
  bool default_is_null = false;
  for (size_t i = 1; i < t.size(); ++i) {
    if (is_word(t[i], "PRIMARY") || is_word(t[i], "UNIQUE") || is_word(t[i], "REFERENCES") ||
        is_word(t[i], "GENERATED") || is_word(t[i], "AS"))
      return false;
    if (is_word(t[i], "NOT") && i + 1 < t.size() && is_word(t[i + 1], "NULL")) not_null = true;
    if (is_word(t[i], "DEFAULT")) {
      if (i + 1 >= t.size()) return false;
      size_t v = i + 1;
      if (t[v].kind == TokenKind::punct && (t[v].text == "+" || t[v].text == "-")) ++v;
      if (v >= t.size()) return false;
      const Token& value = t[v];
      bool literal = value.kind == TokenKind::number || value.kind == TokenKind::string ||
                     value.kind == TokenKind::blob || is_word(value, "NULL") || is_word(value, "TRUE") ||
                     is_word(value, "FALSE");
      if (!literal) return false;
      has_default = true;
      default_is_null = is_word(value, "NULL");
      if (!default_is_null && !default_fits_affinity(declared_type(t), value)) return false;
    }
  }
  if (not_null && (!has_default || default_is_null)) return false;
  return true;
}

bool has_volatile_default(std::string_view def) {
  auto t = tokenize_sql(def);
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    if (!is_word(t[i], "DEFAULT")) continue;
    const Token& v = t[i + 1];
    return (v.kind == TokenKind::punct && v.text == "(") || is_word(v, "CURRENT_TIME") ||
           is_word(v, "CURRENT_DATE") || is_word(v, "CURRENT_TIMESTAMP");
  }
  return false;
}

bool refers_to(std::string_view sql, std::string_view name) {
  auto t = tokenize_sql(sql);
  size_t first = 0, last = 0;
  size_t start = locate_name(t, &first, &last) ? last + 1 : 0;
  for (size_t i = start; i < t.size(); ++i) {
    if ((t[i].kind == TokenKind::word || t[i].kind == TokenKind::identifier ||
         t[i].kind == TokenKind::string) &&
        iequals(token_name(t[i]), name))
      return true;
  }
  return false;
}

bool trigger_inserts_into(std::string_view trigger_sql, std::string_view table) {
  auto t = tokenize_sql(trigger_sql);
  auto is_name = [](const Token& k) { return k.kind == TokenKind::word || k.kind == TokenKind::identifier; };
  // INTO only follows INSERT [OR …] and REPLACE in SQLite's grammar.
  for (size_t i = 0; i + 1 < t.size(); ++i) {
    if (t[i].kind != TokenKind::word || !iequals(t[i].text, "INTO") || !is_name(t[i + 1])) continue;
    size_t name = i + 1;
    if (i + 3 < t.size() && t[i + 2].text == "." && is_name(t[i + 3])) name = i + 3;
    if (iequals(token_name(t[name]), table)) return true;
  }
  return false;
}

bool declares_autoincrement(std::string_view table_sql) {
  for (const Token& k : tokenize_sql(table_sql))
    if (k.kind == TokenKind::word && iequals(k.text, "AUTOINCREMENT")) return true;
  return false;
}

}  // namespace turso_sync::diff
