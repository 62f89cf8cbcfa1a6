(* email_scheduler: the example application of turso-sync. It schedules emails, lists the due ones and marks
   them sent in a plain SQLite database — the working copy that Turso_integration keeps in sync with Turso.

     email_scheduler init                                   download the remote (first run)
     email_scheduler schedule --to ADDR --subject S --at TIME [--body B]
                                                            TIME: 2026-12-03T09:00:00Z or epoch seconds;
                                                            prints the email's uid (ids may move, uids not)
     email_scheduler list | due | mark-sent UID|ID
     email_scheduler sync                                   pull, then push
     email_scheduler serve [--interval S] [--send-log FILE] send due emails as they fall due, each once
                                                            across copies (claimed through the remote),
                                                            syncing in the background

   The connection comes from `Turso_integration.get_connection ()` (see README.md); `serve` also claims
   each email through the remote before sending it (`claim` below). *)

let ( let* ) = Lwt.bind

exception Usage of string

let usage fmt = Printf.ksprintf (fun m -> raise (Usage m)) fmt

(* ---- time: ISO 8601 UTC or epoch seconds ---- *)

let days_from_civil y m d =
  let y = if m <= 2 then y - 1 else y in
  let era = (if y >= 0 then y else y - 399) / 400 in
  let yoe = y - (era * 400) in
  let doy = ((153 * ((m + 9) mod 12)) + 2) / 5 + d - 1 in
  (era * 146097) + (yoe * 365) + (yoe / 4) - (yoe / 100) + doy - 719468

let parse_time s =
  match float_of_string_opt s with
  | Some t when String.length s > 0 && s.[0] <> 'n' && s.[0] <> 'i' -> t
  | _ -> (
      try
        Scanf.sscanf s "%4d-%2d-%2dT%2d:%2d:%2d%s%!" (fun y mo d h mi sec rest ->
            if rest <> "Z" && rest <> "+00:00" then failwith "zone";
            if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 then failwith "range";
            float_of_int ((days_from_civil y mo d * 86400) + (h * 3600) + (mi * 60) + sec))
      with _ -> usage "--at %s: expected a UTC time like 2026-12-03T09:00:00Z, or epoch seconds" s)

let format_time t =
  let tm = Unix.gmtime t in
  Printf.sprintf "%04d-%02d-%02dT%02d:%02d:%02dZ" (tm.tm_year + 1900) (tm.tm_mon + 1) tm.tm_mday tm.tm_hour
    tm.tm_min tm.tm_sec

let now () = Unix.gettimeofday ()

(* ---- the database ---- *)

(* send_at: epoch seconds (UTC, fractions allowed); sent: 0 or 1; uid: the email's name for people and
   scripts, random, never changes (an id may: two copies that insert the same new id at once keep both
   rows, one moved to a fresh id by the sync); claimed_by: the copy that sends it (see `claim`). *)
let schema =
  "CREATE TABLE IF NOT EXISTS emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL,\n\
  \   body TEXT, send_at REAL NOT NULL, sent INTEGER NOT NULL DEFAULT 0, uid TEXT UNIQUE, claimed_by TEXT);\n\
   CREATE INDEX IF NOT EXISTS emails_due ON emails (sent, send_at)"

let check db what rc =
  match rc with
  | Sqlite3.Rc.OK | Sqlite3.Rc.DONE | Sqlite3.Rc.ROW -> ()
  | rc -> failwith (Printf.sprintf "%s: %s (%s)" what (Sqlite3.errmsg db) (Sqlite3.Rc.to_string rc))

