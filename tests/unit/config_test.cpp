// Configuration: load_config and the precedence flags > environment > .env > turso-sync.toml > defaults, the
// databases of turso-sync.toml, its errors and warnings, base_dir. The .env format itself:
// config_formats_test.cpp.
#include "turso_sync/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "config/dotenv.h"
#include "config/toml_config.h"
#include "support/test_env.h"

namespace turso_sync {
namespace {

using testing::TempDir;
using testing::write_file;
using Env = std::map<std::string, std::string>;

// ---------------------------------------------------------------------------------------------------------------
// load_config. Every test runs in a fresh current directory, so ./.env and ./turso-sync.toml are under
// control.

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char buf[4096];
    ASSERT_NE(::getcwd(buf, sizeof buf), nullptr);
    m_old_cwd = buf;
    ASSERT_EQ(::chdir(m_dir.path().c_str()), 0);
  }
  void TearDown() override { ASSERT_EQ(::chdir(m_old_cwd.c_str()), 0); }

  std::string file(const std::string& name) const { return m_dir.file(name); }

  Config load_ok(const ConfigOverrides& overrides = {}, const Env& env = {}) {
    auto config = load_config(overrides, env);
    EXPECT_TRUE(config.ok()) << config.error().message();
    return config.ok() ? config.value() : Config{};
  }

  Error load_error(const ConfigOverrides& overrides = {}, const Env& env = {}) {
    auto config = load_config(overrides, env);
    EXPECT_FALSE(config.ok());
    return config.ok() ? Error(ErrorKind::internal, "loaded without error") : config.error();
  }

  TempDir m_dir;
  std::string m_old_cwd;
};

TEST_F(ConfigTest, DefaultsWhenNothingIsSet) {
  Config config = load_ok();
  EXPECT_EQ(config.name, "");
  EXPECT_EQ(config.database_url, "");
  EXPECT_EQ(config.auth_token, "");
  EXPECT_EQ(config.token_env, "TURSO_AUTH_TOKEN");
  EXPECT_EQ(config.replica_path, "local_replica.db");
  EXPECT_EQ(config.working_path, "working_copy.db");
  EXPECT_EQ(config.diff_path, "diff.sql");
  EXPECT_EQ(config.state_dir, ".turso-sync");
  EXPECT_EQ(config.sync_interval_seconds, 300);
  EXPECT_EQ(config.ca_cert, "");
  EXPECT_FALSE(config.allow_insecure_http);
  EXPECT_EQ(config.connect_timeout_ms, 5000);
  EXPECT_EQ(config.read_timeout_ms, 10000);
  EXPECT_EQ(config.request_timeout_ms, 120000);
  EXPECT_EQ(config.retry_backoff_ms, 200);
  EXPECT_TRUE(config.files_read.empty());
  EXPECT_TRUE(config.warnings.empty());
  for (const char* var :
       {"TURSO_DATABASE_URL", "TURSO_AUTH_TOKEN", "REPLICA_DB", "WORKING_DB", "DIFF_FILE",
        "TURSO_SYNC_INTERVAL", "TURSO_SYNC_STATE_DIR", "TURSO_SYNC_CA_CERT", "TURSO_SYNC_CONNECT_TIMEOUT_MS",
        "TURSO_SYNC_READ_TIMEOUT_MS", "TURSO_SYNC_REQUEST_TIMEOUT_MS", "TURSO_SYNC_RETRY_BACKOFF_MS"}) {
    ASSERT_TRUE(config.sources.count(var)) << var;
    EXPECT_EQ(config.sources.at(var), ConfigSource::default_value) << var;
  }
}

// One variable at every level: toml key, .env/environment name, flag, and how to read it back.
struct Layer {
  const char* var;
  const char* toml_key;
  std::function<void(ConfigOverrides&, const std::string&)> set_flag;  // empty: no flag
  std::function<std::string(const Config&)> get;
  bool numeric;
};

