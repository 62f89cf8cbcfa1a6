/* OCaml stubs over the C API (turso_sync.h). Rules (docs/capi.md, STYLE.md 14):
 * - the handle lives in a custom block whose finaliser closes it;
 * - every blocking call copies its OCaml strings to C memory, then releases the runtime lock
 *   (caml_release_runtime_system) so other OCaml threads — Lwt's scheduler among them — keep running, and
 *   takes it back before touching OCaml values again;
 * - nothing raises: each stub returns (code, text) and the OCaml side builds ('a, error) result. */
#include <stdlib.h>
#include <string.h>

#include <caml/alloc.h>
#include <caml/custom.h>
#include <caml/memory.h>
#include <caml/mlvalues.h>
#include <caml/threads.h>

#include "turso_sync.h"

#define Handle_val(v) (*((turso_sync_handle**)Data_custom_val(v)))

static void handle_finalize(value v) {
  turso_sync_handle* h = Handle_val(v);
  Handle_val(v) = NULL;
  /* Closing stops a background sync first, waiting for a cycle in progress; a finaliser cannot release the
   * runtime lock for that wait, so stop background sync explicitly (stop_background_sync) before dropping
   * the last reference. (Turso_integration keeps its handle for the whole process.) */
  turso_sync_close(h);
}

static struct custom_operations handle_ops = {"turso_sync.handle",        handle_finalize,
                                              custom_compare_default,     custom_hash_default,
                                              custom_serialize_default,   custom_deserialize_default,
                                              custom_compare_ext_default, custom_fixed_length_default};

/* (code, text) */
static value pair(int code, const char* text) {
  CAMLparam0();
  CAMLlocal2(result, str);
  str = caml_copy_string(text ? text : "");
  result = caml_alloc_tuple(2);
  Store_field(result, 0, Val_int(code));
  Store_field(result, 1, str);
  CAMLreturn(result);
}

static char* copy_or_null(value s) {
  return caml_string_length(s) == 0 ? NULL : strdup(String_val(s));
}

/* ts_open : bool (from config json) -> string -> handle * int */
value ts_stub_open(value from_json, value arg) {
  CAMLparam2(from_json, arg);
  CAMLlocal2(result, block);
  char* text = copy_or_null(arg);
  int json = Bool_val(from_json);
  turso_sync_handle* h = NULL;
  caml_release_runtime_system();
  int code = json ? turso_sync_open_config(text, &h) : turso_sync_open(text, &h);
  caml_acquire_runtime_system();
  free(text);
  block = caml_alloc_custom(&handle_ops, sizeof(turso_sync_handle*), 0, 1);
  Handle_val(block) = h;
  result = caml_alloc_tuple(2);
  Store_field(result, 0, block);
  Store_field(result, 1, Val_int(code));
  CAMLreturn(result);
}

/* ts_close : handle -> unit (idempotent; the finaliser then has nothing to do) */
value ts_stub_close(value v) {
  CAMLparam1(v);
  turso_sync_handle* h = Handle_val(v);
  Handle_val(v) = NULL;
  caml_release_runtime_system();
  turso_sync_close(h);
  caml_acquire_runtime_system();
  CAMLreturn(Val_unit);
}

value ts_stub_errmsg(value v) {
  CAMLparam1(v);
  CAMLreturn(caml_copy_string(turso_sync_errmsg(Handle_val(v))));
}

enum {
  OP_INIT,
  OP_PULL,
  OP_PUSH,
  OP_SYNC,
  OP_DIFF,
  OP_STATUS,
  OP_RESET,
  OP_CONFIG,
  OP_BG_START,
  OP_CONFLICTS,
  OP_RESOLVE,
  OP_COPY,
  OP_LOG
};

/* ts_call : handle -> int (op) -> string (options, "" = none) -> int * string (code, report) */
value ts_stub_call(value v, value op_v, value options_v) {
  CAMLparam3(v, op_v, options_v);
  turso_sync_handle* h = Handle_val(v);
  int op = Int_val(op_v);
  char* options = copy_or_null(options_v);
  char* report = NULL;
  int code;
  caml_release_runtime_system();
  switch (op) {
    case OP_INIT:
      code = turso_sync_init(h, options, &report);
      break;
    case OP_PULL:
      code = turso_sync_pull(h, options, &report);
      break;
    case OP_PUSH:
      code = turso_sync_push(h, options, &report);
      break;
    case OP_SYNC:
      code = turso_sync_sync(h, options, &report);
      break;
    case OP_DIFF:
      code = turso_sync_diff(h, options, &report);
      break;
    case OP_STATUS:
      code = turso_sync_status(h, options, &report);
      break;
    case OP_RESET:
      code = turso_sync_reset(h, options, &report);
      break;
    case OP_CONFIG:
      code = turso_sync_config(h, &report);
      break;
    case OP_BG_START:
      code = turso_sync_background_start(h, options, &report);
      break;
    case OP_CONFLICTS:
      code = turso_sync_conflicts(h, options, &report);
      break;
    case OP_RESOLVE:
      code = turso_sync_resolve(h, options, &report);
      break;
    case OP_COPY:
      code = turso_sync_copy(h, options, &report);
      break;
    case OP_LOG:
      code = turso_sync_log(h, options, &report);
      break;
    default:
      code = TURSO_SYNC_USAGE;
      break;
  }
  caml_acquire_runtime_system();
  free(options);
  value result = pair(code, report);
  turso_sync_free(report);
  CAMLreturn(result);
}

/* ts_background_stop : handle -> int * string */
value ts_stub_background_stop(value v) {
  CAMLparam1(v);
  turso_sync_handle* h = Handle_val(v);
  char* report = NULL;
  caml_release_runtime_system();
  int code = turso_sync_background_stop(h, &report);
  caml_acquire_runtime_system();
  value result = pair(code, report);
  turso_sync_free(report);
  CAMLreturn(result);
}

/* ts_background_wait : handle -> int (after cycle) -> int (timeout ms) -> int * string */
value ts_stub_background_wait(value v, value after_v, value timeout_v) {
  CAMLparam3(v, after_v, timeout_v);
  turso_sync_handle* h = Handle_val(v);
  int after = Int_val(after_v), timeout = Int_val(timeout_v);
  char* report = NULL;
  caml_release_runtime_system();
  int code = turso_sync_background_wait(h, after, timeout, &report);
  caml_acquire_runtime_system();
  value result = pair(code, report);
  turso_sync_free(report);
  CAMLreturn(result);
}
