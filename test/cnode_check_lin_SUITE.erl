%% cnode_check_lin_SUITE - the linearizability checker of cnode-check
%% (cnode_check_lin): small known histories, linearizable or not, written
%% as JSON lines and checked through the file path; the shrunk anomaly; and
%% random histories of a simulated register (100,000 operations, and
%% mutated ones that must be rejected).  Times are printed, never asserted.
-module(cnode_check_lin_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0]).
-export([sequential_ok/1, concurrent_puts/1, stale_read/1, read_never_written/1,
         not_found_while_present/1, delete_not_found_then_old_value/1,
         info_put_seen_later/1, info_put_never_seen/1, info_put_seen_before_invoke/1,
         not_leader_ignored/1, exists_and_not_found/1, multi_key_isolation/1,
         literal_file/1, malformed_line/1, minimal_anomaly/1, format_and_exit_codes/1,
         random_100k_linearizable/1, random_mutations/1, brute_force_agreement/1]).

all() ->
    [sequential_ok, concurrent_puts, stale_read, read_never_written, not_found_while_present,
     delete_not_found_then_old_value, info_put_seen_later, info_put_never_seen,
     info_put_seen_before_invoke, not_leader_ignored, exists_and_not_found,
     multi_key_isolation, literal_file, malformed_line, minimal_anomaly,
     format_and_exit_codes, random_100k_linearizable, random_mutations,
     brute_force_agreement].

%% ---- known histories -------------------------------------------------------
%% o(Process, F, Key, Value, InvokeMs, CompleteMs, Result); Result is ok,
%% exists, not_found, not_leader, info, or pending (never completed).

sequential_ok(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, ok), o(1, get, k, a, 20, 30, ok),
                          o(1, put, k, b, 40, 50, exists), o(1, delete, k, null, 60, 70, ok),
                          o(1, get, k, null, 80, 90, not_found), o(1, put, k, c, 100, 110, ok),
                          o(1, get, k, c, 120, 130, ok)]).

%% Overlapping puts: one may win; both winning with no delete is an anomaly.
concurrent_puts(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, ok), o(2, put, k, b, 5, 15, exists)]),
    A = anomaly(Config, [o(1, put, k, a, 0, 10, ok), o(2, put, k, b, 5, 15, ok)]),
    ?assertEqual([put, put], fs(A)).

stale_read(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, ok), o(2, delete, k, null, 20, 40, ok),
                          o(3, get, k, a, 30, 50, ok)]),
    A = anomaly(Config, [o(1, put, k, a, 0, 10, ok), o(2, delete, k, null, 20, 30, ok),
                         o(3, get, k, a, 40, 50, ok)]),
    ?assertEqual([put, delete, get], fs(A)).

read_never_written(Config) ->
    A = anomaly(Config, [o(1, put, k, a, 0, 10, ok), o(1, get, k, zz, 20, 30, ok)]),
    ?assertMatch([#{f := get, value := <<"zz">>}], cnode_check_lin:anomaly_ops(A)).

not_found_while_present(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, ok), o(2, get, k, null, 5, 15, not_found)]),
    A = anomaly(Config, [o(1, put, k, a, 0, 10, ok), o(2, get, k, null, 20, 30, not_found)]),
    ?assertEqual([put, get], fs(A)).

%% The put and the delete alone already contradict each other.
delete_not_found_then_old_value(Config) ->
    A = anomaly(Config, [o(1, put, k, a, 0, 10, ok), o(2, delete, k, null, 20, 30, not_found),
                         o(3, get, k, a, 40, 50, ok)]),
    ?assertEqual([put, delete], fs(A)).

%% The info put takes effect after its (info) completion: legal.
info_put_seen_later(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, info), o(2, get, k, null, 20, 30, not_found),
                          o(2, get, k, a, 40, 50, ok), o(3, put, k, b, 60, 70, exists)]).

info_put_never_seen(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, info), o(2, get, k, null, 20, 30, not_found),
                          o(2, put, k, b, 40, 50, ok), o(2, get, k, b, 60, 70, ok),
                          o(4, put, k, c, 65, 80, pending)]).

