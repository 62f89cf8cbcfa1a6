(* Test support shared by the driver and the scenarios: the repository root, processes, a local Turso
   server (scripts/local-turso-server) and the independent path to the remote (hrana_query.py). *)

let fail fmt = Printf.ksprintf (fun m -> prerr_endline ("FAIL: " ^ m); exit 1) fmt
let check cond fmt = Printf.ksprintf (fun m -> if not cond then (prerr_endline ("FAIL: " ^ m); exit 1)) fmt

let contains s sub =
  let n = String.length sub and m = String.length s in
  let rec at i = i + n <= m && (String.sub s i n = sub || at (i + 1)) in
  n = 0 || at 0

(* The repository: TURSO_SYNC_SOURCE_DIR, else the first directory above the current one holding
   scripts/local-turso-server (the driver runs in dune's build tree; it passes the variable on). *)
let repo_root_value =
  lazy
  (match Sys.getenv_opt "TURSO_SYNC_SOURCE_DIR" with
  | Some d when d <> "" -> d
  | _ ->
  let rec up dir =
    if Sys.file_exists (Filename.concat dir "scripts/local-turso-server") then dir
    else
      let parent = Filename.dirname dir in
      if parent = dir then fail "repository root not found above %s" (Sys.getcwd ()) else up parent
  in
  up (Sys.getcwd ()))

let repo_root () = Lazy.force repo_root_value

let read_file path =
  let ic = open_in_bin path in
  let s = really_input_string ic (in_channel_length ic) in
  close_in ic;
  s

let write_file path text =
  let oc = open_out_bin path in
  output_string oc text;
  close_out oc

let temp_dir prefix =
  let base = Filename.get_temp_dir_name () in
  let rec attempt n =
    let d = Filename.concat base (Printf.sprintf "%s.%d.%d" prefix (Unix.getpid ()) n) in
    match Unix.mkdir d 0o700 with () -> d | exception Unix.Unix_error (Unix.EEXIST, _, _) -> attempt (n + 1)
  in
  attempt 0

let remove_tree dir = ignore (Sys.command (Printf.sprintf "rm -rf %s" (Filename.quote dir)))

(* Runs argv in `cwd` with `extra_env` added; returns the exit code and stdout (stderr passes through). *)
let run ?(cwd = ".") ?(extra_env = [||]) argv =
  let out = Filename.temp_file "run" ".out" in
  let fd = Unix.openfile out [ Unix.O_WRONLY; Unix.O_TRUNC ] 0o600 in
  let env = Array.append extra_env (Unix.environment ()) in
  let old = Sys.getcwd () in
  Sys.chdir cwd;
  let pid = Unix.create_process_env argv.(0) argv env Unix.stdin fd Unix.stderr in
  Sys.chdir old;
  Unix.close fd;
  let _, status = Unix.waitpid [] pid in
  let text = read_file out in
  Sys.remove out;
  ((match status with Unix.WEXITED c -> c | _ -> 128), text)

(* The independent path to the remote: rows of `sql` as JSON lines (tests/support/hrana_query.py). *)
let remote_query url sql =
  let code, out = run [| "python3"; Filename.concat (repo_root ()) "tests/support/hrana_query.py"; url; sql |] in
  check (code = 0) "remote query failed: %s" sql;
  out

type server = { url : string; dir : string }

let start_server () =
  let dir = temp_dir "turso_server" in
  let code, out = run [| Filename.concat (repo_root ()) "scripts/local-turso-server"; "start"; "--dir"; dir |] in
  check (code = 0) "local Turso server did not start";
  { url = String.trim out; dir }

let stop_server s =
  ignore (run [| Filename.concat (repo_root ()) "scripts/local-turso-server"; "stop"; "--dir"; s.dir |]);
  remove_tree s.dir

(* An application directory whose .env names the remote. *)
let app_dir ?(extra = "") url =
  let d = temp_dir "turso_app" in
  write_file (Filename.concat d ".env") (Printf.sprintf "TURSO_DATABASE_URL=%s\n%s" url extra);
  d
