(* In-process background sync while the application and a second process of it write the same working copy
   (issue 17), through Turso_integration.

   The application (this process) syncs in-process ([start_background_sync], a cycle every 100 ms), keeps its
   connections open ([get_connection]) and writes rows from an Lwt thread, in transactions of a few rows; other
   processes of the application (this executable re-run with the step [writer_process]) write rows into the
   same working copy with their own [Sqlite3.db], opening and closing it every few rows like short-lived
   processes, and now and then checkpointing. POSIX advisory locks belong to the process: a library that
   opens and closes the working copy (or its -wal) with a descriptor of its own drops the application's
   locks; another process then believes it is alone, checkpoints and deletes the WAL under the application
   (or rolls back its journal): committed rows are lost and later cycles find the working copy damaged.

   After the writers and the background sync stop and a final [sync], the checks use a second path: the
   remote through hrana_query.py (raw /v2/pipeline), the working copy through a fresh connection. Every row
   any writer committed must be on the remote exactly once with its content, the working copy must pass
   PRAGMA integrity_check and hold them too, and no cycle in the history may have met a damaged file.

   Environment (optional): TURSO_TEST_WRITERS_SECONDS (default 30: load, not synchronisation),
   TURSO_TEST_PROC_WRITERS (writer processes, default 2), TURSO_TEST_SYNC_INTERVAL (default 0.1),
   TURSO_TEST_APP_TXN_ROWS (rows per application transaction, default 4), TURSO_TEST_WRITE_PAUSE_US (pause
   between two commits, and between two rows of one application transaction, default 2000),
   TURSO_TEST_PROC_GAP_US (a writer process's pause between two connections, default 20000),
   TURSO_TEST_CHECKPOINT_EVERY (a writer process runs PRAGMA wal_checkpoint(TRUNCATE) every N of its rows,
   default 200). The run ends once the duration has passed, every writer has committed [min_rows] rows and
   [min_cycles] background cycles completed meanwhile (events, not timing). *)

open Support
module T = Turso_integration

let ( let* ) = Lwt.bind
let min_rows = 20
let min_cycles = 5
let grace = 120.

let env_int name d =
  match Sys.getenv_opt name with Some v when v <> "" -> (try int_of_string v with _ -> d) | _ -> d

let env_float name d =
  match Sys.getenv_opt name with Some v when v <> "" -> (try float_of_string v with _ -> d) | _ -> d

let filler = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdef"
let payload tag seq = Printf.sprintf "%s-%d-%s" tag seq filler

(* What one writer did: rows 1..committed of its tag are committed. *)
type progress = {
  mutable committed : int;
  mutable busy : int;  (** failures with SQLITE_BUSY/LOCKED (retried) *)
  mutable errors : int;  (** other failures: a damaged file, I/O errors *)
  mutable opens : int;
  mutable checkpoints : int;
  mutable finished : bool;
  mutable last_error : string;
}

let new_progress () =
  { committed = 0; busy = 0; errors = 0; opens = 0; checkpoints = 0; finished = false; last_error = "" }

let is_busy = function Sqlite3.Rc.BUSY | Sqlite3.Rc.LOCKED -> true | _ -> false

let note p rc msg =
  if is_busy rc then p.busy <- p.busy + 1
  else (
    p.errors <- p.errors + 1;
    p.last_error <- msg)

let sqlite_error db what rc = (rc, Printf.sprintf "%s: %s (%s)" what (Sqlite3.errmsg db) (Sqlite3.Rc.to_string rc))

(* One row; Ok () once the statement is done (committed unless a transaction is open). *)
let insert_row db tag seq =
  let what = Printf.sprintf "insert %s/%d" tag seq in
  match Sqlite3.prepare db "INSERT INTO items (writer, seq, payload) VALUES (?1, ?2, ?3)" with
  | exception Sqlite3.Error m ->
      Error ((if contains m "locked" then Sqlite3.Rc.BUSY else Sqlite3.Rc.ERROR), what ^ ": " ^ m)
  | st ->
      ignore (Sqlite3.bind_text st 1 tag);
      ignore (Sqlite3.bind_int st 2 seq);
      ignore (Sqlite3.bind_text st 3 (payload tag seq));
      let rc = Sqlite3.step st in
      let r = if rc = Sqlite3.Rc.DONE then Ok () else Error (sqlite_error db what rc) in
      ignore (Sqlite3.finalize st);
      r

let exec db sql = match Sqlite3.exec db sql with Sqlite3.Rc.OK -> Ok () | rc -> Error (sqlite_error db sql rc)

(* ---- the writer processes: progress in a small file, replaced atomically ---- *)

let write_progress path p =
  let tmp = path ^ ".tmp" in
  write_file tmp
    (Printf.sprintf "%d %d %d %d %d %b\n%s\n" p.committed p.busy p.errors p.opens p.checkpoints p.finished
       (String.map (fun c -> if c = '\n' then ' ' else c) p.last_error));
  Unix.rename tmp path

let read_progress path =
  try
    let text = read_file path in
    let first, rest =
      match String.index_opt text '\n' with
      | Some i -> (String.sub text 0 i, String.sub text (i + 1) (String.length text - i - 1))
      | None -> (text, "")
    in
    Scanf.sscanf first "%d %d %d %d %d %B" (fun committed busy errors opens checkpoints finished ->
        { committed; busy; errors; opens; checkpoints; finished; last_error = String.trim rest })
  with _ -> new_progress ()

(* Rows tag/1, tag/2, ... until SIGTERM, each committed on its own, through connections opened and closed
   every few rows (closing its last connection, a process checkpoints and deletes the WAL when no other
   process holds the file). *)
let writer_process db_path tag progress_path =
  let stop = ref false in
  Sys.set_signal Sys.sigterm (Sys.Signal_handle (fun _ -> stop := true));
  let checkpoint_every = env_int "TURSO_TEST_CHECKPOINT_EVERY" 200 in
  let pause = float_of_int (env_int "TURSO_TEST_WRITE_PAUSE_US" 2000) /. 1e6 in
  let gap = float_of_int (env_int "TURSO_TEST_PROC_GAP_US" 20000) /. 1e6 in
  let p = new_progress () in
  write_progress progress_path p;
  Random.self_init ();
  while (not !stop) && p.errors < 100 do
    match Sqlite3.db_open ~mode:`NO_CREATE db_path with
    | exception e ->
        note p Sqlite3.Rc.ERROR ("open: " ^ Printexc.to_string e);
        write_progress progress_path p;
        (* a pause before trying again (the error is counted and fails the test): nothing waits on it *)
        Unix.sleepf 0.01
    | db ->
        p.opens <- p.opens + 1;
        Sqlite3.busy_timeout db 30000;
        let rows = 1 + Random.int 8 in
        let i = ref 0 in
        while !i < rows && (not !stop) && p.errors < 100 do
          incr i;
          (match insert_row db tag (p.committed + 1) with
          | Ok () ->
              p.committed <- p.committed + 1;
              if checkpoint_every > 0 && p.committed mod checkpoint_every = 0 then (
                (* An application's auto-checkpoint, made complete; a no-op in rollback-journal mode. *)
                match exec db "PRAGMA wal_checkpoint(TRUNCATE)" with
                | Ok () -> p.checkpoints <- p.checkpoints + 1
                | Error (rc, msg) -> if not (is_busy rc) then note p rc msg)
          | Error (rc, msg) -> note p rc msg);
          write_progress progress_path p;
          (* pacing of the load: what is checked holds for any interleaving *)
          if pause > 0. then Unix.sleepf pause
        done;
        if not (try Sqlite3.db_close db with _ -> false) then note p Sqlite3.Rc.ERROR "close failed";
        (* Until the next run of the process: nothing held on the file meanwhile. *)
        (* the gap between two connections of a short-lived process: load, not a wait *)
        if gap > 0. && not !stop then Unix.sleepf gap
  done;
  p.finished <- true;
  write_progress progress_path p

(* ---- checks ---- *)

(* Rows found for each writer (tag, committed): missing, duplicated, beyond its committed count. *)
type tally = {
  tag : string;
  committed_rows : int;
  counts : int array;
  mutable beyond : int;
}

let tally_rows writers rows =
  let tallies = List.map (fun (tag, n) -> { tag; committed_rows = n; counts = Array.make (n + 1) 0; beyond = 0 }) writers in
  let bad = ref 0 in
  List.iter
    (fun (writer, seq, pl) ->
      match List.find_opt (fun t -> t.tag = writer) tallies with
      | None -> incr bad
      | Some t ->
          if pl <> payload writer seq then incr bad;
          if seq >= 1 && seq <= t.committed_rows then t.counts.(seq) <- t.counts.(seq) + 1 else t.beyond <- t.beyond + 1)
    rows;
  (tallies, !bad)

(* Prints the tally on stderr; the number of missing rows and whether anything is wrong. *)
let report where (tallies, bad) =
  let missing_total = ref 0 and wrong = ref (bad > 0) in
  List.iter
    (fun t ->
      let missing = ref [] and nmissing = ref 0 and dup = ref 0 in
      for s = t.committed_rows downto 1 do
        if t.counts.(s) = 0 then (
          incr nmissing;
          missing := s :: !missing)
        else if t.counts.(s) > 1 then dup := !dup + t.counts.(s) - 1
      done;
      let first = List.filteri (fun i _ -> i < 8) !missing |> List.map string_of_int |> String.concat " " in
      Printf.eprintf "  %s: writer %s: %d committed, %d present, %d missing%s, %d duplicated, %d beyond\n%!" where
        t.tag t.committed_rows (t.committed_rows - !nmissing) !nmissing
        (if !nmissing > 0 then " (first: " ^ first ^ ")" else "")
        !dup t.beyond;
      missing_total := !missing_total + !nmissing;
      if !nmissing > 0 || !dup > 0 || t.beyond > 0 then wrong := true)
    tallies;
  if bad > 0 then Printf.eprintf "  %s: %d rows with a wrong payload or an unknown writer\n%!" where bad;
  (!missing_total, !wrong)

(* The remote's rows through hrana_query.py: lines [["text", "TAG SEQ PAYLOAD"]]. *)
let remote_rows url =
  let out = remote_query url "SELECT writer || ' ' || seq || ' ' || payload FROM items" in
  String.split_on_char '\n' out
  |> List.filter_map (fun line ->
         let marker = "\"text\", \"" in
         let n = String.length marker in
         let rec find i = if i + n > String.length line then None else if String.sub line i n = marker then Some (i + n) else find (i + 1) in
         match find 0 with
         | None -> None
         | Some start -> (
             let stop = try String.index_from line start '"' with Not_found -> String.length line in
             match String.split_on_char ' ' (String.sub line start (stop - start)) with
             | [ w; s; pl ] -> ( try Some (w, int_of_string s, pl) with _ -> Some (w, -1, pl))
             | _ -> Some ("?", -1, line)))

let local_rows db =
  let rows = ref [] in
  let rc =
    Sqlite3.exec_no_headers db "SELECT writer, seq, payload FROM items" ~cb:(fun r ->
        let get i = Option.value r.(i) ~default:"" in
        rows := (get 0, (try int_of_string (get 1) with _ -> -1), get 2) :: !rows)
  in
  (rc, !rows)

let scalar db sql =
  let result = ref None in
  match Sqlite3.exec_no_headers db sql ~cb:(fun row -> if !result = None then result := Some row.(0)) with
  | Sqlite3.Rc.OK -> Ok (Option.value (Option.join !result) ~default:"")
  | rc -> Error (Printf.sprintf "%s: %s (%s)" sql (Sqlite3.errmsg db) (Sqlite3.Rc.to_string rc))

let all_values db sql =
  let lines = ref [] in
  match Sqlite3.exec_no_headers db sql ~cb:(fun row -> lines := Option.value row.(0) ~default:"NULL" :: !lines) with
  | Sqlite3.Rc.OK -> String.concat " " (List.rev !lines)
  | rc -> Printf.sprintf "%s (%s)" (Sqlite3.errmsg db) (Sqlite3.Rc.to_string rc)

let rec waitpid_retry pid =
  try snd (Unix.waitpid [] pid) with Unix.Unix_error (Unix.EINTR, _, _) -> waitpid_retry pid

(* ---- the application ---- *)

let inprocess_writers ~mode () =
  let url = Sys.getenv "REMOTE_URL" in
  let rollback = mode = "delete" in
  let seconds = env_float "TURSO_TEST_WRITERS_SECONDS" 30. in
  let nproc = max 0 (env_int "TURSO_TEST_PROC_WRITERS" 2) in
  let interval = env_float "TURSO_TEST_SYNC_INTERVAL" 0.1 in
  let txn_rows = max 1 (env_int "TURSO_TEST_APP_TXN_ROWS" 4) in
  let pause = float_of_int (env_int "TURSO_TEST_WRITE_PAUSE_US" 2000) /. 1e6 in
  let problems = ref [] in
  let problem fmt = Printf.ksprintf (fun m -> prerr_endline ("problem: " ^ m); problems := m :: !problems) fmt in
  Printf.eprintf "inprocess_writers (%s): %.0f s, 1 application writer, %d writer process(es), sync every %g s\n%!"
    mode seconds nproc interval;
  let t_start = Unix.gettimeofday () in
  let* r = T.init () in
  (match r with Ok () -> () | Error e -> fail "init: %s" e.message);
  (* The application's connections: a reader that stays open, and the writer's. *)
  let* reader = T.get_connection () in
  if rollback then
    check (scalar reader "PRAGMA journal_mode=DELETE" = Ok "delete") "switch the working copy to journal_mode DELETE";
  let* writer_db =
    if rollback then (
      (* Not get_connection: it would switch the file back to WAL. *)
      let db = Sqlite3.db_open ~mode:`NO_CREATE T.working_database_path in
      Sqlite3.busy_timeout db 30000;
      Lwt.return db)
    else T.get_connection ()
  in
  let jm = scalar reader "PRAGMA journal_mode" in
  check (jm = Ok (if rollback then "delete" else "wal")) "journal mode %s"
    (match jm with Ok m -> m | Error e -> e);
  let* () = T.start_background_sync ~interval () in

  (* The writer processes. *)
  let children =
    List.init nproc (fun i ->
        let tag = Printf.sprintf "proc%d" i in
        let progress = Filename.concat (Sys.getcwd ()) ("progress-" ^ tag) in
        let exe = Sys.executable_name in
        let pid =
          Unix.create_process exe [| exe; "writer_process"; T.working_database_path; tag; progress |] Unix.stdin
            Unix.stdout Unix.stderr
        in
        (tag, progress, pid, ref None))
  in
  (* The application's writer: transactions of txn_rows rows, working (a pause) between two rows. *)
  let app = new_progress () in
  let stop = ref false in
  let rec write_loop () =
    if !stop || app.errors >= 100 then (
      app.finished <- true;
      Lwt.return_unit)
    else
      let next = app.committed + 1 in
      let* result =
        match exec writer_db "BEGIN IMMEDIATE" with
        | Error e -> Lwt.return (Error e)
        | Ok () ->
            let rec rows k =
              if k = txn_rows then Lwt.return (exec writer_db "COMMIT")
              else
                (* pacing of the load inside the transaction *)
                let* () = if k > 0 && pause > 0. then Lwt_unix.sleep pause else Lwt.return_unit in
                match insert_row writer_db "app0" (next + k) with Ok () -> rows (k + 1) | Error e -> Lwt.return (Error e)
            in
            rows 0
      in
      (match result with
      | Ok () -> app.committed <- next + txn_rows - 1
      | Error (rc, msg) ->
          ignore (Sqlite3.exec writer_db "ROLLBACK");
          note app rc msg);
      (* pacing of the load between transactions *)
      let* () = if pause > 0. then Lwt_unix.sleep pause else Lwt.pause () in
      write_loop ()
  in
  let writer = write_loop () in
  let t_writing = Unix.gettimeofday () in

  (* Load for `seconds`, and until every writer has committed min_rows and min_cycles cycles completed. *)
  let cycles = ref 0 and cycles0 = ref (-1) and reads = ref 0 and read_errors = ref 0 in
  let last_print = ref t_writing in
  let rec monitor () =
    let* w = T.wait_background_cycle ~after:!cycles ~timeout:0.1 in
    (match w with Ok c -> cycles := max !cycles c.number | Error _ -> ());
    if !cycles0 < 0 then cycles0 := !cycles;
    incr reads;
    (match scalar reader "SELECT count(*) FROM items" with
    | Ok _ -> ()
    | Error e ->
        if !read_errors < 5 then prerr_endline ("application read failed: " ^ e);
        incr read_errors);
    let progress =
      List.map
        (fun (_, path, pid, status) ->
          (if !status = None then
             match Unix.waitpid [ Unix.WNOHANG ] pid with 0, _ -> () | _, st -> status := Some st);
          (read_progress path, !status <> None))
        children
    in
    let all_min = app.committed >= min_rows && List.for_all (fun (p, _) -> p.committed >= min_rows) progress in
    let stopped = app.finished || List.exists (fun (p, exited) -> p.finished || exited) progress in
    let now = Unix.gettimeofday () in
    if now -. !last_print >= 5. then (
      last_print := now;
      Printf.eprintf "  %.0f s: %d rows committed, %d cycles\n%!" (now -. t_writing)
        (List.fold_left (fun acc (p, _) -> acc + p.committed) app.committed progress)
        (!cycles - !cycles0));
    let elapsed = now -. t_writing in
    if elapsed < seconds then monitor ()
    else if all_min && !cycles - !cycles0 >= min_cycles then Lwt.return "duration"
    else if stopped then Lwt.return "a writer stopped"
    else if elapsed > seconds +. grace then (
      problem "after %.0f s: writers below %d rows or fewer than %d cycles (%d)" elapsed min_rows min_cycles
        (!cycles - !cycles0);
      Lwt.return "no progress")
    else monitor ()
  in
  let* ended_because = monitor () in
  let t_stop = Unix.gettimeofday () in

  (* Stop the writers, then the background sync; a final sync sends what is left. *)
  stop := true;
  let* () = writer in
  List.iter
    (fun (_, _, pid, status) ->
      if !status = None then (
        (try Unix.kill pid Sys.sigterm with Unix.Unix_error _ -> ());
        status := Some (waitpid_retry pid)))
    children;
  let* last = T.wait_background_cycle ~after:0 ~timeout:0. in
  let total_cycles = match last with Ok c -> c.number | Error _ -> -1 in
  let* () = T.stop_background_sync () in
  let* s = T.sync () in
  (match s with
  | Ok r when r.sync_exit_code = 0 -> ()
  | Ok r -> problem "final sync: exit %d" r.sync_exit_code
  | Error e -> problem "final sync: error %d (%s): %s" e.code e.kind e.message);
  let t_synced = Unix.gettimeofday () in

  (* What each writer committed. *)
  let writers = ref [ ("app0", app.committed) ] and busy = ref app.busy in
  if app.errors > 0 then problem "writer app0: %d errors, last: %s" app.errors app.last_error;
  List.iter
    (fun (tag, path, _, status) ->
      let p = read_progress path in
      writers := !writers @ [ (tag, p.committed) ];
      busy := !busy + p.busy;
      Printf.eprintf "  writer %s: %d connections opened, %d checkpoints\n%!" tag p.opens p.checkpoints;
      if p.errors > 0 then problem "writer %s: %d errors, last: %s" tag p.errors p.last_error;
      match !status with
      | Some (Unix.WEXITED 0) -> ()
      | _ -> problem "writer process %s did not exit cleanly" tag)
    children;
  if !read_errors > 0 then problem "%d of %d application reads failed" !read_errors !reads;
  ignore (Sqlite3.db_close writer_db);
  ignore (Sqlite3.db_close reader);

  (* The sync history: no cycle may have met a damaged file. *)
  let history =
    let path = Filename.concat (Filename.concat (Sys.getcwd ()) ".turso-sync") "history.jsonl" in
    if Sys.file_exists path then String.split_on_char '\n' (read_file path) |> List.filter (fun l -> l <> "")
    else []
  in
  let failed = List.filter (fun l -> contains l "\"result\":\"error\"") history in
  let damaged =
    List.filter
      (fun l -> contains l "damaged" || contains l "malformed" || contains l "corrupt" || contains l "disk image")
      failed
  in
  List.iteri
    (fun i l ->
      if i < 5 then
        let rec from j = if j + 8 > String.length l then 0 else if String.sub l j 8 = "\"error\":" then j else from (j + 1) in
        let e = String.sub l (from 0) (String.length l - from 0) in
        Printf.eprintf "  failed cycle: %s\n%!" (if String.length e > 400 then String.sub e 0 400 else e))
    failed;
  if damaged <> [] then problem "%d sync cycles met a damaged working copy" (List.length damaged);

  (* The working copy, through a fresh connection. *)
  let check_db = Sqlite3.db_open ~mode:`READONLY T.working_database_path in
  Sqlite3.busy_timeout check_db 30000;
  let integrity = all_values check_db "PRAGMA integrity_check" in
  let rc, lrows = local_rows check_db in
  ignore (Sqlite3.db_close check_db);
  if integrity <> "ok" then
    problem "integrity_check: %s" (if String.length integrity > 300 then String.sub integrity 0 300 else integrity);
  if rc <> Sqlite3.Rc.OK then problem "reading the working copy's rows failed (%s)" (Sqlite3.Rc.to_string rc);
  let local_missing, local_wrong = report "working copy" (tally_rows !writers lrows) in
  if local_wrong then problem "the working copy does not hold every committed row exactly once";

  (* The remote, through the independent path. *)
  let remote_missing, remote_wrong = report "remote" (tally_rows !writers (remote_rows url)) in
  if remote_wrong then problem "the remote does not hold every committed row exactly once";
  let t_end = Unix.gettimeofday () in
  let committed = List.fold_left (fun acc (_, n) -> acc + n) 0 !writers in
  Printf.eprintf
    "inprocess_writers (%s): ended by %s; %d rows committed (%d busy retries); %d background cycles, %d failed, %d \
     on a damaged file; %d missing on the remote, %d in the working copy\n\
     timings: set-up %.1f s, writing %.1f s, stop + final sync %.1f s, checks %.1f s, total %.1f s\n%!"
    mode ended_because committed !busy total_cycles (List.length failed) (List.length damaged) remote_missing
    local_missing (t_writing -. t_start) (t_stop -. t_writing) (t_synced -. t_stop) (t_end -. t_synced)
    (t_end -. t_start);
  (match !problems with
  | [] -> ()
  | l -> fail "inprocess_writers (%s): %d problem(s): %s" mode (List.length l) (String.concat "; " (List.rev l)));
  Lwt.return_unit
