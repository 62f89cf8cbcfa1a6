(* One application process using Turso_integration in its current directory; the step to run is the first
   argument. The driver (driver.ml) prepares the directories and checks the remote independently. Each step
   asserts what the application sees and exits 1 on failure. *)

open Support
module T = Turso_integration

let ( let* ) = Lwt.bind

let ok what = function
  | Ok v -> v
  | Error (e : T.error) -> fail "%s: error %d (%s): %s" what e.code e.kind e.message

let with_db f =
  let* db = T.get_connection () in
  let r = f db in
  ignore (Sqlite3.db_close db);
  Lwt.return r

let exec db sql =
  match Sqlite3.exec db sql with Sqlite3.Rc.OK -> () | rc -> fail "%s: %s (%s)" sql (Sqlite3.errmsg db) (Sqlite3.Rc.to_string rc)

let scalar db sql =
  let result = ref None in
  (match Sqlite3.exec_no_headers db sql ~cb:(fun row -> if !result = None then result := Some row.(0)) with
  | Sqlite3.Rc.OK -> ()
  | rc -> fail "%s: %s" sql (Sqlite3.Rc.to_string rc));
  Option.join !result

let not_initialized () =
  check (not (T.is_initialized ())) "is_initialized before init";
  check
    (T.working_database_path = Filename.concat (Sys.getcwd ()) "app.db")
    "working_database_path from .env: %s" T.working_database_path;
  check (not (T.should_sync_heuristic ())) "nothing to sync before init";
  let* r = Lwt.catch (fun () -> Lwt.map (fun _ -> None) (T.get_connection ())) (fun e -> Lwt.return (Some e)) in
  (match r with
  | Some (Failure m) ->
      check (contains m "not initialized" && contains m "./turso-workflow.sh init") "message: %s" m
  | Some e -> fail "unexpected exception %s" (Printexc.to_string e)
  | None -> fail "get_connection succeeded before init");
  let* s = T.status ~offline:true () in
  let s = ok "status" s in
  check (not s.initialized) "status says initialized";
  let* p = T.pull () in
  (match p with
  | Error e -> check (e.code = 2 && contains e.message "init") "pull before init: %d %s" e.code e.message
  | Ok _ -> fail "pull before init succeeded");
  Lwt.return_unit

let init () =
  let* r = T.init () in
  ok "init" r;
  check (T.is_initialized ()) "is_initialized after init";
  let* s = T.status () in
  let s = ok "status" s in
  check s.remote_reachable "remote reachable";
  check (s.pending.inserts = 0) "no pending changes";
  check (not (T.should_sync_heuristic ())) "no sync needed right after init";
  let* n = with_db (fun db -> scalar db "PRAGMA journal_mode") in
  check (n = Some "wal") "working copy in WAL mode: %s" (Option.value n ~default:"?");
  let* () = with_db (fun db -> exec db "INSERT INTO emails (recipient, subject) VALUES ('x@example.com', 'local')") in
  check (T.should_sync_heuristic ()) "local change pending: sync suggested";
  T.suggest_sync_check ();
  let* r = T.push () in
  let r = ok "push" r in
  check (r.push_exit_code = 0 && r.pushed.inserts = 1) "pushed one insert";
  check (not (T.should_sync_heuristic ())) "nothing pending after push";
  Lwt.return_unit

(* A pull that waits on a remote which never answers: the Lwt scheduler keeps running (it accepts that
   very connection, proof that the C call released the runtime lock) and the application uses its
   connection meanwhile. TURSO_DATABASE_URL points at SILENT_PORT, which this process listens on. *)
let pull_while_app_works () =
  let port = int_of_string (Sys.getenv "SILENT_PORT") in
  let listener = Lwt_unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Lwt_unix.setsockopt listener Unix.SO_REUSEADDR true;
  let* () = Lwt_unix.bind listener (Unix.ADDR_INET (Unix.inet_addr_loopback, port)) in
  Lwt_unix.listen listener 4;
  let pull = T.pull () in
  let* conn, _ = Lwt_unix.accept listener in
  check (Lwt.state pull = Lwt.Sleep) "the pull is still waiting for the remote";
  let* db = T.get_connection () in
  exec db "INSERT INTO emails (recipient, subject) VALUES ('y@example.com', 'written during the pull')";
  let count = scalar db "SELECT count(*) FROM emails" in
  check (Lwt.state pull = Lwt.Sleep) "the pull is still running while the app writes";
  let* () = Lwt_unix.close conn in
  let* () = Lwt_unix.close listener in
  let* r = pull in
  (match r with
  | Error e -> check (e.code = 4) "pull from a silent remote: code %d (%s)" e.code e.message
  | Ok _ -> fail "pull from a silent remote succeeded");
  check (scalar db "SELECT count(*) FROM emails" = count) "the app's row is still there";
  ignore (Sqlite3.db_close db);
  Lwt.return_unit

