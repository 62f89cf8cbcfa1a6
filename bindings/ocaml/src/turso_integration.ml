(* Turso_integration over the C API (turso_sync.h, through turso_integration_stubs.c). *)

type handle

external ts_open : bool -> string -> handle * int = "ts_stub_open"
external ts_errmsg : handle -> string = "ts_stub_errmsg"
external ts_call : handle -> int -> string -> int * string = "ts_stub_call"
external ts_background_stop : handle -> int * string = "ts_stub_background_stop"
external ts_background_wait : handle -> int -> int -> int * string = "ts_stub_background_wait"

(* Operation numbers of ts_stub_call. *)
let op_init = 0
let op_pull = 1
let op_push = 2
let op_sync = 3
let op_status = 5
let op_config = 7
let op_bg_start = 8
let op_conflicts = 9
let op_resolve = 10
let op_copy = 11
let op_log = 12

type error = { code : int; kind : string; message : string }
type counts = { inserts : int; updates : int; deletes : int }

type conflict_kind =
  | Update_update
  | Update_delete
  | Delete_update
  | Insert_insert
  | Unique
  | Dangling_reference
  | Schema
  | Dropped_column
  | Refused
  | Held
  | Other_kind of string

let conflict_kinds =
  [
    ("update/update", Update_update);
    ("update/delete", Update_delete);
    ("delete/update", Delete_update);
    ("insert/insert", Insert_insert);
    ("unique", Unique);
    ("dangling reference", Dangling_reference);
    ("schema", Schema);
    ("dropped column", Dropped_column);
    ("refused", Refused);
    ("held", Held);
  ]

let conflict_kind_of_string s = match List.assoc_opt s conflict_kinds with Some k -> k | None -> Other_kind s

let string_of_conflict_kind = function
  | Other_kind s -> s
  | k -> fst (List.find (fun (_, v) -> v = k) conflict_kinds)

type conflict = {
  table : string;
  kind : string;
  conflict_kind : conflict_kind;
  key : string option list;
  columns : string list;
  base : string option list;
  ours : string option list;
  theirs : string option list;
  conflicting_columns : string list;
  about : string;
}

type moved = { moved_table : string; from_id : int; to_id : int; updated_references : string list }

type pull_report = {
  pull_exit_code : int;
  up_to_date : bool;
  applied : bool;
  taken : counts;
  merged_rows : int;
  conflicts : conflict list;
  moved : moved list;
  discarded_path : string option;
  notes : string list;
}

type push_conflict = { push_table : string; operation : string; push_key : string option list; detail : string }

type push_report = {
  push_exit_code : int;
  nothing_to_push : bool;
  already_applied : bool;
  batches : int;
  pushed : counts;
  schema_changes : int;
  push_conflicts : push_conflict list;
  held_skipped : int;
  pull_after : pull_report option;
}

type sync_report = { sync_exit_code : int; sync_pull : pull_report; sync_push : push_report option }

type status_report = {
  status_exit_code : int;
  initialized : bool;
  database_url : string;
  working_copy : string;
  replica : string;
  last_pull_at : string option;
  last_push_at : string option;
  workflow_pid : int;
  remote_checked : bool;
  remote_reachable : bool;
  remote_error : string option;
  pending : counts;
  pending_schema_changes : int;
  warnings : string list;
}

type held_conflict = {
  held : conflict;
  key_text : string;
  since : string;
  theirs_changed_at : string option;
  ours_changed_at : string option;
}

type resolved = { resolved_table : string; resolved_key : string option list; outcome : string; theirs_changed : bool }
type resolve_report = { resolved : resolved list; saved_to : string option; still_held : int }

type health = { healthy : bool; health_exit_code : int; reason : string }
type copy_report = { copy_discarded : counts; copy_saved_to : string option }

type history_entry = {
  log_time : string;
  log_operation : string;
  log_trigger : string;
  log_result : string;
  log_exit_code : int;
  log_pulled : counts;
  log_pushed : counts;
  log_held : int;
  log_error : string option;
}
type cycle = { number : int; trigger : string; cycle_exit_code : int; cycle_error : string option; raw : string }