std::vector<Layer> layers() {
  return {
      {"TURSO_DATABASE_URL", "url", [](ConfigOverrides& o, const std::string& v) { o.database_url = v; },
       [](const Config& c) { return c.database_url; }, false},
      {"REPLICA_DB", "replica", [](ConfigOverrides& o, const std::string& v) { o.replica_path = v; },
       [](const Config& c) { return c.replica_path; }, false},
      {"WORKING_DB", "working", [](ConfigOverrides& o, const std::string& v) { o.working_path = v; },
       [](const Config& c) { return c.working_path; }, false},
      {"DIFF_FILE", "diff", [](ConfigOverrides& o, const std::string& v) { o.diff_path = v; },
       [](const Config& c) { return c.diff_path; }, false},
      {"TURSO_SYNC_STATE_DIR", "state_dir", nullptr, [](const Config& c) { return c.state_dir; }, false},
      {"TURSO_SYNC_CA_CERT", "ca_cert", [](ConfigOverrides& o, const std::string& v) { o.ca_cert = v; },
       [](const Config& c) { return c.ca_cert; }, false},
      {"TURSO_SYNC_INTERVAL", "interval",
       [](ConfigOverrides& o, const std::string& v) { o.sync_interval_seconds = std::stoi(v); },
       [](const Config& c) { return std::to_string(c.sync_interval_seconds); }, true},
      {"TURSO_SYNC_CONNECT_TIMEOUT_MS", "connect_timeout_ms", nullptr,
       [](const Config& c) { return std::to_string(c.connect_timeout_ms); }, true},
      {"TURSO_SYNC_READ_TIMEOUT_MS", "read_timeout_ms", nullptr,
       [](const Config& c) { return std::to_string(c.read_timeout_ms); }, true},
      {"TURSO_SYNC_REQUEST_TIMEOUT_MS", "request_timeout_ms", nullptr,
       [](const Config& c) { return std::to_string(c.request_timeout_ms); }, true},
      {"TURSO_SYNC_RETRY_BACKOFF_MS", "retry_backoff_ms", nullptr,
       [](const Config& c) { return std::to_string(c.retry_backoff_ms); }, true},
  };
}

TEST_F(ConfigTest, PrecedenceAtEveryLevelForEveryVariable) {
  for (const Layer& layer : layers()) {
    SCOPED_TRACE(layer.var);
    std::string toml_value = layer.numeric ? "11" : "from-toml";
    std::string dotenv_value = layer.numeric ? "22" : "from-dotenv";
    std::string env_value = layer.numeric ? "33" : "from-env";
    std::string flag_value = layer.numeric ? "44" : "from-flag";
    std::string toml_literal = layer.numeric ? toml_value : "\"" + toml_value + "\"";
    write_file(file("turso-sync.toml"), std::string(layer.toml_key) + " = " + toml_literal + "\n");
    write_file(file(".env"), std::string(layer.var) + "=" + dotenv_value + "\n");
    Env env{{layer.var, env_value}};
    ConfigOverrides flags;
    if (layer.set_flag) layer.set_flag(flags, flag_value);

    if (layer.set_flag) {
      Config config = load_ok(flags, env);
      EXPECT_EQ(layer.get(config), flag_value);
      EXPECT_EQ(config.sources.at(layer.var), ConfigSource::flag);
    }
    Config config = load_ok({}, env);
    EXPECT_EQ(layer.get(config), env_value);
    EXPECT_EQ(config.sources.at(layer.var), ConfigSource::environment);

    config = load_ok();
    EXPECT_EQ(layer.get(config), dotenv_value);
    EXPECT_EQ(config.sources.at(layer.var), ConfigSource::dotenv);

    ASSERT_EQ(::unlink(file(".env").c_str()), 0);
    config = load_ok();
    EXPECT_EQ(layer.get(config), toml_value);
    EXPECT_EQ(config.sources.at(layer.var), ConfigSource::toml);

    ASSERT_EQ(::unlink(file("turso-sync.toml").c_str()), 0);
    config = load_ok();
    EXPECT_EQ(config.sources.at(layer.var), ConfigSource::default_value);
    EXPECT_NE(layer.get(config), toml_value);
  }
}

TEST_F(ConfigTest, EnvironmentWinsOverDotenvForTheUrl) {
  write_file(file(".env"), "TURSO_DATABASE_URL=libsql://dotenv.turso.io\nTURSO_AUTH_TOKEN=dotenv-token\n");
  Config config = load_ok({}, {{"TURSO_DATABASE_URL", "http://127.0.0.1:8080"}});
  EXPECT_EQ(config.database_url, "http://127.0.0.1:8080");
  EXPECT_EQ(config.sources.at("TURSO_DATABASE_URL"), ConfigSource::environment);
  EXPECT_EQ(config.auth_token, "dotenv-token");
  EXPECT_EQ(config.sources.at("TURSO_AUTH_TOKEN"), ConfigSource::dotenv);
}

