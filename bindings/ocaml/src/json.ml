(* A small JSON decoder for the C API's reports (no JSON library is installed here). Decodes RFC 8259 text
   into a tree; numbers are floats (the reports' integers are far below 2^53). *)

type t =
  | Null
  | Bool of bool
  | Number of float
  | String of string
  | Array of t list
  | Object of (string * t) list

exception Parse_error of string

let add_utf8 buf code =
  let add c = Buffer.add_char buf (Char.unsafe_chr c) in
  if code < 0x80 then add code
  else if code < 0x800 then (
    add (0xC0 lor (code lsr 6));
    add (0x80 lor (code land 0x3F)))
  else if code < 0x10000 then (
    add (0xE0 lor (code lsr 12));
    add (0x80 lor ((code lsr 6) land 0x3F));
    add (0x80 lor (code land 0x3F)))
  else (
    add (0xF0 lor (code lsr 18));
    add (0x80 lor ((code lsr 12) land 0x3F));
    add (0x80 lor ((code lsr 6) land 0x3F));
    add (0x80 lor (code land 0x3F)))

let parse (text : string) : (t, string) result =
  let len = String.length text in
  let pos = ref 0 in
  let fail what = raise (Parse_error (Printf.sprintf "%s at offset %d" what !pos)) in
  let peek () = if !pos < len then text.[!pos] else '\000' in
  let rec skip_ws () =
    if !pos < len then
      match text.[!pos] with
      | ' ' | '\t' | '\n' | '\r' ->
          incr pos;
          skip_ws ()
      | _ -> ()
  in
  let expect c = if peek () = c then incr pos else fail (Printf.sprintf "expected '%c'" c) in
  let literal word v =
    let n = String.length word in
    if !pos + n <= len && String.sub text !pos n = word then (
      pos := !pos + n;
      v)
    else fail "invalid literal"
  in
  let hex4 () =
    if !pos + 4 > len then fail "short \\u escape";
    let v = int_of_string_opt ("0x" ^ String.sub text !pos 4) in
    pos := !pos + 4;
    match v with Some v -> v | None -> fail "bad \\u escape"
  in
  let parse_string () =
    expect '"';
    let buf = Buffer.create 16 in
    let rec loop () =
      if !pos >= len then fail "unterminated string";
      let c = text.[!pos] in
      incr pos;
      match c with
      | '"' -> Buffer.contents buf
      | '\\' ->
          let e = peek () in
          incr pos;
          (match e with
          | '"' -> Buffer.add_char buf '"'
          | '\\' -> Buffer.add_char buf '\\'
          | '/' -> Buffer.add_char buf '/'
          | 'b' -> Buffer.add_char buf '\b'
          | 'f' -> Buffer.add_char buf '\012'
          | 'n' -> Buffer.add_char buf '\n'
          | 'r' -> Buffer.add_char buf '\r'
          | 't' -> Buffer.add_char buf '\t'
          | 'u' ->
              let hi = hex4 () in
              if hi >= 0xD800 && hi < 0xDC00 && peek () = '\\' then (
                incr pos;
                expect 'u';
                let lo = hex4 () in
                add_utf8 buf (0x10000 + ((hi - 0xD800) lsl 10) + (lo - 0xDC00)))
              else add_utf8 buf hi
          | _ -> fail "bad escape");
          loop ()
      | c ->
          Buffer.add_char buf c;
          loop ()
    in
    loop ()
  in
  let parse_number () =
    let start = !pos in
    while
      !pos < len
      && match text.[!pos] with '0' .. '9' | '-' | '+' | '.' | 'e' | 'E' -> true | _ -> false
    do
      incr pos
    done;
    match float_of_string_opt (String.sub text start (!pos - start)) with
    | Some f -> Number f
    | None -> fail "bad number"
  in
  let rec parse_value () =
    skip_ws ();
    match peek () with
    | '{' ->
        incr pos;
        skip_ws ();
        if peek () = '}' then (
          incr pos;
          Object [])
        else
          let rec fields acc =
            skip_ws ();
            let k = parse_string () in
            skip_ws ();
            expect ':';
            let v = parse_value () in
            skip_ws ();
            match peek () with
            | ',' ->
                incr pos;
                fields ((k, v) :: acc)
            | '}' ->
                incr pos;
                Object (List.rev ((k, v) :: acc))
            | _ -> fail "expected ',' or '}'"
          in
          fields []
    | '[' ->
        incr pos;
        skip_ws ();
        if peek () = ']' then (
          incr pos;
          Array [])
        else
          let rec items acc =
            let v = parse_value () in
            skip_ws ();
            match peek () with
            | ',' ->
                incr pos;
                items (v :: acc)
            | ']' ->
                incr pos;
                Array (List.rev (v :: acc))
            | _ -> fail "expected ',' or ']'"
          in
          items []
    | '"' -> String (parse_string ())
    | 't' -> literal "true" (Bool true)
    | 'f' -> literal "false" (Bool false)
    | 'n' -> literal "null" Null
    | '-' | '0' .. '9' -> parse_number ()
    | _ -> fail "unexpected character"
  in
  try
    let v = parse_value () in
    skip_ws ();
    if !pos <> len then fail "trailing characters";
    Ok v
  with Parse_error m -> Error m

(* Accessors: a missing member or a member of another type yields the default, so that a field added to
   a report later never breaks an older binding. *)
let member name = function Object fields -> (try List.assoc name fields with Not_found -> Null) | _ -> Null
let to_string ?(default = "") = function String s -> s | _ -> default
let to_string_opt = function String "" -> None | String s -> Some s | _ -> None
let to_bool ?(default = false) = function Bool b -> b | _ -> default
let to_int ?(default = 0) = function Number f -> int_of_float f | _ -> default
let to_list = function Array l -> l | _ -> []

(* Encoding, for the options objects sent to the C API. *)
let escape s =
  let buf = Buffer.create (String.length s + 2) in
  Buffer.add_char buf '"';
  String.iter
    (fun c ->
      match c with
      | '"' -> Buffer.add_string buf "\\\""
      | '\\' -> Buffer.add_string buf "\\\\"
      | '\n' -> Buffer.add_string buf "\\n"
      | '\r' -> Buffer.add_string buf "\\r"
      | '\t' -> Buffer.add_string buf "\\t"
      | c when Char.code c < 0x20 -> Buffer.add_string buf (Printf.sprintf "\\u%04x" (Char.code c))
      | c -> Buffer.add_char buf c)
    s;
  Buffer.add_char buf '"';
  Buffer.contents buf

let rec to_text = function
  | Null -> "null"
  | Bool b -> if b then "true" else "false"
  | Number f -> if Float.is_integer f then Printf.sprintf "%.0f" f else Printf.sprintf "%.17g" f
  | String s -> escape s
  | Array l -> "[" ^ String.concat "," (List.map to_text l) ^ "]"
  | Object fields ->
      "{" ^ String.concat "," (List.map (fun (k, v) -> escape k ^ ":" ^ to_text v) fields) ^ "}"
