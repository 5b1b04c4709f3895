%% @doc Erlang reference of the Gleam `raft_kv` main of seed 002, plus an API
%% for building mixed clusters of reference nodes and external (C) nodes.
%%
%% The seed's main: read config.toml (num_nodes, default 5; num_clients,
%% default 3), print "Config: N nodes, C clients", start nodes 1..N
%% ("Started node I"), send each `{set_peers, Others}` ("All peers
%% configured"), send `start_election` to node 1, sleep 200 ms ("Election
%% complete, starting clients"), start the clients ("Started client I"), send
%% each `start` ("All C clients started sending requests"), sleep 3000 ms,
%% print "Done".
%%
%% `run/1` does the same.  With `timing => await` (the default) the two sleeps
%% are replaced by waiting for what they stand for: the leader has handled
%% `start_election` (a `sys:get_state` round trip queued behind it), and every
%% client has finished and every reference node has applied the leader's
%% last commit.  `timing => seed` uses the seed's sleeps instead.
%%
%% Everything that reads node state (`stores/1`, `status/1`, `applied/1`,
%% `wait_applied/3`) uses `sys:get_state/2` on the node's pid, which works on
%% reference nodes exactly as on gleam_otp actors (both answer `{ok, State}`,
%% State being the Gleam `State` record); it adds no message to the node
%% protocol.  Pass only reference (or real Gleam) nodes to these functions.
%%
%% Nodes and clients are linked to the process that starts them (as
%% gleam_otp's actor.start links); stop_nodes/1 unlinks them from the
%% caller, so call it from the process that started them.
-module(raft_ref_main).

-export([main/0, main/1, run/1, read_config/1,
         start_node/2, start_nodes/1, start_nodes/2,
         set_peers/1, set_peers/2, elect/2,
         run_clients/2, run_clients/3, client_ops/2,
         status/1, stores/1, applied/1, wait_applied/3, stop_nodes/1]).

-define(STATE_TIMEOUT, 5000).

-type node_ref() :: {integer(), raft_ref_actor:subject()}.

%% ---------------------------------------------------------------------------
%% The seed's main

%% @doc CLI entry like `gleam run`:
%% `erl -noshell -pa _build/default/lib/cnode/ebin -run raft_ref_main main [config.toml]`.
%% Reads the config file (default "config.toml"; a missing file is an error,
%% as in the seed), runs, and halts: 0 on success, 127 on a crash.
main() ->
    main([]).

main(Args) ->
    Path = case Args of
               [P | _] -> P;
               [] -> "config.toml"
           end,
    catch io:setopts(standard_io, [{encoding, unicode}]),
    try
        {NumNodes, NumClients} = read_config(Path),
        run(#{num_nodes => NumNodes, num_clients => NumClients}),
        erlang:halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "~p: ~tp~n~tp~n", [Class, Reason, Stack]),
            erlang:halt(127, [{flush, true}])
    end.

%% @doc Read `num_nodes` and `num_clients` from a TOML file (top-level integer
%% keys only); missing keys default to 5 and 3 as in the seed.
-spec read_config(file:filename()) -> {pos_integer(), pos_integer()}.
read_config(Path) ->
    {ok, Content} = file:read_file(Path),
    Pairs = lists:filtermap(
              fun(Line0) ->
                      Line = string:trim(hd(string:split(Line0, "#"))),
                      case string:split(Line, "=") of
                          [K, V] ->
                              case string:to_integer(string:trim(V)) of
                                  {I, Rest} when is_integer(I) ->
                                      case string:trim(Rest) of
                                          <<>> -> {true, {string:trim(K), I}};
                                          _ -> false
                                      end;
                                  _ -> false
                              end;
                          _ -> false
                      end
              end, string:split(Content, "\n", all)),
    {proplists:get_value(<<"num_nodes">>, Pairs, 5),
     proplists:get_value(<<"num_clients">>, Pairs, 3)}.

%% @doc Run the seed's emulation end to end and print what it prints.
%%
%% Options (all optional):
%%   num_nodes   (5)  reference nodes, ids 1..num_nodes
%%   num_clients (3)
%%   seed        client C sends raft_ref_client:ops(Seed, C); without a seed
%%               the clients draw unseeded random ops as in the seed
%%   ops         #{ClientId => [Command]} explicit ops (overrides seed)
%%   leader_id   (1)  the node sent start_election
%%   external    ([]) extra {Id, Subject} peers (e.g. C nodes): counted in the
%%               cluster size, included in every set_peers, and sent
%%               set_peers themselves
%%   timing      (await) | seed
%%   await_election  fun(LeaderSubject) that returns once the leader has
%%               handled start_election; default: a sys:get_state round trip
%%               if the leader is a reference node, else the seed's 200 ms
%%   keep_nodes  (false) leave the reference nodes running
%%
%% Returns #{nodes => [{Id, Subject}] (reference and external),
%%           leader => Subject,
%%           results => [{ClientId, [{Command, Reply}]}],
%%           stores => [{Id, Store}], applied => [{Id, [{Index, Term, Cmd}]}]}
%% (stores/applied of the reference nodes only, read after the run).
run(Opts) ->
    NumNodes = maps:get(num_nodes, Opts, 5),
    NumClients = maps:get(num_clients, Opts, 3),
    External = maps:get(external, Opts, []),
    LeaderId = maps:get(leader_id, Opts, 1),
    Timing = maps:get(timing, Opts, await),
    ensure_unicode_output(),
    println(["Config: ", i2s(NumNodes), " nodes, ", i2s(NumClients), " clients"]),
    ClusterSize = NumNodes + length(External),
    Local = [begin
                 Node = start_node(I, ClusterSize),
                 println(["Started node ", i2s(I)]),
                 Node
             end || I <- lists:seq(1, NumNodes)],
    Nodes = Local ++ External,
    set_peers(Nodes),
    println("All peers configured"),
    {LeaderId, Leader} = lists:keyfind(LeaderId, 1, Nodes),
    raft_ref_actor:send(Leader, start_election),
    LeaderIsRef = lists:keymember(LeaderId, 1, Local) orelse is_reference_node(Leader),
    case Opts of
        #{await_election := Await} -> Await(Leader);
        _ when Timing =:= seed; not LeaderIsRef -> timer:sleep(200);
        _ -> _ = get_state(Leader)
    end,
    println("Election complete, starting clients"),
    Clients = [begin
                   {ok, C} = raft_ref_client:start(Leader, client_opts(I, Opts)),
                   println(["Started client ", i2s(I)]),
                   {I, C}
               end || I <- lists:seq(1, NumClients)],
    Monitors = [{I, erlang:monitor(process, element(2, C))} || {I, C} <- Clients],
    [raft_ref_actor:send(C, start) || {_, C} <- Clients],
    println(["All ", i2s(NumClients), " clients started sending requests"]),
    Results = case Timing of
                  seed ->
                      timer:sleep(3000),
                      collect_results(Monitors, 0);
                  await ->
                      R = collect_results(Monitors, infinity),
                      settle(Leader, LeaderIsRef, Local, R),
                      R
              end,
    println("Done"),
    Out = #{nodes => Nodes, leader => Leader, results => Results,
            stores => stores(Local),
            applied => [{Id, applied(S)} || {Id, S} <- Local]},
    case maps:get(keep_nodes, Opts, false) of
        true -> ok;
        false -> stop_nodes(Local)
    end,
    Out.