type published = {
  published_tables : int;
  published_rows : int;
  published_other_objects : int;
  parts : int;
  parts_sent : int;
  already_published : bool;
}

type init_report = {
  init_tables : int;
  init_rows : int;
  init_other_objects : int;
  working_copy_replaced : bool;
  init_discarded_path : string option;
  init_protocol : string;
  init_warnings : string list;
  published : published option;
}

type on_conflict = [ `Abort | `Local | `Remote | `Hold ]

(* ---- the handle: one per process, for the current directory ---- *)

(* Opened for the directory the process starts in, so paths stay right if the application changes
   directory later (they come back absolute). *)
let handle = lazy (fst (ts_open false (Sys.getcwd ())))
let calls = Lwt_mutex.create ()

let error_of_report code text =
  let message_fallback () = ts_errmsg (Lazy.force handle) in
  match Json.parse text with
  | Ok j ->
      let e = Json.member "error" j in
      let message = Json.to_string (Json.member "message" e) in
      {
        code;
        kind = Json.to_string ~default:"error" (Json.member "kind" e);
        message = (if message = "" then message_fallback () else message);
      }
  | Error _ -> { code; kind = "error"; message = message_fallback () }

(* Runs a C call off the Lwt scheduler, one at a time. *)
let detached f = Lwt_mutex.with_lock calls (fun () -> Lwt_preemptive.detach f ())

(* A report decoded by [decode] when the call produced one (codes 0 and 3; [accept] says which), else an
   error. *)
let run ?(accept = fun code -> code = 0 || code = 3) op options decode =
  let open Lwt.Infix in
  detached (fun () -> ts_call (Lazy.force handle) op options) >|= fun (code, text) ->
  if accept code then
    match Json.parse text with
    | Ok j -> Ok (decode code j)
    | Error m -> Error { code = 1; kind = "internal"; message = "turso_integration: bad report: " ^ m }
  else Error (error_of_report code text)

(* ---- decoding ---- *)

let values j = List.map (function Json.Null -> None | v -> Some (Json.to_string v)) (Json.to_list j)
let strings j = List.map (fun v -> Json.to_string v) (Json.to_list j)

let counts_of j =
  {
    inserts = Json.to_int (Json.member "inserts" j);
    updates = Json.to_int (Json.member "updates" j);
    deletes = Json.to_int (Json.member "deletes" j);
  }

let conflict_of j =
  let columns = strings (Json.member "columns" j) in
  let name i = match List.nth_opt columns i with Some c -> c | None -> string_of_int i in
  {
    table = Json.to_string (Json.member "table" j);
    kind = Json.to_string (Json.member "kind" j);
    conflict_kind = conflict_kind_of_string (Json.to_string (Json.member "kind" j));
    key = values (Json.member "key" j);
    columns;
    base = values (Json.member "base" j);
    ours = values (Json.member "ours" j);
    theirs = values (Json.member "theirs" j);
    conflicting_columns = List.map (fun i -> name (Json.to_int i)) (Json.to_list (Json.member "conflicting_columns" j));
    about = Json.to_string (Json.member "about" j);
  }

let moved_of j =
  {
    moved_table = Json.to_string (Json.member "table" j);
    from_id = Json.to_int (Json.member "from" j);
    to_id = Json.to_int (Json.member "to" j);
    updated_references = strings (Json.member "updated_references" j);
  }

let pull_of code j =
  {
    pull_exit_code = (if Json.to_bool (Json.member "applied" j) then code else 3);
    up_to_date = Json.to_bool (Json.member "up_to_date" j);
    applied = Json.to_bool (Json.member "applied" j);
    taken = counts_of (Json.member "taken" j);
    merged_rows = Json.to_int (Json.member "merged_rows" j);
    conflicts = List.map conflict_of (Json.to_list (Json.member "conflicts" j));
    moved = List.map moved_of (Json.to_list (Json.member "moved" j));
    discarded_path = Json.to_string_opt (Json.member "discarded_path" j);
    notes = strings (Json.member "notes" j);
  }