TEST_F(ConfigTest, EmptyValuesCountAsUnset) {
  write_file(file(".env"), "TURSO_DATABASE_URL=libsql://dotenv.turso.io\nREPLICA_DB=\n");
  Config config = load_ok({}, {{"TURSO_DATABASE_URL", ""}, {"TURSO_SYNC_INTERVAL", ""}});
  EXPECT_EQ(config.database_url, "libsql://dotenv.turso.io");
  EXPECT_EQ(config.replica_path, "local_replica.db");
  EXPECT_EQ(config.sync_interval_seconds, 300);
}

TEST_F(ConfigTest, UrlAndTokenAreTrimmed) {
  Config config =
      load_ok({}, {{"TURSO_DATABASE_URL", " libsql://x.turso.io \n"}, {"TURSO_AUTH_TOKEN", "tok\n"}});
  EXPECT_EQ(config.database_url, "libsql://x.turso.io");
  EXPECT_EQ(config.auth_token, "tok");
}

TEST_F(ConfigTest, TokenFromEnvironmentWinsOverDotenv) {
  write_file(file(".env"), "TURSO_AUTH_TOKEN=dotenv-token\n");
  Config config = load_ok({}, {{"TURSO_AUTH_TOKEN", "env-token"}});
  EXPECT_EQ(config.auth_token, "env-token");
  EXPECT_EQ(config.sources.at("TURSO_AUTH_TOKEN"), ConfigSource::environment);
}

TEST_F(ConfigTest, TokenEnvNamesTheTokenVariable) {
  write_file(file("turso-sync.toml"), "url = \"libsql://app.turso.io\"\ntoken_env = \"APP_TOKEN\"\n");
  write_file(file(".env"), "APP_TOKEN=app-token\nTURSO_AUTH_TOKEN=generic-token\n");
  Config config = load_ok();
  EXPECT_EQ(config.auth_token, "app-token");
  EXPECT_EQ(config.token_env, "APP_TOKEN");
  EXPECT_EQ(config.sources.at("TURSO_AUTH_TOKEN"), ConfigSource::dotenv);

  config = load_ok({}, {{"APP_TOKEN", "env-app-token"}});
  EXPECT_EQ(config.auth_token, "env-app-token");
  EXPECT_EQ(config.sources.at("TURSO_AUTH_TOKEN"), ConfigSource::environment);
}

TEST_F(ConfigTest, TokenEnvNamingAnUnsetVariableWarns) {
  write_file(file("turso-sync.toml"), "token_env = \"APP_TOKEN\"\n");
  // TURSO_AUTH_TOKEN is not used in its place: it may belong to another database.
  Config config = load_ok({}, {{"TURSO_AUTH_TOKEN", "generic-token"}});
  EXPECT_EQ(config.auth_token, "");
  EXPECT_EQ(config.sources.at("TURSO_AUTH_TOKEN"), ConfigSource::default_value);
  ASSERT_EQ(config.warnings.size(), 1u);
  EXPECT_NE(config.warnings[0].find("APP_TOKEN"), std::string::npos) << config.warnings[0];
  EXPECT_EQ(config.warnings[0].find("generic-token"), std::string::npos);
}

TEST_F(ConfigTest, TokenInTomlIsRefused) {
  for (const char* key : {"token", "auth_token", "TURSO_AUTH_TOKEN"}) {
    write_file(file("turso-sync.toml"), std::string(key) + " = \"secret-in-toml\"\n");
    Error error = load_error();
    EXPECT_EQ(error.kind(), ErrorKind::config);
    EXPECT_NE(error.message().find("token_env"), std::string::npos) << error.message();
    EXPECT_EQ(error.message().find("secret-in-toml"), std::string::npos) << error.message();
  }
  write_file(file("turso-sync.toml"), "[databases.a]\ntoken = \"secret-in-toml\"\n");
  Error error = load_error();
  EXPECT_NE(error.message().find("[databases.a]"), std::string::npos) << error.message();
  EXPECT_EQ(error.message().find("secret-in-toml"), std::string::npos) << error.message();
}

TEST_F(ConfigTest, TokenEnvMustBeAVariableName) {
  write_file(file("turso-sync.toml"), "token_env = \"eyJhbGciOi.secret\"\n");
  Error error = load_error();
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_NE(error.message().find("NAME of an environment variable"), std::string::npos) << error.message();
  EXPECT_EQ(error.message().find("eyJhbGciOi"), std::string::npos) << error.message();
}