(* The application's connection. Before turso-sync this was: Lwt.return (Sqlite3.db_open "emails.db") *)
let has_column db column =
  let stmt = Sqlite3.prepare db "SELECT count(*) FROM pragma_table_info('emails') WHERE name = ?" in
  check db "read schema" (Sqlite3.bind stmt 1 (Sqlite3.Data.TEXT column));
  check db "read schema" (Sqlite3.step stmt);
  let found = match Sqlite3.column stmt 0 with Sqlite3.Data.INT n -> n > 0L | _ -> false in
  ignore (Sqlite3.finalize stmt);
  found

let open_db () =
  let* db = Turso_integration.get_connection () in
  check db "create schema" (Sqlite3.exec db schema);
  (* A table of an older version (the demo's) gets the columns; the next sync pushes them. *)
  List.iter
    (fun c -> if not (has_column db c) then check db "add column" (Sqlite3.exec db ("ALTER TABLE emails ADD COLUMN " ^ c ^ " TEXT")))
    [ "uid"; "claimed_by" ];
  Lwt.return db

type email = { id : int; recipient : string; subject : string; send_at : float; sent : bool; uid : string }

let random_hex n =
  let ic = open_in_bin "/dev/urandom" in
  let b = really_input_string ic n in
  close_in ic;
  String.concat "" (List.init n (fun i -> Printf.sprintf "%02x" (Char.code b.[i])))

let query db sql params =
  let stmt = Sqlite3.prepare db sql in
  List.iteri (fun i p -> check db sql (Sqlite3.bind stmt (i + 1) p)) params;
  let rows = ref [] in
  let rec loop () =
    match Sqlite3.step stmt with
    | Sqlite3.Rc.ROW ->
        let col i = Sqlite3.column stmt i in
        let int i = match col i with Sqlite3.Data.INT n -> Int64.to_int n | _ -> 0 in
        let real i = match col i with Sqlite3.Data.FLOAT f -> f | Sqlite3.Data.INT n -> Int64.to_float n | _ -> 0. in
        let text i = match col i with Sqlite3.Data.TEXT s -> s | _ -> "" in
        rows :=
          {
            id = int 0;
            recipient = text 1;
            subject = text 2;
            send_at = real 3;
            sent = int 4 <> 0;
            uid = text 5;
          }
          :: !rows;
        loop ()
    | Sqlite3.Rc.DONE -> ()
    | rc -> check db sql rc
  in
  loop ();
  ignore (Sqlite3.finalize stmt);
  List.rev !rows

let columns = "SELECT id, recipient, subject, send_at, sent, coalesce(uid, '') FROM emails"

let print_email e =
  Printf.printf "%d\t%s\t%s\t%s\t%s\t%s\n" e.id (format_time e.send_at) e.recipient e.subject
    (if e.sent then "sent" else "pending")
    e.uid

let due db = query db (columns ^ " WHERE sent = 0 AND send_at <= ? ORDER BY send_at, id") [ Sqlite3.Data.FLOAT (now ()) ]

let exec db what sql params =
  let stmt = Sqlite3.prepare db sql in
  List.iteri (fun i p -> check db what (Sqlite3.bind stmt (i + 1) p)) params;
  check db what (Sqlite3.step stmt);
  ignore (Sqlite3.finalize stmt);
  Sqlite3.changes db

(* An email named by its uid (what `schedule` printed), or by its current id. *)
let email_where name =
  match int_of_string_opt name with
  | Some id when String.length name < 16 -> ("id = ?", Sqlite3.Data.INT (Int64.of_int id))
  | _ -> ("uid = ?", Sqlite3.Data.TEXT name)

let mark_sent db name =
  let where, key = email_where name in
  exec db "mark sent" ("UPDATE emails SET sent = 1 WHERE " ^ where ^ " AND sent = 0") [ key ] > 0

(* ---- commands ---- *)

let rec flags args acc =
  match args with
  | name :: v :: rest when String.length name > 2 && String.sub name 0 2 = "--" -> flags rest ((name, v) :: acc)
  | [ name ] -> usage "%s needs a value" name
  | [] -> acc
  | a :: _ -> usage "unexpected argument %s" a

let required fl name = match List.assoc_opt name fl with Some v -> v | None -> usage "%s is required" name

let cmd_schedule args =
  let fl = flags args [] in
  List.iter
    (fun (k, _) -> if not (List.mem k [ "--to"; "--subject"; "--at"; "--body" ]) then usage "unknown option %s" k)
    fl;
  let recipient = required fl "--to" and subject = required fl "--subject" in
  let send_at = parse_time (required fl "--at") in
  let body = match List.assoc_opt "--body" fl with Some b -> Sqlite3.Data.TEXT b | None -> Sqlite3.Data.NULL in
  let* db = open_db () in
  let uid = random_hex 8 in
  ignore
    (exec db "schedule" "INSERT INTO emails (recipient, subject, body, send_at, uid) VALUES (?, ?, ?, ?, ?)"
       [ Sqlite3.Data.TEXT recipient; Sqlite3.Data.TEXT subject; body; Sqlite3.Data.FLOAT send_at; Sqlite3.Data.TEXT uid ]);
  (* The uid, not the id: a sync may move the id (README, "Ids, uids and moves"). *)
  print_endline uid;
  ignore (Sqlite3.db_close db);
  Lwt.return 0

let cmd_list ~only_due =
  let* db = open_db () in
  List.iter print_email (if only_due then due db else query db (columns ^ " ORDER BY send_at, id") []);
  ignore (Sqlite3.db_close db);
  if not only_due then Turso_integration.suggest_sync_check ();
  Lwt.return 0

let cmd_mark_sent = function
  | [ name ] ->
      let* db = open_db () in
      let changed = mark_sent db name in
      ignore (Sqlite3.db_close db);
      if changed then (
        Printf.printf "email %s marked sent\n" name;
        Lwt.return 0)
      else (
        Printf.eprintf "email_scheduler: no pending email %s\n" name;
        Lwt.return 1)
  | _ -> usage "mark-sent needs one UID (or ID)"

let counts (c : Turso_integration.counts) = Printf.sprintf "+%d ~%d -%d" c.inserts c.updates c.deletes

let print_pull (p : Turso_integration.pull_report) =
  List.iter
    (fun (m : Turso_integration.moved) ->
      Printf.printf "%s: local id %d moved to %d\n" m.moved_table m.from_id m.to_id)
    p.moved;
  List.iter
    (fun (c : Turso_integration.conflict) ->
      Printf.printf "conflict: %s [%s] %s (%s)\n" c.table
        (String.concat ", " (List.map (Option.value ~default:"NULL") c.key))
        c.kind
        (String.concat ", " c.conflicting_columns))
    p.conflicts

let cmd_init () =
  let* r = Turso_integration.init () in
  match r with
  | Ok () ->
      let* db = open_db () in
      ignore (Sqlite3.db_close db);
      Printf.printf "initialized %s\n" Turso_integration.working_database_path;
      Lwt.return 0
  | Error e ->
      Printf.eprintf "email_scheduler: init: %s\n" e.message;
      Lwt.return e.code

let cmd_sync () =
  let* r = Turso_integration.sync () in
  match r with
  | Error e ->
      Printf.eprintf "email_scheduler: sync: %s\n" e.message;
      Lwt.return e.code
  | Ok r ->
      print_pull r.sync_pull;
      (match r.sync_push with
      | Some p ->
          Option.iter print_pull p.pull_after;
          List.iter
            (fun (c : Turso_integration.push_conflict) -> Printf.printf "push conflict: %s %s: %s\n" c.push_table c.operation c.detail)
            p.push_conflicts;
          Printf.printf "synced: pulled %s, pushed %s\n" (counts r.sync_pull.taken)
            (if p.nothing_to_push then "nothing" else counts p.pushed)
      | None ->
          Printf.printf "sync stopped: %d conflict(s) with the remote; nothing applied\n"
            (List.length r.sync_pull.conflicts));
      Lwt.return r.sync_exit_code

(* ---- sending each email once across copies ---- *)

(* This copy's name in `claimed_by`: made once, kept in the directory beside .env. *)
let copy_name () =
  let file = ".email_scheduler_copy" in
  match open_in file with
  | ic ->
      let name = String.trim (input_line ic) in
      close_in ic;
      name
  | exception Sys_error _ ->
      let name = random_hex 6 in
      let oc = open_out file in
      output_string oc (name ^ "\n");
      close_out oc;
      name

(* Due emails nobody else has claimed. *)
let due_for db me =
  query db
    (columns ^ " WHERE sent = 0 AND send_at <= ? AND (claimed_by IS NULL OR claimed_by = ?) ORDER BY send_at, id")
    [ Sqlite3.Data.FLOAT (now ()); Sqlite3.Data.TEXT me ]

(* Claims an email for this copy through the remote, before sending it: the claim is a local write
   (claimed_by = this copy) pushed alone, and the push is guarded — it applies only if the remote's row is
   still the one this copy last pulled. So of two copies claiming at once, one push applies and the other
   is refused: a compare-and-set. `Mine: this copy sends it. `Taken: another copy claimed (or sent) it
   first; our claim is undone and the next pull brings theirs. `Later: cannot tell now (the remote is
   unreachable, or background sync is working on the files): the claim stays local and is tried again. *)
let claim db me (e : email) =
  let key = string_of_int e.id in
  let id = Sqlite3.Data.INT (Int64.of_int e.id) and me_ = Sqlite3.Data.TEXT me in
  let claimed =
    exec db "claim"
      "UPDATE emails SET claimed_by = ? WHERE id = ? AND coalesce(uid, '') = ? AND sent = 0 AND (claimed_by IS NULL \
       OR claimed_by = ?)"
      [ me_; id; Sqlite3.Data.TEXT e.uid; me_ ]
  in
  if claimed = 0 then Lwt.return `Taken (* changed meanwhile: a pull brought another copy's claim *)
  else
    let* pushed = Turso_integration.push ~on_conflict:`Hold ~only:("emails", [ key ]) () in
    match pushed with
    | Error _ -> Lwt.return `Later
    | Ok r when r.push_conflicts = [] && r.held_skipped = 0 -> (
        (* Pushed (or pushed before, by background sync): the remote holds our claim — if the id still
           names this email (a pull may move ids while we push). *)
        match query db (columns ^ " WHERE id = ? AND claimed_by = ? AND sent = 0") [ id; me_ ] with
        | [ still ] when still.uid = e.uid -> Lwt.return `Mine
        | _ -> Lwt.return `Later)
    | Ok r ->
        ignore (exec db "unclaim" "UPDATE emails SET claimed_by = NULL WHERE id = ? AND claimed_by = ?" [ id; me_ ]);
        (* Held by background sync (both sides changed it): take the remote's row. *)
        let* () =
          if r.held_skipped > 0 then
            Lwt.map ignore (Turso_integration.resolve ~take:`Theirs ~table:"emails" ~keys:[ key ] ())
          else Lwt.return_unit
        in
        Lwt.return `Taken

let record_send send_log me (e : email) =
  match send_log with
  | None -> ()
  | Some file ->
      let oc = open_out_gen [ Open_append; Open_creat; Open_wronly ] 0o644 file in
      Printf.fprintf oc "%s\t%s\n" e.uid me;
      close_out oc

(* Sends each email as it falls due, once across copies (`claim`), while background sync runs in this
   process. "Sending" prints a line and, with --send-log, appends "uid<TAB>copy" to that file. *)
let cmd_serve args =
  let fl = flags args [] in
  List.iter (fun (k, _) -> if k <> "--interval" && k <> "--send-log" then usage "unknown option %s" k) fl;
  let interval =
    match List.assoc_opt "--interval" fl with
    | None -> None
    | Some s -> (
        match float_of_string_opt s with Some f when f > 0. -> Some f | _ -> usage "--interval must be > 0 seconds")
  in
  let send_log = List.assoc_opt "--send-log" fl in
  let me = copy_name () in
  let* db = open_db () in
  let* () = Turso_integration.start_background_sync ?interval ~push_on_change:true () in
  Printf.printf "serving %s as copy %s with background sync%s; Ctrl-C to stop\n%!"
    Turso_integration.working_database_path me
    (match interval with Some i -> Printf.sprintf " every %g s" i | None -> "");
  let stop, stopper = Lwt.wait () in
  let on_signal _ = if Lwt.is_sleeping stop then Lwt.wakeup_later stopper () in
  ignore (Lwt_unix.on_signal Sys.sigint on_signal);
  ignore (Lwt_unix.on_signal Sys.sigterm on_signal);
  let send (e : email) =
    let* claimed = claim db me e in
    match claimed with
    | `Mine ->
        record_send send_log me e;
        ignore
          (exec db "mark sent" "UPDATE emails SET sent = 1 WHERE id = ? AND claimed_by = ?"
             [ Sqlite3.Data.INT (Int64.of_int e.id); Sqlite3.Data.TEXT me ]);
        Printf.printf "sent %s (id %d) to %s: %s\n%!" e.uid e.id e.recipient e.subject;
        Lwt.return_unit
    | `Taken ->
        Printf.printf "skipped %s: another copy sends it\n%!" e.uid;
        Lwt.return_unit
    | `Later -> Lwt.return_unit
  in
  let rec loop () =
    let* () = Lwt_list.iter_s (fun e -> if Lwt.is_sleeping stop then send e else Lwt.return_unit) (due_for db me) in
    (* Emails can also arrive through a pull: look again at the next due time, at the latest in 1 s. *)
    let* () = Lwt.pick [ Lwt_unix.sleep 1.0; stop ] in
    if Lwt.is_sleeping stop then loop () else Lwt.return_unit
  in
  let* () = loop () in
  let* () = Turso_integration.stop_background_sync () in
  ignore (Sqlite3.db_close db);
  print_endline "stopped";
  Lwt.return 0

let help =
  "usage: email_scheduler COMMAND\n\
  \  init                                        download the remote into the working copy (first run)\n\
  \  schedule --to ADDR --subject S --at TIME [--body B]\n\
  \                                              TIME: 2026-12-03T09:00:00Z (UTC) or epoch seconds; prints the uid\n\
  \  list                                        every email\n\
  \  due                                         pending emails whose time has come\n\
  \  mark-sent UID|ID                            mark an email sent\n\
  \  sync                                        pull, then push (through Turso_integration)\n\
  \  serve [--interval S] [--send-log FILE]      send due emails as they fall due, each once across copies\n\
  \                                              (claimed through the remote); background sync every S s\n"

let () =
  let args = List.tl (Array.to_list Sys.argv) in
  let run () =
    match args with
    | [ "init" ] -> cmd_init ()
    | "schedule" :: rest -> cmd_schedule rest
    | [ "list" ] -> cmd_list ~only_due:false
    | [ "due" ] -> cmd_list ~only_due:true
    | "mark-sent" :: rest -> cmd_mark_sent rest
    | [ "sync" ] -> cmd_sync ()
    | "serve" :: rest -> cmd_serve rest
    | ([] | [ "help" ] | [ "--help" ] | [ "-h" ]) -> print_string help; Lwt.return 0
    | cmd :: _ -> usage "unknown command %s" cmd
  in
  let code =
    try Lwt_main.run (run ()) with
    | Usage m ->
        Printf.eprintf "email_scheduler: %s\n%s" m help;
        2
    | Failure m ->
        Printf.eprintf "email_scheduler: %s\n" m;
        1
  in
  exit code
