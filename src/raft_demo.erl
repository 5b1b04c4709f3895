%% raft_demo - the main job (`make demo`): one raft_kv cluster of C and
%% Erlang nodes doing real work.
%%
%% Five nodes: three C nodes (priv/bin/raft_kv, full Raft, registered with
%% epmd) and two Erlang nodes running the reference emulation (each its own
%% BEAM, started with peer).  Every node learns its peers' Subjects through
%% set_peers, as the Gleam emulation's main does; the C nodes elect a leader
%% (pre-vote among the C nodes, votes from everyone); three clients send the
%% seed's random operations; the replication trace of every node is printed
%% as it happens.  At the end every node's store is shown; the demo exits 1
%% if any differs.
-module(raft_demo).
-export([main/0, host_ref_node/3]).

-define(CLIENTS, 3).
-define(SEED, 2026).

main() ->
    ok = io:setopts([{encoding, unicode}]),
    Cookie = atom_to_list(erlang:get_cookie()),
    Root = root(),
    Bin = filename:join([Root, "priv", "bin", "raft_kv"]),
    Tag = os:getpid(),
    Self = self(),
    io:format("== starting 3 C nodes and 2 Erlang nodes~n"),
    Cs = [cnode_proc:start(Bin, ["--sname", "demo_c" ++ integer_to_list(I) ++ "_" ++ Tag,
                                 "--cookie", Cookie, "--id", integer_to_list(I),
                                 "--election-timeout", "300", "--trace"],
                           #{stdout => Self,
                             log => filename:join(log_dir(Root), "c" ++ integer_to_list(I) ++ ".log")})
          || I <- [1, 2, 3]],
    Code = [filename:absname(filename:dirname(code:which(?MODULE)))],
    Es = [begin
              {ok, P, N} = peer:start(#{name => "demo_e" ++ integer_to_list(I) ++ "_" ++ Tag,
                                        args => ["-setcookie", Cookie, "-pa" | Code]}),
              {I, P, N}
          end || I <- [4, 5]],
    [io:format("   C node ~b: ~s~n", [I, maps:get(node, C)]) || {I, C} <- lists:zip([1, 2, 3], Cs)],
    [io:format("   Erlang node ~b: ~s~n", [I, N]) || {I, _, N} <- Es],
    CSubjects = [{I, gen_server:call({raft_kv, maps:get(node, C)}, subject)}
                 || {I, C} <- lists:zip([1, 2, 3], Cs)],
    ESubjects = [begin
                     _ = erpc:call(N, erlang, spawn, [?MODULE, host_ref_node, [I, 5, Self]]),
                     receive {ref_node, I, Subject} -> {I, Subject} end
                 end || {I, _, N} <- Es],
    All = CSubjects ++ ESubjects,
    io:format("== set_peers to all five~n"),
    ok = raft_ref_main:set_peers(All),
    {1, S1} = lists:keyfind(1, 1, All),
    raft_ref_actor:send(S1, start_election),
    Leader = wait_leader(Cs, 10000),
    io:format("== leader: C node ~b; ~b clients start~n",
              [maps:get(id, status(Leader)), ?CLIENTS]),
    LeaderSubject = gen_server:call({raft_kv, maps:get(node, Leader)}, subject),
    Results = raft_ref_main:run_clients(LeaderSubject, ?CLIENTS, ?SEED),
    Ops = length(lists:append([R || {_, R} <- Results])),
    Last = maps:get(commit_index, status(Leader)),
    io:format("== ~b client operations done; waiting for every node to apply ~b entries~n",
              [Ops, Last]),
    ok = wait_applied(Cs, ESubjects, Last, 10000),
    drain_lines(),
    Stores = [{"C node " ++ integer_to_list(I), maps:get(store, status(C))}
              || {I, C} <- lists:zip([1, 2, 3], Cs)] ++
             [{"Erlang node " ++ integer_to_list(I),
               maps:get(store, raft_ref_main:status(S))}
              || {I, S} <- ESubjects],
    io:format("~n== stores~n"),
    [io:format("   ~-14s ~s~n", [Who, show(Store)]) || {Who, Store} <- Stores],
    Same = length(lists:usort([S || {_, S} <- Stores])) =:= 1,
    [0 = cnode_proc:stop(C) || C <- Cs],
    [peer:stop(P) || {_, P, _} <- Es],
    case Same of
        true ->
            io:format("== all 5 stores identical~n"),
            halt(0);
        false ->
            io:format("== STORES DIFFER~n"),
            halt(1)
    end.

status(#{node := N}) -> gen_server:call({raft_kv, N}, status).

%% On an Erlang node: run reference node Id (it is linked to this process,
%% as gleam_otp links an actor to its starter) until the node stops.
host_ref_node(Id, Size, ReplyTo) ->
    {Id, Subject} = raft_ref_main:start_node(Id, Size),
    ReplyTo ! {ref_node, Id, Subject},
    receive stop -> ok end.

wait_leader(Cs, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    wait_leader(Cs, Deadline, loop).
wait_leader(Cs, Deadline, loop) ->
    print_lines(),
    case [C || C <- Cs, maps:get(role, status(C)) =:= leader] of
        [L] -> L;
        _ ->
            erlang:monotonic_time(millisecond) < Deadline orelse error(no_leader),
            receive after 20 -> wait_leader(Cs, Deadline, loop) end
    end.

wait_applied(Cs, Es, Index, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    wait_applied_loop(Cs, Es, Index, Deadline).
wait_applied_loop(Cs, Es, Index, Deadline) ->
    print_lines(),
    CBehind = [C || C <- Cs, maps:get(last_applied, status(C)) < Index],
    EBehind = [S || {_, S} <- Es, maps:get(last_applied, raft_ref_main:status(S)) < Index],
    case CBehind ++ EBehind of
        [] -> ok;
        _ ->
            erlang:monotonic_time(millisecond) < Deadline orelse error(not_applied),
            receive after 20 -> wait_applied_loop(Cs, Es, Index, Deadline) end
    end.

%% The C nodes' trace lines arrive as messages; print them as they come.
print_lines() ->
    receive
        {cnode_line, _Name, Line} -> io:format("~s~n", [Line]), print_lines()
    after 0 -> ok
    end.

drain_lines() ->
    receive
        {cnode_line, _Name, Line} -> io:format("~s~n", [Line]), drain_lines()
    after 200 -> ok
    end.

show(Store) ->
    string:join([io_lib:format("~s=~s", [K, V]) || {K, V} <- lists:sort(maps:to_list(Store))],
                " ").

root() ->
    case os:getenv("CNODE_ROOT") of
        false -> {ok, D} = file:get_cwd(), D;
        R -> R
    end.

log_dir(Root) ->
    D = filename:join([Root, "_build", "demo"]),
    ok = filelib:ensure_path(D),
    D.