TEST_F(ConfigTest, NoTokenFlagOnlyEnvironment) {
  // Flags never carry a token (ConfigOverrides has no such field); allow_insecure_http is a flag only.
  ConfigOverrides flags;
  flags.allow_insecure_http = true;
  Config config = load_ok(flags);
  EXPECT_TRUE(config.allow_insecure_http);
}

constexpr const char* kMultiToml = R"(
url = "libsql://main-org.turso.io"
token_env = "MAIN_TOKEN"
interval = 60
connect_timeout_ms = 2000

[databases.zeta]
url = "libsql://zeta-org.turso.io"

[databases.analytics]
url = "libsql://analytics-org.turso.io"
token_env = "ANALYTICS_TOKEN"
replica = "data/analytics.replica.db"
working = "data/analytics.db"
diff = "data/analytics.sql"
state_dir = "state/analytics"
interval = 900
ca_cert = "/etc/ssl/private-ca.pem"

[databases.empty]
)";

TEST_F(ConfigTest, TopLevelOfTomlIsTheDefaultDatabase) {
  write_file(file("turso-sync.toml"), kMultiToml);
  Config config = load_ok({}, {{"MAIN_TOKEN", "main-token"}});
  EXPECT_EQ(config.name, "");
  EXPECT_EQ(config.database_url, "libsql://main-org.turso.io");
  EXPECT_EQ(config.auth_token, "main-token");
  EXPECT_EQ(config.sync_interval_seconds, 60);
  EXPECT_EQ(config.connect_timeout_ms, 2000);
  EXPECT_EQ(config.replica_path, "local_replica.db");
  EXPECT_EQ(config.state_dir, ".turso-sync");
  EXPECT_EQ(config.files_read, std::vector<std::string>{file("turso-sync.toml")});
}

TEST_F(ConfigTest, DbSelectsASection) {
  write_file(file("turso-sync.toml"), kMultiToml);
  ConfigOverrides flags;
  flags.db_name = "analytics";
  Config config = load_ok(flags, {{"ANALYTICS_TOKEN", "analytics-token"}, {"MAIN_TOKEN", "main-token"}});
  EXPECT_EQ(config.name, "analytics");
  EXPECT_EQ(config.database_url, "libsql://analytics-org.turso.io");
  EXPECT_EQ(config.auth_token, "analytics-token");
  EXPECT_EQ(config.token_env, "ANALYTICS_TOKEN");
  EXPECT_EQ(config.replica_path, "data/analytics.replica.db");
  EXPECT_EQ(config.working_path, "data/analytics.db");
  EXPECT_EQ(config.diff_path, "data/analytics.sql");
  EXPECT_EQ(config.state_dir, "state/analytics");
  EXPECT_EQ(config.sync_interval_seconds, 900);
  EXPECT_EQ(config.connect_timeout_ms, 2000);  // shared setting from the top level
  EXPECT_EQ(config.ca_cert, "/etc/ssl/private-ca.pem");
  EXPECT_EQ(config.sources.at("TURSO_DATABASE_URL"), ConfigSource::toml);
  EXPECT_EQ(config.sources.at("TURSO_SYNC_INTERVAL"), ConfigSource::toml);
}

TEST_F(ConfigTest, NamedDatabaseDefaultsAreNamespaced) {
  write_file(file("turso-sync.toml"), kMultiToml);
  ConfigOverrides flags;
  flags.db_name = "zeta";
  Config config = load_ok(flags, {{"TURSO_AUTH_TOKEN", "shared-token"}});
  EXPECT_EQ(config.name, "zeta");
  EXPECT_EQ(config.database_url, "libsql://zeta-org.turso.io");
  EXPECT_EQ(config.replica_path, "zeta_replica.db");
  EXPECT_EQ(config.working_path, "zeta_working.db");
  EXPECT_EQ(config.diff_path, "zeta_diff.sql");
  EXPECT_EQ(config.state_dir, ".turso-sync/zeta");
  EXPECT_EQ(config.sync_interval_seconds, 60);  // top-level interval
  // Without token_env the token comes from TURSO_AUTH_TOKEN, as for the default database.
  EXPECT_EQ(config.token_env, "TURSO_AUTH_TOKEN");
  EXPECT_EQ(config.auth_token, "shared-token");
  EXPECT_EQ(config.sources.at("REPLICA_DB"), ConfigSource::default_value);
}

