#include "turso_sync/status.h"

namespace turso_sync {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage:
      return "usage";
    case ErrorKind::config:
      return "config";
    case ErrorKind::refused:
      return "refused";
    case ErrorKind::conflict:
      return "conflict";
    case ErrorKind::unreachable:
      return "unreachable";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::auth:
      return "auth";
    case ErrorKind::server:
      return "server";
    case ErrorKind::protocol:
      return "protocol";
    case ErrorKind::sql:
      return "sql";
    case ErrorKind::local_db:
      return "local_db";
    case ErrorKind::busy:
      return "busy";
    case ErrorKind::io:
      return "io";
    case ErrorKind::cancelled:
      return "cancelled";
    case ErrorKind::internal:
      return "internal";
  }
  return "unknown";
}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage:
    case ErrorKind::config:
    case ErrorKind::refused:
      return 2;
    case ErrorKind::conflict:
      return 3;
    case ErrorKind::unreachable:
    case ErrorKind::timeout:
    case ErrorKind::auth:
    case ErrorKind::server:
      return 4;
    default:
      return 1;
  }
}

}  // namespace turso_sync
