(* dune test of Turso_integration: starts a local Turso server, prepares application directories and runs
   scenario.exe steps in them (each a separate application process, as the module resolves its
   configuration from the current directory at start-up); checks the remote through hrana_query.py. *)

open Support

let scenario = Filename.concat (Filename.dirname Sys.executable_name) "scenario.exe"

let step ?(extra_env = [||]) dir name =
  let extra_env = Array.append [| "TURSO_SYNC_SOURCE_DIR=" ^ repo_root () |] extra_env in
  let code, out = run ~cwd:dir ~extra_env [| scenario; name |] in
  check (code = 0) "step %s in %s failed (exit %d)" name dir code;
  print_string out

let free_port () =
  let s = Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Unix.bind s (Unix.ADDR_INET (Unix.inet_addr_loopback, 0));
  let port = match Unix.getsockname s with Unix.ADDR_INET (_, p) -> p | _ -> 0 in
  Unix.close s;
  port

let () =
  let server = start_server () in
  let url = server.url in
  let dirs = ref [] in
  let app ?extra () =
    let d = app_dir ?extra url in
    dirs := d :: !dirs;
    d
  in
  let fresh_servers = ref [] in
  let cleaned = ref false in
  let cleanup () =
    if not !cleaned then (
      cleaned := true;
      List.iter remove_tree !dirs;
      List.iter stop_server !fresh_servers;
      stop_server server)
  in
  (* A failed check exits the process (Support.check), which skips Fun.protect: stop the server then too. *)
  at_exit cleanup;
  Fun.protect ~finally:cleanup
    (fun () ->
      ignore
        (remote_query url
           "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL)");
      ignore (remote_query url "INSERT INTO emails VALUES (1, 'a@example.com', 'base')");

      (* Not initialised, with WORKING_DB from .env. *)
      let d = app ~extra:"WORKING_DB=app.db\n" () in
      step d "not_initialized";

      (* Initialised: init, a local insert, push (checked on the remote). *)
      let a = app () in
      step a "init";
      check (contains (remote_query url "SELECT subject FROM emails WHERE recipient = 'x@example.com'") "local")
        "the pushed row is on the remote";

      (* A pull waiting on the network while the application works. *)
      step ~extra_env:(let p = free_port () in [| Printf.sprintf "TURSO_DATABASE_URL=http://127.0.0.1:%d" p; Printf.sprintf "SILENT_PORT=%d" p |]) a
        "pull_while_app_works";

      (* A conflict: A and B change row 1; B's push is refused, its pull reports it, local wins. *)
      let b = app () in
      step b "init";
      step a "update_from_a";
      step b "conflict";
      check (contains (remote_query url "SELECT subject FROM emails WHERE id = 1") "from B") "B's value won on the remote";

      (* Both insert a row and get the same new id: B's row moves. *)
      step a "sync";
      step b "sync";
      step a "insert_colliding";
      step b "insert_colliding";
      step a "sync";
      step b "pull_moved";
      check (String.length (remote_query url "SELECT id FROM emails WHERE recipient = 'z@example.com'") > 0) "rows";
      let rows = remote_query url "SELECT count(*) FROM emails WHERE recipient = 'z@example.com'" in
      check (contains rows "\"2\"") "both colliding rows on the remote: %s" rows;

      (* A held conflict, listed and resolved with the remote's version. *)
      step a "sync";
      step a "update_again_from_a";
      step b "held_resolve";
      step b "health_copy_log";
      check (contains (remote_query url "SELECT subject FROM emails WHERE id = 1") "A again") "A's row stays on the remote";

            (* The heuristic's other half: a pull older than the interval. *)
      step ~extra_env:[| "TURSO_SYNC_INTERVAL=1" |] a "stale_pull";

      (* Background sync start/stop. *)
      step ~extra_env:[| "REMOTE_URL=" ^ url |] a "background";

      (* Migration from plain SQLite: init ~from publishes a file into a fresh, empty server; its rows are
         on the remote (the independent path), the AUTOINCREMENT counter and user_version too. *)
      let fresh = start_server () in
      fresh_servers := fresh :: !fresh_servers;
      let m =
        let d = app_dir fresh.url in
        dirs := d :: !dirs;
        d
      in
      step m "init_from";
      let rows = remote_query fresh.url "SELECT id, recipient, send_at FROM emails ORDER BY id" in
      check
        (contains rows {|[["integer", "1"], ["text", "old@example.com"], ["float", 0.1]]|}
        && contains rows {|["integer", "3"], ["text", "kept@example.com"], ["float", 1e-300]]|}
        && not (contains rows "gone@example.com"))
        "the published rows on the remote: %s" rows;
      check (contains (remote_query fresh.url "SELECT seq FROM sqlite_sequence WHERE name = 'emails'") {|"3"|})
        "the AUTOINCREMENT counter on the remote";
      check (contains (remote_query fresh.url "PRAGMA user_version") {|"3"|}) "user_version on the remote";

      (* In-process background sync while this application and other processes of it write the working copy
         (issue 17; writers.ml): every committed row reaches the remote once, the working copy stays intact.
         TURSO_TEST_OCAML_WRITERS_MODES: "wal" (default), "delete" (rollback journal) or "wal,delete". *)
      ignore
        (remote_query url
           "CREATE TABLE items (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL)");
      let modes =
        match Sys.getenv_opt "TURSO_TEST_OCAML_WRITERS_MODES" with Some m when m <> "" -> m | _ -> "wal"
      in
      List.iter
        (fun mode ->
          (* Each mode on its own rows: the items of the previous one are deleted on the remote first. *)
          ignore (remote_query url "DELETE FROM items");
          step ~extra_env:[| "REMOTE_URL=" ^ url |] (app ()) ("inprocess_writers_" ^ String.trim mode))
        (String.split_on_char ',' modes);
      print_endline "turso_integration tests: all passed")