TEST_F(ConfigTest, NamedDatabaseIgnoresTheDefaultDatabasesVariables) {
  // TURSO_DATABASE_URL, REPLICA_DB, ... describe the default database; a named one must not pick them up, or
  // `--db zeta push` would send zeta's working copy to the default database.
  write_file(file("turso-sync.toml"), kMultiToml);
  write_file(file(".env"), "TURSO_DATABASE_URL=libsql://main-from-dotenv.turso.io\nWORKING_DB=app.db\n");
  ConfigOverrides flags;
  flags.db_name = "zeta";
  Config config = load_ok(flags, {{"TURSO_DATABASE_URL", "libsql://main-from-env.turso.io"},
                                  {"REPLICA_DB", "main_replica.db"},
                                  {"DIFF_FILE", "main.sql"},
                                  {"TURSO_SYNC_STATE_DIR", "main-state"},
                                  {"TURSO_SYNC_INTERVAL", "5"}});
  EXPECT_EQ(config.database_url, "libsql://zeta-org.turso.io");
  EXPECT_EQ(config.replica_path, "zeta_replica.db");
  EXPECT_EQ(config.working_path, "zeta_working.db");
  EXPECT_EQ(config.diff_path, "zeta_diff.sql");
  EXPECT_EQ(config.state_dir, ".turso-sync/zeta");
  EXPECT_EQ(config.sync_interval_seconds, 5);  // shared settings do follow the environment
  EXPECT_EQ(config.sources.at("TURSO_SYNC_INTERVAL"), ConfigSource::environment);

  // Flags still win.
  flags.database_url = "http://127.0.0.1:9000";
  flags.working_path = "flag.db";
  config = load_ok(flags);
  EXPECT_EQ(config.database_url, "http://127.0.0.1:9000");
  EXPECT_EQ(config.working_path, "flag.db");
  EXPECT_EQ(config.sources.at("TURSO_DATABASE_URL"), ConfigSource::flag);

  // A section without url has no remote, and require_remote says where to add it.
  flags = {};
  flags.db_name = "empty";
  config = load_ok(flags, {{"TURSO_DATABASE_URL", "libsql://main-from-env.turso.io"}});
  EXPECT_EQ(config.database_url, "");
  Status status = require_remote(config);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message().find("[databases.empty]"), std::string::npos)
      << status.error().message();
}

TEST_F(ConfigTest, UnknownDatabaseListsTheKnownOnes) {
  write_file(file("turso-sync.toml"), kMultiToml);
  ConfigOverrides flags;
  flags.db_name = "nope";
  Error error = load_error(flags);
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(
      error.message(),
      "--db nope: turso-sync.toml has no [databases.nope] section; known databases: analytics, empty, zeta");

  write_file(file("turso-sync.toml"), "url = \"libsql://x\"\n");
  error = load_error(flags);
  EXPECT_NE(error.message().find("declares no [databases.NAME] sections"), std::string::npos)
      << error.message();
}

TEST_F(ConfigTest, DbWithoutTomlIsAnError) {
  ConfigOverrides flags;
  flags.db_name = "analytics";
  Error error = load_error(flags);
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_NE(error.message().find("turso-sync.toml"), std::string::npos) << error.message();
  flags.db_name = "";
  EXPECT_EQ(load_error(flags).kind(), ErrorKind::usage);
}

TEST_F(ConfigTest, ListDatabases) {
  auto none = list_databases({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  write_file(file("turso-sync.toml"), kMultiToml);
  auto names = list_databases({});
  ASSERT_TRUE(names.ok()) << names.error().message();
  EXPECT_EQ(*names, (std::vector<std::string>{"analytics", "empty", "zeta"}));

  ConfigOverrides flags;
  flags.toml_file = file("other.toml");
  write_file(*flags.toml_file, "[databases.b]\n[databases.a]\n");
  names = list_databases(flags);
  ASSERT_TRUE(names.ok()) << names.error().message();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));

  flags.toml_file = file("missing.toml");
  auto missing = list_databases(flags);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::config);
  EXPECT_NE(missing.error().message().find("missing.toml"), std::string::npos);

  write_file(file("turso-sync.toml"), "[databases\n");
  EXPECT_FALSE(list_databases({}).ok());
}