let push_of code j =
  {
    push_exit_code = code;
    nothing_to_push = Json.to_bool (Json.member "nothing_to_push" j);
    already_applied = Json.to_bool (Json.member "already_applied" j);
    batches = Json.to_int (Json.member "batches" j);
    pushed = counts_of j;
    schema_changes = Json.to_int (Json.member "schema_changes" j);
    push_conflicts =
      List.map
        (fun c ->
          {
            push_table = Json.to_string (Json.member "table" c);
            operation = Json.to_string (Json.member "operation" c);
            push_key = values (Json.member "key" c);
            detail = Json.to_string (Json.member "detail" c);
          })
        (Json.to_list (Json.member "conflicts" j));
    held_skipped = Json.to_int (Json.member "held_skipped" j);
    pull_after = (match Json.member "pull" j with Json.Null -> None | p -> Some (pull_of 0 p));
  }

let status_of code j =
  let files = Json.member "files" j and sync = Json.member "sync" j and remote = Json.member "remote" j in
  let pending = Json.member "pending" j in
  {
    status_exit_code = code;
    initialized = Json.to_bool (Json.member "initialized" j);
    database_url = Json.to_string (Json.member "database_url" (Json.member "config" j));
    working_copy = Json.to_string (Json.member "path" (Json.member "working_copy" files));
    replica = Json.to_string (Json.member "path" (Json.member "replica" files));
    last_pull_at = Json.to_string_opt (Json.member "last_pull_at" sync);
    last_push_at = Json.to_string_opt (Json.member "last_push_at" sync);
    workflow_pid = Json.to_int (Json.member "workflow_pid" sync);
    remote_checked = Json.to_bool (Json.member "checked" remote);
    remote_reachable = Json.to_bool (Json.member "reachable" remote);
    remote_error = Json.to_string_opt (Json.member "error" remote);
    pending = counts_of (Json.member "totals" pending);
    pending_schema_changes = Json.to_int (Json.member "schema_changes" (Json.member "totals" pending));
    warnings = strings (Json.member "warnings" j);
  }

let published_of j =
  {
    published_tables = Json.to_int (Json.member "tables" j);
    published_rows = Json.to_int (Json.member "rows" j);
    published_other_objects = Json.to_int (Json.member "other_objects" j);
    parts = Json.to_int (Json.member "parts" j);
    parts_sent = Json.to_int (Json.member "parts_sent" j);
    already_published = Json.to_bool (Json.member "already_published" j);
  }

let init_of j =
  {
    init_tables = Json.to_int (Json.member "tables" j);
    init_rows = Json.to_int (Json.member "rows" j);
    init_other_objects = Json.to_int (Json.member "other_objects" j);
    working_copy_replaced = Json.to_bool (Json.member "working_copy_replaced" j);
    init_discarded_path = Json.to_string_opt (Json.member "discarded_path" j);
    init_protocol = Json.to_string (Json.member "protocol" j);
    init_warnings = strings (Json.member "warnings" j);
    published = (match Json.member "published" j with Json.Object _ as p -> Some (published_of p) | _ -> None);
  }

let cycle_of raw j =
  let e = Json.member "error" j in
  {
    number = Json.to_int (Json.member "cycle" j);
    trigger = Json.to_string (Json.member "trigger" j);
    cycle_exit_code = Json.to_int (Json.member "exit_code" j);
    cycle_error = (match e with Json.Null -> None | e -> Some (Json.to_string (Json.member "message" e)));
    raw;
  }

(* ---- options ---- *)

let options fields =
  let present = List.filter_map (fun (k, v) -> Option.map (fun v -> (k, v)) v) fields in
  if present = [] then "" else Json.to_text (Json.Object present)