client_opts(I, Opts) ->
    Base = #{id => I, report_to => self()},
    case Opts of
        #{ops := #{I := Ops}} -> Base#{ops => Ops};
        #{seed := Seed} -> Base#{seed => Seed};
        _ -> Base
    end.

%% After the clients: the leader has answered (and then sends its
%% CommitNotifications).  Wait until every reference node has applied up to
%% the leader's commit index; with an external leader, up to the number of
%% requests the clients saw committed (one log entry per such request in the
%% seed's protocol).  Gives up silently after 5 s; the returned applied
%% sequences then show the difference.
settle(Leader, LeaderIsRef, Local, Results) ->
    Target = case LeaderIsRef of
                 true -> element(7, get_state(Leader));
                 false -> length([R || {_, Rs} <- Results, is_list(Rs),
                                       {_, R} <- Rs, committed_reply(R)])
             end,
    _ = wait_applied(Local, Target, 5000),
    ok.

committed_reply({op_error, <<"not leader">>}) -> false;
committed_reply({error, <<"not leader">>}) -> false;
committed_reply({op_error, <<"replication failed">>}) -> false;
committed_reply({error, <<"replication failed">>}) -> false;
committed_reply(_) -> true.

%% ---------------------------------------------------------------------------
%% Mixed-cluster API

%% @doc Start reference node Id in a cluster of ClusterSize nodes (all nodes,
%% reference and external).  It prints "[node Id] Starting".  Linked to the
%% caller, as gleam_otp's actor.start links.
-spec start_node(integer(), pos_integer()) -> node_ref().
start_node(Id, ClusterSize) ->
    {ok, Subject} = raft_ref_node:start(Id, ClusterSize),
    {Id, Subject}.

%% @doc Start reference nodes 1..N in a cluster of N.
-spec start_nodes(pos_integer()) -> [node_ref()].
start_nodes(N) ->
    start_nodes(lists:seq(1, N), N).

%% @doc Start reference nodes with the given ids in a cluster of ClusterSize
%% (leave room for the external nodes).
-spec start_nodes([integer()], pos_integer()) -> [node_ref()].
start_nodes(Ids, ClusterSize) ->
    [start_node(Id, ClusterSize) || Id <- Ids].

%% @doc Send `{set_peers, AllNodes -- [itself]}` to every node of AllNodes
%% (reference and external), as the seed's main does.
-spec set_peers([node_ref()]) -> ok.
set_peers(AllNodes) ->
    set_peers(AllNodes, [Id || {Id, _} <- AllNodes]).

%% @doc Same, but only to the nodes whose ids are in Targets (e.g. when a C
%% node takes its peers from peers.json).
-spec set_peers([node_ref()], [integer()]) -> ok.
set_peers(AllNodes, Targets) ->
    lists:foreach(
      fun({Id, Subject}) ->
              case lists:member(Id, Targets) of
                  true ->
                      Peers = [P || {PId, _} = P <- AllNodes, PId =/= Id],
                      raft_ref_actor:send(Subject, {set_peers, Peers});
                  false -> ok
              end
      end, AllNodes).

%% @doc Send `start_election` to node LeaderId and return its Subject.  If the
%% node is a reference node the call returns once it has handled the
%% election (check the outcome with status/1); for an external node it
%% returns at once.
-spec elect([node_ref()], integer()) -> raft_ref_actor:subject().
elect(Nodes, LeaderId) ->
    {LeaderId, Leader} = lists:keyfind(LeaderId, 1, Nodes),
    raft_ref_actor:send(Leader, start_election),
    case is_reference_node(Leader) of
        true -> _ = get_state(Leader);
        false -> ok
    end,
    Leader.

%% @doc Run NumClients seeded clients (client C sends client_ops(Seed, C))
%% against Leader (any Subject: reference, Gleam or C node) and wait until
%% all have finished.  Returns [{ClientId, [{Command, Reply}]}].  A client
%% that crashes (e.g. a call timeout) takes the caller down with it, as the
%% Gleam client does its main.
run_clients(Leader, NumClients, Seed) ->
    run_clients(Leader, [{I, client_ops(Seed, I)} || I <- lists:seq(1, NumClients)]).

%% @doc Run one client per {ClientId, [Command]} concurrently; same return.
run_clients(Leader, ClientOps) ->
    Clients = [begin
                   {ok, C} = raft_ref_client:start(
                               Leader, #{id => I, ops => Ops, report_to => self()}),
                   {I, C}
               end || {I, Ops} <- ClientOps],
    Monitors = [{I, erlang:monitor(process, element(2, C))} || {I, C} <- Clients],
    [raft_ref_actor:send(C, start) || {_, C} <- Clients],
    collect_results(Monitors, infinity).

%% @doc The commands client ClientId sends for Seed (see raft_ref_client).
client_ops(Seed, ClientId) ->
    raft_ref_client:ops(Seed, ClientId).

collect_results(Monitors, Timeout) ->
    [collect_result(I, Mon, Timeout) || {I, Mon} <- Monitors].

collect_result(I, Mon, Timeout) ->
    receive
        {raft_ref_client_done, _Pid, I, Results} ->
            erlang:demonitor(Mon, [flush]),
            {I, Results};
        {'DOWN', Mon, process, _Pid, Reason} ->
            {I, {client_exited, Reason}}
    after Timeout ->
            erlang:demonitor(Mon, [flush]),
            {I, unfinished}
    end.

%% @doc A reference node's state as a map: id, role, current_term, voted_for,
%% commit_index, last_applied, log, store, peers (ids), cluster_size.
status({_Id, Subject}) ->
    status(Subject);
status(Subject) ->
    {state, Id, Term, VotedFor, Role, Log, Commit, Applied, Peers, Store,
     _NextIndex, _MatchIndex, ClusterSize, _Self} = get_state(Subject),
    #{id => Id, role => Role, current_term => Term, voted_for => VotedFor,
      commit_index => Commit, last_applied => Applied, log => Log,
      store => Store, peers => [P || {P, _} <- Peers],
      cluster_size => ClusterSize}.

%% @doc [{Id, Store}] of reference nodes; Store is #{Key => Value}.
stores(Nodes) ->
    [{Id, maps:get(store, status(S))} || {Id, S} <- Nodes].

%% @doc The entries a reference node has applied: [{Index, Term, Command}]
%% for Index in 1..last_applied (the leader applies with apply_command_result,
%% followers in apply_committed; both apply the log in index order).
applied({_Id, Subject}) ->
    applied(Subject);
applied(Subject) ->
    #{log := Log, last_applied := Applied} = status(Subject),
    [begin
         {log_entry, Term, Cmd} = maps:get(I, Log),
         {I, Term, Cmd}
     end || I <- lists:seq(1, Applied)].

%% @doc Wait until every reference node has applied index Index or more;
%% `ok`, or `{timeout, [{Id, LastApplied}]}` after TimeoutMs.  Each check is
%% a sys:get_state round trip to the node.
wait_applied(Nodes, Index, TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    wait_applied_loop(Nodes, Index, Deadline).

wait_applied_loop(Nodes, Index, Deadline) ->
    Behind = [{Id, A} || {Id, S} <- Nodes,
                         (A = maps:get(last_applied, status(S))) < Index],
    case Behind of
        [] -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> {timeout, Behind};
                false ->
                    erlang:yield(),
                    wait_applied_loop(Nodes, Index, Deadline)
            end
    end.

%% @doc Stop reference nodes (unlinking them from the caller first).
stop_nodes(Nodes) ->
    lists:foreach(
      fun({_Id, {subject, Pid, _}}) ->
              unlink(Pid),
              Ref = erlang:monitor(process, Pid),
              exit(Pid, shutdown),
              receive {'DOWN', Ref, process, Pid, _} -> ok end
      end, Nodes).

%% ---------------------------------------------------------------------------
%% Helpers

%% gleam_otp answers the get_state system message with {ok, State} (where
%% OTP processes answer State), so sys:get_state/2 returns {ok, State} for a
%% gleam_otp actor; the reference actor does the same.
get_state({subject, Pid, _}) ->
    case sys:get_state(Pid, ?STATE_TIMEOUT) of
        {ok, State} -> State;
        State -> State
    end.

is_reference_node({subject, Pid, _}) when node(Pid) =:= node() ->
    try proc_lib:initial_call(Pid) of
        {raft_ref_actor, _, _} -> true;
        _ -> false
    catch _:_ -> false
    end;
is_reference_node(_) ->
    false.

%% Like the Gleam entry module, which sets standard_io to UTF-8 so that
%% "[client] Starting — will send 5 requests" prints as UTF-8: switch the
%% caller's io device to unicode if it is a latin1 device.
ensure_unicode_output() ->
    try io:getopts() of
        Opts when is_list(Opts) ->
            case proplists:get_value(encoding, Opts) of
                latin1 -> _ = io:setopts([{encoding, unicode}]), ok;
                _ -> ok
            end;
        _ -> ok
    catch _:_ -> ok
    end.

i2s(I) -> integer_to_binary(I).

println(Chars) ->
    io:format("~ts~n", [Chars]).