info_put_seen_before_invoke(Config) ->
    A = anomaly(Config, [o(2, get, k, a, 0, 10, ok), o(1, put, k, a, 20, 30, info)]),
    ?assertMatch([#{f := get}, #{f := put, complete_ns := infinity}],
                 cnode_check_lin:anomaly_ops(A)).

not_leader_ignored(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, not_leader), o(1, get, k, null, 20, 30, not_found),
                          o(1, delete, k, null, 40, 50, not_leader),
                          o(1, put, k, b, 60, 70, ok)]).

exists_and_not_found(Config) ->
    linearizable(Config, [o(1, put, k, a, 0, 10, ok), o(2, put, k, b, 20, 30, exists),
                          o(2, delete, k, null, 40, 50, ok),
                          o(1, delete, k, null, 45, 60, not_found),
                          o(3, put, k, c, 70, 80, ok), o(4, put, k, d, 75, 85, exists),
                          o(3, get, k, c, 90, 100, ok)]),
    ?assertEqual([put], fs(anomaly(Config, [o(1, put, k, b, 0, 10, exists)]))),
    ?assertEqual([put, delete],
                 fs(anomaly(Config, [o(1, put, k, a, 0, 10, ok),
                                     o(2, delete, k, null, 20, 30, not_found)]))).

