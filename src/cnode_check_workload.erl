%% cnode_check_workload - one cluster's run, the same for every protocol:
%% form the cluster, start the nemesis, run the clients, end the faults,
%% let the cluster settle, take the final reads, check, report.
%%
%% What is protocol-specific lives in the protocol's module (module/1),
%% which exports these callbacks (Ctx is the scenario map plus hosts,
%% nodes, bin_dir, ebin, seed; the nodes' specs are in the ets table
%% cnode_check_nodes, id -> spec):
%%   argv(Spec, Ctx) -> [string()]        the node's start command
%%   ready(Spec, Ms) -> ok | {error, _}    wait until the node serves
%%   setup(Ctx, Ms) -> ok | {error, _}     form the cluster
%%   leader() -> Id | none                 for the nemesis's -leader faults
%%   run_clients(Ctx, Seconds)             the workload, recording history
%%   restarted(Ctx)                        after the nemesis restarted a node
%%   settle(Ctx, Ms) -> {ok, _} | {error, Details}   after the faults end
%%   final_reads(Ctx, FirstProcess)        last observations, into the history
%%   check(Ctx, Events) -> {[{Label, ok | {failed, Text} | {failed, Text, Anomaly}}],
%%                          #{anomalies => N, lost => N}}
-module(cnode_check_workload).

-export([run/2, module/1, protocols/0]).

%% Protocol name -> callback module.
protocols() ->
    [{<<"raft_kv">>, cnode_check_raft}, {<<"gossip_chat">>, cnode_check_gossip},
     {<<"chatterbox">>, cnode_check_chatterbox}].

module(#{protocol := P}) -> proplists:get_value(P, protocols()).

-define(LEADER_MS, 20000).
-define(READY_MS, 30000).

run(Ctx, Dir) -> run(module(Ctx), Ctx, Dir).

run(Mod, Ctx, Dir) ->
    History = filename:join(Dir, "history.jsonl"),
    cnode_check_history:open(History),
    case Mod:setup(Ctx, ?LEADER_MS) of
        ok -> ok;
        {error, Why} -> cnode_check_history:close(),
                        throw({error, io_lib:format("cluster did not form: ~p", [Why])})
    end,
    #{nemesis := N, seed := Seed, hosts := Hosts, seconds := Seconds} = Ctx,
    Nemesis = cnode_check_nemesis:start(N#{hosts => Hosts, seed => Seed, root => maps:get(root, Ctx),
                                           leader => fun Mod:leader/0,
                                           restart => fun(S) -> restart(Mod, Ctx, S) end}),
    Mod:run_clients(Ctx, Seconds),
    cnode_check_nemesis:stop(Nemesis),
    Settled = Mod:settle(Ctx, round(maps:get(settle_seconds, Ctx) * 1000)),
    Mod:final_reads(Ctx, 1000000),
    cnode_check_history:close(),
    {ok, Events} = cnode_check_history:read(History),
    {Checks0, Counts} = Mod:check(Ctx, Events),
    Checks = [{<<"settled">>, settled(Settled)} | Checks0],
    Row = Counts#{ops => count_ops(Events), faults => count_faults(Events), checks => Checks,
                  seconds => maps:get(seconds, Ctx)},
    Report = report(Dir, Events, Ctx, Row),
    Row#{report => Report}.

%% A killed node started again with its data; the cluster is told.
restart(Mod, Ctx, Spec) ->
    S = cnode_check_nodes:restart(Spec, Ctx),
    ets:insert(cnode_check_nodes, {maps:get(id, S), S}),
    _ = Mod:ready(S, ?READY_MS),
    Mod:restarted(Ctx),
    S.

settled({ok, _}) -> ok;
settled({error, Details}) ->
    {failed, io_lib:format("the cluster did not settle in time: ~0p", [Details])}.

%% #{ok, fail, info} counts of completed client operations.
count_ops(Events) ->
    lists:foldl(fun(#{<<"process">> := P, <<"type">> := T}, Acc) when is_integer(P),
                                                                     T =/= <<"invoke">> ->
                        maps:update_with(binary_to_atom(T), fun(X) -> X + 1 end, 1, Acc);
                   (_, Acc) -> Acc
                end, #{ok => 0, fail => 0, info => 0}, Events).

count_faults(Events) ->
    length([E || E = #{<<"process">> := <<"nemesis">>, <<"f">> := F} <- Events,
                 lists:member(F, [<<"start_partition">>, <<"kill">>, <<"pause">>, <<"crash">>])]).

report(Dir, Events, Ctx, Row) ->
    Anomaly = [A || {_, {failed, _, A}} <- maps:get(checks, Row)],
    Info = #{title => iolist_to_binary([maps:get(name, Ctx), " / ", filename:basename(Dir)]),
             seed => maps:get(seed, Ctx),
             results => [{L, cnode_check_results:verdict_text(V)}
                         || {L, V} <- maps:get(checks, Row)],
             node_logs => [{list_to_binary(maps:get(name, S)),
                            list_to_binary(filename:join(filename:basename(maps:get(dir, S)),
                                                         "node.log"))}
                           || S <- maps:get(nodes, Ctx)]},
    Info2 = case Anomaly of
                [A | _] -> Info#{anomaly => cnode_check_lin:anomaly_ops(A)};
                [] -> Info
            end,
    try cnode_check_report:write(Dir, Events, Info2) of
        {ok, Path} -> Path
    catch
        C:E -> io:format("   report not written: ~p:~p~n", [C, E]), none
    end.
