%% cnode_check_scenario - reading and checking a cnode-check scenario file
%% (docs/check.md has the format).  Every field is checked; a bad file is
%% an error that names the field.  Defaults fill what is left out.
%%
%%   {"name": "raft-partitions", "protocol": "raft_kv", "seed": 1,
%%    "seconds": 20, "settle_seconds": 30,
%%    "clusters": {"all_c": ["c", "c", "c"], "mixed": ["c", "c", "erlang"],
%%                 "mine": ["c", "c", {"cmd": "my_node --name {name} ..."}]},
%%    "expect": {"all_erlang": "known limitation: ..."},
%%    "workload": {"clients": 8, "keys": 5, "rate": 50, "op_timeout_ms": 1000,
%%                 "mix": [4, 4, 2], "durable": true, "power_loss": false,
%%                 "election_timeout_ms": 300,
%%                 chatterbox: "protocol", "wait_for", "max_rate", "tick_ms",
%%                 "ticktime", "tolerance", "nemesis_until"},
%%    "nemesis": {"faults": ["partition-halves", "kill"], "interval_ms": 2000,
%%                "duration_ms": 2000}}
-module(cnode_check_scenario).

-export([load/2, parse/2]).

load(File, Flags) ->
    case file:read_file(File) of
        {ok, Bin} -> parse(Bin, Flags);
        {error, Why} -> throw({error, io_lib:format("cannot read ~s: ~s", [File, file:format_error(Why)])})
    end.

parse(Bin, Flags) ->
    J = case cnode_json:decode(Bin) of
            {ok, M} when is_map(M) -> M;
            {ok, _} -> bad("the file", "is not a JSON object");
            {error, Why} -> bad("the file", io_lib:format("is not JSON (~p)", [Why]))
        end,
    Known = [<<"name">>, <<"protocol">>, <<"seed">>, <<"seconds">>, <<"settle_seconds">>,
             <<"clusters">>, <<"expect">>, <<"workload">>, <<"nemesis">>, <<"description">>],
    [bad(K, "is not a known field") || K <- maps:keys(J), not lists:member(K, Known)],
    Clusters0 = clusters(get(<<"clusters">>, J, required, fun is_map/1)),
    Clusters = case maps:get(clusters, Flags, all) of
                   all -> Clusters0;
                   Only -> [C || C = {N, _} <- Clusters0, lists:member(N, Only)]
               end,
    Clusters =:= [] andalso bad("--cluster", "names no cluster of the scenario"),
    #{name => binary_to_list(get(<<"name">>, J, required, fun is_binary/1)),
      protocol => protocol(get(<<"protocol">>, J, required, fun is_binary/1)),
      seed => maps:get(seed, Flags, get(<<"seed">>, J, 1, fun is_integer/1)),
      seconds => maps:get(seconds, Flags, get(<<"seconds">>, J, 20, fun is_number/1)),
      settle_seconds => get(<<"settle_seconds">>, J, 30, fun is_number/1),
      clusters => Clusters,
      expect => get(<<"expect">>, J, #{}, fun is_map/1),
      cookie => "ck_" ++ integer_to_list(erlang:unique_integer([positive])) ++
                    "_" ++ os:getpid(),
      workload => workload(get(<<"workload">>, J, #{}, fun is_map/1)),
      nemesis => nemesis(get(<<"nemesis">>, J, #{}, fun is_map/1))}.

get(K, J, Default, Ok) ->
    case maps:find(K, J) of
        error when Default =:= required -> bad(K, "is missing");
        error -> Default;
        {ok, V} ->
            Ok(V) orelse bad(K, io_lib:format("has the wrong type (~s)", [cnode_json:encode(V)])),
            V
    end.

bad(Field, What) -> throw({error, io_lib:format("scenario: ~s ~s", [Field, What])}).

%% A protocol whose workload module is there (cnode_check_workload:protocols/0).
protocol(P) ->
    Known = [N || {N, M} <- cnode_check_workload:protocols(), code:ensure_loaded(M) =:= {module, M}],
    lists:member(P, Known) orelse
        bad("protocol", io_lib:format("~s is not one of: ~s", [P, lists:join(", ", Known)])),
    P.

clusters(M) ->
    [{binary_to_list(Name), [impl(Name, I) || I <- Impls]}
     || {Name, Impls} <- lists:sort(maps:to_list(M)),
        is_list(Impls) orelse bad(["clusters.", Name], "is not a list"),
        length(Impls) >= 1 orelse bad(["clusters.", Name], "is empty")].

impl(_, <<"c">>) -> <<"c">>;
impl(_, <<"erlang">>) -> <<"erlang">>;
impl(_, #{<<"cmd">> := T}) when is_binary(T) -> {cmd, T};
impl(Name, Other) ->
    bad(["clusters.", Name], io_lib:format("has ~s: an implementation is \"c\", \"erlang\" "
                                           "or {\"cmd\": TEMPLATE}", [cnode_json:encode(Other)])).

%% The workload's fields; those without a default here (chatterbox's) are
%% kept only when given, and the protocol's module supplies its default.
workload(W) ->
    Int = fun is_integer/1,
    Num = fun is_number/1,
    Optional = [{<<"protocol">>, fun(P) -> P =:= <<"fast">> orelse P =:= <<"seed">> end},
                {<<"wait_for">>, Num}, {<<"max_rate">>, Int}, {<<"tick_ms">>, Int},
                {<<"ticktime">>, Int}, {<<"tolerance">>, Num}, {<<"nemesis_until">>, Num}],
    Known = [<<"clients">>, <<"keys">>, <<"rate">>, <<"op_timeout_ms">>, <<"mix">>, <<"durable">>,
             <<"power_loss">>, <<"election_timeout_ms">> | [K || {K, _} <- Optional]],
    [bad(["workload.", K], "is not a known field") || K <- maps:keys(W), not lists:member(K, Known)],
    Mix = get(<<"mix">>, W, [4, 4, 2], fun(L) -> is_list(L) andalso length(L) =:= 3 end),
    Given = maps:from_list([{binary_to_atom(K), get(K, W, required, Ok)}
                            || {K, Ok} <- Optional, maps:is_key(K, W)]),
    Given#{clients => get(<<"clients">>, W, 8, Int),
           keys => get(<<"keys">>, W, 5, Int),
           rate => get(<<"rate">>, W, 0, Num),
           op_timeout_ms => get(<<"op_timeout_ms">>, W, 1000, Int),
           mix => list_to_tuple(Mix),
           durable => get(<<"durable">>, W, true, fun is_boolean/1),
           power_loss => get(<<"power_loss">>, W, false, fun is_boolean/1),
           election_timeout_ms => get(<<"election_timeout_ms">>, W, 300, Int)}.

nemesis(N) ->
    Faults = get(<<"faults">>, N, [], fun is_list/1),
    [is_binary(F) andalso cnode_check_nemesis:valid(F) orelse
         bad("nemesis.faults", io_lib:format("has ~s; known (or several joined by +): ~s",
                                             [cnode_json:encode(F),
                                              lists:join(", ", cnode_check_nemesis:faults())]))
     || F <- Faults],
    #{faults => Faults,
      interval_ms => get(<<"interval_ms">>, N, 2000, fun is_integer/1),
      duration_ms => get(<<"duration_ms">>, N, 2000, fun is_integer/1)}.
