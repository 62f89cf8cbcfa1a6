// The wrapper scripts at the repository root (README, "Quick start"): setup-turso.sh writes a private .env without ever
// showing the token, turso-workflow.sh finds the binary and passes everything through.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <sstream>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const std::string kSourceDir = TURSO_SYNC_SOURCE_DIR;
const std::string kSetup = kSourceDir + "/setup-turso.sh";
const std::string kWorkflow = kSourceDir + "/turso-workflow.sh";
constexpr const char* kSetupToken = "eyJhbGciOiJFZERTQSJ9.test-token-5f3a9c.sig";

// write_text (support/test_env.h), then the file's mode set to `mode`.
void write_text_with_mode(const std::string& path, const std::string& text, mode_t mode) {
  write_text(path, text);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// A stand-in for turso-sync that records its arguments, its view of .env and exits with $FAKE_EXIT.
std::string make_fake_binary(const TempDir& dir) {
  std::string path = dir.file("fake-turso-sync");
  write_text_with_mode(path,
                       "#!/bin/sh\n"
                       "for a in \"$@\"; do printf 'arg:%s\\n' \"$a\"; done\n"
                       "printf '%s\\n' \"$*\" >> \"$FAKE_LOG\"\n"
                       "exit \"${FAKE_EXIT:-0}\"\n",
                       0755);
  return path;
}

class ScriptsTest : public ::testing::Test {
 protected:
  void SetUp() override { m_fake = make_fake_binary(m_tools); }

  std::vector<std::string> fake_env(int exit_code = 0) const {
    return {"TURSO_SYNC_BIN=" + m_fake, "FAKE_LOG=" + m_tools.file("calls.log"),
            "FAKE_EXIT=" + std::to_string(exit_code)};
  }

  CommandResult setup(const std::string& input, int fake_exit = 0) const {
    return run_command({"bash", kSetup}, fake_env(fake_exit), m_work.path().string(), input);
  }

  void expect_no_token(const CommandResult& r) const {
    EXPECT_EQ(r.out.find(kSetupToken), std::string::npos) << "token in stdout:\n" << r.out;
    EXPECT_EQ(r.err.find(kSetupToken), std::string::npos) << "token in stderr:\n" << r.err;
    EXPECT_EQ(read_text(m_tools.file("calls.log")).find(kSetupToken), std::string::npos)
        << "token in arguments";
  }

  TempDir m_work;   // the application directory, where .env is written
  TempDir m_tools;  // the fake binary and its log
  std::string m_fake;
};

TEST_F(ScriptsTest, SetupWritesPrivateEnvAndChecksStatus) {
  CommandResult r = setup(std::string("libsql://app-org.turso.io\n") + kSetupToken + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string env_file = m_work.file(".env");
  EXPECT_EQ(mode_of(env_file), 0600u);
  std::string env = read_text(env_file);
  EXPECT_NE(env.find("TURSO_DATABASE_URL='libsql://app-org.turso.io'\n"), std::string::npos) << env;
  EXPECT_NE(env.find(std::string("TURSO_AUTH_TOKEN='") + kSetupToken + "'\n"), std::string::npos) << env;
  expect_no_token(r);
  // The connectivity check ran `turso-sync status` in the application directory.
  EXPECT_EQ(read_text(m_tools.file("calls.log")), "status\n");
  EXPECT_NE(r.out.find("Connected"), std::string::npos) << r.out;
  // No temporary file left behind, no backup when there was nothing to back up.
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(m_work.path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(ScriptsTest, SetupAcceptsCrlfInputAndTrimsIt) {
  CommandResult r = setup(std::string("  https://app-org.turso.io  \r\n") + kSetupToken + " \r\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string env = read_text(m_work.file(".env"));
  EXPECT_NE(env.find("TURSO_DATABASE_URL='https://app-org.turso.io'\n"), std::string::npos) << env;
  EXPECT_NE(env.find(std::string("TURSO_AUTH_TOKEN='") + kSetupToken + "'\n"), std::string::npos) << env;
  expect_no_token(r);
}

TEST_F(ScriptsTest, SetupWithoutTokenForALocalServer) {
  CommandResult r = setup("http://127.0.0.1:8080\n\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string env = read_text(m_work.file(".env"));
  EXPECT_NE(env.find("TURSO_DATABASE_URL='http://127.0.0.1:8080'\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("TURSO_AUTH_TOKEN"), std::string::npos) << env;
}

TEST_F(ScriptsTest, SetupRejectsAnInvalidUrlWithoutEchoingIt) {
  // The token pasted into the URL prompt must not be shown back.
  CommandResult r = setup(std::string(kSetupToken) + "\n" + kSetupToken + "\n");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("libsql://, https:// or http://"), std::string::npos) << r.err;
  expect_no_token(r);
  EXPECT_FALSE(fs::exists(m_work.file(".env")));

  r = setup("ftp://example.com\nx\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(m_work.file(".env")));
}

TEST_F(ScriptsTest, SetupFailsOnMissingInput) {
  CommandResult r = setup("");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no database URL"), std::string::npos) << r.err;
  r = setup("libsql://app-org.turso.io\n");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("no token"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(m_work.file(".env")));
}

TEST_F(ScriptsTest, SetupRejectsATokenWithSpacesWithoutEchoingIt) {
  CommandResult r = setup(std::string("libsql://app-org.turso.io\n") + kSetupToken + " extra\n");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  expect_no_token(r);
  EXPECT_FALSE(fs::exists(m_work.file(".env")));
}

TEST_F(ScriptsTest, SetupAsksBeforeReplacingAnExistingEnv) {
  std::string env_file = m_work.file(".env");
  std::string old =
      "# mine\nWORKING_DB=app.db\nexport TURSO_DATABASE_URL=libsql://old.turso.io\nTURSO_AUTH_TOKEN=old\n";
  write_text_with_mode(env_file, old, 0644);

  CommandResult r = setup(std::string("n\nlibsql://new-org.turso.io\n") + kSetupToken + "\n");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(read_text(env_file), old);
  EXPECT_FALSE(fs::exists(m_work.file(".env.bak")));
  EXPECT_EQ(read_text(m_tools.file("calls.log")), "");

  r = setup(std::string("y\nlibsql://new-org.turso.io\n") + kSetupToken + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_no_token(r);
  EXPECT_EQ(mode_of(env_file), 0600u);
  EXPECT_EQ(mode_of(m_work.file(".env.bak")), 0600u);
  EXPECT_EQ(read_text(m_work.file(".env.bak")), old);
  std::string env = read_text(env_file);
  EXPECT_NE(env.find("# mine\nWORKING_DB=app.db\n"), std::string::npos) << env;  // other settings kept
  EXPECT_EQ(env.find("old"), std::string::npos) << env;
  EXPECT_NE(env.find("TURSO_DATABASE_URL='libsql://new-org.turso.io'\n"), std::string::npos) << env;
  EXPECT_NE(env.find(std::string("TURSO_AUTH_TOKEN='") + kSetupToken + "'\n"), std::string::npos) << env;

  // Running it again replaces the values instead of piling them up.
  r = setup("y\nlibsql://third-org.turso.io\n\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  env = read_text(env_file);
  EXPECT_EQ(env.find("TURSO_AUTH_TOKEN"), std::string::npos) << env;
  EXPECT_EQ(env.find("new-org"), std::string::npos) << env;
  size_t first = env.find("# Written by setup-turso.sh");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(env.find("# Written by setup-turso.sh", first + 1), std::string::npos) << env;
  // The backup holds the previous version, token included, and stays private.
  EXPECT_EQ(mode_of(m_work.file(".env.bak")), 0600u);
  EXPECT_NE(read_text(m_work.file(".env.bak")).find(kSetupToken), std::string::npos);
}

TEST_F(ScriptsTest, SetupReportsAFailedConnectionCheck) {
  CommandResult r = setup(std::string("libsql://app-org.turso.io\n") + kSetupToken + "\n", 4);
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_NE(r.err.find("check the URL and token"), std::string::npos) << r.err;
  expect_no_token(r);
  EXPECT_EQ(mode_of(m_work.file(".env")), 0600u);  // written all the same, to be fixed and retried
}

TEST_F(ScriptsTest, SetupWithTheRealCliNeverShowsTheToken) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  CommandResult r = run_command({"bash", kSetup}, {"TURSO_SYNC_BIN=" + cli_path()}, m_work.path().string(),
                                server.url() + "\n" + kSetupToken + "\n");
  EXPECT_EQ(r.out.find(kSetupToken), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find(kSetupToken), std::string::npos) << r.err;
  EXPECT_EQ(mode_of(m_work.file(".env")), 0600u);
}

TEST_F(ScriptsTest, SetupHelp) {
  CommandResult r = run_command({"bash", kSetup, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Usage: setup-turso.sh"), std::string::npos) << r.out;
  r = run_command({"bash", kSetup, "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ScriptsTest, WorkflowWithoutArgumentsPrintsUsageAndExits2) {
  CommandResult r = run_command({"bash", kWorkflow}, fake_env());
  EXPECT_EQ(r.exit_code, 2);
  for (const char* command :
       {"init", "push", "pull", "reset", "diff", "workflow", "status", "sync", "copy"}) {
    EXPECT_NE(r.err.find(std::string("  ") + command + " "), std::string::npos) << command << "\n" << r.err;
  }
  EXPECT_EQ(read_text(m_tools.file("calls.log")), "");  // the binary was not run
}

TEST_F(ScriptsTest, WorkflowHelpPrintsUsageToStdout) {
  for (const char* help : {"help", "-h", "--help"}) {
    CommandResult r = run_command({"bash", kWorkflow, help}, fake_env());
    EXPECT_EQ(r.exit_code, 0) << help;
    EXPECT_NE(r.out.find("Usage: turso-workflow.sh"), std::string::npos) << help << r.out;
  }
}

TEST_F(ScriptsTest, WorkflowPassesArgumentsAndExitCodeThrough) {
  CommandResult r = run_command({"bash", kWorkflow, "pull", "--on-conflict=local", "two words", ""},
                                fake_env(3), m_work.path().string());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "arg:pull\narg:--on-conflict=local\narg:two words\narg:\n");
  r = run_command({"bash", kWorkflow, "--version"}, fake_env());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "arg:--version\n");
  r = run_command({"bash", kWorkflow, "status", "--help"}, fake_env());
  EXPECT_EQ(r.out, "arg:status\narg:--help\n");
}

TEST_F(ScriptsTest, WorkflowMatchesTheRealCli) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--version"}, std::vector<std::string>{"status", "--help"}}) {
    CommandResult direct = run_cli(args);
    std::vector<std::string> argv{"bash", kWorkflow};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult wrapped = run_command(argv, {"TURSO_SYNC_BIN=" + cli_path()});
    EXPECT_EQ(wrapped.exit_code, direct.exit_code) << args[0];
    EXPECT_EQ(wrapped.out, direct.out) << args[0];
  }
}

TEST_F(ScriptsTest, WorkflowFindsBuildTursoSyncNextToTheScript) {
  // A copy of the script in a directory with build/turso-sync; TURSO_SYNC_BIN empty counts as unset.
  fs::copy_file(kWorkflow, m_tools.file("turso-workflow.sh"));
  fs::create_directories(m_tools.path() / "build");
  fs::copy_file(m_fake, m_tools.file("build/turso-sync"));
  CommandResult r = run_command({"bash", m_tools.file("turso-workflow.sh"), "diff", "--stat"},
                                {"TURSO_SYNC_BIN=", "FAKE_LOG=" + m_tools.file("calls.log")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "arg:diff\narg:--stat\n");
}

TEST_F(ScriptsTest, WorkflowExplainsAMissingBinary) {
  fs::copy_file(kWorkflow, m_tools.file("turso-workflow.sh"));
  CommandResult r = run_command({"/bin/bash", m_tools.file("turso-workflow.sh"), "status"},
                                {"TURSO_SYNC_BIN=", "PATH=/usr/bin:/bin"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("run `make`"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TURSO_SYNC_BIN"), std::string::npos) << r.err;

  r = run_command({"bash", kWorkflow, "status"}, {"TURSO_SYNC_BIN=" + m_tools.file("absent")});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("is not an executable file"), std::string::npos) << r.err;
}

// The first five minutes: `make` on a machine where configuring fails (here: a compiler that does not
// exist, as a missing package would) says what to run, and leaves nothing that stops the next `make` from
// configuring again (before, a half-written CMakeCache.txt made every later make fail with "No rule to make
// target 'Makefile'").
TEST(Makefile, AFailedConfigureSaysMakeDepsAndTheNextMakeConfiguresAgain) {
  TempDir dir;
  std::string build = dir.file("build");
  std::vector<std::string> make = {"make",
                                   "-C",
                                   TURSO_SYNC_SOURCE_DIR,
                                   "build",
                                   "BUILD=" + build,
                                   "CMAKE_FLAGS=-DCMAKE_CXX_COMPILER=/nonexistent/c++"};
  for (int attempt = 1; attempt <= 2; ++attempt) {
    CommandResult r = run_command(make);
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("`make deps` installs every dependency"), std::string::npos)
        << "attempt " << attempt << ":\n"
        << r.out << r.err;
    EXPECT_EQ((r.out + r.err).find("No rule to make target"), std::string::npos) << r.out << r.err;
    EXPECT_FALSE(fs::exists(build + "/CMakeCache.txt")) << "attempt " << attempt;
  }
}

}  // namespace
}  // namespace turso_sync::testing