let update_subject subject =
  with_db (fun db -> exec db (Printf.sprintf "UPDATE emails SET subject = '%s' WHERE id = 1" subject))

(* Copy A changed row 1 and pushed; this copy (B) changes it too. *)
let conflict () =
  let* () = update_subject "from B" in
  let* r = T.push () in
  let r = ok "push" r in
  check (r.push_exit_code = 3) "push refused with 3, got %d" r.push_exit_code;
  check (List.length r.push_conflicts = 1) "one push conflict";
  let* p = T.pull () in
  let p = ok "pull" p in
  check (p.pull_exit_code = 3 && not p.applied) "pull stopped by the conflict";
  (match p.conflicts with
  | [ c ] ->
      check (c.kind = "update/update") "kind %s" c.kind;
      check (c.table = "emails") "table %s" c.table;
      check (c.conflicting_columns = [ "subject" ]) "conflicting columns %s" (String.concat "," c.conflicting_columns);
      check (List.mem (Some "'from A'") c.theirs || List.mem (Some "from A") c.theirs) "theirs: %s"
        (String.concat "," (List.map (Option.value ~default:"NULL") c.theirs))
  | l -> fail "%d conflicts" (List.length l));
  let* p = T.pull ~on_conflict:`Local () in
  let p = ok "pull local" p in
  check (p.applied && p.pull_exit_code = 0) "pull with local wins applied";
  let* s = T.sync () in
  let s = ok "sync" s in
  check (s.sync_exit_code = 0) "sync after resolving: %d" s.sync_exit_code;
  (match s.sync_push with Some push -> check (push.pushed.updates = 1) "pushed the update" | None -> fail "no push");
  Lwt.return_unit

let insert_colliding () =
  with_db (fun db ->
      (* Different content in each copy (the same row on both sides is no collision). *)
      exec db
        (Printf.sprintf "INSERT INTO emails (recipient, subject) VALUES ('z@example.com', 'mine, pid %d')"
           (Unix.getpid ())))

let pull_moved () =
  let* p = T.pull () in
  let p = ok "pull" p in
  (match p.moved with
  | [ m ] -> check (m.moved_table = "emails" && m.to_id > m.from_id) "moved %d -> %d" m.from_id m.to_id
  | l -> fail "%d moved rows (exit %d, %d conflicts)" (List.length l) p.pull_exit_code (List.length p.conflicts));
  let* r = T.push () in
  ignore (ok "push" r);
  Lwt.return_unit

(* Copy A changed row 1 again and pushed; this copy (B) changes it too and pulls with `Hold: the row is held,
   listed by [conflicts], and settled by [resolve ~take:`Theirs] (ours saved). *)
let held_resolve () =
  let* () = update_subject "B holds this" in
  let* p = T.pull ~on_conflict:`Hold () in
  let p = ok "pull hold" p in
  check (p.applied && p.pull_exit_code = 0) "a pull with `Hold applies (exit %d)" p.pull_exit_code;
  let* held = T.conflicts () in
  (match ok "conflicts" held with
  | [ h ] ->
      check (h.held.table = "emails" && h.key_text = "1") "held %s [%s]" h.held.table h.key_text;
      check (h.held.conflict_kind = T.Update_update) "kind %s" h.held.kind;
      check
        (List.for_all
           (fun k -> T.string_of_conflict_kind (T.conflict_kind_of_string k) = k)
           [ "update/update"; "update/delete"; "delete/update"; "insert/insert"; "unique"; "dangling reference"; "schema"; "dropped column"; "refused"; "held"; "future kind" ])
        "conflict kinds round-trip";
      check (T.conflict_kind_of_string "dangling reference" = T.Dangling_reference) "dangling reference";
      check (List.mem (Some "'B holds this'") h.held.ours) "ours: %s"
        (String.concat "," (List.map (Option.value ~default:"NULL") h.held.ours));
      check (List.mem (Some "'A again'") h.held.theirs) "theirs: %s"
        (String.concat "," (List.map (Option.value ~default:"NULL") h.held.theirs));
      check (h.since <> "") "since is set"
  | l -> fail "%d held conflicts" (List.length l));
  let* missing = T.resolve ~take:`Ours ~table:"emails" ~keys:[ "999" ] () in
  (match missing with Error e -> check (e.code = 2) "a key with no conflict: code %d" e.code | Ok _ -> fail "resolved a key with no conflict");
  let* r = T.resolve ~take:`Theirs ~table:"emails" ~keys:[ "1" ] () in
  let r = ok "resolve" r in
  (match r.resolved with
  | [ x ] -> check (x.outcome = "theirs" && x.resolved_table = "emails") "outcome %s" x.outcome
  | l -> fail "%d resolved" (List.length l));
  check (r.still_held = 0) "still held %d" r.still_held;
  check (match r.saved_to with Some f -> Sys.file_exists f | None -> false) "ours saved to a file";
  let* subject = with_db (fun db -> scalar db "SELECT subject FROM emails WHERE id = 1") in
  check (subject = Some "A again") "the remote's row is in the working copy";
  let* held = T.conflicts () in
  check (ok "conflicts after" held = []) "nothing held after resolve";
  Lwt.return_unit

(* The health check, copy and log, after held_resolve: nothing held, the last sync succeeded. *)
let health_copy_log () =
  let* h = T.health ~offline:true ~max_age:"1d" () in
  let h = ok "health" h in
  check (h.healthy && h.health_exit_code = 0) "healthy: %d %s" h.health_exit_code h.reason;
  let* bad = T.health ~offline:true ~max_age:"soon" () in
  (match bad with Error e -> check (e.code = 2) "bad max_age: code %d" e.code | Ok _ -> fail "max_age 'soon' accepted");
  let* entries = T.log ~n:2 () in
  (match ok "log" entries with
  | [ newest; _ ] ->
      check (newest.log_operation = "resolve" && newest.log_trigger = "capi" && newest.log_result = "ok")
        "newest entry: %s %s %s" newest.log_operation newest.log_trigger newest.log_result
  | l -> fail "%d log entries" (List.length l));
  let* () = update_subject "to be copied over" in
  let* refused = T.copy () in
  (match refused with
  | Error e -> check (e.code = 2 && e.kind = "refused") "copy over local changes: %d %s" e.code e.kind
  | Ok _ -> fail "copy over local changes succeeded");
  let* c = T.copy ~force:true () in
  let c = ok "copy" c in
  check (c.copy_discarded.updates = 1) "one update discarded, got %d" c.copy_discarded.updates;
  check (match c.copy_saved_to with Some f -> Sys.file_exists f | None -> false) "discarded changes saved";
  let* subject = with_db (fun db -> scalar db "SELECT subject FROM emails WHERE id = 1") in
  check (subject = Some "A again") "the replica's row is back";
  let* entries = T.log ~n:1 () in
  (match ok "log" entries with
  | [ e ] -> check (e.log_operation = "copy") "newest entry after copy: %s" e.log_operation
  | l -> fail "%d log entries" (List.length l));
  Lwt.return_unit

(* Background sync picks up a row the test inserts on the remote (REMOTE_URL, the independent path) and
   pushes one the application writes. *)
let background () =
  let url = Sys.getenv "REMOTE_URL" in
  let* () = T.start_background_sync ~interval:0.3 () in
  let* again = Lwt.catch (fun () -> Lwt.map (fun () -> None) (T.start_background_sync ())) (fun e -> Lwt.return (Some e)) in
  check (again <> None) "a second start is refused";
  ignore (remote_query url "INSERT INTO emails (id, recipient, subject) VALUES (900, 't@example.com', 'teammate')");
  let* () = with_db (fun db -> exec db "INSERT INTO emails (id, recipient, subject) VALUES (901, 'me@example.com', 'background')") in
  let* last = T.wait_background_cycle ~after:0 ~timeout:0. in
  let last = ok "last cycle" last in
  (* The cycle after the one that may be running now started after both writes. *)
  let* c = T.wait_background_cycle ~after:(last.number + 1) ~timeout:60. in
  let c = ok "wait" c in
  check (c.cycle_exit_code = 0) "cycle %d: exit %d %s" c.number c.cycle_exit_code c.raw;
  let* seen = with_db (fun db -> scalar db "SELECT subject FROM emails WHERE id = 900") in
  check (seen = Some "teammate") "background pull brought the teammate's row";
  check (contains (remote_query url "SELECT subject FROM emails WHERE id = 901") "background") "background push";
  let* () = T.stop_background_sync () in
  let* w = T.wait_background_cycle ~after:0 ~timeout:0. in
  check (Result.is_error w) "no background sync after stop";
  let* () = T.stop_background_sync () in
  (* Foreground calls work again. *)
  let* p = T.pull () in
  ignore (ok "pull after stop" p);
  Lwt.return_unit

(* pull, then push; both must succeed without conflicts. *)
let sync_clean () =
  let* r = T.sync () in
  let r = ok "sync" r in
  check (r.sync_exit_code = 0) "sync: exit %d" r.sync_exit_code;
  Lwt.return_unit

(* TURSO_SYNC_INTERVAL=1 in the environment: once a second has passed since the last pull, a sync is
   suggested even without local changes. The wait is for wall-clock time to pass, not for an operation to
   finish: a slower machine only makes the pull older, so the check cannot fail on speed. *)
let stale_pull () =
  let* p = T.pull () in
  ignore (ok "pull" p);
  (* The fresh case (no sync suggested) is checked by the init step, with the default 300 s. *)
  let* () = Lwt_unix.sleep 2.1 in
  check (T.should_sync_heuristic ()) "the last pull is older than the interval: sync suggested";
  Lwt.return_unit

(* Migration from plain SQLite into a fresh, empty remote: the application's old file (made here) published
   with [init ~from]; the working copy then holds its rows, counters and user_version; a second publish into
   the now non-empty remote is refused (code 2). The driver checks the rows on the remote. *)
let init_from () =
  let legacy = Sqlite3.db_open "legacy.db" in
  exec legacy
    "CREATE TABLE emails (id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, subject TEXT, send_at REAL);\
     CREATE INDEX emails_send_at ON emails (send_at);\
     INSERT INTO emails (recipient, subject, send_at) VALUES ('old@example.com', 'from the old file', 0.1),\
       ('gone@example.com', 'deleted', 2.5), ('kept@example.com', 'kept', 1e-300);\
     DELETE FROM emails WHERE id = 2;\
     PRAGMA user_version = 3;";
  ignore (Sqlite3.db_close legacy);
  let* r = T.init_with_report ~from:"legacy.db" () in
  let r = ok "init ~from" r in
  (match r.published with
  | Some p ->
      check (p.published_tables = 1 && p.published_rows = 2 && p.published_other_objects = 1)
        "published %d tables, %d rows, %d other objects" p.published_tables p.published_rows p.published_other_objects;
      check (p.parts >= 1 && p.parts_sent = p.parts && not p.already_published) "parts %d, sent %d" p.parts p.parts_sent
  | None -> fail "no published figures in the init report");
  check (r.init_rows = 2 && not r.working_copy_replaced) "init: %d rows" r.init_rows;
  check (T.is_initialized ()) "is_initialized after init ~from";
  let* got =
    with_db (fun db ->
        ( scalar db "SELECT recipient || '|' || subject || '|' || send_at FROM emails WHERE id = 1",
          scalar db "SELECT seq FROM sqlite_sequence WHERE name = 'emails'",
          scalar db "PRAGMA user_version" ))
  in
  (match got with
  | Some "old@example.com|from the old file|0.1", Some "3", Some "3" -> ()
  | row, seq, uv ->
      let s = Option.value ~default:"NULL" in
      fail "working copy after init ~from: row %s, sequence %s, user_version %s" (s row) (s seq) (s uv));
  let* again = T.init ~force:true ~from:"legacy.db" () in
  (match again with
  | Error e -> check (e.code = 2 && contains e.message "not empty") "second publish: code %d: %s" e.code e.message
  | Ok () -> fail "a second publish into a remote that is not empty succeeded");
  Lwt.return_unit

let () =
  let step = if Array.length Sys.argv > 1 then Sys.argv.(1) else "" in
  let run =
    match step with
    | "not_initialized" -> not_initialized
    | "init" -> init
    | "pull_while_app_works" -> pull_while_app_works
    | "update_from_a" -> fun () -> Lwt.bind (update_subject "from A") sync_clean
    | "conflict" -> conflict
    | "insert_colliding" -> insert_colliding
    | "sync" -> sync_clean
    | "pull_moved" -> pull_moved
    | "update_again_from_a" -> fun () -> Lwt.bind (update_subject "A again") sync_clean
    | "held_resolve" -> held_resolve
    | "health_copy_log" -> health_copy_log
    | "background" -> background
    | "stale_pull" -> stale_pull
    | "init_from" -> init_from
    | "inprocess_writers_wal" -> Writers.inprocess_writers ~mode:"wal"
    | "inprocess_writers_delete" -> Writers.inprocess_writers ~mode:"delete"
    | "writer_process" when Array.length Sys.argv = 5 ->
        fun () -> Lwt.return (Writers.writer_process Sys.argv.(2) Sys.argv.(3) Sys.argv.(4))
    | s -> fail "unknown step %s" s
  in
  Lwt_main.run (run ());
  print_endline ("ok " ^ step)