TEST_F(ConfigTest, ExplicitFilesReplaceTheCurrentDirectorysOnes) {
  write_file(file(".env"), "TURSO_DATABASE_URL=libsql://cwd.turso.io\n");
  write_file(file("turso-sync.toml"), "replica = \"cwd-replica.db\"\n");
  write_file(file("other.env"), "WORKING_DB=other-working.db\n");
  write_file(file("other.toml"), "diff = \"other.sql\"\n");
  ConfigOverrides flags;
  flags.env_file = file("other.env");
  flags.toml_file = file("other.toml");
  Config config = load_ok(flags);
  EXPECT_EQ(config.database_url, "");
  EXPECT_EQ(config.replica_path, "local_replica.db");
  EXPECT_EQ(config.working_path, "other-working.db");
  EXPECT_EQ(config.diff_path, "other.sql");
  EXPECT_EQ(config.files_read, (std::vector<std::string>{file("other.toml"), file("other.env")}));
}

TEST_F(ConfigTest, CurrentDirectoryFilesAreFoundAndRecorded) {
  write_file(file(".env"), "TURSO_DATABASE_URL=libsql://cwd.turso.io\n");
  write_file(file("turso-sync.toml"), "replica = \"cwd-replica.db\"\n");
  Config config = load_ok();
  EXPECT_EQ(config.database_url, "libsql://cwd.turso.io");
  EXPECT_EQ(config.replica_path, "cwd-replica.db");
  EXPECT_EQ(config.files_read, (std::vector<std::string>{file("turso-sync.toml"), file(".env")}));
}

TEST_F(ConfigTest, MissingExplicitFilesAreErrors) {
  ConfigOverrides flags;
  flags.env_file = file("nope.env");
  Error error = load_error(flags);
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(error.message(), "--env-file " + file("nope.env") + ": no such file");

  flags = {};
  flags.toml_file = file("nope.toml");
  error = load_error(flags);
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(error.message(), "--config " + file("nope.toml") + ": no such file");
}

TEST_F(ConfigTest, MalformedDotenvIsAnErrorWithLine) {
  write_file(file(".env"), "A=1\nB=2\nC\n");
  Error error = load_error();
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(error.message(), ".env:3: expected KEY=VALUE, found no '='");
}

TEST_F(ConfigTest, DotenvThatIsNotAFileIsAnError) {
  ASSERT_EQ(::mkdir(file(".env").c_str(), 0700), 0);
  Error error = load_error();
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(error.message(), "read .env: not a regular file");
}

TEST_F(ConfigTest, UnreadableDotenvIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  write_file(file(".env"), "A=1\n", 0000);
  Error error = load_error();
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_EQ(error.message(), "read .env: Permission denied");
}

TEST_F(ConfigTest, MalformedTomlIsAnErrorWithLine) {
  write_file(file("turso-sync.toml"), "url = \"libsql://x\"\n\n[databases.a\n");
  Error error = load_error();
  EXPECT_EQ(error.kind(), ErrorKind::config);
  EXPECT_TRUE(error.message().starts_with("turso-sync.toml:3:")) << error.message();
}

TEST_F(ConfigTest, TomlTypesAreChecked) {
  struct Case {
    const char* toml;
    const char* expected;
  };
  for (const Case& c : {
           Case{"url = 5\n", "turso-sync.toml:1: 'url' in the top level must be a string"},
           Case{"\n[databases.a]\nreplica = true\n",
                "turso-sync.toml:3: 'replica' in [databases.a] must be a string"},
           Case{"url = \"\"\n", "turso-sync.toml:1: 'url' in the top level is empty"},
           Case{"interval = \"300\"\n",
                "turso-sync.toml:1: 'interval' in the top level must be a positive integer"},
           Case{"interval = 0\n",
                "turso-sync.toml:1: 'interval' in the top level must be a positive integer"},
           Case{"interval = -5\n",
                "turso-sync.toml:1: 'interval' in the top level must be a positive integer"},
           Case{"interval = 2.5\n",
                "turso-sync.toml:1: 'interval' in the top level must be a positive integer"},
           Case{"interval = 99999999999\n",
                "turso-sync.toml:1: 'interval' in the top level must be a positive integer"},
           Case{"[databases.a]\nrequest_timeout_ms = 0\n",
                "turso-sync.toml:2: 'request_timeout_ms' in [databases.a] must be a positive integer"},
           Case{"databases = 3\n",
                "turso-sync.toml:1: 'databases' must be a table of [databases.NAME] sections"},
           Case{"[databases]\na = 1\n", "turso-sync.toml:2: databases.a must be a [databases.a] section"},
           Case{"[databases.\"../evil\"]\n",
                "turso-sync.toml:1: database name '../evil' must be letters, digits, '_' or '-' (it names "
                "files)"},
       }) {
    SCOPED_TRACE(c.toml);
    write_file(file("turso-sync.toml"), c.toml);
    Error error = load_error();
    EXPECT_EQ(error.kind(), ErrorKind::config);
    EXPECT_EQ(error.message(), c.expected);
  }
}

