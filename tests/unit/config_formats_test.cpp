// The config files' formats on their own: the .env parser (parse_dotenv, read_dotenv_file: comments, quoting,
// escapes, line endings, errors naming the file and line, arbitrary input), env.example parsed and
// documenting every variable with its real default, and a toml++ regression of parse_toml_config. How
// load_config layers flags > environment > .env > turso-sync.toml > defaults: config_test.cpp.
#include "config/dotenv.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "config/toml_config.h"
#include "support/test_env.h"
#include "turso_sync/config.h"

namespace turso_sync {
namespace {

using testing::TempDir;
using testing::write_file;
using Env = std::map<std::string, std::string>;

Env parse_ok(const std::string& text) {
  auto parsed = parse_dotenv(text, ".env");
  EXPECT_TRUE(parsed.ok()) << parsed.error().message();
  return parsed.ok() ? parsed.value() : Env{};
}

std::string parse_error(const std::string& text) {
  auto parsed = parse_dotenv(text, "/app/.env");
  EXPECT_FALSE(parsed.ok()) << "parsed without error: " << text;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.error().kind(), ErrorKind::config);
  return parsed.error().message();
}

// ---------------------------------------------------------------------------------------------------------------
// The .env format

TEST(Dotenv, PlainAssignmentsCommentsAndBlankLines) {
  Env env = parse_ok(
      "# Turso settings\n"
      "\n"
      "   \t\n"
      "TURSO_DATABASE_URL=libsql://app-org.turso.io\n"
      "  # indented comment\n"
      "REPLICA_DB=replica.db\n"
      "KEY = spaced\n"
      "EQUALS=a=b=c\n"
      "LAST=no-trailing-newline");
  EXPECT_EQ(env, (Env{{"TURSO_DATABASE_URL", "libsql://app-org.turso.io"},
                      {"REPLICA_DB", "replica.db"},
                      {"KEY", "spaced"},
                      {"EQUALS", "a=b=c"},
                      {"LAST", "no-trailing-newline"}}));
}

TEST(Dotenv, EmptyInputAndOnlyComments) {
  EXPECT_TRUE(parse_ok("").empty());
  EXPECT_TRUE(parse_ok("# nothing\n\n#else\n").empty());
}

TEST(Dotenv, ExportPrefix) {
  Env env = parse_ok(
      "export TURSO_AUTH_TOKEN=abc\n"
      "export\tTABBED=1\n"
      "  export   SPACED = 2\n"
      "exported=3\n"
      "export=4\n");
  EXPECT_EQ(env, (Env{{"TURSO_AUTH_TOKEN", "abc"},
                      {"TABBED", "1"},
                      {"SPACED", "2"},
                      {"exported", "3"},
                      {"export", "4"}}));
}

TEST(Dotenv, UnquotedValuesAreTrimmedAndCommentsNeedWhitespace) {
  Env env = parse_ok(
      "A=  value with inner spaces  \t\n"
      "B=value # a comment\n"
      "C=value\t# tab before the comment\n"
      "D=value#not-a-comment\n"
      "E=#not-a-comment-either\n"
      "F= # only a comment\n"
      "G=\n"
      "H=   \n"
      "I=http://host/#fragment\n");
  EXPECT_EQ(env.at("A"), "value with inner spaces");
  EXPECT_EQ(env.at("B"), "value");
  EXPECT_EQ(env.at("C"), "value");
  EXPECT_EQ(env.at("D"), "value#not-a-comment");
  EXPECT_EQ(env.at("E"), "#not-a-comment-either");
  EXPECT_EQ(env.at("F"), "");
  EXPECT_EQ(env.at("G"), "");
  EXPECT_EQ(env.at("H"), "");
  EXPECT_EQ(env.at("I"), "http://host/#fragment");
}

TEST(Dotenv, SingleQuotesAreLiteral) {
  Env env = parse_ok(
      "A='  keep spaces  '\n"
      "B='no \\n escape, no $EXPANSION, # no comment'\n"
      "C='' # empty, then a comment\n"
      "D='say \"hi\"'\n"
      "E=  'leading blanks before the quote'\n"
      "F='two\n"
      "lines'\n");
  EXPECT_EQ(env.at("A"), "  keep spaces  ");
  EXPECT_EQ(env.at("B"), "no \\n escape, no $EXPANSION, # no comment");
  EXPECT_EQ(env.at("C"), "");
  EXPECT_EQ(env.at("D"), "say \"hi\"");
  EXPECT_EQ(env.at("E"), "leading blanks before the quote");
  EXPECT_EQ(env.at("F"), "two\nlines");
}

TEST(Dotenv, DoubleQuotesHandleEscapes) {
  Env env = parse_ok(
      "A=\"tab\\there\"\n"
      "B=\"new\\nline\"\n"
      "C=\"quote \\\" and backslash \\\\ end\"\n"
      "D=\"dollar \\$HOME and $HOME kept\"\n"
      "E=\"unknown \\q escape kept\"\n"
      "F=\"# not a comment\" # but this is\n"
      "G=\"cr\\r\"\n"
      "H=\"'single' inside\"\n");
  EXPECT_EQ(env.at("A"), "tab\there");
  EXPECT_EQ(env.at("B"), "new\nline");
  EXPECT_EQ(env.at("C"), "quote \" and backslash \\ end");
  EXPECT_EQ(env.at("D"), "dollar $HOME and $HOME kept");
  EXPECT_EQ(env.at("E"), "unknown \\q escape kept");
  EXPECT_EQ(env.at("F"), "# not a comment");
  EXPECT_EQ(env.at("G"), "cr\r");
  EXPECT_EQ(env.at("H"), "'single' inside");
}

TEST(Dotenv, DoubleQuotedValuesMaySpanLines) {
  Env env = parse_ok(
      "CERT=\"-----BEGIN CERTIFICATE-----\n"
      "MIIB\n"
      "-----END CERTIFICATE-----\"\n"
      "NEXT=after\n");
  EXPECT_EQ(env.at("CERT"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
  EXPECT_EQ(env.at("NEXT"), "after");
  // Line numbers keep counting inside multi-line values.
  EXPECT_EQ(parse_error("A=\"one\ntwo\nthree\"\nB=ok\nbroken\n"),
            "/app/.env:5: expected KEY=VALUE, found no '='");
  EXPECT_EQ(parse_error("A='one\ntwo'\nbroken\n"), "/app/.env:3: expected KEY=VALUE, found no '='");
}

TEST(Dotenv, CrlfLineEndings) {
  Env env = parse_ok(
      "# windows\r\n"
      "\r\n"
      "URL=libsql://x.turso.io\r\n"
      "Q=\"quoted\"\r\n"
      "S='single' # c\r\n"
      "M=\"a\r\nb\"\r\n"
      "LAST=z");
  EXPECT_EQ(
      env,
      (Env{{"URL", "libsql://x.turso.io"}, {"Q", "quoted"}, {"S", "single"}, {"M", "a\nb"}, {"LAST", "z"}}));
  EXPECT_EQ(parse_error("A=1\r\nB=2\r\nnope\r\n"), "/app/.env:3: expected KEY=VALUE, found no '='");
}

TEST(Dotenv, ByteOrderMarkIsIgnored) {
  EXPECT_EQ(parse_ok("\xEF\xBB\xBFKEY=v\n"), (Env{{"KEY", "v"}}));
}

TEST(Dotenv, LaterAssignmentWins) {
  EXPECT_EQ(parse_ok("A=1\nA=2\nexport A=3\n").at("A"), "3");
}

TEST(Dotenv, NoVariableExpansion) {
  EXPECT_EQ(parse_ok("A=x\nB=${A}-$A\n").at("B"), "${A}-$A");
}

TEST(Dotenv, LineWithoutEqualsNamesFileAndLine) {
  EXPECT_EQ(parse_error("A=1\n# comment\n\nTURSO_DATABASE_URL libsql://x\n"),
            "/app/.env:4: expected KEY=VALUE, found no '='");
  EXPECT_EQ(parse_error("just-a-word"), "/app/.env:1: expected KEY=VALUE, found no '='");
  EXPECT_EQ(parse_error("A=1\nexport ONLY_EXPORTED\n"), "/app/.env:2: expected KEY=VALUE, found no '='");
}

TEST(Dotenv, InvalidKeys) {
  for (const char* text : {"=value\n", "1ABC=x\n", "A B=x\n", "A-B=x\n", "'A'=x\n"}) {
    std::string message = parse_error(text);
    EXPECT_TRUE(message.starts_with("/app/.env:1: invalid variable name")) << text << " -> " << message;
  }
  EXPECT_EQ(parse_ok("a.b_C9=1\n_X=2\n"), (Env{{"a.b_C9", "1"}, {"_X", "2"}}));
}

TEST(Dotenv, InvalidKeyIsNotEchoed) {
  // A token pasted on a line of its own, with a stray '=', must not end up in an error message.
  std::string message = parse_error("A=1\neyJhbGciOi.J9-secret=\n");
  EXPECT_EQ(message.find("eyJ"), std::string::npos) << message;
  EXPECT_TRUE(message.starts_with("/app/.env:2: ")) << message;
}

TEST(Dotenv, UnterminatedQuotesReportTheOpeningLine) {
  EXPECT_EQ(parse_error("A=1\nB=\"never closed\nC=2\n"), "/app/.env:2: unterminated double-quoted value");
  EXPECT_EQ(parse_error("A=1\n\nB='never closed\n"), "/app/.env:3: unterminated single-quoted value");
  EXPECT_EQ(parse_error("B=\"ends with backslash\\\""), "/app/.env:1: unterminated double-quoted value");
}

TEST(Dotenv, TextAfterClosingQuoteIsAnError) {
  EXPECT_EQ(parse_error("A=1\nB=\"x\"y\n"),
            "/app/.env:2: unexpected text after the closing quote (quote the whole value)");
  EXPECT_EQ(parse_error("B='x' y\n"),
            "/app/.env:1: unexpected text after the closing quote (quote the whole value)");
  EXPECT_EQ(parse_error("B=\"a\nb\" y\n"),
            "/app/.env:2: unexpected text after the closing quote (quote the whole value)");
  EXPECT_EQ(parse_ok("B=\"x\"   \t\n").at("B"), "x");
  EXPECT_EQ(parse_ok("B=\"x\"#c\n").at("B"), "x");
}

TEST(Dotenv, ArbitraryInputGivesValuesOrLineErrors) {
  std::mt19937 rng(20261128);
  const std::string alphabet = "AB_=#'\"\\ \t\r\nexport$1\xEF\xBB\xBF";
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    size_t length = rng() % 48;
    for (size_t j = 0; j < length; ++j) {
      text.push_back(i % 4 == 0 ? static_cast<char>(rng() & 0xFF) : alphabet[rng() % alphabet.size()]);
    }
    auto parsed = parse_dotenv(text, "f");
    if (!parsed.ok()) {
      EXPECT_TRUE(parsed.error().message().starts_with("f:")) << parsed.error().message();
      continue;
    }
    for (const auto& [key, value] : *parsed) EXPECT_FALSE(key.empty());
  }
}

// Found by tests/fuzz/fuzz_toml.cpp with toml++ built header-only under UBSan: toml++ 3.3.0 reaches
// TOML_UNREACHABLE for some non-ASCII characters where whitespace may be (marzer/tomlplusplus#190, #295).
// Debian's build of the library, which turso-sync links, gives a config error or the right value there.
TEST(TomlConfig, FuzzNonAsciiCharacterWhereWhitespaceMayBeIsAnErrorOrItsValue) {
  for (const std::string& text : {std::string("N1l = 5\ni1 = \"00\"\nx\xef\xbb\xbb"
                                              "0\n"),
                                  std::string("k\xc3\xa9 = 1\n"), std::string("a = 1 \xc2\xa7\n"),
                                  std::string("[t\xe3\x80\x81]\n"), std::string("\xef\xbb\xbb = 1\n")}) {
    auto parsed = parse_toml_config(text, "t.toml");
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::config);
    EXPECT_TRUE(parsed.error().message().starts_with("t.toml:")) << parsed.error().message();
  }
  auto multi_line = parse_toml_config("url = \"\"\"\\\n\xc2\xa7\"\"\"\n", "t.toml");
  ASSERT_TRUE(multi_line.ok()) << multi_line.error().message();
  EXPECT_EQ(multi_line->top.url, "\xc2\xa7");
}

TEST(Dotenv, ReadFileErrors) {
  TempDir dir;
  auto missing = read_dotenv_file(dir.file("absent.env"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::config);
  EXPECT_EQ(missing.error().message(), "read " + dir.file("absent.env") + ": No such file or directory");

  auto directory = read_dotenv_file(dir.path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().kind(), ErrorKind::config);

  write_file(dir.file(".env"), "A=1\nbad line\n");
  auto bad = read_dotenv_file(dir.file(".env"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), dir.file(".env") + ":2: expected KEY=VALUE, found no '='");
}

TEST(ConfigEnvExample, ParsesAndDocumentsEveryVariable) {
  std::string path = std::string(TURSO_SYNC_SOURCE_DIR "/env.example");
  auto text = read_config_file(path);
  ASSERT_TRUE(text.ok()) << text.error().message();
  auto parsed = parse_dotenv(*text, path);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  for (const char* var : {"TURSO_DATABASE_URL", "TURSO_AUTH_TOKEN", "REPLICA_DB", "WORKING_DB", "DIFF_FILE",
                          "TURSO_SYNC_INTERVAL", "TURSO_SYNC_STATE_DIR", "TURSO_SYNC_CA_CERT",
                          "TURSO_SYNC_CONNECT_TIMEOUT_MS", "TURSO_SYNC_READ_TIMEOUT_MS",
                          "TURSO_SYNC_REQUEST_TIMEOUT_MS", "TURSO_SYNC_LOCAL_TABLES", "token_env"}) {
    EXPECT_NE(text->find(var), std::string::npos) << var;
  }
  // The defaults it shows are the real ones.
  Config defaults;
  for (const std::string& line :
       {"REPLICA_DB=" + defaults.replica_path, "WORKING_DB=" + defaults.working_path,
        "DIFF_FILE=" + defaults.diff_path, "TURSO_SYNC_STATE_DIR=" + defaults.state_dir,
        "TURSO_SYNC_INTERVAL=" + std::to_string(defaults.sync_interval_seconds),
        "TURSO_SYNC_CONNECT_TIMEOUT_MS=" + std::to_string(defaults.connect_timeout_ms),
        "TURSO_SYNC_READ_TIMEOUT_MS=" + std::to_string(defaults.read_timeout_ms),
        "TURSO_SYNC_REQUEST_TIMEOUT_MS=" + std::to_string(defaults.request_timeout_ms)}) {
    EXPECT_NE(text->find("# " + line + "\n"), std::string::npos) << line;
  }
}
}  // namespace
}  // namespace turso_sync
