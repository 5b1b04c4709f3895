%% raft_SUITE - raft_kv C nodes in mixed clusters with the Erlang reference
%% (the Gleam emulation's behaviour), in all-C clusters through epmd, and
%% under faults: leader and follower kills, restarts from --data-dir,
%% partitions, hostile messages; and designated-leader conformance.
-module(raft_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("kernel/include/file.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-compile([export_all, nowarn_export_all]).

-define(T, 10000).

%% With CNODE_PEER_OTP set to another release, raft_peer_SUITE runs the
%% mixed cases here with the Erlang side on such a node (peer_case/2).
all() ->
    case cnode_test_lib:other_peer_otp() of
        true -> [];
        false -> all_groups()
    end.

all_groups() ->
    [{group, mixed}, {group, all_c}, {group, faults}, {group, operations},
     {group, membership}, {group, snapshots}, {group, conformance}].

groups() ->
    [{mixed, [], [mixed_erlang_leader, mixed_c_leader, seed_semantics,
                   start_election_designates]},
     {all_c, [], [all_c_cluster]},
     {faults, [], [leader_killed, follower_restart, whole_cluster_restart,
                   wiped_follower_repaired, wiped_follower_rejoins,
                   forward_answered_when_leader_stops,
                   hostile_messages,
                   bad_flags_and_files]},
     {membership, [], [grow_and_remove_leader, replace_dead_member, membership_errors]},
     {snapshots, [], [snapshot_catch_up, snapshot_restart, no_snapshot_beside_emulation]},
     {operations, [], [transfer_leadership, rolling_restart, status_command,
                       load_counts_failures, cli_errors_name_the_cause, status_bounded]},
     {conformance, [], [designated_leader_same_applies, emulate_run]}].

init_per_suite(Config) ->
    cnode_test_lib:init_dist(Config).

end_per_suite(_Config) -> ok.

init_per_testcase(TC, Config) ->
    put(tc, TC),
    Config.

end_per_testcase(_, Config) ->
    %% every C node a case started stops cleanly (sanitizers included); all
    %% are stopped before one that did not is reported, so none is left over
    Codes = [{maps:get(node, C), cnode_test_lib:stop(C)} || C <- started()],
    erase(started),
    [] = [Bad || {_, Code} = Bad <- Codes, Code =/= 0],
    Config.

%% Case TC run whole (init_per_testcase, the case, end_per_testcase) in the
%% calling process: raft_peer_SUITE runs it so on a node of another release.
peer_case(TC, Config0) ->
    Config = init_per_testcase(TC, Config0),
    try ?MODULE:TC(Config)
    after end_per_testcase(TC, Config)
    end.

%% ---- helpers -------------------------------------------------------------

started() -> case get(started) of undefined -> []; L -> L end.

%% Starts a raft_kv C node with id Id; Args are extra flags; Extra are
%% cnode_test_lib:start/3's options (a name, say).
cnode(Config, Id, Args) -> cnode(Config, Id, Args, []).
cnode(Config, Id, Args, Extra) ->
    C = cnode_test_lib:start("raft_kv", Config,
                             [{args, ["--id", integer_to_list(Id), "--election-timeout", "300",
                                      "--trace-file", trace_file(Config, Id)] ++ Args} | Extra]),
    put(started, [C | started()]),
    C.

forget(C) -> put(started, started() -- [C]).

trace_file(Config, Id) ->
    filename:join(?config(priv_dir, Config),
                  atom_to_list(get(tc)) ++ "_trace_" ++ integer_to_list(Id) ++ ".txt").

subject(#{node := N}) -> gen_server:call({raft_kv, N}, subject).
status(#{node := N}) -> gen_server:call({raft_kv, N}, status).
applied(#{node := N}) -> gen_server:call({raft_kv, N}, applied).

%% The C nodes' states, kept up to date by their raft_kv_event messages
%% ({watch, self()}), until Done(States) holds; fails after Ms.  Events left
%% from an earlier wait are dropped first: each watch sends the state now.
await_states(Cs, Ms, Done, Failure) ->
    flush_events(),
    Pids = [begin
                ok = gen_server:call({raft_kv, N}, {watch, self()}),
                receive {raft_kv_event, P, _, _, _, _} = E when node(P) =:= N -> {P, E} end
            end || #{node := N} <- Cs],
    await_states(maps:from_list(Pids), Cs, erlang:monotonic_time(millisecond) + Ms, Done, Failure).

await_states(States, Cs, Deadline, Done, Failure) ->
    case Done(States) of
        {true, Result} -> Result;
        false ->
            Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
            receive
                {raft_kv_event, P, _, _, _, _} = E when is_map_key(P, States) ->
                    await_states(States#{P := E}, Cs, Deadline, Done, Failure)
            after Left ->
                    ct:fail({Failure, [{node(P), R, T, A} || {raft_kv_event, P, R, T, _, A}
                                                                  <- maps:values(States)]})
            end
    end.

%% quiet if no C node of Cs reports a term above 0 within Ms (an absence:
%% the one bounded wait); else {campaigned, Event}.
no_term_within(Cs, Ms) ->
    flush_events(),
    Nodes = maps:from_list([{N, true} || #{node := N} <- Cs]),
    [ok = gen_server:call({raft_kv, N}, {watch, self()}) || #{node := N} <- Cs],
    Deadline = now_ms() + Ms,
    no_term_until(Nodes, Deadline).

%% (other nodes this process watches may send events meanwhile)
no_term_until(Nodes, Deadline) ->
    receive
        {raft_kv_event, P, _, T, _, _} = E when T > 0, is_map_key(node(P), Nodes) ->
            {campaigned, E};
        {raft_kv_event, _, _, _, _, _} -> no_term_until(Nodes, Deadline)
    after max(0, Deadline - now_ms()) -> quiet
    end.

flush_events() ->
    receive {raft_kv_event, _, _, _, _, _} -> flush_events() after 0 -> ok end.

%% Waits until exactly one of the C nodes is leader.
wait_leader(Cs, Ms) ->
    await_states(Cs, Ms,
                 fun(States) ->
                         case [node(P) || {raft_kv_event, P, leader, _, _, _} <- maps:values(States)] of
                             [N] -> {true, hd([C || #{node := CN} = C <- Cs, CN =:= N])};
                             _ -> false
                         end
                 end, no_leader).

catch_status(C, Key) ->
    case catch status(C) of
        #{} = S -> maps:get(Key, S);
        _ -> down
    end.

%% Waits until every node has applied at least Index.
wait_applied(Cs, Index) ->
    await_states(Cs, ?T,
                 fun(States) ->
                         lists:all(fun({raft_kv_event, _, _, _, _, A}) -> A >= Index end,
                                   maps:values(States)) andalso {true, ok}
                 end, {behind, Index}).

%% A put through a node's Subject, as the Gleam client's actor.call.
put_kv(Subject, K, V) -> call(Subject, fun(R) -> {client_put, K, V, R} end).
get_kv(Subject, K) -> call(Subject, fun(R) -> {client_get, K, R} end).
delete_kv(Subject, K) -> call(Subject, fun(R) -> {client_delete, K, R} end).

call({subject, Pid, Tag}, Make) ->
    ReplyTag = make_ref(),
    Mon = erlang:monitor(process, Pid),
    Pid ! {Tag, Make({subject, self(), ReplyTag})},
    receive
        {ReplyTag, Reply} -> erlang:demonitor(Mon, [flush]), Reply;
        {'DOWN', Mon, process, _, Reason} -> {down, Reason}
    after 5000 ->
            erlang:demonitor(Mon, [flush]),
            timeout
    end.

ref_nodes(Ids, Size) -> raft_ref_main:start_nodes(Ids, Size).

same_stores(RefNodes, Cs) ->
    RefStores = [S || {_, S} <- raft_ref_main:stores(RefNodes)],
    CStores = [maps:get(store, status(C)) || C <- Cs],
    [First | _] = All = RefStores ++ CStores,
    true = lists:all(fun(S) -> S =:= First end, All),
    First.

%% ---- mixed clusters ------------------------------------------------------

%% Two reference nodes and three C nodes; the reference node 1 wins the
%% designated election; the C followers stay quiet (its monitor, not
%% heartbeats, tells them it is alive) and apply in the same order.
mixed_erlang_leader(Config) ->
    Cs = [cnode(Config, I, []) || I <- [3, 4, 5]],
    Ref = ref_nodes([1, 2], 5),
    All = Ref ++ [{I, subject(C)} || {I, C} <- lists:zip([3, 4, 5], Cs)],
    ok = raft_ref_main:set_peers(All),
    Leader = raft_ref_main:elect(All, 1),
    leader = maps:get(role, raft_ref_main:status(Leader)),
    Results = raft_ref_main:run_clients(Leader, 3, 7),
    15 = length(lists:append([R || {_, R} <- Results])),
    Last = maps:get(commit_index, raft_ref_main:status(Leader)),
    wait_applied(Cs, Last),
    ok = raft_ref_main:wait_applied(Ref, Last, ?T),
    _ = same_stores(Ref, Cs),
    RefApplied = raft_ref_main:applied(lists:nth(2, Ref)),
    [RefApplied = applied(C) || C <- Cs],
    %% the C nodes never campaigned against the Erlang leader
    [follower = catch_status(C, role) || C <- Cs],
    [1 = catch_status(C, leader) || C <- Cs],
    raft_ref_main:stop_nodes(Ref).

%% Three C nodes and two reference nodes; a C node is elected (raft mode,
%% with pre-vote among C nodes) and leads the reference followers.
mixed_c_leader(Config) ->
    Cs = [cnode(Config, I, []) || I <- [1, 2, 3]],
    Ref = ref_nodes([4, 5], 5),
    All = [{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)] ++ Ref,
    ok = raft_ref_main:set_peers(All),
    _ = raft_ref_main:elect(All, 1),
    L = wait_leader(Cs, ?T),
    LeaderSubject = subject(L),
    Results = raft_ref_main:run_clients(LeaderSubject, 3, 11),
    Replies = [Rep || {_, Rs} <- Results, {_, Rep} <- Rs],
    15 = length(Replies),
    false = lists:member({op_error, <<"not leader">>}, Replies),
    Last = maps:get(commit_index, status(L)),
    wait_applied(Cs, Last),
    ok = raft_ref_main:wait_applied(Ref, Last, ?T),
    _ = same_stores(Ref, Cs),
    Expected = applied(L),
    [Expected = applied(C) || C <- Cs],
    [Expected = raft_ref_main:applied(R) || R <- Ref],
    raft_ref_main:stop_nodes(Ref).

%% Three reference nodes and C nodes 4 and 5, as a Gleam user mixes them.
%% No C node campaigns on its own before the seed's start_election (term 0
%% with emulation peers: the cluster waits to be told), and start_election
%% makes its node the leader, also when another C node leads already: a
%% forced campaign (no pre-vote, a higher term).
start_election_designates(Config) ->
    [C4, C5] = Cs = [cnode(Config, I, []) || I <- [4, 5]],
    Ref = ref_nodes([1, 2, 3], 5),
    All = Ref ++ [{I, subject(C)} || {I, C} <- lists:zip([4, 5], Cs)],
    ok = raft_ref_main:set_peers(All),
    %% an absence, so a bounded look: five election timeouts (300-600 ms)
    %% after set_peers, neither has campaigned
    Quiet = no_term_within(Cs, 3000),
    expect(Quiet =:= quiet, {campaigned_before_start_election, [status(C) || C <- Cs]}),
    _ = raft_ref_main:elect(All, 4),
    {4, T4} = await_agreed_leader(Cs, ?T),
    op_ok = put_kv(subject(C4), <<"k4">>, <<"v4">>),
    _ = raft_ref_main:elect(All, 5),
    {5, T5} = await_agreed_leader(Cs, ?T),
    expect(T5 > T4, {no_later_term, T4, T5}),
    op_ok = put_kv(subject(C5), <<"k5">>, <<"v5">>),
    {ok, <<"v4">>} = get_kv(subject(C5), <<"k4">>),
    raft_ref_main:stop_nodes(Ref).

%% The seed's semantics and error strings, answered by a C leader.
seed_semantics(Config) ->
    Cs = [cnode(Config, I, []) || I <- [1, 2, 3]],
    All = [{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)],
    ok = raft_ref_main:set_peers(All),
    L = wait_leader(Cs, ?T),
    S = subject(L),
    op_ok = put_kv(S, <<"x">>, <<"1">>),
    {op_error, <<"key already exists: x">>} = put_kv(S, <<"x">>, <<"2">>),
    {ok, <<"1">>} = get_kv(S, <<"x">>),
    {error, <<"key not found: nokey">>} = get_kv(S, <<"nokey">>),
    op_ok = delete_kv(S, <<"x">>),
    {op_error, <<"key not found: x">>} = delete_kv(S, <<"x">>),
    %% a follower forwards to the leader: any node answers a client
    [F | _] = Cs -- [L],
    op_ok = put_kv(subject(F), <<"via_follower">>, <<"v">>),
    {ok, <<"v">>} = get_kv(subject(F), <<"via_follower">>),
    %% what cannot be taken is answered at once, saying why
    Why = <<"keys and values must be binaries (Gleam Strings)">>,
    {op_error, Why} = call(S, fun(R) -> {client_put, 42, <<"v">>, R} end),
    {op_error, Why} = call(S, fun(R) -> {client_put, <<"k">>, v, R} end),
    {op_error, Why} = call(subject(F), fun(R) -> {client_delete, [], R} end),
    {error, Why} = call(S, fun(R) -> {client_get, k, R} end),
    {error, {unknown_call, {bogus, 1}}} = gen_server:call({raft_kv, node_of(L)}, {bogus, 1}),
    %% values up to the documented limit go through a follower; past it,
    %% an error that says so
    Big = binary:copy(<<"v">>, 900000),
    op_ok = put_kv(subject(F), <<"big">>, Big),
    {ok, Big} = get_kv(S, <<"big">>),
    {op_error, <<"too large: ", _/binary>>} =
        put_kv(subject(F), <<"huge">>, binary:copy(<<"v">>, 1100000)),
    %% the bridge's status map
    #{id := _, role := leader, term := T, leader := _, commit_index := CI,
      last_applied := _, store := #{<<"via_follower">> := <<"v">>}} = status(L),
    true = T >= 1 andalso CI >= 7.

%% ---- all-C through epmd --------------------------------------------------

%% A peers.json in the case's priv_dir naming Names on this host, ids from
%% 1; its path.
peers_file(Config, File, Names) ->
    Host = cnode_test_lib:host(),
    Path = filename:join(?config(priv_dir, Config), File),
    ok = file:write_file(Path, ["{\"nodes\": [",
                                lists:join(",", [io_lib:format("{\"name\": \"~s@~s\", \"id\": ~b}",
                                                               [N, Host, I])
                                                 || {I, N} <- lists:zip(lists:seq(1, length(Names)),
                                                                        Names)]),
                                "]}"]),
    Path.

all_c_cluster(Config) ->
    Names = [cnode_test_lib:unique("rc") || _ <- [1, 2, 3]],
    Peers = peers_file(Config, "peers_all_c.json", Names),
    Cs = [begin
              C = cnode_test_lib:start("raft_kv", Config,
                                       [{name, N},
                                        {args, ["--peers", Peers, "--election-timeout", "300",
                                                "--trace-file", trace_file(Config, I)]}]),
              put(started, [C | started()]),
              C
          end || {I, N} <- lists:zip([1, 2, 3], Names)],
    L = wait_leader(Cs, ?T),
    S = subject(L),
    [op_ok = put_kv(S, integer_to_binary(K), <<"v">>) || K <- lists:seq(1, 50)],
    Last = maps:get(commit_index, status(L)),
    wait_applied(Cs, Last),
    [Store | _] = Stores = [maps:get(store, status(C)) || C <- Cs],
    50 = map_size(Store),
    true = lists:all(fun(X) -> X =:= Store end, Stores).

%% ---- faults --------------------------------------------------------------

%% Kill -9 the leader of five durable C nodes while three clients write,
%% each with several puts in flight, every key and value unique.  The other
%% four must agree on a new leader (another id, a later term) and go on
%% taking writes; the killed node, restarted from its --data-dir under its
%% name, catches up.  Then all five have applied the last commit, every
%% acknowledged put is on every node with its value, and the stores are equal.
leader_killed(Config) ->
    Ids = lists:seq(1, 5),
    Names = [cnode_test_lib:unique("lk") || _ <- Ids],
    Cs = [durable_cnode(Config, I, N) || {I, N} <- lists:zip(Ids, Names)],
    All = [{I, subject(C)} || {I, C} <- lists:zip(Ids, Cs)],
    ok = raft_ref_main:set_peers(All),
    L = wait_leader(Cs, ?T),
    #{id := LId, term := LTerm} = status(L),
    Counter = start_counter(),
    Writers = [start_writer(Counter, W, [S || {_, S} <- All]) || W <- ["w1", "w2", "w3"]],
    _ = await_acks(Counter, 20),
    TKill = now_ms(),
    137 = cnode_test_lib:kill(L),               % SIGKILL to its OS pid: 128 + 9
    forget(L),
    Rest = Cs -- [L],
    {NewId, NewTerm} = await_agreed_leader(Rest, ?T),
    ct:log("leader ~b (term ~b) killed; the other four follow ~b (term ~b) after ~b ms",
           [LId, LTerm, NewId, NewTerm, now_ms() - TKill]),
    expect(NewId =/= LId, {killed_node_still_leader, LId, NewTerm}),
    expect(NewTerm > LTerm, {leader_in_no_later_term, LTerm, NewTerm}),
    %% writes go on, through the new leader
    _ = await_acks(Counter, acked_count(Counter) + 20, fun() -> stall_report(Rest, Writers) end),
    Back = durable_cnode(Config, LId, lists:nth(LId, Names)),
    %% its term comes back from its disk (a fresh node starts at 0; a peer
    %% may have told it a later one already, never an earlier)
    BackTerm = maps:get(term, status(Back)),
    expect(BackTerm >= LTerm, {restarted_without_its_term, LTerm, BackTerm}),
    ok = raft_ref_main:set_peers(lists:keystore(LId, 1, All, {LId, subject(Back)}), [LId]),
    Outcomes = stop_writers(Counter, Writers),
    write_summary(Outcomes, TKill),
    Final = [Back | Rest],
    Last = lists:max([maps:get(commit_index, status(C)) || C <- Final]),
    Applied = wait_applied_alike(Final, Last),
    Acked = check_stores(Final, Outcomes),
    ct:comment("~b puts acknowledged, all on all 5 nodes (applied ~b)", [Acked, Applied]).

%% A follower forwards a put to its leader, which is paused (SIGSTOP)
%% the moment before: the client is answered "replication failed" (the
%% outcome unknown) by the follower within its forwarding timeout (3 s),
%% not left to its own timeout; the others elect a new leader meanwhile,
%% and after SIGCONT all three agree again.  A forward to a leader that
%% answers is relayed as before.
forward_answered_when_leader_stops(Config) ->
    {_, Cs, L} = durable_cluster(Config, "fw"),
    [F | _] = Cs -- [L],
    op_ok = put_until_taken(subject(F), <<"before">>, <<"1">>, now_ms() + ?T),
    Pid = integer_to_list(maps:get(os_pid, L)),
    [] = os:cmd("kill -STOP " ++ Pid),
    T0 = now_ms(),
    S = subject(F),
    ReplyTag = make_ref(),
    {subject, FP, FTag} = S,
    FP ! {FTag, {client_put, <<"during">>, <<"2">>, {subject, self(), ReplyTag}}},
    R = receive {ReplyTag, X} -> X after 10000 -> no_answer end,
    Took = now_ms() - T0,
    [] = os:cmd("kill -CONT " ++ Pid),
    ct:log("put through a follower while the leader is paused: ~p after ~b ms", [R, Took]),
    expect(R =:= {op_error, <<"replication failed">>} orelse R =:= op_ok, {answer, R}),
    expect(Took < 4500, {answered_late, Took}),
    _ = await_agreed_leader(Cs, ?T),
    op_ok = put_until_taken(subject(F), <<"after">>, <<"3">>, now_ms() + ?T).

%% A client's put, again after "not leader" (not taken: a woken old leader
%% may still answer so for a moment), until Deadline.
put_until_taken(S, K, V, Deadline) ->
    case put_kv(S, K, V) of
        {op_error, <<"not leader">>} ->
            expect(now_ms() < Deadline, {never_taken, K}),
            put_until_taken(S, K, V, Deadline);
        R -> R
    end.

%% ---- operations ------------------------------------------------------------

node_of(#{node := N}) -> N.

%% Three durable C nodes (ids 1-3) formed by set_peers, with a leader:
%% {Names, Nodes, Leader}; a node restarted as durable_cnode(Config, I,
%% lists:nth(I, Names)) comes back with its data.
durable_cluster(Config, Prefix) ->
    Ids = [1, 2, 3],
    Names = [cnode_test_lib:unique(Prefix) || _ <- Ids],
    Cs = [durable_cnode(Config, I, N) || {I, N} <- lists:zip(Ids, Names)],
    ok = raft_ref_main:set_peers([{I, subject(C)} || {I, C} <- lists:zip(Ids, Cs)]),
    {Names, Cs, wait_leader(Cs, ?T)}.

%% raft_kv admin, as an operator runs it: {ExitStatus, Output}.
admin(Config, Args) -> cli(Config, "admin", Args).

cli(Config, Sub, Args) ->
    Cookie = atom_to_list(?config(cookie, Config)),
    cnode_test_lib:run(cnode_test_lib:bin("raft_kv"),
                       [Sub, "--sname", cnode_test_lib:unique("adm"), "--cookie", Cookie | Args]).

%% raft_kv load against a leader whose followers are killed a moment into
%% the run: the puts it could not get answered are counted and reported
%% (errors, timeouts, unanswered), not lost from the report.
load_counts_failures(Config) ->
    Names = [cnode_test_lib:unique("lf") || _ <- [1, 2, 3]],
    Peers = peers_file(Config, "peers_load.json", Names),
    Cs = [cnode(Config, I, ["--peers", Peers], [{name, N}])
          || {I, N} <- lists:zip([1, 2, 3], Names)],
    L = wait_leader(Cs, ?T),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {load_done, cli(Config, "load", ["--node", atom_to_list(node_of(L)),
                                                               "--seconds", "7", "--inflight", "8"])}
               end),
    %% a moment of writes, then the followers go
    _ = wait_applied([L], maps:get(commit_index, status(L)) + 50),
    [137 = cnode_test_lib:kill(F) || F <- Cs -- [L]],
    [forget(F) || F <- Cs -- [L]],
    {0, Out} = receive {load_done, R} -> R after 30000 -> ct:fail(load_never_ended) end,
    ct:log("~s", [Out]),
    {match, [Json]} = re:run(Out, "(\\{\"ops\".*\\})", [{capture, all_but_first, binary}]),
    {ok, #{<<"ops">> := Ops, <<"errors">> := E, <<"timeouts">> := T, <<"unanswered">> := U}} =
        cnode_json:decode(Json),
    expect(Ops >= 50, {too_few_ops, Ops}),
    expect(E + T + U > 0, {failures_not_counted, Json}).

%% raft_kv client, admin and status tell apart why a node cannot be
%% asked: not registered with epmd, a handshake refused (a wrong cookie),
%% a node up without a raft_kv process; each exits 1.
cli_errors_name_the_cause(Config) ->
    Host = cnode_test_lib:host(),
    Missing = cnode_test_lib:unique("gone") ++ "@" ++ Host,
    {1, O1} = cli(Config, "status", ["--node", Missing]),
    {match, _} = re:run(O1, "cannot reach " ++ Missing ++ ": node is not registered with epmd"),
    C = cnode(Config, 1, []),
    N = atom_to_list(node_of(C)),
    {1, O2} = cnode_test_lib:run(cnode_test_lib:bin("raft_kv"),
                                 ["admin", "--sname", cnode_test_lib:unique("adm"),
                                  "--cookie", "not_the_cookie", "--node", N, "transfer"]),
    {match, _} = re:run(O2, "cannot reach " ++ N ++ ": handshake refused .*wrong cookie"),
    E = cnode_test_lib:start("echo_node", Config),
    put(started, [E | started()]),
    EN = atom_to_list(node_of(E)),
    {1, O3} = cli(Config, "client", ["--node", EN, "--ops", "1"]),
    {match, _} = re:run(O3, EN ++ " is up but runs no raft_kv process"),
    ct:log("~s~n~s~n~s", [O1, O2, O3]).

%% status shows the store in full only while it holds at most 10,000 keys
%% (too_large beyond, store_size always), so it answers in bounded time
%% whatever the store holds.  A one-node cluster filled by raft_kv load.
status_bounded(Config) ->
    C = cnode(Config, 1, []),
    ok = raft_ref_main:set_peers([{1, subject(C)}]),
    _ = wait_leader([C], ?T),
    #{store := #{}, store_size := 0} = status(C),
    fill(Config, C, 10),
    #{store := too_large, store_size := Size} = status(C),
    true = Size > 10000,
    #{members := [#{id := 1}]} = gen_server:call({raft_kv, node_of(C)}, info),
    %% the whole store, a page at a time, in key order, each key once
    Pairs = pages(C, first, []),
    Keys = [K || {K, _} <- Pairs],
    expect(length(Keys) =:= Size andalso Keys =:= lists:usort(Keys),
           {pages, length(Keys), Size}),
    {error, _} = gen_server:call({raft_kv, node_of(C)}, {store, first, 0}),
    {error, _} = gen_server:call({raft_kv, node_of(C)}, {store, 7, 10}).

pages(C, From, Acc) ->
    case gen_server:call({raft_kv, node_of(C)}, {store, From, 3000}) of
        {ok, Page, done} -> lists:append(lists:reverse([Page | Acc]));
        {ok, Page, Next} when length(Page) =:= 3000 -> pages(C, Next, [Page | Acc])
    end.

%% raft_kv load against C until its store passes 10,000 keys (Runs left).
fill(_Config, C, 0) -> ct:fail({store_never_filled, maps:get(store_size, status(C))});
fill(Config, C, Runs) ->
    case maps:get(store_size, status(C)) > 10000 of
        true -> ok;
        false ->
            {0, _} = cli(Config, "load", ["--node", atom_to_list(node_of(C)), "--seconds", "2",
                                          "--inflight", "64", "--value-bytes", "8"]),
            fill(Config, C, Runs - 1)
    end.

%% raft_kv status: C nodes 1 and 2 and reference (emulation) node 3, node 1
%% designated.  Asked of either C node it prints one row per member, each
%% read from that member (the leader's commit index on its own row), the
%% emulation member as such; --json gives the same as JSON lines.  With
%% node 2 killed, its row says unreachable and the exit status is 1.
status_command(Config) ->
    [C1, C2] = Cs = [cnode(Config, I, []) || I <- [1, 2]],
    Ref = ref_nodes([3], 3),
    All = [{I, subject(C)} || {I, C} <- lists:zip([1, 2], Cs)] ++ Ref,
    ok = raft_ref_main:set_peers(All),
    _ = raft_ref_main:elect(All, 1),
    {1, _} = await_agreed_leader(Cs, ?T),
    op_ok = put_kv(subject(C1), <<"k">>, <<"v">>),
    {0, Table} = cli(Config, "status", ["--node", atom_to_list(node_of(C2))]),
    ct:log("~s", [Table]),
    Lines = string:split(string:trim(Table), "\n", all),
    [Header, Row1, Row2, Row3] = Lines,
    {match, _} = re:run(Header, "^ID +NODE +ROLE +TERM +LEADER +COMMIT"),
    N1 = atom_to_list(node_of(C1)),
    {match, _} = re:run(Row1, "^1 +" ++ N1 ++ " +leader +[1-9][0-9]* +1 "),
    {match, _} = re:run(Row2, "^2 +" ++ atom_to_list(node_of(C2)) ++ " +follower "),
    {match, _} = re:run(Row3, "^3 .*emulation member"),
    {0, Json} = cli(Config, "status", ["--node", N1, "--json"]),
    Objs = [begin {ok, O} = cnode_json:decode(iolist_to_binary(L)), O end
            || L <- string:split(string:trim(Json), "\n", all)],
    [#{<<"id">> := 1, <<"role">> := <<"leader">>, <<"members">> := [1, 2, 3],
       <<"commit_index">> := Commit},
     #{<<"id">> := 2, <<"role">> := <<"follower">>, <<"leader">> := 1},
     #{<<"id">> := 3, <<"error">> := _}] = Objs,
    true = Commit >= 1,
    137 = cnode_test_lib:kill(C2),
    forget(C2),
    {1, Down} = cli(Config, "status", ["--node", N1]),
    ct:log("~s", [Down]),
    {match, _} = re:run(Down, "\n2 +\\S+ +unreachable"),
    {2, _} = cli(Config, "status", ["--node", N1, "extra"]),
    raft_ref_main:stop_nodes(Ref).

%% Leadership transfer (Raft thesis 3.10): asked of a follower, the call
%% names the leader and the CLI asks it in turn; the member named leads in
%% a later term and takes writes; what cannot be done is refused with why.
transfer_leadership(Config) ->
    {_, Cs, L} = durable_cluster(Config, "tl"),
    #{id := LId, term := T0} = status(L),
    LNode = node_of(L),
    [F1, F2] = Cs -- [L],
    F2Id = maps:get(id, status(F2)),
    op_ok = put_kv(subject(L), <<"before">>, <<"1">>),
    {error, {not_leader, LNode}} = gen_server:call({raft_kv, node_of(F1)}, {transfer, any}),
    {error, <<"no such member">>} = gen_server:call({raft_kv, LNode}, {transfer, 9}),
    {error, <<"that node leads already">>} = gen_server:call({raft_kv, LNode}, {transfer, LId}),
    {error, _} = gen_server:call({raft_kv, LNode}, {transfer, <<"x">>}),
    {0, Out} = admin(Config, ["--node", atom_to_list(node_of(F1)), "transfer",
                              integer_to_list(F2Id)]),
    ct:log("~s", [Out]),
    {match, _} = re:run(Out, "asking the leader"),
    {match, _} = re:run(Out, "handed over .* to member " ++ integer_to_list(F2Id)),
    {F2Id, T1} = await_agreed_leader(Cs, ?T),
    expect(T1 > T0, {no_later_term, T0, T1}),
    op_ok = put_kv(subject(F2), <<"after">>, <<"2">>),
    {ok, <<"1">>} = get_kv(subject(F2), <<"before">>),
    %% any: the most up-to-date C member
    {0, _} = admin(Config, ["--node", atom_to_list(node_of(F2)), "transfer"]),
    {NewId, _} = await_agreed_leader(Cs, ?T),
    expect(NewId =/= F2Id, {still_leader, F2Id}),
    %% usage errors exit 2, failures 1
    {2, _} = admin(Config, ["--node", atom_to_list(LNode), "move"]),
    {2, _} = admin(Config, ["--node", atom_to_list(LNode), "transfer", "zero"]),
    {1, Refused} = admin(Config, ["--node", atom_to_list(LNode), "transfer", "7"]),
    {match, _} = re:run(Refused, "refused|not lead").

%% Every node stopped with SIGTERM and restarted from its --data-dir in
%% turn, the leader included, while three clients write: a stopping leader
%% hands over first (its log says so), every node exits 0, no acknowledged put is lost, the
%% stores end equal.  Reported: for each step, the longest time no put was
%% acknowledged (the clients retry after "not leader" at once, and give up
%% on a put after 1 s).
rolling_restart(Config) ->
    Ids = [1, 2, 3],
    {Names, Cs0, _} = durable_cluster(Config, "rr"),
    Counter = start_counter(),
    Writers = [start_writer(Counter, W, [subject(C) || C <- Cs0]) || W <- ["w1", "w2", "w3"]],
    _ = await_acks(Counter, 20),
    {Final, Steps} =
        lists:foldl(
          fun(I, {Cs, Acc}) ->
                  [C] = [X || X <- Cs, maps:get(id, status(X)) =:= I],
                  Role = maps:get(role, status(C)),
                  T0 = now_ms(),
                  0 = cnode_test_lib:stop(C),
                  forget(C),
                  %% a leader hands over before it stops (its log says so)
                  Role =/= leader orelse
                      expect(re:run(cnode_test_lib:log_text(C), "leadership handed over")
                             =/= nomatch, {no_handover, I, cnode_test_lib:log_tail(C)}),
                  Back = durable_cnode(Config, I, lists:nth(I, Names)),
                  [W ! {add_target, subject(Back)} || W <- Writers],
                  Rest = [Back | Cs -- [C]],
                  _ = await_agreed_leader(Rest, ?T),
                  _ = await_acks(Counter, acked_count(Counter) + 20,
                                 fun() -> stall_report(Rest, Writers) end),
                  {Rest, [{I, Role, T0, now_ms()} | Acc]}
          end, {Cs0, []}, Ids),
    Outcomes = stop_writers(Counter, Writers),
    Last = lists:max([maps:get(commit_index, status(C)) || C <- Final]),
    _ = wait_applied_alike(Final, Last),
    Acked = check_stores(Final, Outcomes),
    Gaps = [{I, Role, longest_gap(Outcomes, From, To)} || {I, Role, From, To} <- lists:reverse(Steps)],
    ct:log("steps (id, role when stopped, longest ms without an acknowledged put): ~p", [Gaps]),
    ct:comment("~b puts acknowledged, none lost; longest pause per step ~w ms",
               [Acked, [G || {_, _, G} <- Gaps]]).

%% The longest time between acknowledgements in [From, To] (ms).
longest_gap(Outcomes, From, To) ->
    Done = lists:sort([D || {put_result, _, _, op_ok, _, D} <- Outcomes, D >= From, D =< To]),
    Points = [From | Done] ++ [To || Done =:= []],
    lists:max([0 | [B - A || {A, B} <- lists:zip(lists:droplast(Points), tl(Points))]]).

%% A durable raft_kv C node, id Id, node name Name, data in the case's
%% priv_dir: started again with the same Id and Name it restarts from its
%% disk, and its peers find it again by name.
durable_cnode(Config, Id, Name) ->
    Data = filename:join(?config(priv_dir, Config), Name ++ "_data"),
    cnode(Config, Id, ["--data-dir", Data], [{name, Name}]).

%% Waits until one of Cs leads and every other follows it in its term, as
%% their events say; returns the leader's {Id, Term}.
await_agreed_leader(Cs, Ms) ->
    await_states(Cs, Ms,
                 fun(States) ->
                         Evs = maps:values(States),
                         case [{Id, T} || {raft_kv_event, _, leader, T, Id, _} <- Evs] of
                             [Leader] ->
                                 lists:all(fun({raft_kv_event, _, _, Term, Follows, _}) ->
                                                   {Follows, Term} =:= Leader
                                           end, Evs) andalso {true, Leader};
                             _ -> false
                         end
                 end, no_agreed_leader).

%% Waits until every node has applied Index and all stand at the same index
%% (their stores are then comparable); returns that index.
wait_applied_alike(Cs, Index) ->
    await_states(Cs, ?T,
                 fun(States) ->
                         Applied = [A || {raft_kv_event, _, _, _, _, A} <- maps:values(States)],
                         case lists:usort(Applied) of
                             [A] when A >= Index -> {true, A};
                             _ -> false
                         end
                 end, {behind, Index}).

%% Every acknowledged put is in every node's store with its value, no store
%% holds a pair no writer sent, and the stores are equal.  Returns the
%% number of acknowledged puts.
check_stores(Cs, Outcomes) ->
    Sent = maps:from_list([{K, V} || {put_result, K, V, _, _, _} <- Outcomes]),
    Acked = [{K, V} || {put_result, K, V, op_ok, _, _} <- Outcomes],
    [{_, First} | _] = Stores = [{maps:get(node, C), maps:get(store, status(C))} || C <- Cs],
    lists:foreach(
      fun({Node, Store}) ->
              Lost = [KV || {K, V} = KV <- Acked, maps:get(K, Store, missing) =/= V],
              expect(Lost =:= [], {acknowledged_puts_missing, Node, Lost}),
              Alien = maps:filter(fun(K, V) -> maps:get(K, Sent, none) =/= V end, Store),
              expect(Alien =:= #{}, {pairs_never_sent, Node, Alien}),
              expect(Store =:= First, {stores_differ, Node})
      end, Stores),
    length(Acked).

%% Logs how the puts went; at least one was in flight when the kill was
%% ordered at TKill (else the kill did not happen while clients wrote).
write_summary(Outcomes, TKill) ->
    Kind = fun(op_ok) -> op_ok;
              ({op_error, Why}) -> Why;
              ({down, _}) -> node_down;
              (timeout) -> timeout
           end,
    Count = lists:foldl(fun({put_result, _, _, R, _, _}, M) ->
                                maps:update_with(Kind(R), fun(X) -> X + 1 end, 1, M)
                        end, #{}, Outcomes),
    Across = [O || {put_result, _, _, _, Sent, Done} = O <- Outcomes, Sent =< TKill, Done >= TKill],
    ct:log("~b puts: ~p; ~b in flight at the kill", [length(Outcomes), Count, length(Across)]),
    expect(Across =/= [], no_put_in_flight_at_the_kill).

now_ms() -> erlang:monotonic_time(millisecond).

expect(true, _) -> ok;
expect(false, Failure) -> ct:fail(Failure).

%% ---- membership -------------------------------------------------------------

info(#{node := N}) -> gen_server:call({raft_kv, N}, info).
voters(C) -> lists:sort([Id || #{id := Id, voter := true} <- maps:get(members, info(C))]).
id_of(C) -> maps:get(id, status(C)).
data_dir(Config, Name) -> filename:join(?config(priv_dir, Config), Name ++ "_data").

%% Every leadership any watched node reports ({raft_kv_event, _, leader,
%% Term, ...}), kept until asked: two nodes leading in one term is the
%% failure this watches for.  Nodes join the watch as they are added.
start_leader_watch(Cs) ->
    Owner = self(),
    W = spawn_link(fun() -> leader_watch(Owner, #{}) end),
    [watch_leaders(W, C) || C <- Cs],
    W.

watch_leaders(W, #{node := N}) ->
    W ! {watch, N, self()},
    receive {watching, W, N} -> ok after ?T -> ct:fail({cannot_watch, N}) end.

leader_watch(Owner, Seen) ->
    receive
        {watch, N, From} ->
            ok = gen_server:call({raft_kv, N}, {watch, self()}),
            From ! {watching, self(), N},
            leader_watch(Owner, Seen);
        {raft_kv_event, P, leader, T, _, _} ->
            leader_watch(Owner, maps:update_with(T, fun(Ns) -> lists:usort([node(P) | Ns]) end,
                                                 [node(P)], Seen));
        {raft_kv_event, _, _, _, _, _} -> leader_watch(Owner, Seen);
        {leaders, From} -> From ! {leaders, self(), Seen}
    end.

%% Stops the watch; fails if a term ever had two leaders.  Returns the
%% number of terms with a leader.
no_two_leaders(W) ->
    W ! {leaders, self()},
    Seen = receive {leaders, W, S} -> S after ?T -> ct:fail(leader_watch_stuck) end,
    Twice = maps:filter(fun(_, Ns) -> length(Ns) > 1 end, Seen),
    expect(Twice =:= #{}, {two_leaders_in_a_term, Twice}),
    map_size(Seen).

%% The node's output is written by its owner process as it comes: the
%% line may follow the call that proved it was logged by a moment.
await_log(C, Re, Deadline) ->
    await_text(fun() -> cnode_test_lib:log_text(C) end, Re, Deadline,
               fun() -> {not_logged, Re, cnode_test_lib:log_tail(C)} end).

%% The same for a file the node writes (a trace file).
await_file(File, Re, Deadline) ->
    await_text(fun() -> case file:read_file(File) of {ok, B} -> B; _ -> <<>> end end,
               Re, Deadline, fun() -> {not_in, File, Re} end).

await_text(Read, Re, Deadline, Failure) ->
    case re:run(Read(), Re) of
        {match, _} -> ok;
        nomatch ->
            expect(now_ms() < Deadline, Failure()),
            timer:sleep(20),
            await_text(Read, Re, Deadline, Failure)
    end.

%% admin add NEW through Via (any member: a follower names the leader).
admin_add(Config, Via, New) ->
    {Status, Out} = admin(Config, ["--node", atom_to_list(node_of(Via)), "add",
                                   atom_to_list(node_of(New))]),
    ct:log("add ~s: ~s", [node_of(New), Out]),
    expect(Status =:= 0 andalso re:run(Out, "added: a voting member") =/= nomatch,
           {add_failed, node_of(New), Status, Out}).

%% A three-node cluster under write load grows to five through raft_kv
%% admin add (the new nodes started with --id and no peers: they wait, and
%% catch up as non-voters before they vote), then its leader is removed:
%% it steps down once the change commits and another leads in a later
%% term.  No acknowledged put is lost, the four members end with equal
%% stores and the same four voters, and no term ever had two leaders.
grow_and_remove_leader(Config) ->
    {_, Cs0, L0} = durable_cluster(Config, "mg"),
    Watch = start_leader_watch(Cs0),
    Counter = start_counter(),
    Writers = [start_writer(Counter, W, [subject(C) || C <- Cs0]) || W <- ["w1", "w2", "w3"]],
    _ = await_acks(Counter, 50),
    New = [durable_cnode(Config, I, cnode_test_lib:unique("mg")) || I <- [4, 5]],
    %% a node with no peers waits to be added: it never campaigns
    quiet = no_term_within(New, 1000),
    [F | _] = Cs0 -- [L0],
    lists:foreach(fun(N) ->
                          admin_add(Config, F, N),
                          watch_leaders(Watch, N),
                          [W ! {add_target, subject(N)} || W <- Writers],
                          _ = await_acks(Counter, acked_count(Counter) + 30)
                  end, New),
    All = Cs0 ++ New,
    [expect(voters(C) =:= [1, 2, 3, 4, 5], {not_five_voters, node_of(C), voters(C)})
     || C <- All],
    {LId, LTerm} = await_agreed_leader(All, ?T),
    [L] = [C || C <- All, id_of(C) =:= LId],
    {0, Out} = admin(Config, ["--node", atom_to_list(node_of(L)), "remove",
                              atom_to_list(node_of(L))]),
    ct:log("remove the leader: ~s", [Out]),
    Rest = All -- [L],
    {NewId, NewTerm} = await_agreed_leader(Rest, ?T),
    expect(NewId =/= LId andalso NewTerm > LTerm, {removed_leader_still_leads, LId, NewTerm}),
    _ = await_acks(Counter, acked_count(Counter) + 30, fun() -> stall_report(Rest, Writers) end),
    Outcomes = stop_writers(Counter, Writers),
    Last = lists:max([maps:get(commit_index, status(C)) || C <- Rest]),
    _ = wait_applied_alike(Rest, Last),
    Acked = check_stores(Rest, Outcomes),
    Four = lists:sort([id_of(C) || C <- Rest]),
    [expect(voters(C) =:= Four, {wrong_voters, node_of(C), voters(C)}) || C <- Rest],
    expect(maps:get(role, status(L)) =/= leader, removed_node_leads),
    Terms = no_two_leaders(Watch),
    ct:comment("~b puts acknowledged, none lost; ~b terms with a leader, one each",
               [Acked, Terms]).

%% A member is killed and its disk is lost: the operator removes it (by
%% name, while it is down) and adds a new empty node in its place, which
%% catches up through the leader.  The new node, restarted, knows its
%% cluster from its own log (no set_peers, no peers file).
replace_dead_member(Config) ->
    {Names, Cs, L} = durable_cluster(Config, "rd"),
    Watch = start_leader_watch(Cs),
    S = subject(L),
    [op_ok = put_kv(S, <<"a", (integer_to_binary(K))/binary>>, <<"v">>) || K <- lists:seq(1, 30)],
    [F, Other] = Cs -- [L],
    FName = lists:nth(id_of(F), Names),
    137 = cnode_test_lib:kill(F),
    forget(F),
    ok = file:del_dir_r(data_dir(Config, FName)),
    {0, Out} = admin(Config, ["--node", atom_to_list(node_of(Other)), "remove",
                              atom_to_list(node_of(F))]),
    ct:log("remove the dead member: ~s", [Out]),
    [expect(voters(C) =:= lists:sort([id_of(C2) || C2 <- [L, Other]]), {still_three, voters(C)})
     || C <- [L, Other]],
    NewName = cnode_test_lib:unique("rd"),
    N = durable_cnode(Config, 4, NewName),
    admin_add(Config, Other, N),
    watch_leaders(Watch, N),
    Members = [L, Other, N],
    {LId, _} = await_agreed_leader(Members, ?T),
    [Leader] = [C || C <- Members, id_of(C) =:= LId],
    [op_ok = put_kv(subject(Leader), <<"b", (integer_to_binary(K))/binary>>, <<"w">>)
     || K <- lists:seq(1, 30)],
    Last = maps:get(commit_index, status(Leader)),
    _ = wait_applied_alike(Members, Last),
    [Store | _] = Stores = [maps:get(store, status(C)) || C <- Members],
    expect(map_size(Store) =:= 60 andalso lists:all(fun(X) -> X =:= Store end, Stores),
           {stores, [map_size(X) || X <- Stores]}),
    %% restarted, the new member finds its cluster in its log
    0 = cnode_test_lib:stop(N),
    forget(N),
    N2 = durable_cnode(Config, 4, NewName),
    expect(lists:sort(voters(N2)) =:= lists:sort([id_of(C) || C <- [L, Other, N2]]),
           {restart_forgot_members, voters(N2)}),
    watch_leaders(Watch, N2),
    _ = await_agreed_leader([L, Other, N2], ?T),
    _ = wait_applied_alike([L, Other, N2], Last),
    no_two_leaders(Watch).

%% What membership changes refuse, and how: usage errors exit 2; a node
%% that is not running, or not a member, exits 1 saying so; set_peers with
%% another peer set on a running cluster is refused (logged), the same set
%% is taken.
membership_errors(Config) ->
    {_, Cs, L} = durable_cluster(Config, "me"),
    LN = atom_to_list(node_of(L)),
    Missing = cnode_test_lib:unique("gone") ++ "@" ++ cnode_test_lib:host(),
    {2, _} = admin(Config, ["--node", LN, "add"]),
    {2, _} = admin(Config, ["--node", LN, "add", "7"]),
    {2, _} = admin(Config, ["--node", LN, "remove", "x", "y"]),
    {1, O1} = admin(Config, ["--node", LN, "add", Missing]),
    {match, _} = re:run(O1, "cannot reach " ++ Missing),
    {1, O2} = admin(Config, ["--node", LN, "remove", Missing]),
    {match, _} = re:run(O2, "not a member"),
    {error, {not_leader, _}} =
        gen_server:call({raft_kv, node_of(hd(Cs -- [L]))}, {remove_member, 2}),
    {error, _} = gen_server:call({raft_kv, node_of(L)}, {add_member, 0, 'x@y'}),
    %% removing a member that is not there: nothing to change
    ok = gen_server:call({raft_kv, node_of(L)}, {remove_member, 9}),
    All = [{id_of(C), subject(C)} || C <- Cs],
    ok = raft_ref_main:set_peers(lists:sublist(lists:keysort(1, All), 2)),
    [begin
         expect(voters(C) =:= [1, 2, 3], {set_peers_changed_members, voters(C)}),
         await_log(C, "set_peers refused", now_ms() + ?T)
     end || C <- Cs, id_of(C) =< 2],
    ok = raft_ref_main:set_peers(All),
    op_ok = put_kv(subject(L), <<"k">>, <<"v">>).

%% ---- leader_killed's clients ---------------------------------------------------

-define(WRITE_DEPTH, 4).        % puts each writer keeps in flight
-define(PUT_TIMEOUT, 1000).     % after this a put's outcome is unknown (and its
                                % slot free: a forward lost with the leader
                                % gets no answer at all)
-define(ERROR_PAUSE, 10).       % a writer told an error waits this long

%% Counts acknowledged puts (each writer sends `acked`); answers
%% {await, N, From} with {acked, Counter, Count} once N are counted.
start_counter() -> spawn_link(fun() -> counter(0, []) end).

counter(N, Waiters) ->
    {Ready, Waiting} = lists:partition(fun({Want, _}) -> N >= Want end, Waiters),
    [From ! {acked, self(), N} || {_, From} <- Ready],
    receive
        acked -> counter(N + 1, Waiting);
        {await, Want, From} -> counter(N, [{Want, From} | Waiting]);
        stop -> ok
    end.

%% Waits until N puts in all were acknowledged; returns the count.  On a
%% stall the failure says what Report() returns.
await_acks(Counter, N) -> await_acks(Counter, N, fun() -> [] end).
await_acks(Counter, N, Report) ->
    Counter ! {await, N, self()},
    receive {acked, Counter, Count} -> Count
    after ?T ->
            Counter ! {await, 0, self()},
            Acked = receive {acked, Counter, C} -> C after ?T -> unknown end,
            ct:fail({writes_stalled, N, {acked, Acked}, Report()})
    end.

%% What the nodes and the writers say when writes stall: each node's view
%% (id, role, term, leader, commit, applied, log length) and each writer's
%% puts in flight with where they went, and its results so far by kind.
stall_report(Cs, Writers) ->
    Nodes = [catch maps:with([id, role, term, leader, commit_index, last_applied, log_length],
                             status(C)) || C <- Cs],
    [W ! {report, self()} || W <- Writers],
    Ws = [receive {writer_report, W, R} -> R after 2000 -> no_report end || W <- Writers],
    ct:log("stalled: nodes ~p~nwriters ~p", [Nodes, Ws]),
    {Nodes, Ws}.

acked_count(Counter) -> await_acks(Counter, 0).

%% A client: keeps ?WRITE_DEPTH puts in flight, each with a fresh key and
%% value, sent round-robin to Subjects (a follower forwards to the leader),
%% pausing ?ERROR_PAUSE after an error (no leader yet: a follower answers at
%% once); each op_ok is counted at Counter.  On stop it sends no more, settles what
%% is in flight and answers {writer_done, self(), Outcomes}, each
%% {put_result, Key, Value, Result, SentAt, DoneAt} (monotonic ms; Result:
%% op_ok, {op_error, Why}, {down, Reason} when the node went, or timeout).
start_writer(Counter, Name, Subjects) ->
    Owner = self(),
    spawn_link(fun() ->
                       [erlang:monitor(process, P) || {subject, P, _} <- Subjects],
                       writer(#{owner => Owner, counter => Counter, name => Name, seq => 1,
                                targets => Subjects, pending => #{}, done => [],
                                paused_until => now_ms(), stopping => false})
               end).

writer(W0) ->
    Now = now_ms(),
    #{pending := P, stopping := Stopping} = W = expire(fill(W0, Now), Now),
    case Stopping andalso map_size(P) =:= 0 of
        true -> maps:get(owner, W) ! {writer_done, self(), lists:reverse(maps:get(done, W))};
        false ->
            receive
                {Tag, Reply} when is_map_key(Tag, P) -> writer(settle(Tag, Reply, W));
                {'DOWN', _, process, Pid, Why} -> writer(node_gone(Pid, Why, W));
                {Late, _} when is_reference(Late) -> writer(W);   % its put timed out
                {report, To} -> To ! {writer_report, self(), report(W, Now)}, writer(W);
                {add_target, {subject, NewPid, _} = S} ->
                    erlang:monitor(process, NewPid),
                    writer(W#{targets := maps:get(targets, W) ++ [S]});
                stop -> writer(W#{stopping := true})
            after wake_in(W, Now) -> writer(W)
            end
    end.

%% A writer's state for a stall report: its puts in flight (to which node,
%% for how long) and its results so far by kind.
report(#{pending := P, done := Done, targets := Ts} = W, Now) ->
    Kinds = lists:foldl(fun({put_result, _, _, R, _, _}, M) ->
                                K = case R of {op_error, Why} -> Why; {down, _} -> down; X -> X end,
                                maps:update_with(K, fun(X) -> X + 1 end, 1, M)
                        end, #{}, Done),
    #{in_flight => [{node(To), Now - Sent} || {_, _, To, Sent} <- maps:values(P)],
      targets => [To || {subject, To, _} <- Ts], results => Kinds,
      downs => maps:get(downs, W, [])}.

%% Sends puts until ?WRITE_DEPTH are in flight, unless paused.
fill(#{stopping := false, targets := [S | More], pending := P, paused_until := Until} = W, Now)
  when map_size(P) < ?WRITE_DEPTH, Now >= Until ->
    #{name := Name, seq := N} = W,
    Key = iolist_to_binary([Name, "-", integer_to_list(N)]),
    Value = iolist_to_binary([Name, "-value-", integer_to_list(N)]),
    {subject, Pid, Tag} = S,
    Reply = make_ref(),
    Pid ! {Tag, {client_put, Key, Value, {subject, self(), Reply}}},
    fill(W#{targets := More ++ [S], seq := N + 1,
            pending := P#{Reply => {Key, Value, Pid, Now}}}, Now);
fill(W, _) -> W.

settle(Tag, Reply, #{pending := P} = W) ->
    {Put, P1} = maps:take(Tag, P),
    outcome(W#{pending := P1}, Put, Reply).

%% A node went: it gets no more puts, and what it had in flight is lost.
node_gone(Pid, Why, #{targets := Ts, pending := P} = W) ->
    Lost = maps:filter(fun(_, {_, _, To, _}) -> To =:= Pid end, P),
    settle_all(Lost, {down, Why},
               W#{targets := [S || {subject, To, _} = S <- Ts, To =/= Pid],
                  downs => [{Pid, Why} | maps:get(downs, W, [])],
                  pending := maps:without(maps:keys(Lost), P)}).

%% Puts without an answer for ?PUT_TIMEOUT: their outcome is unknown.
expire(#{pending := P} = W, Now) ->
    Old = maps:filter(fun(_, {_, _, _, Sent}) -> Now - Sent >= ?PUT_TIMEOUT end, P),
    settle_all(Old, timeout, W#{pending := maps:without(maps:keys(Old), P)}).

%% Milliseconds until the writer has something to do unasked: a put to
%% expire, or a pause to end.
wake_in(#{pending := P, paused_until := Until}, Now) ->
    case [Sent + ?PUT_TIMEOUT || {_, _, _, Sent} <- maps:values(P)] ++ [Until || Until > Now] of
        [] -> infinity;
        Times -> max(0, lists:min(Times) - Now)
    end.

settle_all(Puts, Result, W) ->
    lists:foldl(fun(Put, Acc) -> outcome(Acc, Put, Result) end, W, maps:values(Puts)).

outcome(#{done := Done, counter := Counter} = W0, {Key, Value, _, SentAt}, Result) ->
    Now = now_ms(),
    W = W0#{done := [{put_result, Key, Value, Result, SentAt, Now} | Done]},
    case Result of
        op_ok -> Counter ! acked, W;
        {op_error, _} -> W#{paused_until := Now + ?ERROR_PAUSE};
        _ -> W
    end.

%% Stops the writers, then the counter; every put's outcome.
stop_writers(Counter, Writers) ->
    [W ! stop || W <- Writers],
    Outcomes = lists:append([receive {writer_done, W, Done} -> Done
                             after ?PUT_TIMEOUT + ?T -> ct:fail({writer_stuck, W})
                             end || W <- Writers]),
    Counter ! stop,
    Outcomes.

%% A fun that starts node I (1..3) of a durable cluster, under the same
%% name and --data-dir every time it is called for I.
durable_starter(Config, Prefix) -> durable_starter(Config, Prefix, []).
durable_starter(Config, Prefix, Args) ->
    Names = [cnode_test_lib:unique(Prefix) || _ <- [1, 2, 3]],
    Start = fun(I, More) ->
                    C = cnode_test_lib:start(
                          "raft_kv", Config,
                          [{name, lists:nth(I, Names)},
                           {args, ["--id", integer_to_list(I), "--election-timeout", "300",
                                   "--data-dir", data_dir(Config, Prefix, I)] ++ Args ++ More}]),
                    put(started, [C | started()]),
                    C
            end,
    %% I, or {I, MoreArgs} for this start only
    fun({I, More}) -> Start(I, More);
       (I) -> Start(I, [])
    end.

data_dir(Config, Prefix, I) -> filename:join(?config(priv_dir, Config), Prefix ++ integer_to_list(I)).

%% A durable three-node set_peers cluster, Writes puts applied everywhere,
%% then a follower killed with kill -9: #{start, nodes, peers, leader,
%% follower, id, data} (the follower's id and data directory).
cluster_with_killed_follower(Config, Prefix, Writes) ->
    cluster_with_killed_follower(Config, Prefix, Writes, []).
cluster_with_killed_follower(Config, Prefix, Writes, Args) ->
    Start = durable_starter(Config, Prefix, Args),
    Cs = [Start(I) || I <- [1, 2, 3]],
    All = [{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)],
    ok = raft_ref_main:set_peers(All),
    L = wait_leader(Cs, ?T),
    [F | _] = Cs -- [L],
    FId = maps:get(id, status(F)),
    [op_ok = put_kv(subject(L), integer_to_binary(K), <<"x">>) || K <- lists:seq(1, Writes)],
    wait_applied(Cs, maps:get(commit_index, status(L))),
    _ = cnode_test_lib:kill(F),
    forget(F),
    #{start => Start, nodes => Cs, peers => All, leader => L, follower => F, id => FId,
      data => data_dir(Config, Prefix, FId)}.

%% Kill -9 a follower and restart it from its data directory: it comes back
%% with its log and catches up.
follower_restart(Config) ->
    #{start := Start, nodes := Cs, peers := All, leader := L, follower := F, id := FId} =
        cluster_with_killed_follower(Config, "fr", 20),
    [op_ok = put_kv(subject(L), integer_to_binary(K), <<"y">>) || K <- lists:seq(21, 30)],
    F2 = Start(FId),
    %% its log survived the kill
    true = maps:get(log_length, status(F2)) >= 21,
    %% the others find it again by name; it learns the new peers' subjects
    %% from set_peers and catches up
    ok = raft_ref_main:set_peers([{FId, subject(F2)} | [{I, S} || {I, S} <- All, I =/= FId]],
                                 [FId]),
    [op_ok = put_kv(subject(L), integer_to_binary(K), <<"z">>) || K <- lists:seq(31, 35)],
    Last = maps:get(commit_index, status(L)),
    wait_applied([F2 | Cs -- [F]], Last),
    Store = maps:get(store, status(F2)),
    35 = map_size(Store).

%% A set_peers cluster whose every node is killed and started again from
%% its data directory, with no set_peers: each knows its peers from
%% DIR/peers, a leader is elected and what was acknowledged is read back.
%% (Before DIR/peers the nodes waited for set_peers forever: no leader.)
whole_cluster_restart(Config) ->
    Start = durable_starter(Config, "wr"),
    Cs = [Start(I) || I <- [1, 2, 3]],
    ok = raft_ref_main:set_peers([{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)]),
    L = wait_leader(Cs, ?T),
    [op_ok = put_kv(subject(L), integer_to_binary(K), <<"before">>) || K <- lists:seq(1, 10)],
    [begin _ = cnode_test_lib:kill(C), forget(C) end || C <- Cs],
    Cs2 = [Start(I) || I <- [1, 2, 3]],
    L2 = wait_leader(Cs2, ?T),
    op_ok = put_kv(subject(L2), <<"after">>, <<"1">>),
    wait_applied(Cs2, maps:get(commit_index, status(L2))),
    [begin
         Store = maps:get(store, status(C)),
         11 = map_size(Store),
         <<"before">> = maps:get(<<"7">>, Store)
     end || C <- Cs2],
    ok.

%% A follower whose data directory is wiped comes back empty under its old
%% name while the leader stays the same: the leader, which had it at a high
%% match index, finds out (a probe from there is rejected) and repairs it
%% from its log.  Before, it never sent below the old match: the follower
%% stayed empty.  (Started as here, as a new node, it may vote meanwhile
%% with a log it does not have: wiped_follower_rejoins starts it with
%% --initial-cluster-state existing, which closes that.)
wiped_follower_repaired(Config) ->
    #{start := Start, nodes := Cs, leader := L, follower := F, id := FId, data := Data} =
        cluster_with_killed_follower(Config, "wf", 50),
    ok = file:del_dir_r(Data),
    F2 = Start(FId),
    0 = maps:get(log_length, status(F2)),
    ok = raft_ref_main:set_peers([{FId, subject(F2)}] ++
                                     [{maps:get(id, status(C)), subject(C)} || C <- Cs -- [F]],
                                 [FId]),
    op_ok = put_kv(subject(L), <<"after">>, <<"1">>),
    wait_applied([F2 | Cs -- [F]], maps:get(commit_index, status(L))),
    leader = maps:get(role, status(L)),
    51 = map_size(maps:get(store, status(F2))),
    ok.

%% A follower whose disk was lost restarts empty with
%% --initial-cluster-state existing: it votes for nobody until it has caught
%% up.  With the leader also down, the last node cannot be elected with its
%% vote (the blank node refuses its pre-vote, and says so); once the leader
%% is back, a leader is elected, the node catches up, says it votes again,
%% and holds every key; restarted without the flag it is an ordinary member
%% (the mark in DIR/id is gone).  raft_sim_test 'a follower loses its disk'
%% shows what the refusal prevents: an acknowledged write lost.
wiped_follower_rejoins(Config) ->
    #{start := Start, nodes := Cs, peers := All, leader := L, follower := F, id := FId,
      data := Data} = cluster_with_killed_follower(Config, "wj", 20),
    [O] = Cs -- [L, F],
    OId = maps:get(id, status(O)),
    LId = maps:get(id, status(L)),
    ok = file:del_dir_r(Data),
    _ = cnode_test_lib:kill(L),
    forget(L),
    Trace = trace_file(Config, FId),
    F2 = Start({FId, ["--initial-cluster-state", "existing", "--trace-file", Trace]}),
    #{rejoining := true, log_length := 0} = status(F2),
    %% its peers went with its disk: set_peers again, as after any wipe
    ok = raft_ref_main:set_peers([{FId, subject(F2)} | [P || {I, _} = P <- All, I =/= FId]],
                                 [FId]),
    await_file(Trace, "Denying pre-vote to " ++ integer_to_list(OId) ++ ": rejoining",
               now_ms() + ?T),
    expect(maps:get(role, status(O)) =/= leader, elected_with_a_blank_vote),
    L2 = Start(LId),
    Members = [L2, O, F2],
    _ = await_agreed_leader(Members, ?T),
    [Leader] = [C || C <- Members, maps:get(role, status(C)) =:= leader],
    op_ok = put_kv(subject(Leader), <<"after">>, <<"1">>),
    _ = wait_applied_alike(Members, maps:get(commit_index, status(Leader))),
    await_log(F2, "caught up with the leader after rejoining: voting again", now_ms() + ?T),
    #{rejoining := false, store := Store} = status(F2),
    21 = map_size(Store),
    0 = cnode_test_lib:stop(F2),
    forget(F2),
    F3 = Start(FId),
    #{rejoining := false} = status(F3),
    true = maps:get(log_length, status(F3)) >= 21,
    ok.

%% ---- snapshots ---------------------------------------------------------------

-define(SNAP_ARGS, ["--snapshot-entries", "200", "--snapshot-trailing", "20"]).

%% Puts keys From..To through Subject, one at a time, each acknowledged.
put_range(Subject, From, To, V) ->
    [op_ok = put_kv(Subject, integer_to_binary(K), V) || K <- lists:seq(From, To)],
    ok.

file_size(Dir, Name) ->
    {ok, #file_info{size = Size}} = file:read_file_info(filename:join(Dir, Name)),
    Size.

%% A follower killed while the others write 2,000 entries with a snapshot
%% every 200: the leader's log no longer holds what it lacks, so it comes
%% back through InstallSnapshot (chunked C to C), holds every key, and its
%% data directory has the snapshot and a short log.  The leader's own log
%% stays short: it starts after its last snapshot, less the trailing
%% entries.  (Before snapshots the log and its file grew without bound.)
snapshot_catch_up(Config) ->
    #{start := Start, nodes := Cs, peers := All, leader := L, follower := F, id := FId,
      data := Data} = cluster_with_killed_follower(Config, "sc", 20, ?SNAP_ARGS),
    ok = put_range(subject(L), 21, 2000, <<"y">>),
    LS = status(L),
    %% (the store grows with every put, so snapshots come further apart:
    %% about 300, 650, 1,400 here, give or take the jitter; raft_compaction.c)
    true = maps:get(snapshot_index, LS) >= 500,
    true = maps:get(log_first, LS) > 100,
    true = maps:get(log_length, LS) - maps:get(log_first, LS) < 1500,
    F2 = Start(FId),
    ok = raft_ref_main:set_peers([{FId, subject(F2)} | [{I, S} || {I, S} <- All, I =/= FId]],
                                 [FId]),
    op_ok = put_kv(subject(L), <<"after">>, <<"1">>),
    wait_applied([F2 | Cs -- [F]], maps:get(commit_index, status(L))),
    FS = status(F2),
    2001 = maps:get(store_size, FS),
    <<"y">> = maps:get(<<"1999">>, maps:get(store, FS)),
    true = maps:get(snapshot_index, FS) >= 500,
    true = maps:get(log_first, FS) >= 500,
    %% on disk: a snapshot, and a log that holds only what follows it
    true = file_size(Data, "snap") > 500 * 8,
    LeaderData = data_dir(Config, "sc", maps:get(id, LS)),
    true = file_size(LeaderData, "log") < 1500 * 64,
    ok.

%% Every node of a cluster that took snapshots is killed and restarted from
%% its data directory: each restores the snapshot plus the log after it,
%% starts applied up to its snapshot (no replay from entry 1), and a leader
%% serves every key written before.
snapshot_restart(Config) ->
    Start = durable_starter(Config, "sr", ?SNAP_ARGS),
    Cs = [Start(I) || I <- [1, 2, 3]],
    ok = raft_ref_main:set_peers([{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)]),
    L = wait_leader(Cs, ?T),
    ok = put_range(subject(L), 1, 700, <<"before">>),
    wait_applied(Cs, maps:get(commit_index, status(L))),
    Snaps = [maps:get(snapshot_index, status(C)) || C <- Cs],
    [true = S >= 200 || S <- Snaps],
    [begin _ = cnode_test_lib:kill(C), forget(C) end || C <- Cs],
    Cs2 = [Start(I) || I <- [1, 2, 3]],
    %% each comes back applied up to its snapshot before any leader exists
    [true = maps:get(last_applied, status(C)) >= S || {C, S} <- lists:zip(Cs2, Snaps)],
    L2 = wait_leader(Cs2, ?T),
    op_ok = put_kv(subject(L2), <<"after">>, <<"1">>),
    wait_applied(Cs2, maps:get(commit_index, status(L2))),
    [begin
         701 = maps:get(store_size, status(C)),
         {ok, <<"before">>} = get_kv(subject(L2), <<"650">>)
     end || C <- Cs2],
    ok.

%% Junk at the Subject and at the registered name is logged and dropped.
%% C nodes with snapshots every 200 entries and two reference (emulation)
%% nodes: no C node takes one (emulation members know none, and a new
%% leader sends them its log from index 1), so after 600 writes and a
%% leadership transfer to another C node the reference nodes still apply
%% everything.  Before this rule the second leader cut them off
%% (emulation_cut_off 2) and they stopped applying.
no_snapshot_beside_emulation(Config) ->
    Cs = [cnode(Config, I, ?SNAP_ARGS) || I <- [1, 2, 3]],
    Ref = ref_nodes([4, 5], 5),
    All = [{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)] ++ Ref,
    ok = raft_ref_main:set_peers(All),
    _ = raft_ref_main:elect(All, 1),
    L = wait_leader(Cs, ?T),
    ok = put_range(subject(L), 1, 600, <<"x">>),
    [F | _] = Cs -- [L],
    FId = maps:get(id, status(F)),
    {0, _} = admin(Config, ["--node", atom_to_list(node_of(L)), "transfer",
                            integer_to_list(FId)]),
    {FId, _} = await_agreed_leader(Cs, ?T),
    ok = put_range(subject(F), 601, 700, <<"y">>),
    Last = maps:get(commit_index, status(F)),
    wait_applied(Cs, Last),
    ok = raft_ref_main:wait_applied(Ref, Last, ?T),
    #{<<"700">> := <<"y">>} = same_stores(Ref, Cs),
    [#{snapshot_index := 0, log_first := 1, snapshots_paused := true,
       emulation_cut_off := 0} = status(C) || C <- Cs],
    raft_ref_main:stop_nodes(Ref).

hostile_messages(Config) ->
    Cs = [cnode(Config, I, []) || I <- [1, 2, 3]],
    All = [{I, subject(C)} || {I, C} <- lists:zip([1, 2, 3], Cs)],
    ok = raft_ref_main:set_peers(All),
    L = wait_leader(Cs, ?T),
    {subject, Pid, Tag} = S = subject(L),
    Junk = [junk, {append_entries, x, y}, {request_vote, -1, 0, 0, 0, not_a_subject},
            {append_entries, 1, 1, 0, 0, [{5, {log_entry, 1, {put, <<"k">>, <<"v">>}}}], 0,
             {subject, self(), make_ref()}},
            {append_entries, 1, 1, 0, 0, [{1, {log_entry, 1, {bogus}}}], 0,
             {subject, self(), make_ref()}},
            {client_put, not_binary, <<"v">>, {subject, self(), make_ref()}},
            {set_peers, not_a_list}, {commit_notification, -5}],
    [Pid ! {Tag, J} || J <- Junk],
    {raft_kv, maps:get(node, L)} ! {some, junk},
    op_ok = put_kv(S, <<"still">>, <<"works">>),
    {ok, <<"works">>} = get_kv(S, <<"still">>),
    Log = cnode_test_lib:log_text(L),
    {match, _} = re:run(Log, "raft_kv: .*dropped"),
    ok.

%% ---- conformance ---------------------------------------------------------

%% The same client operations against five Erlang reference nodes and
%% against five C nodes in designated-leader mode: every node applies the
%% same sequence, and the C nodes' traces have the seed's lines.
designated_leader_same_applies(Config) ->
    Seed = 2024,
    Ops = [{I, raft_ref_main:client_ops(Seed, I)} || I <- [1, 2, 3]],
    %% reference cluster
    Ref = ref_nodes(lists:seq(1, 5), 5),
    ok = raft_ref_main:set_peers(Ref),
    RL = raft_ref_main:elect(Ref, 1),
    RefResults = raft_ref_main:run_clients(RL, Ops),
    RLast = maps:get(commit_index, raft_ref_main:status(RL)),
    ok = raft_ref_main:wait_applied(Ref, RLast, ?T),
    %% C cluster, emulation mode
    Cs = [cnode(Config, I, ["--mode", "emulation"]) || I <- lists:seq(1, 5)],
    All = [{I, subject(C)} || {I, C} <- lists:zip(lists:seq(1, 5), Cs)],
    ok = raft_ref_main:set_peers(All),
    CL = raft_ref_main:elect(All, 1),
    L = wait_leader(Cs, ?T),
    CL = subject(L),
    CResults = raft_ref_main:run_clients(CL, Ops),
    %% clients run concurrently, so the interleaving of their ops may differ
    %% between the two runs; each run's nodes must agree among themselves,
    %% and with the same interleaving the two must agree with each other
    CLast = maps:get(commit_index, status(L)),
    wait_applied(Cs, CLast),
    RefApplied = [raft_ref_main:applied(S) || {_, S} <- Ref],
    CApplied = [applied(C) || C <- Cs],
    [A1 | _] = RefApplied,
    true = lists:all(fun(A) -> A =:= A1 end, RefApplied),
    [C1 | _] = CApplied,
    true = lists:all(fun(A) -> A =:= C1 end, CApplied),
    %% one client at a time removes the interleaving: then both must match
    Serial = [{9, lists:append([O || {_, O} <- Ops])}],
    _ = raft_ref_main:run_clients(RL, Serial),
    _ = raft_ref_main:run_clients(CL, Serial),
    RLast2 = maps:get(commit_index, raft_ref_main:status(RL)),
    ok = raft_ref_main:wait_applied(Ref, RLast2, ?T),
    CLast2 = maps:get(commit_index, status(L)),
    wait_applied(Cs, CLast2),
    Tail = fun(A) -> lists:nthtail(length(A) - length(element(2, hd(Serial))), A) end,
    StripIdx = fun(A) -> [Cmd || {_, _, Cmd} <- A] end,
    RefTail = StripIdx(Tail(raft_ref_main:applied(RL))),
    [RefTail = StripIdx(Tail(applied(C))) || C <- Cs],
    %% both runs answered every op
    15 = length(lists:append([R || {_, R} <- RefResults])),
    15 = length(lists:append([R || {_, R} <- CResults])),
    %% the C followers' traces carry the seed's lines
    {ok, T2} = file:read_file(trace_file(Config, 2)),
    {match, _} = re:run(T2, "\\[node 2\\] Granting vote to 1 for term 1"),
    {match, _} = re:run(T2, "\\[node 2\\] AppendEntries OK from leader 1, match_index=1"),
    {match, _} = re:run(T2, "\\[node 2\\] slot 1: "),
    {ok, T1} = file:read_file(trace_file(Config, 1)),
    {match, _} = re:run(T1, "\\[node 1\\] Became LEADER for term 1"),
    {match, _} = re:run(T1, "\\[node 1\\] Replication: 5/3 acks"),
    raft_ref_main:stop_nodes(Ref).

%% `raft_kv emulate`: the emulation's whole run (5 nodes, 3 clients) in one
%% C node prints the seed main's lines, every follower applies the same
%% sequence, and it ends by itself.
emulate_run(_Config) ->
    Bin = cnode_test_lib:bin("raft_kv"),
    Port = open_port({spawn_executable, Bin},
                     [{args, ["emulate", "--sname", cnode_test_lib:unique("emu"),
                              "--cookie", "emu", "--seed", "5"]},
                      {line, 4096}, exit_status, binary]),
    {0, Lines} = collect_lines(Port, []),
    [<<"Config: 5 nodes, 3 clients">> | _] = Lines,
    true = lists:member(<<"All peers configured">>, Lines),
    true = lists:member(<<"[node 1] Became LEADER for term 1">>, Lines),
    true = lists:member(<<"All 3 clients started sending requests">>, Lines),
    <<"Done">> = lists:last(Lines),
    Slots = fun(N) ->
                    P = <<"[node ", (integer_to_binary(N))/binary, "] slot ">>,
                    [binary:part(L, byte_size(P), byte_size(L) - byte_size(P))
                     || L <- Lines, binary:match(L, P) =:= {0, byte_size(P)}]
            end,
    S2 = Slots(2),
    15 = length(S2),
    [S2 = Slots(N) || N <- [3, 4, 5]],
    ok.

collect_lines(Port, Acc) ->
    receive
        {Port, {data, {eol, L}}} -> collect_lines(Port, [L | Acc]);
        {Port, {exit_status, S}} -> {S, lists:reverse(Acc)}
    after 60000 -> ct:fail(emulate_did_not_finish)
    end.

%% Bad flags, a bad peers file and a corrupt data directory: a clear error
%% and a non-zero exit, never a crash or a node that starts anyway.
bad_flags_and_files(Config) ->
    Bin = cnode_test_lib:bin("raft_kv"),
    Dir = ?config(priv_dir, Config),
    Run = fun(Args) -> cnode_test_lib:run(Bin, Args) end,
    %% usage errors: one line naming the flag, pointing to --help, exit 2
    Usage = fun(Args, Re) -> cnode_test_lib:usage_error(Bin, Args, Re) end,
    Usage(["--sname", "x", "--mode", "bogus"], "bad value for --mode"),
    Usage(["--sname", "x", "--id", "0"], "bad value for --id"),
    Usage(["--sname", "x", "--no-such-flag"], "unknown option '--no-such-flag'"),
    Usage(["--sname", "x", "--id"], "missing value for '--id'"),
    %% the same layout of --help everywhere (c_src/node/cli.h)
    [begin
         {0, H} = cnode_test_lib:run(cnode_test_lib:bin(B), ["--help"]),
         {match, _} = re:run(H, "\\Ausage: " ++ B ++ " "),
         B =:= "echo_node" orelse re:run(H, "\noptions:\n") =/= nomatch orelse
             ct:fail({no_options_section, B}),
         {match, _} = re:run(H, "\nnode options \\(every binary\\):\n  --sname")
     end || B <- ["raft_kv", "gossip_chat", "chatterbox", "echo_node"]],
    %% --version: every binary, one version (CN_VERSION)
    Versions = [begin
                    {0, V} = cnode_test_lib:run(cnode_test_lib:bin(B), ["--version"]),
                    {match, [Ver]} = re:run(V, "^" ++ B ++ " ([0-9.]+) ",
                                            [{capture, all_but_first, binary}]),
                    Ver
                end || B <- ["raft_kv", "gossip_chat", "chatterbox", "echo_node"]],
    [_] = lists:usort(Versions),
    Bad = filename:join(Dir, "bad_peers.json"),
    ok = file:write_file(Bad, <<"{\"nodes\": [{\"name\": \"no_at_sign\"}]}">>),
    {2, O3} = Run(["--peers", Bad, "--id", "1"]),
    {match, _} = re:run(O3, "must look like alive@host"),
    {2, O4} = Run(["--peers", filename:join(Dir, "missing.json"), "--id", "1"]),
    {match, _} = re:run(O4, "cannot read"),
    %% --id and the node's name must agree with the peers file
    Host = cnode_test_lib:host(),
    Two = filename:join(Dir, "two_peers.json"),
    ok = file:write_file(Two, iolist_to_binary(
                                io_lib:format("{\"nodes\": [{\"name\": \"pa@~s\", \"id\": 1},"
                                              " {\"name\": \"pb@~s\", \"id\": 2}]}", [Host, Host]))),
    Me = cnode_test_lib:unique("pc"),
    {2, O9} = Run(["--sname", Me, "--cookie", "c", "--peers", Two, "--id", "9"]),
    {match, _} = re:run(O9, "--id 9 is not in"),
    {2, O10} = Run(["--sname", Me, "--cookie", "c", "--peers", Two, "--id", "2"]),
    {match, _} = re:run(O10, "--id 2 is pb@" ++ Host ++ " in .*but this node is " ++ Me),
    {2, O11} = Run(["--sname", Me, "--cookie", "c", "--peers", Two]),
    {match, _} = re:run(O11, "is not in .*give --id"),
    {2, _} = Run(["--sname", Me, "--cookie", "c"]),       % no --id
    Data = filename:join(Dir, "corrupt_data"),
    ok = filelib:ensure_path(Data),
    ok = file:write_file(filename:join(Data, "meta"), <<"not a meta file at all">>),
    {1, O5} = Run(["--sname", cnode_test_lib:unique("cd"), "--cookie", "c", "--id", "1",
                   "--data-dir", Data]),
    {match, _} = re:run(O5, "is corrupt"),
    %% raft_kv repair: its own bad arguments, a directory without a log
    Usage(["repair"], "repair: --data-dir DIR is required"),
    Usage(["repair", "--data-dir", Data, "--bogus"], "repair: unknown argument '--bogus'"),
    {1, O8} = Run(["repair", "--data-dir", filename:join(Dir, "no_such_dir")]),
    {match, _} = re:run(O8, "cannot open"),
    ok.