TEST_F(ConfigTest, UnknownTomlKeysWarn) {
  write_file(file("turso-sync.toml"), "urll = \"libsql://x\"\n[databases.a]\nreplicas = \"r.db\"\n");
  Config config = load_ok();
  EXPECT_EQ(config.warnings, (std::vector<std::string>{
                                 "turso-sync.toml:1: unknown key 'urll' in the top level (ignored)",
                                 "turso-sync.toml:3: unknown key 'replicas' in [databases.a] (ignored)"}));
}

TEST_F(ConfigTest, DotenvReadableByOthersWarns) {
  write_file(file(".env"), "TURSO_AUTH_TOKEN=secret-token\n", 0644);
  Config config = load_ok();
  EXPECT_EQ(config.warnings,
            std::vector<std::string>{".env is readable by group or others; run: chmod 600 .env"});

  write_file(file(".env"), "TURSO_AUTH_TOKEN=secret-token\n", 0640);
  EXPECT_EQ(load_ok().warnings.size(), 1u);

  ConfigOverrides flags;
  flags.env_file = file("custom.env");
  write_file(*flags.env_file, "A=1\n", 0604);
  config = load_ok(flags);
  EXPECT_EQ(config.warnings,
            std::vector<std::string>{*flags.env_file + " is readable by group or others; run: chmod 600 " +
                                     *flags.env_file});

  write_file(file(".env"), "TURSO_AUTH_TOKEN=secret-token\n", 0600);
  EXPECT_TRUE(load_ok().warnings.empty());
  write_file(file(".env"), "TURSO_AUTH_TOKEN=secret-token\n", 0400);
  EXPECT_TRUE(load_ok().warnings.empty());
}

TEST_F(ConfigTest, InvalidIntervalIsAnError) {
  for (const char* bad : {"abc", "0", "-5", "10s", "5m", "1e3", "3.5", "99999999999", "+5"}) {
    SCOPED_TRACE(bad);
    Error error = load_error({}, {{"TURSO_SYNC_INTERVAL", bad}});
    EXPECT_EQ(error.kind(), ErrorKind::config);
    EXPECT_EQ(
        error.message(),
        std::string("TURSO_SYNC_INTERVAL in the environment must be a positive integer, got '") + bad + "'");
  }
  write_file(file(".env"), "TURSO_SYNC_INTERVAL=soon\n");
  Error error = load_error();
  EXPECT_EQ(error.message(), "TURSO_SYNC_INTERVAL in .env must be a positive integer, got 'soon'");

  ASSERT_EQ(::unlink(file(".env").c_str()), 0);
  error = load_error({}, {{"TURSO_SYNC_CONNECT_TIMEOUT_MS", "fast"}});
  EXPECT_EQ(error.message(),
            "TURSO_SYNC_CONNECT_TIMEOUT_MS in the environment must be a positive integer, got 'fast'");

  ConfigOverrides flags;
  flags.sync_interval_seconds = 0;
  error = load_error(flags);
  EXPECT_EQ(error.kind(), ErrorKind::usage);

  EXPECT_EQ(load_ok({}, {{"TURSO_SYNC_INTERVAL", " 42 "}}).sync_interval_seconds, 42);
}

TEST_F(ConfigTest, RequireRemoteExplainsHowToSetTheUrl) {
  Config config = load_ok();
  Status status = require_remote(config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::config);
  const std::string& message = status.error().message();
  EXPECT_NE(message.find("TURSO_DATABASE_URL"), std::string::npos) << message;
  EXPECT_NE(message.find(".env"), std::string::npos) << message;
  EXPECT_NE(message.find("setup-turso.sh"), std::string::npos) << message;
  EXPECT_NE(message.find("export"), std::string::npos) << message;

  for (const char* good : {"libsql://db-org.turso.io", "https://db-org.turso.io", "http://127.0.0.1:8080",
                           "LIBSQL://DB.turso.io"}) {
    config.database_url = good;
    EXPECT_TRUE(require_remote(config).ok()) << good;
  }
}

TEST_F(ConfigTest, RequireRemoteRejectsOtherSchemesWithoutShowingTheQuery) {
  Config config = load_ok({}, {{"TURSO_DATABASE_URL", "ftp://db.example?authToken=secret-in-url"}});
  Status status = require_remote(config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind(), ErrorKind::config);
  EXPECT_EQ(
      status.error().message(),
      "remote URL 'ftp://db.example' (from environment): must start with libsql://, https:// or http://");
}