%% The same operations on two keys are legal; on one key they are not.
multi_key_isolation(Config) ->
    Ops = [o(1, put, k1, a, 0, 10, ok), o(2, put, k2, b, 20, 30, ok),
           o(1, get, k1, a, 40, 50, ok), o(2, get, k2, b, 40, 50, ok)],
    {linearizable, #{ops := 4, keys := 2}} = check_ops(Config, Ops),
    Bad = Ops ++ [o(3, get, k2, a, 60, 70, ok)],
    {anomaly, #{key := <<"k2">>, failing_keys := [<<"k2">>]}} = check_ops(Config, Bad).

%% Hand-written lines: blank lines, nemesis events, unknown f and process,
%% an extra field.
literal_file(Config) ->
    Text = <<"{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start_partition\",\"value\":\"{n1 n2} | {n3}\",\"time\":1}\n"
             "{\"process\":0,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k\",\"value\":\"v1\",\"node\":\"n1@h\",\"time\":100}\n"
             "\n"
             "  \r\n"
             "{\"process\":0,\"type\":\"ok\",\"f\":\"put\",\"key\":\"k\",\"node\":\"n1@h\",\"time\":200,\"extra\":[1,2]}\n"
             "{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k\",\"time\":210}\n"
             "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\",\"node\":\"n1@h\",\"time\":300}\n"
             "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":\"n3\",\"time\":301}\n"
             "{\"process\":0,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\",\"value\":\"v1\",\"node\":\"n1@h\",\"time\":400}\n">>,
    File = write(Config, "literal.jsonl", Text),
    {linearizable, #{ops := 2, keys := 1}} = cnode_check_lin:check_file(File),
    0 = cnode_check_lin:main([File]).

malformed_line(Config) ->
    Good = lines([o(1, put, k, a, 0, 10, ok)]),
    File = write(Config, "malformed.jsonl", [Good, "{\"process\":1,\"type\":\n"]),
    {error, {line, 3, _}} = cnode_check_lin:check_file(File),
    2 = cnode_check_lin:main([File]),
    NotObject = write(Config, "array.jsonl", [Good, "[1,2]\n"]),
    {error, {line, 3, _}} = cnode_check_lin:check_file(NotObject),
    NoTime = write(Config, "notime.jsonl", <<"{\"process\":1,\"type\":\"invoke\",\"f\":\"get\",\"key\":\"k\"}\n">>),
    {error, {line, 1, _}} = cnode_check_lin:check_file(NoTime),
    {error, enoent} = cnode_check_lin:check_file(filename:join(?config(priv_dir, Config), "none")),
    2 = cnode_check_lin:main([filename:join(?config(priv_dir, Config), "none")]).

%% 50 sequential operations (put, get, delete, get not_found, ...) with one
%% stale read in the middle shrink to the few that contradict each other.
minimal_anomaly(Config) ->
    Ops = [round_op(I) || I <- lists:seq(0, 49)],
    A = anomaly(Config, Ops),
    ct:pal("~ts", [cnode_check_lin:format_anomaly(A)]),
    Kept = cnode_check_lin:anomaly_ops(A),
    ?assert(length(Kept) =< 4),
    ?assert(lists:any(fun(#{f := F, value := V}) -> F =:= get andalso V =:= <<"v5">> end, Kept)),
    #{minimal := true} = A.

%% Round R: put vR, get vR, delete, get not_found; op 29, which should
%% read v7, reads v5 (deleted in round 5).
round_op(29) -> o(1, get, k, v5, 290, 295, ok);
round_op(I) ->
    V = list_to_atom("v" ++ integer_to_list(I div 4)),
    case I rem 4 of
        0 -> o(1, put, k, V, I * 10, I * 10 + 5, ok);
        1 -> o(1, get, k, V, I * 10, I * 10 + 5, ok);
        2 -> o(1, delete, k, null, I * 10, I * 10 + 5, ok);
        3 -> o(1, get, k, null, I * 10, I * 10 + 5, not_found)
    end.

format_and_exit_codes(Config) ->
    Ops = [o(1, put, k, a, 0, 10, ok), o(2, delete, k, null, 20, 30, ok),
           o(3, get, k, a, 40, 50, ok), o(4, put, k, b, 45, 60, info)],
    File = write(Config, "stale.jsonl", lines(Ops)),
    {anomaly, A} = cnode_check_lin:check_file(File),
    Text = unicode:characters_to_binary(cnode_check_lin:format_anomaly(A)),
    ct:pal("~ts", [Text]),
    Lines = binary:split(Text, <<"\n">>, [global, trim_all]),
    [<<"not linearizable", _/binary>>, _Header, Put, Del, Get, <<"why: no order", _/binary>>] = Lines,
    [match = re:run(L, Re, [{capture, none}])
     || {L, Re} <- [{Put, "0\\.000 +10\\.000 +1 +n1@h +put +k +a +ok"},
                    {Del, "20\\.000 +30\\.000 +2 +n2@h +delete +k +- +ok"},
                    {Get, "40\\.000 +50\\.000 +3 +n3@h +get +k +a +ok"}]],
    1 = cnode_check_lin:main([File]),
    [#{process := 3, f := get, key := <<"k">>, value := <<"a">>, result := ok,
       invoke_ns := 40000000, complete_ns := 50000000, node := <<"n3@h">>}] =
        [Op || #{f := get} = Op <- cnode_check_lin:anomaly_ops(A)],
    Info = check_ops(Config, [o(4, put, k, b, 0, 10, info), o(1, get, k, a, 20, 30, ok)]),
    {anomaly, #{ops := [#{result := ok}]}} = Info.

%% ---- random histories -----------------------------------------------------

%% In memory; the file path (mostly JSON decoding) on a tenth of it.
random_100k_linearizable(Config) ->
    {Events, _} = generate(#{ops => 100000, keys => 10, procs => 8, seed => {1, 2, 3}}),
    {Us, {linearizable, #{ops := N, keys := 10}}} = timer:tc(cnode_check_lin, check, [Events]),
    ?assert(N > 95000),
    Small = lists:sublist(Events, 20000),
    File = write(Config, "random_10k.jsonl", [[cnode_json:encode(E), $\n] || E <- Small]),
    {FileUs, {linearizable, _}} = timer:tc(cnode_check_lin, check_file, [File]),
    ct:pal("check/1 of ~b ops over 10 keys: ~.2f s; check_file/1 of ~b lines: ~.2f s",
           [N, Us / 1.0e6, length(Small), FileUs / 1.0e6]).

%% A get reading a value that certainly was not current during it
%% (deleted and replaced before it began, or put after it ended) must be
%% found, and must be among the operations the anomaly keeps.
random_mutations(_Config) ->
    Sizes = [mutate_and_check(Seed) || Seed <- lists:seq(1, 20)],
    ct:pal("anomaly sizes: ~p", [Sizes]).

mutate_and_check(Seed) ->
    {Events, Ops} = generate(#{ops => 2000, keys => 3, procs => 6, seed => {Seed, 7, 11}}),
    {linearizable, _} = cnode_check_lin:check(Events),
    {Get, Stale} = pick_mutation(Ops),
    #{id := Id, key := Key, proc := P, inv := Inv} = Get,
    Mutated = [corrupt(E, Id, Stale) || E <- Events],
    {anomaly, #{key := Key} = A} = cnode_check_lin:check(Mutated),
    Kept = cnode_check_lin:anomaly_ops(A),
    ?assert(lists:any(fun(#{process := Q, invoke_ns := I, f := F}) ->
                              {Q, I, F} =:= {P, Inv, get}
                      end, Kept)),
    length(Kept).

corrupt(#{<<"op">> := Id, <<"type">> := <<"ok">>} = E, Id, V) -> E#{<<"value">> => V};
corrupt(E, _, _) -> E.

pick_mutation(Ops) ->
    Gets = [G || #{f := get, result := {ok, _}} = G <- Ops],
    pick_mutation(shuffle(Gets), Ops).

pick_mutation([G | Gs], Ops) ->
    case stale_value(G, Ops) of
        none -> pick_mutation(Gs, Ops);
        V -> {G, V}
    end.

%% V put (ok) on G's key, then a later put W (invoked after V's put
%% completed) succeeded and completed before G began: V was gone.  Else a
%% value first put after G completed.
stale_value(#{key := K, inv := GI, comp := GC}, Ops) ->
    Puts = [P || #{f := put, key := K1} = P <- Ops, K1 =:= K],
    Ok = [P || #{result := ok} = P <- Puts],
    Stale = [V || #{comp := WC, inv := WI} <- Ok, WC < GI,
                  #{comp := VC, value := V} <- Ok, VC < WI],
    Future = [V || #{inv := I, value := V} <- Puts, I > GC],
    case Stale ++ Future of
        [] -> none;
        Vs -> lists:nth(rand:uniform(length(Vs)), Vs)
    end.

shuffle(L) ->
    [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

%% Small random histories, with random (mostly wrong) results: the checker
%% agrees with trying every order, and what an anomaly shows is itself not
%% linearizable.
brute_force_agreement(_Config) ->
    rand:seed(exsss, {5, 6, 7}),
    Verdicts = [agree(small_history()) || _ <- lists:seq(1, 600)],
    ct:pal("linearizable: ~b, not: ~b",
           [length([V || V <- Verdicts, V]), length([V || V <- Verdicts, not V])]).

agree(Ops) ->
    Events = [E || {_, E} <- lists:keysort(1, lists:append([op_events(Op) || Op <- Ops]))],
    Expected = brute(Ops),
    case cnode_check_lin:check(Events) of
        {linearizable, _} when Expected -> true;
        {anomaly, A} when not Expected ->
            false = brute([from_report(Op) || Op <- cnode_check_lin:anomaly_ops(A)]);
        Other -> ct:fail({disagree, Ops, Other})
    end.

%% Up to 3 processes with up to 3 operations each on one key, times in ms
%% (ties happen); a process ends at an info.
small_history() ->
    lists:append([process_ops(P, rand:uniform(10), rand:uniform(4) - 1) || P <- [1, 2, 3]]).

process_ops(_, _, 0) -> [];
process_ops(P, T, N) ->
    F = lists:nth(rand:uniform(3), [put, get, delete]),
    Inv = T + rand:uniform(5) - 1,
    Comp = Inv + rand:uniform(8) - 1,
    {Value, Result} = small_outcome(F, P, N),
    Op = o(P, F, k, Value, Inv, Comp, Result),
    case Result of
        info -> [Op];
        _ -> [Op | process_ops(P, Comp, N - 1)]
    end.

small_outcome(put, P, N) ->
    {list_to_atom("v" ++ integer_to_list(10 * P + N)), pick([ok, ok, exists, info])};
small_outcome(get, _, _) ->
    case pick([value, not_found, info]) of
        value -> {list_to_atom("v" ++ integer_to_list(10 * rand:uniform(3) + rand:uniform(3))), ok};
        R -> {null, R}
    end;
small_outcome(delete, _, _) ->
    {null, pick([ok, not_found, info])}.

pick(L) -> lists:nth(rand:uniform(length(L)), L).

from_report(#{process := P, f := F, value := V, invoke_ns := I, complete_ns := C, result := R}) ->
    #{proc => P, f => F, value => V, inv => I, comp => C, result => R}.

%% Every order: the next op must not have been invoked after a remaining
%% op that must take effect completed; info ops may also never happen.
brute(Ops) ->
    brute([Op#{comp := comp_or_infinity(Op), value := bin(V)}
           || #{result := R, value := V} = Op <- Ops, R =/= not_leader], absent).

comp_or_infinity(#{result := info}) -> infinity;
comp_or_infinity(#{comp := C}) -> C.

brute(Ops, S) ->
    Due = lists:min([infinity | [C || #{comp := C, result := R} <- Ops, R =/= info]]),
    Due =:= infinity orelse
        lists:any(fun(#{inv := I} = Op) ->
                          I =< Due andalso
                              lists:any(fun(S1) -> brute(Ops -- [Op], S1) end, brute_step(Op, S))
                  end, Ops).

brute_step(#{result := info, f := get}, S) -> [S];
brute_step(#{result := info} = Op, S) -> [S | brute_step(Op#{result := ok}, S)];
brute_step(#{f := put, result := ok, value := V}, absent) -> [V];
brute_step(#{f := put, result := exists}, S) when S =/= absent -> [S];
brute_step(#{f := get, result := ok, value := V}, V) -> [V];
brute_step(#{result := not_found}, absent) -> [absent];
brute_step(#{f := delete, result := ok}, S) when S =/= absent -> [absent];
brute_step(_, _) -> [].

%% ---- the simulated register ------------------------------------------------
%% Processes run one operation at a time; each takes effect at one instant
%% inside its interval.  Some fail with not_leader (no effect); some end in
%% info and take effect, possibly after the info completion, or never, and
%% their process is replaced by a new one.  Returns {Events, Ops}; every event
%% carries an extra "op" field (the checker must ignore it).

-define(MAX_NS, 1000000).

generate(#{procs := NP, seed := Seed} = Opts) ->
    rand:seed(exsss, Seed),
    Q = lists:foldl(fun(P, Q) -> push(rand:uniform(?MAX_NS), {invoke, P}, Q) end,
                    gb_sets:new(), lists:seq(1, NP)),
    sim(Q, #{opts => Opts, issued => 0, next_proc => NP + 1, reg => #{},
             events => [], ops => #{}}).

push(T, Ev, Q) -> gb_sets:add({T, erlang:unique_integer([monotonic]), Ev}, Q).

sim(Q, St) ->
    case gb_sets:is_empty(Q) of
        true ->
            #{events := Es, ops := Ops} = St,
            {lists:reverse(Es), maps:values(Ops)};
        false ->
            {{T, _, Ev}, Q1} = gb_sets:take_smallest(Q),
            {Q2, St1} = sim_event(T, Ev, Q1, St),
            sim(Q2, St1)
    end.

sim_event(_, {invoke, _}, Q, #{issued := N, opts := #{ops := N}} = St) ->
    {Q, St};
sim_event(T, {invoke, P}, Q, #{issued := N, opts := #{keys := NK} = Opts} = St) ->
    F = lists:nth(rand:uniform(3), [put, get, delete]),
    Op = #{id => N, proc => P, f => F, inv => T, value => put_value(F, N),
           key => iolist_to_binary(["k", integer_to_list(rand:uniform(NK))]),
           node => iolist_to_binary(["n", integer_to_list(rand:uniform(5)), "@h"])},
    St1 = emit(invoke_event(Op), St#{issued := N + 1}),
    Info = maps:get(info_pct, Opts, 2),
    {schedule(T, Op, rand:uniform(100) - 2, Info, Q), St1};
sim_event(T, {apply, Op, Outcome}, Q, St) ->
    {Result, St1} = apply_op(Op, St),
    case Outcome of
        normal -> {push(T + dur(), {complete, Op, Result}, Q), St1};
        info -> {Q, St1}
    end;
sim_event(T, {complete, #{proc := P} = Op, Result}, Q, #{next_proc := NP} = St) ->
    St1 = record(Op#{comp => T, result => Result}, emit(completion_event(Op, T, Result), St)),
    case Result of
        info -> {push(T + dur(), {invoke, NP}, Q), St1#{next_proc := NP + 1}};
        _ -> {push(T + dur() div 5, {invoke, P}, Q), St1}
    end.

%% 2% not_leader, info_pct% (default 2) info, half of which take effect,
%% up to 3 intervals later; the rest take effect inside their interval.
schedule(T, Op, Dice, _, Q) when Dice =< 0 ->
    push(T + dur(), {complete, Op, not_leader}, Q);
schedule(T, Op, Dice, Info, Q) when Dice =< Info ->
    Q1 = push(T + dur(), {complete, Op, info}, Q),
    case rand:uniform(2) of
        1 -> push(T + 3 * dur(), {apply, Op, info}, Q1);
        2 -> Q1
    end;
schedule(T, Op, _, _, Q) ->
    push(T + dur(), {apply, Op, normal}, Q).

dur() -> rand:uniform(?MAX_NS).

put_value(put, N) -> iolist_to_binary(["v", integer_to_list(N)]);
put_value(_, _) -> null.

apply_op(#{f := F, key := K, value := V}, #{reg := Reg} = St) ->
    {Result, New} = register_op(F, V, maps:get(K, Reg, absent)),
    {Result, St#{reg := Reg#{K => New}}}.

register_op(put, V, absent) -> {ok, V};
register_op(put, _, Cur) -> {exists, Cur};
register_op(get, _, absent) -> {not_found, absent};
register_op(get, _, Cur) -> {{ok, Cur}, Cur};
register_op(delete, _, absent) -> {not_found, absent};
register_op(delete, _, _) -> {ok, absent}.

emit(E, #{events := Es} = St) -> St#{events := [E | Es]}.

record(#{id := Id} = Op, #{ops := Ops} = St) -> St#{ops := Ops#{Id => Op}}.

invoke_event(#{id := Id, proc := P, f := F, key := K, node := Node, inv := T, value := V}) ->
    maps:merge(#{<<"process">> => P, <<"type">> => <<"invoke">>, <<"f">> => atom_to_binary(F),
                 <<"key">> => K, <<"node">> => Node, <<"time">> => T, <<"op">> => Id},
               case F of put -> #{<<"value">> => V}; _ -> #{} end).

completion_event(#{id := Id, proc := P, f := F, key := K, node := Node}, T, Result) ->
    maps:merge(#{<<"process">> => P, <<"f">> => atom_to_binary(F), <<"key">> => K,
                 <<"node">> => Node, <<"time">> => T, <<"op">> => Id},
               result_fields(Result)).

result_fields(ok) -> #{<<"type">> => <<"ok">>};
result_fields({ok, V}) -> #{<<"type">> => <<"ok">>, <<"value">> => V};
result_fields(info) -> #{<<"type">> => <<"info">>, <<"error">> => <<"timeout">>};
result_fields(Error) -> #{<<"type">> => <<"fail">>, <<"error">> => atom_to_binary(Error)}.

%% ---- helpers --------------------------------------------------------------

o(P, F, Key, Value, InvMs, CompMs, Result) ->
    #{proc => P, f => F, key => atom_to_binary(Key), value => bin(Value),
      inv => InvMs * 1000000, comp => CompMs * 1000000, result => Result,
      node => iolist_to_binary(["n", integer_to_list(P), "@h"])}.

bin(A) when is_atom(A), A =/= null -> atom_to_binary(A);
bin(V) -> V.

%% The JSON lines of ops, in time order (a stable sort keeps each op's
%% invocation before its completion).
lines(Ops) ->
    Events = lists:append([op_events(Op) || Op <- Ops]),
    [[cnode_json:encode(E), $\n] || {_, E} <- lists:keysort(1, Events)].

op_events(#{f := F, value := V, inv := I, comp := C, result := R} = Op) ->
    Inv = {I, invoke_event(Op#{id => 0})},
    case R of
        pending -> [Inv];
        _ -> [Inv, {C, completion_event(Op#{id => 0}, C, test_result(F, V, R))}]
    end.

test_result(get, V, ok) -> {ok, V};
test_result(_, _, R) -> R.

write(Config, Name, Data) ->
    File = filename:join(?config(priv_dir, Config), Name),
    ok = file:write_file(File, Data),
    File.

check_ops(Config, Ops) ->
    Name = "h" ++ integer_to_list(erlang:unique_integer([positive])) ++ ".jsonl",
    cnode_check_lin:check_file(write(Config, Name, lines(Ops))).

linearizable(Config, Ops) ->
    {linearizable, _} = check_ops(Config, Ops).

anomaly(Config, Ops) ->
    {anomaly, A} = check_ops(Config, Ops),
    A.

fs(A) -> [F || #{f := F} <- cnode_check_lin:anomaly_ops(A)].
