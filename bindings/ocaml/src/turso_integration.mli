(** Turso_integration: the application's SQLite working copy, kept in sync with a Turso database by
    turso-sync (through its C API, libturso_sync.so).

    Configuration is resolved exactly as the [turso-sync] command does when run in the directory the
    process starts in: environment > [.env] > [turso-sync.toml] > defaults ([working_copy.db],
    [local_replica.db]); relative paths are taken relative to that directory (and reported absolute).

    The sync calls ([pull], [push], [sync], [status], background start/stop) block on the network; they run
    in a thread of [Lwt_preemptive] with the OCaml runtime lock released, so the Lwt scheduler keeps
    serving the application meanwhile. They never raise: every outcome is a value. Calls are serialised
    (one at a time per process). While a background cycle works on the files, a foreground [pull]/[push]/
    [sync] fails with an error saying another turso-sync is working on them: retry after the cycle. *)

(** A failure: [code] is the CLI's exit code (1 error, 2 usage/configuration/refused, 4 unreachable or
    authentication), [kind] the library's error kind ("config", "unreachable", "busy", ...). *)
type error = { code : int; kind : string; message : string }

type counts = { inserts : int; updates : int; deletes : int }

(** The kind of a conflict (docs/conflicts.md, "What each policy does with each kind"): the [kind] text of
    the reports as a variant. [Held]: a row a pull left alone because it is already held. [Other_kind]
    keeps a kind this binding does not know (a newer library). *)
type conflict_kind =
  | Update_update
  | Update_delete
  | Delete_update
  | Insert_insert
  | Unique
  | Dangling_reference
  | Schema
  | Dropped_column
  | Refused  (** a row the remote cannot take, set aside by push (not a disagreement) *)
  | Held  (** a row left alone by a pull because it is already held *)
  | Other_kind of string

(** ["update/update"] -> [Update_update], ["dangling reference"] -> [Dangling_reference], ...; and back. *)
val conflict_kind_of_string : string -> conflict_kind

val string_of_conflict_kind : conflict_kind -> string

(** A disagreement between the working copy and the remote: [kind] as text ("update/update",
    "update/delete", "delete/update", "insert/insert", "unique", "dangling reference", "schema", "dropped
    column", "refused"), [conflict_kind] the same as a variant. A table held as a whole (a column or the table
    one side dropped while the other wrote it, a table both sides migrated differently) has no key and no
    columns; [about] says why. Values are rendered as text (SQL literals; [None] for NULL);
    [conflicting_columns] are column names. *)
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
  about : string;  (** the constraint or object it concerns, in words ("" when the row says it all) *)
}

(** A local row moved to a fresh id because the remote had inserted a row with the same id. *)
type moved = { moved_table : string; from_id : int; to_id : int; updated_references : string list }

type pull_report = {
  pull_exit_code : int;  (** 0, or 3 when conflicts stopped the pull (nothing applied) *)
  up_to_date : bool;
  applied : bool;
  taken : counts;  (** remote changes written into the working copy *)
  merged_rows : int;
  conflicts : conflict list;
  moved : moved list;
  discarded_path : string option;
  notes : string list;
}

type push_conflict = { push_table : string; operation : string; push_key : string option list; detail : string }

type push_report = {
  push_exit_code : int;  (** 0, or 3 when the remote changed rows being pushed (nothing applied) *)
  nothing_to_push : bool;
  already_applied : bool;
  batches : int;
  pushed : counts;
  schema_changes : int;
  push_conflicts : push_conflict list;
  held_skipped : int;  (** local changes of held rows left out (never pushed until resolved) *)
  pull_after : pull_report option;  (** the pull that follows a successful push *)
}

type sync_report = { sync_exit_code : int; sync_pull : pull_report; sync_push : push_report option }

type status_report = {
  status_exit_code : int;  (** 0, or 4 when the remote was checked and is unreachable *)
  initialized : bool;
  database_url : string;
  working_copy : string;
  replica : string;
  last_pull_at : string option;  (** RFC 3339 UTC *)
  last_push_at : string option;
  workflow_pid : int;  (** a workflow running for this state dir (another process), else 0 *)
  remote_checked : bool;
  remote_reachable : bool;
  remote_error : string option;
  pending : counts;  (** local changes not pushed yet *)
  pending_schema_changes : int;
  warnings : string list;
}

