%% cnode_check_lin - the linearizability checker of the fault workbench
%% cnode-check (`cnode-check check FILE` calls main([File])).
%%
%% History (history.jsonl): one JSON object per line, blank lines allowed, in
%% Jepsen's shape.  An invocation and its completion share "process":
%%   {"process":3,"type":"invoke","f":"put","key":"k1","value":"v-3-17","node":"n2@h","time":123456789}
%%   {"process":3,"type":"ok","f":"put","key":"k1","node":"n2@h","time":124000000}
%% - "process": integer client process running one operation at a time; after
%%   an "info" completion it never invokes again.  Non-integer processes
%%   ("nemesis": start_partition, kill, pause, ...) are ignored here.
%% - "f": put | get | delete; "key": string; "value": on put invocations
%%   (unique across the run) and on get "ok" completions (the value read).
%% - completion "type": "ok" (took effect; get read "value"); "fail" with
%%   "error": "exists" (put saw the key present at some point inside the op),
%%   "not_found" (get/delete saw it absent), "not_leader" (no effect, dropped);
%%   "info": indeterminate, may take effect at any time after the invocation
%%   or never ("error" holds a reason).  An invocation never completed (or
%%   abandoned by a new invocation of its process) is the same as "info"; a
%%   "fail" with any other error had no effect and is dropped.
%% - "time": integer nanoseconds since the start of the run; "node": the node
%%   the client talked to (optional).
%% Lines with an unknown process, type or f are ignored; a line that is not a
%% JSON object, a client line without an integer "time" and an invocation
%% without "key" are errors naming the line number.
%%
%% Model: every key is an independent register, initially absent: put
%% succeeds only if absent, delete only if present, get reads the value or
%% not_found.  Keys are checked separately (P-compositionality).
%%
%% Algorithm: Wing & Gong / Lowe depth-first search, as Knossos' WGL and
%% Porcupine: repeatedly linearize an operation invoked before the earliest
%% deadline (completion) of the operations not yet linearized, memoising the
%% (linearized set, register state) pairs already explored.  Operations of a
%% key are sorted by invocation and the linearized set is {P, E}: all ops
%% before index P, plus bitset E relative to P, so memo keys stay small.
%% Indeterminate effects (info puts and deletes, and in shrinking the
%% "relaxed" operations) are handled so they do not stay open forever:
%% - a put whose value some get read must have taken effect before the first
%%   such get completed: it becomes an ordinary operation with that deadline;
%% - a put whose value nobody read, and any delete, are interchangeable
%%   tokens ("some unread value appears", "the value disappears"): the search
%%   state counts the tokens used, and an available token is any invoked
%%   before the current deadline.  A node with more tokens used than an
%%   explored one at the same {P, E, state} is pruned.
%% - values never read collapse to one state, hidden.
%% Under concurrency, a legal get or failed put/delete is linearized at once
%% without branching, and of several deletes (or puts of unread values) only
%% the one due first is tried (see children/2).
%%
%% Shrinking: a failing key is cut at the first completion time at which
%% its prefix is already non-linearizable (binary search), then operations
%% are removed, in halving chunks and then one by one to a fixpoint (bounded).
%% A removed operation is RELAXED rather than erased: a put or delete becomes
%% "took effect at any time after its invocation, or never", an observation
%% is dropped.  Erasing would invent anomalies (a get whose put was erased
%% reads a value "never written"); relaxing only removes constraints, so the
%% remaining operations are contradictory in the real history too.  The
%% anomaly shows them plus the puts of the values their gets read.
%%
%% API: check(Events) -> {linearizable, #{ops, keys}} | {anomaly, Anomaly}
%% over decoded lines (maps with binary keys, as cnode_json gives; a client
%% event without an integer time raises {bad_event, Why, Event});
%% check_file(File) -> the same | {error, {line, N, Why}} | {error, Posix};
%% main([File]) -> 0 | 1 | 2 (printed); format_anomaly(Anomaly) -> iolist();
%% anomaly_ops(Anomaly) -> [#{process, f, key, value, result, invoke_ns,
%% complete_ns, node}] with f put | get | delete, result ok | exists |
%% not_found | info, value and node null when absent, complete_ns infinity
%% for info.  Anomaly also holds key, others (how many ops of the key are
%% not shown), minimal (false if shrinking hit its bound), failing_keys.
-module(cnode_check_lin).