let policy = function
  | None -> None
  | Some `Abort -> Some (Json.String "abort")
  | Some `Local -> Some (Json.String "local")
  | Some `Remote -> Some (Json.String "remote")
  | Some `Hold -> Some (Json.String "hold")

let flag = Option.map (fun b -> Json.Bool b)

(* ---- configuration and the working copy ---- *)

type config = { working : string; replica_path : string; interval : int; initialized_now : bool }

let config () =
  let code, text = ts_call (Lazy.force handle) op_config "" in
  match (code, Json.parse text) with
  | 0, Ok j ->
      Ok
        {
          working = Json.to_string (Json.member "working" j);
          replica_path = Json.to_string (Json.member "replica" j);
          interval = Json.to_int ~default:300 (Json.member "interval" j);
          initialized_now = Json.to_bool (Json.member "initialized" j);
        }
  | _ -> Error (error_of_report code text)

let working_database_path =
  match config () with
  | Ok c -> c.working
  | Error _ -> ( match Sys.getenv_opt "WORKING_DB" with Some p when p <> "" -> p | _ -> "working_copy.db")

let is_initialized () = match config () with Ok c -> c.initialized_now | Error _ -> false

let not_initialized_message path =
  Printf.sprintf
    "turso: the working copy %s is not initialized: run `./turso-workflow.sh init` (or `turso-sync init`) first"
    path

let busy_timeout_s = 30.

let get_connection () =
  let open Lwt.Infix in
  match config () with
  | Error e -> Lwt.fail_with ("turso: configuration: " ^ e.message)
  | Ok c when not c.initialized_now -> Lwt.fail_with (not_initialized_message c.working)
  | Ok c ->
      let db = Sqlite3.db_open c.working in
      Sqlite3.busy_timeout db (int_of_float (busy_timeout_s *. 1000.));
      (* The switch from a rollback journal to WAL fails at once with BUSY while a pull writes (SQLite skips
         the busy handler for that lock upgrade): retry it for as long as the busy timeout. *)
      let deadline = Unix.gettimeofday () +. busy_timeout_s in
      let rec switch () =
        match Sqlite3.exec db "PRAGMA journal_mode=WAL" with
        | Sqlite3.Rc.OK | Sqlite3.Rc.ROW | Sqlite3.Rc.DONE -> Lwt.return db
        | (Sqlite3.Rc.BUSY | Sqlite3.Rc.LOCKED) when Unix.gettimeofday () < deadline -> Lwt_unix.sleep 0.02 >>= switch
        | rc ->
            let msg = Sqlite3.errmsg db in
            ignore (Sqlite3.db_close db);
            Lwt.fail_with (Printf.sprintf "turso: open %s: %s (%s)" c.working msg (Sqlite3.Rc.to_string rc))
      in
      switch ()

(* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ" (UTC), without the local time zone. *)
let epoch_of_rfc3339 s =
  try
    Scanf.sscanf s "%4d-%2d-%2dT%2d:%2d:%2d" (fun y mo d h mi sec ->
        (* days from civil (Howard Hinnant's algorithm) *)
        let y = if mo <= 2 then y - 1 else y in
        let era = (if y >= 0 then y else y - 399) / 400 in
        let yoe = y - (era * 400) in
        let mp = (mo + 9) mod 12 in
        let doy = ((153 * mp) + 2) / 5 + d - 1 in
        let doe = (yoe * 365) + (yoe / 4) - (yoe / 100) + doy in
        let days = (era * 146097) + doe - 719468 in
        Some (float_of_int ((days * 86400) + (h * 3600) + (mi * 60) + sec)))
  with _ -> None

let local_status () =
  let code, text = ts_call (Lazy.force handle) op_status {|{"offline":true}|} in
  match (code, Json.parse text) with
  | 0, Ok j -> Some (status_of code j)
  | _ -> None

let pending_changes s = s.pending.inserts + s.pending.updates + s.pending.deletes + s.pending_schema_changes

let pull_is_stale s interval =
  match Option.bind s.last_pull_at epoch_of_rfc3339 with
  | None -> true
  | Some t -> Unix.gettimeofday () -. t > float_of_int interval

let should_sync_heuristic () =
  match (config (), local_status ()) with
  | Ok c, Some s when s.initialized -> pending_changes s > 0 || pull_is_stale s c.interval
  | _ -> false

let suggest_sync_check () =
  match (config (), local_status ()) with
  | Ok c, Some s when not s.initialized -> prerr_endline (not_initialized_message c.working)
  | Ok c, Some s ->
      if pending_changes s > 0 then
        Printf.eprintf "turso: local changes pending (+%d ~%d -%d%s): run `./turso-workflow.sh push`\n%!"
          s.pending.inserts s.pending.updates s.pending.deletes
          (if s.pending_schema_changes > 0 then Printf.sprintf ", %d schema changes" s.pending_schema_changes
           else "")
      else if pull_is_stale s c.interval then
        Printf.eprintf "turso: last pull %s is older than %d s: run `./turso-workflow.sh pull`\n%!"
          (Option.value s.last_pull_at ~default:"never")
          c.interval
  | Error e, _ -> Printf.eprintf "turso: configuration: %s\n%!" e.message
  | Ok _, None -> ()

(* ---- sync operations ---- *)

let init_with_report ?force ?from () =
  run ~accept:(fun code -> code = 0) op_init
    (options [ ("force", flag force); ("from", Option.map (fun f -> Json.String f) from) ])
    (fun _ j -> init_of j)

let init ?force ?from () = Lwt.map (Result.map ignore) (init_with_report ?force ?from ())

let pull ?on_conflict () = run op_pull (options [ ("on_conflict", policy on_conflict) ]) (fun code j -> pull_of code (Json.member "pull" j))

let push ?force ?on_conflict ?only () =
  run op_push
    (options
       [
         ("force", flag force);
         ("on_conflict", policy on_conflict);
         ("table", Option.map (fun (t, _) -> Json.String t) only);
         ("keys", Option.map (fun (_, ks) -> Json.Array (List.map (fun k -> Json.String k) ks)) only);
       ])
    (fun code j -> push_of code (Json.member "push" j))

let sync ?force ?on_conflict () =
  run op_sync
    (options [ ("force", flag force); ("on_conflict", policy on_conflict) ])
    (fun code j ->
      {
        sync_exit_code = code;
        sync_pull = pull_of code (Json.member "pull" j);
        sync_push = (match Json.member "push" j with Json.Null -> None | p -> Some (push_of code p));
      })

let status ?(offline = false) () =
  run ~accept:(fun code -> code = 0 || code = 4) op_status
    (options [ ("offline", Some (Json.Bool offline)) ])
    (fun code j -> status_of code j)

let health ?(offline = false) ?max_age () =
  let open Lwt.Infix in
  let opts =
    options
      [
        ("offline", Some (Json.Bool offline));
        ("check", Some (Json.Bool true));
        ("max_age", Option.map (fun a -> Json.String a) max_age);
      ]
  in
  detached (fun () -> ts_call (Lazy.force handle) op_status opts) >|= fun (code, text) ->
  (* Every code of the check comes with a report holding "check"; without it the call itself failed. *)
  match Json.parse text with
  | Ok j when Json.member "check" j <> Json.Null ->
      let c = Json.member "check" j in
      Ok
        {
          healthy = Json.to_bool (Json.member "healthy" c);
          health_exit_code = Json.to_int (Json.member "exit_code" c);
          reason = Json.to_string (Json.member "reason" c);
        }
  | _ -> Error (error_of_report code text)

(* ---- copy and log ---- *)

let copy ?force () =
  run ~accept:(fun code -> code = 0) op_copy
    (options [ ("force", flag force) ])
    (fun _ j ->
      {
        copy_discarded = counts_of (Json.member "totals" (Json.member "discarded" j));
        copy_saved_to = Json.to_string_opt (Json.member "discarded_path" j);
      })

let log ?n () =
  run ~accept:(fun code -> code = 0) op_log
    (options [ ("number", Option.map (fun n -> Json.Number (float_of_int n)) n) ])
    (fun _ j ->
      List.map
        (fun e ->
          {
            log_time = Json.to_string (Json.member "time" e);
            log_operation = Json.to_string (Json.member "operation" e);
            log_trigger = Json.to_string (Json.member "trigger" e);
            log_result = Json.to_string (Json.member "result" e);
            log_exit_code = Json.to_int (Json.member "exit_code" e);
            log_pulled = counts_of (Json.member "pulled" e);
            log_pushed = counts_of (Json.member "pushed" e);
            log_held = Json.to_int (Json.member "held" (Json.member "conflicts" e));
            log_error = Json.to_string_opt (Json.member "error" e);
          })
        (Json.to_list (Json.member "entries" j)))

(* ---- held conflicts ---- *)

let held_of j =
  {
    held = conflict_of j;
    key_text = Json.to_string (Json.member "key_text" j);
    since = Json.to_string (Json.member "since" j);
    theirs_changed_at = Json.to_string_opt (Json.member "theirs_changed_at" j);
    ours_changed_at = Json.to_string_opt (Json.member "ours_changed_at" j);
  }

let conflicts () =
  run ~accept:(fun code -> code = 0) op_conflicts "" (fun _ j ->
      List.map held_of (Json.to_list (Json.member "conflicts" j)))

let resolve ~take ?table ?keys () =
  let take = match take with `Ours -> "ours" | `Theirs -> "theirs" in
  run ~accept:(fun code -> code = 0) op_resolve
    (options
       [
         ("take", Some (Json.String take));
         ("table", Option.map (fun t -> Json.String t) table);
         ("keys", Option.map (fun ks -> Json.Array (List.map (fun k -> Json.String k) ks)) keys);
       ])
    (fun _ j ->
      {
        resolved =
          List.map
            (fun r ->
              {
                resolved_table = Json.to_string (Json.member "table" r);
                resolved_key = values (Json.member "key" r);
                outcome = Json.to_string (Json.member "outcome" r);
                theirs_changed = Json.to_bool (Json.member "theirs_changed" r);
              })
            (Json.to_list (Json.member "resolved" j));
        saved_to = Json.to_string_opt (Json.member "discarded_path" j);
        still_held = Json.to_int (Json.member "still_held" j);
      })

(* ---- background sync ---- *)

let start_background_sync ?interval ?push_on_change ?pull_on_change () =
  let open Lwt.Infix in
  let opts =
    options
      [
        ("interval", Option.map (fun f -> Json.Number f) interval);
        ("push_on_change", flag push_on_change);
        ("pull_on_change", flag pull_on_change);
      ]
  in
  detached (fun () -> ts_call (Lazy.force handle) op_bg_start opts) >>= fun (code, text) ->
  if code = 0 then Lwt.return_unit
  else Lwt.fail_with ("turso: start background sync: " ^ (error_of_report code text).message)

let stop_background_sync () =
  let open Lwt.Infix in
  (* Not under [calls]: stopping must not wait for a foreground call. *)
  Lwt_preemptive.detach (fun () -> ts_background_stop (Lazy.force handle)) () >|= fun _ -> ()

let wait_background_cycle ~after ~timeout =
  let open Lwt.Infix in
  let ms = int_of_float (Float.max 0. timeout *. 1000.) in
  Lwt_preemptive.detach (fun () -> ts_background_wait (Lazy.force handle) after ms) () >|= fun (code, text) ->
  match Json.parse text with
  | Ok j when code = 0 -> (
      match Json.member "last" j with
      | Json.Null -> Error { code = 1; kind = "internal"; message = "turso: no cycle report" }
      | last -> Ok (cycle_of (Json.to_text last) last))
  | _ -> Error { code; kind = (if code = 2 then "usage" else "timeout"); message = ts_errmsg (Lazy.force handle) }