(** A row held by [`Hold] (docs/conflicts.md): [held] as a pull reports it (ours is the working copy's row
    now, theirs the remote's newest); [key_text] the key as {!resolve} takes it ("5", "a,b"); [since] when it
    was first held (RFC 3339 UTC); [theirs_changed_at]/[ours_changed_at] when either side changed it again. *)
type held_conflict = {
  held : conflict;
  key_text : string;
  since : string;
  theirs_changed_at : string option;
  ours_changed_at : string option;
}

(** [outcome]: "ours" (the next push sends the local row), "theirs" (the remote's row is now in the working
    copy) or "agreed" (both sides already held the same row). *)
type resolved = { resolved_table : string; resolved_key : string option list; outcome : string; theirs_changed : bool }

(** The health check of [turso-sync status --check]: [health_exit_code] 0 healthy, 4 the remote unreachable
    or the token refused, 1 a local file damaged, 5 the last sync (or background cycle) failed, 3 it stopped
    on a conflict or conflicts are held, 6 no successful sync within [max_age]; [reason] says which and what
    to do. *)
type health = { healthy : bool; health_exit_code : int; reason : string }

(** [copy_discarded]: the local changes the copy replaced (with [force]), saved to [copy_saved_to]. *)
type copy_report = { copy_discarded : counts; copy_saved_to : string option }

(** One line of the sync history ([turso-sync log]): [log_operation] init, pull, push, sync, reset, copy,
    resolve; [log_trigger] cli, capi, workflow:<why>, capi:background:<why>; [log_result] ok, conflict,
    error; [log_held] held conflicts after it. *)
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

type resolve_report = {
  resolved : resolved list;
  saved_to : string option;  (** with [`Theirs]: the file the local versions were saved to *)
  still_held : int;
}

(** One background cycle, as [turso-sync workflow --json] logs it. *)
type cycle = { number : int; trigger : string; cycle_exit_code : int; cycle_error : string option; raw : string }

(** What [init ~from] published (the [published] object of the init report, docs/capi.md). *)
type published = {
  published_tables : int;
  published_rows : int;
  published_other_objects : int;  (** indexes, views, triggers *)
  parts : int;  (** parts of the upload (each one transaction on the remote, into staging tables) *)
  parts_sent : int;  (** of them, sent by this call: fewer when an interrupted run had sent the others *)
  already_published : bool;  (** an interrupted run had committed the publish: this call only made the copies *)
}

type init_report = {
  init_tables : int;  (** in the replica and the working copy, as downloaded from the remote *)
  init_rows : int;
  init_other_objects : int;
  working_copy_replaced : bool;  (** an existing working copy was rewritten in place (with [force], or FILE itself) *)
  init_discarded_path : string option;  (** with [force]: where the discarded local changes were saved *)
  init_protocol : string;  (** "pages" or "sql": how the replica was downloaded *)
  init_warnings : string list;  (** with [from]: each object not published (virtual tables, their triggers) *)
  published : published option;  (** [Some] with [from] *)
}