-export([main/1, check_file/1, check/1, format_anomaly/1, anomaly_ops/1]).

-define(SHRINK_CHECKS, 2000).

-record(prob, {n, inv, dl, step, put_tokens, del_tokens}).

%% ---- command line ---------------------------------------------------------

main([File]) ->
    case check_file(File) of
        {linearizable, #{ops := N, keys := K}} ->
            io:format("linearizable (~b operations, ~b keys)~n", [N, K]),
            0;
        {anomaly, A} ->
            io:put_chars(format_anomaly(A)),
            1;
        {error, Why} ->
            io:format(standard_error, "cnode-check: ~ts~n", [format_error(File, Why)]),
            2
    end;
main(_) ->
    io:format(standard_error, "usage: cnode-check check FILE~n", []),
    2.

format_error(File, {line, N, Why}) ->
    io_lib:format("~ts:~b: ~ts", [File, N, Why]);
format_error(File, Why) ->
    io_lib:format("~ts: ~ts", [File, file:format_error(Why)]).

%% ---- reading a history file -----------------------------------------------

%% Lines are paired as they are read: keeping 200,000 decoded lines alive
%% costs several times their decoding in garbage collection.
check_file(File) ->
    case file:read_file(File) of
        {ok, Bin} -> read_lines(binary:split(Bin, <<"\n">>, [global]), 1, new_pairing());
        {error, _} = E -> E
    end.

read_lines([], _, Pairing) ->
    check_ops(pairs(Pairing));
read_lines([Line | Rest], N, Pairing) ->
    case read_line(Line) of
        blank -> read_lines(Rest, N + 1, Pairing);
        {ok, Class, E} -> read_lines(Rest, N + 1, pair(Class, E, Pairing));
        {error, Why} -> {error, {line, N, Why}}
    end.

read_line(Line) ->
    case is_blank(Line) of
        true -> blank;
        false -> valid_event(cnode_json:decode(Line))
    end.

valid_event({ok, E}) when is_map(E) ->
    case classify(E) of
        {bad, Why} -> {error, Why};
        Class -> {ok, Class, E}
    end;
valid_event({ok, _}) -> {error, "not a JSON object"};
valid_event({error, Why}) -> {error, io_lib:format("not valid JSON (~p)", [Why])}.

is_blank(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\r -> is_blank(R);
is_blank(B) -> B =:= <<>>.

%% ---- checking -------------------------------------------------------------

%% Events: decoded history lines, in file order.
check(Events) ->
    Pairing = lists:foldl(fun(E, P) -> pair(classify(E), E, P) end, new_pairing(), Events),
    check_ops(pairs(Pairing)).

check_ops(Ops) ->
    ByKey = maps:groups_from_list(fun({_, #{key := K}}) -> K end, Ops),
    Keys = lists:sort(maps:keys(ByKey)),
    case [K || K <- Keys, not linearizable(maps:get(K, ByKey), [])] of
        [] ->
            {linearizable, #{ops => length(Ops), keys => length(Keys)}};
        [K | _] = Bad ->
            {anomaly, anomaly(K, sort_ops(maps:get(K, ByKey)), Bad)}
    end.

%% Strict ops must take effect inside their interval; relaxed ones are
%% optional (see the header).  Both: [{Id, Op}].
linearizable(Strict, Relaxed) ->
    solve(compile(Strict, Relaxed)).

sort_ops(Ops) ->
    lists:sort(fun({I, #{invoke_ns := A}}, {J, #{invoke_ns := B}}) -> {A, I} =< {B, J} end, Ops).

%% ---- events to operations -------------------------------------------------

classify(#{<<"process">> := P} = E) when is_integer(P) ->
    Type = maps:get(<<"type">>, E, null),
    Known = lists:member(Type, [<<"invoke">>, <<"ok">>, <<"fail">>, <<"info">>]),
    case f(E) =/= unknown andalso Known of
        true -> client_event(Type, P, E);
        false -> ignore
    end;
classify(_) ->
    ignore.

client_event(Type, P, E) ->
    case {maps:get(<<"time">>, E, null), Type, maps:is_key(<<"key">>, E)} of
        {T, _, _} when not is_integer(T) -> {bad, "client event without an integer \"time\""};
        {_, <<"invoke">>, false} -> {bad, "invocation without a \"key\""};
        {_, <<"invoke">>, true} -> {invoke, P};
        _ -> {complete, P}
    end.

f(E) ->
    case maps:get(<<"f">>, E, null) of
        <<"put">> -> put;
        <<"get">> -> get;
        <<"delete">> -> delete;
        _ -> unknown
    end.

%% Pairing invocations with completions, event by event: {Seq, Open, Ops},
%% Open maps a process to {Id, Invocation}; an op's Id is the position of
%% its invocation among the events.
new_pairing() -> {0, #{}, []}.

pair({invoke, P}, E, {Seq, Open, Acc}) ->
    {Seq + 1, Open#{P => {Seq, E}}, unfinished(P, Open) ++ Acc};
pair({complete, P}, E, {Seq, Open, Acc}) ->
    case maps:take(P, Open) of
        {{Id, Inv}, Open1} -> {Seq + 1, Open1, [{Id, op(Inv, E)} | Acc]};
        error -> {Seq + 1, Open, Acc}
    end;
pair(ignore, _, {Seq, Open, Acc}) ->
    {Seq + 1, Open, Acc};
pair({bad, Why}, E, _) ->
    error({bad_event, Why, E}).

%% -> [{Id, Op}], dropping ops without effect.
pairs({_, Open, Acc}) ->
    Pending = [{Id, op(Inv, none)} || {Id, Inv} <- maps:values(Open)],
    [O || {_, #{result := R}} = O <- Pending ++ Acc, R =/= dropped].

%% A process invoking again abandoned its previous operation.
unfinished(P, Open) ->
    case Open of
        #{P := {Id, Inv}} -> [{Id, op(Inv, none)}];
        #{} -> []
    end.

op(Inv, Comp) ->
    F = f(Inv),
    Result = result(F, Comp),
    #{process => maps:get(<<"process">>, Inv),
      f => F,
      key => small(maps:get(<<"key">>, Inv)),
      value => small(value(F, Result, Inv, Comp)),
      result => Result,
      invoke_ns => maps:get(<<"time">>, Inv),
      complete_ns => complete_ns(Result, Comp),
      node => small(maps:get(<<"node">>, Inv, maps:get(<<"node">>, map_or_empty(Comp), null)))}.

%% cnode_json leaves each string in a large buffer built by appending.
small(B) when is_binary(B) -> binary:copy(B);
small(T) -> T.

map_or_empty(none) -> #{};
map_or_empty(M) -> M.

result(_, none) -> info;
result(F, Comp) ->
    case {maps:get(<<"type">>, Comp), F, maps:get(<<"error">>, Comp, null)} of
        {<<"ok">>, _, _} -> ok;
        {<<"info">>, _, _} -> info;
        {<<"fail">>, put, <<"exists">>} -> exists;
        {<<"fail">>, get, <<"not_found">>} -> not_found;
        {<<"fail">>, delete, <<"not_found">>} -> not_found;
        {<<"fail">>, _, _} -> dropped       % not_leader, or no effect at all
    end.

value(put, _, Inv, _) -> maps:get(<<"value">>, Inv, null);
value(get, ok, _, Comp) -> maps:get(<<"value">>, Comp, null);
value(_, _, _, _) -> null.

complete_ns(info, _) -> infinity;
complete_ns(_, Comp) -> maps:get(<<"time">>, Comp).

%% ---- compiling a key's operations for the search --------------------------

%% -> #prob{} | unsat.  Steps: {put, W}, {opt_put, W}, exists, {read, V},
%% absent, del; W is {val, V} or hidden.
compile(Strict, Relaxed) ->
    Reads = reads(Strict),
    Writers = writers(Strict ++ Relaxed),
    Parts = [part(role(strict, Op), Id, Op, Reads, Writers) || {Id, Op} <- Strict]
        ++ [part(role(relaxed, Op), Id, Op, Reads, Writers) || {Id, Op} <- Relaxed],
    Regular = lists:sort([R || {regular, R} <- Parts]),
    case unsat(Regular, Writers) of
        true -> unsat;
        false -> prob(Regular, [T || {put_token, T} <- Parts], [T || {del_token, T} <- Parts])
    end.

prob(Regular, PutTokens, DelTokens) ->
    #prob{n = length(Regular),
          inv = list_to_tuple([I || {I, _, _, _} <- Regular]),
          dl = list_to_tuple([D || {_, _, D, _} <- Regular]),
          step = list_to_tuple([S || {_, _, _, S} <- Regular]),
          put_tokens = list_to_tuple(lists:sort(PutTokens)),
          del_tokens = list_to_tuple(lists:sort(DelTokens))}.

%% value -> completion of its first reader
reads(Strict) ->
    lists:foldl(fun({_, #{f := get, result := ok, value := V, complete_ns := C}}, Acc) ->
                        Acc#{V => min(C, maps:get(V, Acc, C))};
                   (_, Acc) -> Acc
                end, #{}, Strict).

%% value -> how many puts may have written it
writers(Ops) ->
    lists:foldl(fun({_, #{f := put, result := R, value := V}}, Acc) when R =:= ok; R =:= info ->
                        Acc#{V => maps:get(V, Acc, 0) + 1};
                   (_, Acc) -> Acc
                end, #{}, Ops).

role(Mode, #{result := R} = Op) when Mode =:= relaxed; R =:= info -> optional(Op);
role(strict, #{f := put, result := ok}) -> put;
role(strict, #{f := put, result := exists}) -> present;
role(strict, #{f := get, result := ok}) -> read;
role(strict, #{result := not_found}) -> absent;
role(strict, #{f := delete, result := ok}) -> del.

optional(#{f := put, result := R}) when R =:= ok; R =:= info -> maybe_put;
optional(#{f := delete, result := R}) when R =:= ok; R =:= info -> maybe_del;
optional(_) -> drop.

part(drop, _, _, _, _) -> drop;
part(maybe_del, _, #{invoke_ns := I}, _, _) -> {del_token, I};
part(maybe_put, Id, #{invoke_ns := I, value := V}, Reads, Writers) ->
    case {Reads, Writers} of
        {#{V := First}, #{V := 1}} -> {regular, {I, Id, First, {put, {val, V}}}};
        {#{V := _}, _} -> {regular, {I, Id, infinity, {opt_put, {val, V}}}};
        _ -> {put_token, I}
    end;
part(Role, Id, #{invoke_ns := I, complete_ns := C, value := V}, Reads, _) ->
    {regular, {I, Id, C, strict_step(Role, V, Reads)}}.

strict_step(put, V, Reads) when is_map_key(V, Reads) -> {put, {val, V}};
strict_step(put, _, _) -> {put, hidden};
strict_step(present, _, _) -> exists;
strict_step(read, V, _) -> {read, V};
strict_step(absent, _, _) -> absent;
strict_step(del, _, _) -> del.

%% An op with an empty interval, or a read of a value no put may have written.
unsat(Regular, Writers) ->
    lists:any(fun({I, _, D, _}) -> D < I end, Regular)
        orelse lists:any(fun({_, _, _, {read, V}}) -> not is_map_key(V, Writers);
                            (_) -> false
                         end, Regular).

%% ---- the search -----------------------------------------------------------

%% A node: {P, E, State, PutTokensUsed, DelTokensUsed}.
solve(unsat) -> false;
solve(Prob) -> visit({0, 0, absent, 0, 0}, Prob, #{}) =:= found.

visit({P, E, S, UP, UD} = Node, Prob, Memo) ->
    Key = {P, E, S},
    Seen = maps:get(Key, Memo, []),
    case lists:any(fun({U, D}) -> U =< UP andalso D =< UD end, Seen) of
        true -> {failed, Memo};
        false -> expand(Node, Prob, Memo#{Key => [{UP, UD} | Seen]})
    end.

expand({N, _, _, _, _}, #prob{n = N}, _) -> found;
expand(Node, Prob, Memo) -> visit_all(children(Node, Prob), Prob, Memo).

visit_all([], _, Memo) ->
    {failed, Memo};
visit_all([Node | Nodes], Prob, Memo) ->
    case visit(Node, Prob, Memo) of
        found -> found;
        {failed, Memo1} -> visit_all(Nodes, Prob, Memo1)
    end.

%% Two reductions keep the branching low under concurrency.  A candidate
%% that leaves the state unchanged (get, exists, not_found) and is legal now
%% is linearized at once, alone: moving it to the front of any legal
%% completion keeps that completion legal.  Of candidates with the same
%% step (deletes; puts of unread values) only the earliest deadline is tried:
%% exchanging it with a later one in a legal completion keeps it legal.
children({P, E, S, UP, UD}, Prob) ->
    {Cands, Deadline} = window(P, E, infinity, [], Prob),
    Steps = [{I, element(I + 1, Prob#prob.step)} || I <- Cands],
    case [I || {I, Step} <- Steps, read_only(Step), step(Step, S) =/= []] of
        [I | _] ->
            {P1, E1} = linearize(I, P, E),
            [{P1, E1, S, UP, UD}];
        [] ->
            [{P1, E1, S1, UP, UD} || {I, Step} <- earliest_per_step(Steps, Prob),
                                     S1 <- step(Step, S),
                                     {P1, E1} <- [linearize(I, P, E)]]
                ++ tokens(S, Deadline, P, E, UP, UD, Prob)
    end.

read_only({read, _}) -> true;
read_only(exists) -> true;
read_only(absent) -> true;
read_only(_) -> false.

%% [{I, Step}] with one I per distinct Step, the one due first; by deadline.
earliest_per_step(Steps, #prob{dl = Dl}) ->
    Best = lists:foldl(fun({I, Step}, Acc) ->
                               D = element(I + 1, Dl),
                               case Acc of
                                   #{Step := {D0, _}} when D0 =< D -> Acc;
                                   #{} -> Acc#{Step => {D, I}}
                               end
                       end, #{}, Steps),
    [{I, Step} || {{_, I}, Step} <- lists:sort([{DI, St} || {St, DI} <- maps:to_list(Best)])].

%% Candidates: ops not linearized, invoked no later than the earliest
%% deadline of the ops not linearized.  Bit 0 of E is op P.
window(I, _, M, Acc, #prob{n = N}) when I >= N ->
    {lists:reverse(Acc), M};
window(I, E, M, Acc, Prob) when E band 1 =:= 1 ->
    window(I + 1, E bsr 1, M, Acc, Prob);
window(I, E, M, Acc, #prob{inv = Inv, dl = Dl} = Prob) ->
    case element(I + 1, Inv) > M of
        true -> {lists:reverse(Acc), M};
        false -> window(I + 1, E bsr 1, min(M, element(I + 1, Dl)), [I | Acc], Prob)
    end.

linearize(I, P, E) ->
    advance(P, E bor (1 bsl (I - P))).

advance(P, E) when E band 1 =:= 1 -> advance(P + 1, E bsr 1);
advance(P, E) -> {P, E}.

step({put, W}, absent) -> [W];
step({opt_put, W}, absent) -> [W, absent];
step({opt_put, _}, S) -> [S];
step(exists, S) when S =/= absent -> [S];
step({read, V}, {val, V} = S) -> [S];
step(absent, absent) -> [absent];
step(del, S) when S =/= absent -> [absent];
step(_, _) -> [].

%% Optional effects, tried after the ops: an unread value appears, or the
%% value disappears.
tokens(absent, M, P, E, UP, UD, #prob{put_tokens = T}) ->
    [{P, E, hidden, UP + 1, UD} || available(T, M) > UP];
tokens(_, M, P, E, UP, UD, #prob{del_tokens = T}) ->
    [{P, E, absent, UP, UD + 1} || available(T, M) > UD].

%% How many of the sorted times in tuple T are =< M.
available(T, M) -> count_le(T, M, 0, tuple_size(T)).

count_le(_, _, Lo, Hi) when Lo >= Hi -> Lo;
count_le(T, M, Lo, Hi) ->
    Mid = (Lo + Hi) div 2,
    case element(Mid + 1, T) =< M of
        true -> count_le(T, M, Mid + 1, Hi);
        false -> count_le(T, M, Lo, Mid)
    end.

%% ---- shrinking ------------------------------------------------------------

anomaly(Key, Ops, BadKeys) ->
    {Kept, Minimal} = minimise(Ops),
    Shown = with_writers(Kept, Ops),
    #{key => Key,
      ops => [Op || {_, Op} <- sort_ops(Shown)],
      others => length(Ops) - length(Shown),
      minimal => Minimal,
      failing_keys => BadKeys}.

minimise(Ops) ->
    {Strict, Relaxed} = cut(first_failing_cut(Ops), Ops),
    case linearizable(Strict, Relaxed) of
        false -> reduce(Strict, effects(Relaxed), initial_chunk(Strict), ?SHRINK_CHECKS);
        true -> reduce(Ops, [], initial_chunk(Ops), ?SHRINK_CHECKS)   % not expected
    end.

%% Shrinking may relax the put of a value a kept get read (that put must
%% still happen before the get); it is shown anyway, as the reader needs it.
with_writers(Kept, Ops) ->
    Read = [V || {_, #{f := get, result := ok, value := V}} <- Kept],
    lists:usort(Kept ++ [O || {_, #{f := put, result := R, value := V}} = O <- Ops,
                              R =/= exists, lists:member(V, Read)]).

%% The earliest completion time T such that the history up to T (ops still
%% running at T relaxed, later ones left out) is not linearizable.
first_failing_cut(Ops) ->
    Times = list_to_tuple(lists:usort([C || {_, #{complete_ns := C}} <- Ops, is_integer(C)])),
    Fails = fun(I) -> {S, R} = cut(element(I, Times), Ops), not linearizable(S, R) end,
    element(bsearch(1, tuple_size(Times), Fails), Times).

bsearch(Lo, Hi, _) when Lo >= Hi -> Hi;
bsearch(Lo, Hi, Fails) ->
    Mid = (Lo + Hi) div 2,
    case Fails(Mid) of
        true -> bsearch(Lo, Mid, Fails);
        false -> bsearch(Mid + 1, Hi, Fails)
    end.

cut(T, Ops) ->
    Started = [O || {_, #{invoke_ns := I}} = O <- Ops, I =< T],
    lists:partition(fun({_, #{complete_ns := C}}) -> C =< T end, Started).

%% Relaxed observations constrain nothing.
effects(Ops) ->
    [O || {_, Op} = O <- Ops, optional(Op) =/= drop].

initial_chunk(Ops) -> max(1, length(Ops) div 2).

%% Remove chunks of Kept (relaxing them into Relaxed) while the rest stays
%% non-linearizable; halve the chunk; at size 1 repeat to a fixpoint.
%% -> {Kept, OneMinimal}
reduce(Kept, Relaxed, Chunk, Budget) ->
    {Kept1, Relaxed1, Removed, Budget1} = pass(Kept, [], Relaxed, Chunk, false, Budget),
    if
        Budget1 =< 0 -> {Kept1, false};
        Chunk > 1 -> reduce(Kept1, Relaxed1, max(1, min(Chunk div 2, length(Kept1) div 2)), Budget1);
        Removed -> reduce(Kept1, Relaxed1, 1, Budget1);
        true -> {Kept1, true}
    end.

pass([], Done, Relaxed, _, Removed, Budget) ->
    {lists:reverse(Done), Relaxed, Removed, Budget};
pass(Todo, Done, Relaxed, _, _, Budget) when Budget =< 0 ->
    {lists:reverse(Done, Todo), Relaxed, true, Budget};
pass(Todo, Done, Relaxed, Chunk, Removed, Budget) ->
    {Try, After} = lists:split(min(Chunk, length(Todo)), Todo),
    Relaxed1 = effects(Try) ++ Relaxed,
    case linearizable(lists:reverse(Done, After), Relaxed1) of
        false -> pass(After, Done, Relaxed1, Chunk, true, Budget - 1);
        true -> pass(After, lists:reverse(Try, Done), Relaxed, Chunk, Removed, Budget - 1)
    end.

%% ---- reporting ------------------------------------------------------------

anomaly_ops(#{ops := Ops}) -> Ops.

format_anomaly(#{key := Key, ops := Ops, others := Others} = A) ->
    [io_lib:format("not linearizable: key ~ts, these ~b operations:~n", [show(Key), length(Ops)]),
     io_lib:format("  ~12s ~12s ~8s  ~-16s ~-7s ~-10s ~-16s ~s~n",
                   ["invoke ms", "complete ms", "process", "node", "f", "key", "value", "result"]),
     [format_op(Op) || Op <- Ops],
     "why: ", why(Ops, Others, Key), "\n",
     shrink_note(A),
     other_keys(A)].

format_op(#{invoke_ns := I, complete_ns := C, process := P, node := N, f := F,
            key := K, value := V, result := R}) ->
    io_lib:format("  ~12s ~12s ~8b  ~-16ts ~-7s ~-10ts ~-16ts ~s~n",
                  [ms(I), ms(C), P, show(N), F, show(K), show(V), R]).

ms(infinity) -> "-";
ms(Ns) -> io_lib:format("~.3f", [Ns / 1.0e6]).

show(null) -> "-";
show(B) when is_binary(B) -> B;
show(T) -> io_lib:format("~0tp", [T]).

why([#{f := F, result := R} = Op], _, _) when F =:= get, R =:= ok; F =:= delete, R =:= ok;
                                              F =:= put, R =:= exists ->
    io_lib:format("the ~s ~s, but no put ~tsthat succeeded or may have succeeded "
                  "was invoked before it completed", [F, seen(Op), of_value(Op)]);
why(_, Others, Key) ->
    io_lib:format("no order of these operations is legal: each must take effect at one instant "
                  "between its invocation and completion (info: any time after invocation, or "
                  "never), put only if the key is absent, delete only if present, get reading the "
                  "current value; this holds even if the other ~b operations on ~ts took effect "
                  "at any time after their invocation or never", [Others, show(Key)]).

seen(#{f := get, value := V}) -> io_lib:format("read ~ts", [show(V)]);
seen(#{f := delete}) -> "succeeded";
seen(#{f := put}) -> "found the key present".

of_value(#{f := get, value := V}) -> io_lib:format("of ~ts ", [show(V)]);
of_value(_) -> "".

shrink_note(#{minimal := true}) -> "";
shrink_note(#{}) -> "(shrinking stopped at its bound: some of these may not be needed)\n".

other_keys(#{failing_keys := [_]}) -> "";
other_keys(#{failing_keys := [_ | More]}) ->
    io_lib:format("also not linearizable: keys ~ts~n", [lists:join(", ", [show(K) || K <- More])]).