TEST(ConfigSourceNames, ToString) {
  EXPECT_STREQ(to_string(ConfigSource::default_value), "default");
  EXPECT_STREQ(to_string(ConfigSource::toml), "toml");
  EXPECT_STREQ(to_string(ConfigSource::dotenv), "dotenv");
  EXPECT_STREQ(to_string(ConfigSource::environment), "environment");
  EXPECT_STREQ(to_string(ConfigSource::flag), "flag");
}

TEST(ConfigEnvironment, ProcessEnvironmentReadsEnviron) {
  ASSERT_EQ(::setenv("TURSO_SYNC_CONFIG_TEST_VAR", "a=b c", 1), 0);
  Env env = process_environment();
  ::unsetenv("TURSO_SYNC_CONFIG_TEST_VAR");
  ASSERT_TRUE(env.count("TURSO_SYNC_CONFIG_TEST_VAR"));
  EXPECT_EQ(env.at("TURSO_SYNC_CONFIG_TEST_VAR"), "a=b c");
  EXPECT_FALSE(process_environment().count("TURSO_SYNC_CONFIG_TEST_VAR"));
}

}  // namespace
}  // namespace turso_sync

namespace turso_sync {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// base_dir (the C API's turso_sync_open(dir)): as if run in that directory, without changing the process's.

TEST(ConfigBaseDir, ReadsDotenvAndTomlThereAndPutsRelativePathsUnderIt) {
  TempDir dir;
  write_file(dir.file(".env"), "TURSO_DATABASE_URL=http://127.0.0.1:1\nWORKING_DB=app.db\n");
  write_file(dir.file("turso-sync.toml"),
             "replica = \"data/replica.db\"\ninterval = 42\nstate_dir = \"st\"\n");
  ConfigOverrides overrides;
  overrides.base_dir = dir.path().string();
  auto config = load_config(overrides, Env{});
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->database_url, "http://127.0.0.1:1");
  EXPECT_EQ(config->working_path, dir.file("app.db"));
  EXPECT_EQ(config->replica_path, dir.file("data/replica.db"));
  EXPECT_EQ(config->diff_path, dir.file("diff.sql"));
  EXPECT_EQ(config->state_dir, dir.file("st"));
  EXPECT_EQ(config->sync_interval_seconds, 42);
  EXPECT_EQ(config->sources.at("WORKING_DB"), ConfigSource::dotenv);
}

TEST(ConfigLocalTables, EnvironmentListOrTomlArrayPerDatabase) {
  EXPECT_EQ(parse_local_tables(" drafts, cache_* ,,x"), (std::vector<std::string>{"drafts", "cache_*", "x"}));
  TempDir dir;
  write_file(dir.file("turso-sync.toml"),
             "local_tables = [\"drafts\", \"cache_*\"]\n[databases.app]\nurl = \"http://127.0.0.1:1\"\n"
             "local_tables = \"scratch\"\n");
  ConfigOverrides overrides;
  overrides.base_dir = dir.path().string();
  auto config = load_config(overrides, Env{});
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->local_tables, (std::vector<std::string>{"drafts", "cache_*"}));
  config = load_config(overrides, Env{{"TURSO_SYNC_LOCAL_TABLES", "a,b"}});
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->local_tables, (std::vector<std::string>{"a", "b"}));
  overrides.db_name = "app";
  config = load_config(overrides, Env{});
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->local_tables, (std::vector<std::string>{"scratch"}));
}

TEST(ConfigBaseDir, EnvironmentStillWinsAndAbsolutePathsStay) {
  TempDir dir;
  write_file(dir.file(".env"), "WORKING_DB=app.db\n");
  ConfigOverrides overrides;
  overrides.base_dir = dir.path().string();
  auto config = load_config(overrides, Env{{"WORKING_DB", "/elsewhere/w.db"}, {"REPLICA_DB", "r.db"}});
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->working_path, "/elsewhere/w.db");
  EXPECT_EQ(config->replica_path, dir.file("r.db"));
}

TEST(ConfigBaseDir, UnsetKeepsPathsRelativeToTheCurrentDirectory) {
  auto config = load_config(ConfigOverrides{}, Env{{"WORKING_DB", "w.db"}});
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->working_path, "w.db");
  EXPECT_EQ(config->state_dir, ".turso-sync");
}

}  // namespace
}  // namespace turso_sync