type on_conflict = [ `Abort | `Local | `Remote | `Hold ]
(** [`Hold]: apply everything else and hold the conflicting rows (kept local, never pushed) until
    [turso-sync resolve]; the default of {!start_background_sync}. *)

val working_database_path : string
(** The working copy's path (WORKING_DB / .env / turso-sync.toml, default [working_copy.db]), absolute. *)

val is_initialized : unit -> bool
(** Whether the replica and the working copy exist (i.e. [init] has run). *)

val get_connection : unit -> Sqlite3.db Lwt.t
(** A new connection on the working copy: WAL journal mode, 30 s busy timeout (the application waits while
    a pull merges into it). The caller closes it with [Sqlite3.db_close]. Fails (with [Failure]) when not
    initialised, naming the command to run. *)

val should_sync_heuristic : unit -> bool
(** Local changes pending, or the last pull is older than the sync interval (TURSO_SYNC_INTERVAL, 300 s).
    Blocks briefly (reads the two local files). *)

val suggest_sync_check : unit -> unit
(** Prints on stderr what to run, if anything: [./turso-workflow.sh init|push|pull]. *)

val init : ?force:bool -> ?from:string -> unit -> (unit, error) result Lwt.t
(** [turso-sync init]: downloads the remote into the replica and makes the working copy. An existing working
    copy is refused (code 2) unless it has no local changes, or [force].
    [from] (a path, relative to the current directory): [turso-sync init --from FILE], migration from plain
    SQLite: first publishes FILE (schema, rows, AUTOINCREMENT counters, user_version) into the remote, which
    must hold no table, index, view or trigger (code 2 otherwise, nothing changed), as one transaction; after
    an interruption, the same call again resumes it. FILE may be the working copy itself (WORKING_DB). *)

val init_with_report : ?force:bool -> ?from:string -> unit -> (init_report, error) result Lwt.t
(** {!init}, returning the init report: what was downloaded and, with [from], what was published. *)

val pull : ?on_conflict:on_conflict -> unit -> (pull_report, error) result Lwt.t
val push :
  ?force:bool -> ?on_conflict:on_conflict -> ?only:string * string list -> unit -> (push_report, error) result Lwt.t
(** [only] [(table, keys)] (keys as {!resolve} takes them: "5", "a,b"): push only these rows' local changes
    (and pending schema changes); the others stay local. Guarded as every push: a row the remote changed
    since the last pull refuses it ([push_exit_code] 3, [push_conflicts]); a held row is left out
    ([held_skipped]). With one row whose local change says "mine", that is a claim through the remote —
    the pattern for work done once across copies (docs/capi.md, "Doing work once across copies"). *)

val sync : ?force:bool -> ?on_conflict:on_conflict -> unit -> (sync_report, error) result Lwt.t

val status : ?offline:bool -> unit -> (status_report, error) result Lwt.t
(** [offline] (default false): do not contact the remote. *)

val health : ?offline:bool -> ?max_age:string -> unit -> (health, error) result Lwt.t
(** [turso-sync status --check]: the verdict, evaluated by the library. [max_age] ("90", "15m", "2h", "1d"):
    the last successful sync must be at most this old. [offline] (default false): do not contact the remote.
    An error (code 2) for a malformed [max_age]. *)

val copy : ?force:bool -> unit -> (copy_report, error) result Lwt.t
(** [turso-sync copy]: the replica copied into the working copy, in place; refused (code 2, kind "refused")
    when the working copy has local changes, unless [force] (they are saved first). Needs no remote. *)

val log : ?n:int -> unit -> (history_entry list, error) result Lwt.t
(** [turso-sync log]: the sync history, newest first; [n] entries (default 20; 0: all). Reads only. *)

val conflicts : unit -> (held_conflict list, error) result Lwt.t
(** The held rows. Reads only the local files. *)

val resolve :
  take:[ `Ours | `Theirs ] -> ?table:string -> ?keys:string list -> unit -> (resolve_report, error) result Lwt.t
(** Settles held rows: all, those of [table], or the given [keys] (as {!held_conflict.key_text}) of [table].
    [`Ours]: the local row is what the next push sends (guarded against the remote's); [`Theirs]: the remote's
    newest row replaces it in the working copy, the local one saved first ([saved_to]). To merge by hand,
    write the merged row with {!get_connection}, then [resolve ~take:`Ours]. An error (code 2) when a given
    table or key holds no conflict. Reads only the local files. *)

val start_background_sync : ?interval:float -> ?push_on_change:bool -> ?pull_on_change:bool -> unit -> unit Lwt.t
(** In-process [turso-sync workflow]: a sync cycle every [interval] seconds (default: the configuration's),
    with [push_on_change] soon after the working copy changes, with [pull_on_change] within about a second
    of a change of the remote; backoff after failures; conflicts are held
    (see {!on_conflict}), so one conflicting row never stops the others. Resolves once the
    first cycle has run. Fails (with [Failure]) when it cannot start: not initialised, or a workflow
    already runs for this state dir. *)

val stop_background_sync : unit -> unit Lwt.t
(** Stops it; a cycle in progress finishes first. A no-op when none runs. *)

val wait_background_cycle : after:int -> timeout:float -> (cycle, error) result Lwt.t
(** Waits until a background cycle numbered above [after] has completed (the first is 1), or [timeout]
    seconds have passed (an error then). [~after:0 ~timeout:0.] returns the last cycle at once. *)
