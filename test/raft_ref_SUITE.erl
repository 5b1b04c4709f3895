%% Common Test suite for the Erlang reference of the Gleam raft_kv emulation
%% (seed 002): raft_ref_actor, raft_ref_node, raft_ref_client, raft_ref_main.
%%
%% Trace lines are captured with raft_ref_trace (a capturing group leader
%% inherited by the nodes and clients) and compared with the seed's own
%% output, kept verbatim in raft_ref_SUITE_data/:
%%   seed_test_trace.txt  the output of the seed's gleeunit test (3 nodes)
%%   seed_sample_run.txt  the output of the seed's `gleam run` (5 nodes,
%%                        3 clients)
%% Synchronisation is by messages only: sys:get_state round trips, monitors,
%% client completion reports.  No sleeps.
-module(raft_ref_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, suite/0]).
-export([seed_test_trace_replay/1, seed_sample_replay/1, emulation_run/1,
         put_existing_key_fails/1, get_missing_key_fails/1,
         follower_answers_not_leader/1, wire_terms_as_leader/1,
         wire_terms_as_follower/1, call_timeouts_crash_like_gleam/1,
         unexpected_messages_logged_and_dropped/1, state_shape/1,
         external_peers_in_run/1,
         client_ops_reproducible/1, read_config/1]).
%% logger handler callback (used by unexpected_messages_logged_and_dropped)
-export([log/2]).

suite() ->
    [{timetrap, {seconds, 60}}].

all() ->
    [seed_test_trace_replay, seed_sample_replay, emulation_run,
     put_existing_key_fails, get_missing_key_fails,
     follower_answers_not_leader, wire_terms_as_leader,
     wire_terms_as_follower, call_timeouts_crash_like_gleam,
     unexpected_messages_logged_and_dropped, state_shape,
     external_peers_in_run, client_ops_reproducible, read_config].

%% ---------------------------------------------------------------------------
%% Replays of the seed's own runs, compared line by line

%% The seed's gleeunit test: 3 nodes, node 1 elected, then from the test
%% process put x=hello, get x, put x=world, delete x, get x, delete x.  Every
%% node's lines must equal the seed's, byte for byte and in order.
seed_test_trace_replay(Config) ->
    Expected = data_lines(Config, "seed_test_trace.txt"),
    {Replies, Lines} =
        traced(fun() ->
                       {ok, N1} = raft_ref_node:start(1, 3),
                       {ok, N2} = raft_ref_node:start(2, 3),
                       {ok, N3} = raft_ref_node:start(3, 3),
                       Nodes = [{1, N1}, {2, N2}, {3, N3}],
                       try
                           raft_ref_actor:send(N1, {set_peers, [{2, N2}, {3, N3}]}),
                           raft_ref_actor:send(N2, {set_peers, [{1, N1}, {3, N3}]}),
                           raft_ref_actor:send(N3, {set_peers, [{1, N1}, {2, N2}]}),
                           raft_ref_actor:send(N1, start_election),
                           R = [raft_ref_node:put(N1, <<"x">>, <<"hello">>),
                                raft_ref_node:get(N1, <<"x">>),
                                raft_ref_node:put(N1, <<"x">>, <<"world">>),
                                raft_ref_node:delete(N1, <<"x">>),
                                raft_ref_node:get(N1, <<"x">>),
                                raft_ref_node:delete(N1, <<"x">>)],
                           ok = raft_ref_main:wait_applied(Nodes, 6, 5000),
                           R
                       after
                           raft_ref_main:stop_nodes(Nodes)
                       end
               end),
    ?assertEqual([op_ok, {ok, <<"hello">>}, {op_error, <<"key already exists: x">>},
                  op_ok, {error, <<"key not found: x">>},
                  {op_error, <<"key not found: x">>}], Replies),
    %% The seed's output stops when its test returns, before the followers
    %% print slot 6 (they get the last CommitNotification after the reply);
    %% we wait for it, so each follower has that one line more.
    Slot6 = fun(N) -> iolist_to_binary(["[node ", integer_to_list(N),
                                        "] slot 6: DELETE \"x\" -> NOT FOUND"]) end,
    ?assertEqual([{node, 1}, {node, 2}, {node, 3}], sources(Lines)),
    ?assertEqual(by_source({node, 1}, Expected), by_source({node, 1}, Lines)),
    [?assertEqual({N, by_source({node, N}, Expected) ++ [Slot6(N)]},
                  {N, by_source({node, N}, Lines)}) || N <- [2, 3]],
    ok.

%% The seed's `gleam run`: replay the 15 commands its leader applied, in the
%% same order (one client, so the leader sees them in that order), through
%% the seed's main flow with 5 nodes.  Every node's lines must equal the
%% seed's sample, byte for byte and in order.
seed_sample_replay(Config) ->
    Sample = data_lines(Config, "seed_sample_run.txt"),
    Ops = sample_commands(Sample),
    ?assertEqual(15, length(Ops)),
    {Out, Lines} = traced(fun() ->
                                  raft_ref_main:run(#{num_nodes => 5, num_clients => 1,
                                                      ops => #{1 => Ops}})
                          end),
    NodeSources = [S || S <- sources(Sample), S =/= client, S =/= main],
    ?assertEqual([{node, I} || I <- lists:seq(1, 5)], lists:sort(NodeSources)),
    [?assertEqual({Src, by_source(Src, Sample)}, {Src, by_source(Src, Lines)})
     || Src <- NodeSources],
    %% The client's own lines are the sample's client result lines, in the
    %% leader's order.
    ClientResults = [L || L <- by_source(client, Sample),
                          not is_client_banner(L)],
    ?assertEqual(ClientResults,
                 [L || L <- by_source(client, Lines), not is_client_banner(L)]),
    [{1, Results}] = maps:get(results, Out),
    ?assertEqual(Ops, [Op || {Op, _} <- Results]),
    ok.

%% ---------------------------------------------------------------------------
%% The emulation run: 5 nodes, 3 seeded clients

emulation_run(Config) ->
    Sample = data_lines(Config, "seed_sample_run.txt"),
    Seed = 20240601,
    {Out, Lines} = traced(fun() ->
                                  raft_ref_main:run(#{num_nodes => 5, num_clients => 3,
                                                      seed => Seed})
                          end),
    #{results := Results, applied := Applied, stores := Stores} = Out,
    %% Main's lines: exactly the seed's, in order.
    ?assertEqual(by_source(main, Sample), by_source(main, Lines)),
    %% Every line has a shape the seed printed, in its sample run or its test
    %% run; the seed's runs never show a client's successful GET, whose
    %% format is taken from the seed's client.gleam.
    SampleShapes = lists:usort([shape(L) || L <- Sample ++ data_lines(Config, "seed_test_trace.txt")]
                               ++ [shape(<<"[client] GET \"k\" -> \"v\"">>)]),
    ?assertEqual([], [L || L <- Lines, not lists:member(shape(L), SampleShapes)]),
    %% The client banner lines, byte for byte (UTF-8 em dash).
    ?assertEqual(3, count(<<"[client] Starting \xe2\x80\x94 will send 5 requests">>, Lines)),
    ?assertEqual(3, count(<<"[client] Finished all 5 requests">>, Lines)),
    %% Each client sent exactly client_ops(Seed, I).
    ?assertEqual([{I, raft_ref_main:client_ops(Seed, I)} || I <- [1, 2, 3]],
                 [{I, [Op || {Op, _} <- R]} || {I, R} <- Results]),
    %% Every node applied the same 15 entries, in the same order.
    [{1, Log} | Others] = Applied,
    ?assertEqual(15, length(Log)),
    ?assertEqual(lists:seq(1, 15), [I || {I, _, _} <- Log]),
    ?assertEqual([1], lists:usort([T || {_, T, _} <- Log])),
    [?assertEqual({Id, Log}, {Id, L}) || {Id, L} <- Others],
    ?assertEqual(5, length(Applied)),
    %% Each client's commands are in the log in the client's order, and the
    %% log holds exactly the clients' commands.
    Cmds = [C || {_, _, C} <- Log],
    ?assertEqual(lists:sort(lists:append([[Op || {Op, _} <- R] || {_, R} <- Results])),
                 lists:sort(Cmds)),
    [?assert(is_subsequence([Op || {Op, _} <- R], Cmds)) || {_, R} <- Results],
    %% Stores: identical, and what an independent model of the seed's KV
    %% semantics gives for that log.
    {ModelStore, ModelReplies, ModelTexts} = model(Cmds),
    [?assertEqual({Id, ModelStore}, {Id, S}) || {Id, S} <- Stores],
    ?assertEqual(lists:sort(ModelReplies),
                 lists:sort(lists:append([R || {_, R} <- Results]))),
    %% Trace of the application: the leader's apply lines, and each
    %% follower's "slot I" lines, are the model's, in log order.
    ?assertEqual([<<"[node 1] ", T/binary>> || T <- ModelTexts],
                 [L || L <- by_source({node, 1}, Lines), is_apply_text(L)]),
    [?assertEqual([iolist_to_binary(["[node ", integer_to_list(N), "] slot ",
                                     integer_to_list(I), ": ", T])
                   || {I, T} <- lists:zip(lists:seq(1, 15), ModelTexts)],
                  [L || L <- by_source({node, N}, Lines),
                        binary:match(L, <<"] slot ">>) =/= nomatch])
     || N <- [2, 3, 4, 5]],
    %% Client result lines: one per reply, in the seed's format.
    ?assertEqual(lists:sort([client_line(Op, R) || {_, Rs} <- Results, {Op, R} <- Rs]),
                 lists:sort([L || L <- by_source(client, Lines),
                                  not is_client_banner(L)])),
    ok.

%% ---------------------------------------------------------------------------
%% KV semantics and error strings

put_existing_key_fails(_Config) ->
    {{R1, R2, Stores}, Lines} =
        with_cluster(3, fun(Nodes, Leader) ->
                                A = raft_ref_node:put(Leader, <<"x">>, <<"1">>),
                                B = raft_ref_node:put(Leader, <<"x">>, <<"2">>),
                                ok = raft_ref_main:wait_applied(Nodes, 2, 5000),
                                {A, B, raft_ref_main:stores(Nodes)}
                        end),
    ?assertEqual(op_ok, R1),
    ?assertEqual({op_error, <<"key already exists: x">>}, R2),
    [?assertEqual({Id, #{<<"x">> => <<"1">>}}, {Id, S}) || {Id, S} <- Stores],
    ?assert(lists:member(<<"[node 1] PUT \"x\" = \"1\" -> OK">>, Lines)),
    ?assert(lists:member(<<"[node 1] PUT \"x\" -> REJECTED (key exists)">>, Lines)),
    [?assert(lists:member(iolist_to_binary(["[node ", integer_to_list(N),
                                            "] slot 2: PUT \"x\" -> REJECTED (key exists)"]),
                          Lines)) || N <- [2, 3]],
    ok.

get_missing_key_fails(_Config) ->
    {{G, D, P, G2}, Lines} =
        with_cluster(3, fun(Nodes, Leader) ->
                                A = raft_ref_node:get(Leader, <<"nokey">>),
                                B = raft_ref_node:delete(Leader, <<"nokey">>),
                                C = raft_ref_node:put(Leader, <<"nokey">>, <<"v">>),
                                E = raft_ref_node:get(Leader, <<"nokey">>),
                                ok = raft_ref_main:wait_applied(Nodes, 4, 5000),
                                {A, B, C, E}
                        end),
    ?assertEqual({error, <<"key not found: nokey">>}, G),
    ?assertEqual({op_error, <<"key not found: nokey">>}, D),
    ?assertEqual(op_ok, P),
    ?assertEqual({ok, <<"v">>}, G2),
    ?assert(lists:member(<<"[node 1] GET \"nokey\" -> NOT FOUND">>, Lines)),
    ?assert(lists:member(<<"[node 1] DELETE \"nokey\" -> NOT FOUND">>, Lines)),
    ?assert(lists:member(<<"[node 2] slot 1: GET \"nokey\" -> NOT FOUND">>, Lines)),
    ?assert(lists:member(<<"[node 3] slot 2: DELETE \"nokey\" -> NOT FOUND">>, Lines)),
    ?assert(lists:member(<<"[node 3] slot 4: GET \"nokey\" -> \"v\"">>, Lines)),
    ok.

follower_answers_not_leader(_Config) ->
    {{Direct, ClientResults, FollowerStatus, LeaderStatus}, Lines} =
        with_cluster(3, fun(Nodes, _Leader) ->
                                {2, F} = lists:keyfind(2, 1, Nodes),
                                A = [raft_ref_node:put(F, <<"k">>, <<"v">>),
                                     raft_ref_node:get(F, <<"k">>),
                                     raft_ref_node:delete(F, <<"k">>)],
                                Ops = [{put, <<"k">>, <<"v">>}, {get, <<"k">>},
                                       {delete, <<"k">>}],
                                [{7, C}] = raft_ref_main:run_clients(F, [{7, Ops}]),
                                {A, C, raft_ref_main:status(F),
                                 raft_ref_main:status(lists:keyfind(1, 1, Nodes))}
                        end),
    ?assertEqual([{op_error, <<"not leader">>}, {error, <<"not leader">>},
                  {op_error, <<"not leader">>}], Direct),
    ?assertEqual([{{put, <<"k">>, <<"v">>}, {op_error, <<"not leader">>}},
                  {{get, <<"k">>}, {error, <<"not leader">>}},
                  {{delete, <<"k">>}, {op_error, <<"not leader">>}}], ClientResults),
    ?assertEqual(6, count(<<"[node 2] Not leader, rejecting client request">>, Lines)),
    ?assert(lists:member(<<"[client] PUT \"k\" = \"v\" -> not leader">>, Lines)),
    ?assert(lists:member(<<"[client] GET \"k\" -> not leader">>, Lines)),
    ?assert(lists:member(<<"[client] DELETE \"k\" -> not leader">>, Lines)),
    ?assertMatch(#{role := follower, log := L, store := S}
                   when map_size(L) =:= 0 andalso map_size(S) =:= 0, FollowerStatus),
    ?assertMatch(#{role := leader, log := L} when map_size(L) =:= 0, LeaderStatus),
    ok.

%% ---------------------------------------------------------------------------
%% Exact terms on the wire

%% The test process is node 2 of a 2-node cluster whose node 1 is a
%% reference node: it sees exactly the terms a C peer would.
wire_terms_as_leader(_Config) ->
    {ok, Node1} = raft_ref_node:start(1, 2),
    {subject, N1Pid, N1Tag} = Node1,
    Me = {subject, self(), MyTag = make_ref()},
    try
        N1Pid ! {N1Tag, {set_peers, [{2, Me}]}},
        N1Pid ! {N1Tag, start_election},
        VoteTag =
            receive
                {MyTag, {request_vote, 1, 1, 0, 0, {subject, N1Pid, RV}}}
                  when is_reference(RV) -> RV
            after 5000 -> ct:fail(no_request_vote)
            end,
        N1Pid ! {VoteTag, {vote_granted, 1}},
        ?assertEqual(#{role => leader, current_term => 1, voted_for => {some, 1}},
                     maps:with([role, current_term, voted_for],
                               raft_ref_main:status(Node1))),
        Self = self(),
        Put = fun(K, V) ->
                      spawn_link(fun() -> Self ! {put_reply, K, raft_ref_node:put(Node1, K, V)} end)
              end,
        Put(<<"k">>, <<"v">>),
        AeTag1 = receive
                     {MyTag, {append_entries, 1, 1, 0, 0,
                              [{1, {log_entry, 1, {put, <<"k">>, <<"v">>}}}], 0,
                              {subject, N1Pid, T1}}} -> T1
                 after 5000 -> ct:fail(no_append_entries)
                 end,
        N1Pid ! {AeTag1, {append_entries_ok, 1, 1}},
        receive {put_reply, <<"k">>, R1} -> ?assertEqual(op_ok, R1)
        after 5000 -> ct:fail(no_put_reply)
        end,
        receive {MyTag, {commit_notification, 1}} -> ok
        after 5000 -> ct:fail(no_commit_notification)
        end,
        %% Second entry: prev index/term and leader_commit move on.  A
        %% rejection leaves 1 of 2 acks: "replication failed".
        Put(<<"k2">>, <<"v2">>),
        AeTag2 = receive
                     {MyTag, {append_entries, 1, 1, 1, 1,
                              [{2, {log_entry, 1, {put, <<"k2">>, <<"v2">>}}}], 1,
                              {subject, N1Pid, T2}}} -> T2
                 after 5000 -> ct:fail(no_append_entries_2)
                 end,
        N1Pid ! {AeTag2, {append_entries_rejected, 1}},
        receive {put_reply, <<"k2">>, R2} ->
                ?assertEqual({op_error, <<"replication failed">>}, R2)
        after 5000 -> ct:fail(no_put_reply_2)
        end,
        %% No commit notification for a failed replication; the entry stays
        %% in the leader's log, uncommitted.
        ?assertMatch(#{commit_index := 1, last_applied := 1,
                       log := #{2 := {log_entry, 1, {put, <<"k2">>, <<"v2">>}}},
                       store := #{<<"k">> := <<"v">>}},
                     raft_ref_main:status(Node1)),
        receive {MyTag, Unexpected} -> ct:fail({unexpected, Unexpected})
        after 0 -> ok
        end
    after
        raft_ref_main:stop_nodes([{1, Node1}])
    end.

%% The test process acts as leader 1 towards reference node 2.
wire_terms_as_follower(_Config) ->
    {Replies, Lines} =
        traced(fun() ->
                       {ok, Node2} = raft_ref_node:start(2, 3),
                       try follower_exchange(Node2)
                       after raft_ref_main:stop_nodes([{2, Node2}])
                       end
               end),
    ?assertEqual([{vote_granted, 1},                % fresh node, term 1
                  {vote_denied, 1},                 % stale term 0
                  {vote_denied, 1},                 % already voted for 1 in term 1
                  {append_entries_ok, 2, 1},        % term 2, first entry
                  {append_entries_rejected, 2},     % prev index 5 missing
                  {append_entries_rejected, 2},     % stale term 1
                  {append_entries_ok, 2, 2},        % second entry, commit 1
                  {vote_denied, 3},                 % term 3, candidate log behind
                  {vote_granted, 3},                % same term, not voted yet
                  {vote_granted, 4}],               % higher term resets the vote
                 Replies),
    Expected = [<<"[node 2] Starting">>,
                <<"[node 2] Granting vote to 1 for term 1">>,
                <<"[node 2] Denying vote to 1 (stale term)">>,
                <<"[node 2] Denying vote to 3">>,
                <<"[node 2] AppendEntries OK from leader 1, match_index=1">>,
                <<"[node 2] AppendEntries log mismatch at index 5">>,
                <<"[node 2] Rejecting AppendEntries from node 1 (stale term)">>,
                <<"[node 2] AppendEntries OK from leader 1, match_index=2">>,
                <<"[node 2] slot 1: PUT \"a\" = \"1\" -> OK">>,
                <<"[node 2] CommitNotification: commit_index updated to 2">>,
                <<"[node 2] slot 2: DELETE \"a\" -> OK">>,
                <<"[node 2] Denying vote to 3">>,
                <<"[node 2] Granting vote to 1 for term 3">>,
                <<"[node 2] Granting vote to 3 for term 4">>],
    ?assertEqual(Expected, Lines),
    ok.

follower_exchange(Node2) ->
    Call = fun(Make) -> raft_ref_actor:call(Node2, 1000, Make) end,
    E1 = {log_entry, 2, {put, <<"a">>, <<"1">>}},
    E2 = {log_entry, 2, {delete, <<"a">>}},
    Replies1 =
        [Call(fun(R) -> {request_vote, 1, 1, 0, 0, R} end),
         Call(fun(R) -> {request_vote, 0, 1, 0, 0, R} end),
         Call(fun(R) -> {request_vote, 1, 3, 0, 0, R} end),
         Call(fun(R) -> {append_entries, 2, 1, 0, 0, [{1, E1}], 0, R} end),
         Call(fun(R) -> {append_entries, 2, 1, 5, 2, [], 0, R} end),
         Call(fun(R) -> {append_entries, 1, 1, 0, 0, [], 0, R} end),
         Call(fun(R) -> {append_entries, 2, 1, 1, 2, [{2, E2}], 1, R} end)],
    ?assertMatch(#{commit_index := 1, last_applied := 1, store := #{<<"a">> := <<"1">>},
                   current_term := 2, voted_for := none, role := follower},
                 raft_ref_main:status(Node2)),
    raft_ref_actor:send(Node2, {commit_notification, 2}),
    ?assertMatch(#{commit_index := 2, last_applied := 2, store := S,
                   log := #{1 := E1, 2 := E2}} when map_size(S) =:= 0,
                 raft_ref_main:status(Node2)),
    Replies2 = [Call(fun(R) -> {request_vote, 3, 3, 0, 0, R} end)],
    ?assertMatch(#{current_term := 3, voted_for := none, role := follower},
                 raft_ref_main:status(Node2)),
    Replies3 = [Call(fun(R) -> {request_vote, 3, 1, 2, 2, R} end),
                Call(fun(R) -> {request_vote, 4, 3, 2, 2, R} end)],
    ?assertMatch(#{current_term := 4, voted_for := {some, 3}},
                 raft_ref_main:status(Node2)),
    Replies1 ++ Replies2 ++ Replies3.

%% ---------------------------------------------------------------------------
%% Failure behaviour of the synchronous calls

call_timeouts_crash_like_gleam(_Config) ->
    process_flag(trap_exit, true),
    %% RequestVote to a silent peer: the candidate crashes after 1000 ms.
    {ok, {subject, P1, _} = N1} = raft_ref_node:start(1, 2),
    Silent = {subject, self(), make_ref()},
    raft_ref_actor:send(N1, {set_peers, [{2, Silent}]}),
    M1 = erlang:monitor(process, P1),
    T0 = erlang:monotonic_time(millisecond),
    raft_ref_actor:send(N1, start_election),
    {Reason1, Elapsed1} = receive {'DOWN', M1, process, P1, R1} ->
                                      {R1, erlang:monotonic_time(millisecond) - T0}
                          after 10000 -> ct:fail(candidate_did_not_crash)
                          end,
    ?assertMatch({#{gleam_error := let_assert,
                    message := <<"callee did not send reply before timeout">>,
                    module := <<"gleam/erlang/process">>}, _}, Reason1),
    %% it gave up after its 1 s timeout, not before and not on something
    %% else much later (the bound is loose: a busy CI machine is slow)
    ?assert(Elapsed1 >= 1000 andalso Elapsed1 < 1900),
    %% AppendEntries to a silent peer: the leader crashes after 2000 ms, and
    %% the client waiting on it panics with "callee exited: ...".
    {ok, {subject, P2, _} = N2} = raft_ref_node:start(1, 2),
    MyTag = make_ref(),
    raft_ref_actor:send(N2, {set_peers, [{2, {subject, self(), MyTag}}]}),
    raft_ref_actor:send(N2, start_election),
    receive {MyTag, {request_vote, 1, 1, 0, 0, {subject, P2, VT}}} ->
            P2 ! {VT, {vote_granted, 1}}
    after 5000 -> ct:fail(no_request_vote)
    end,
    M2 = erlang:monitor(process, P2),
    Self = self(),
    {Client, CM} = spawn_monitor(
                     fun() ->
                             Self ! {client_result,
                                     catch raft_ref_node:put(N2, <<"k">>, <<"v">>)}
                     end),
    T1 = erlang:monotonic_time(millisecond),
    receive {MyTag, {append_entries, 1, 1, 0, 0, _, 0, _}} -> ok
    after 5000 -> ct:fail(no_append_entries)
    end,
    {Reason2, Elapsed2} = receive {'DOWN', M2, process, P2, R2} ->
                                      {R2, erlang:monotonic_time(millisecond) - T1}
                          after 10000 -> ct:fail(leader_did_not_crash)
                          end,
    ?assertMatch({#{gleam_error := let_assert,
                    message := <<"callee did not send reply before timeout">>}, _},
                 Reason2),
    ?assert(Elapsed2 >= 2000 andalso Elapsed2 < 2900),
    receive {client_result, {'EXIT', {#{gleam_error := panic, message := Msg}, _}}} ->
            ?assertMatch(<<"callee exited: ProcessDown(", _/binary>>, Msg)
    after 5000 -> ct:fail(no_client_result)
    end,
    receive {'DOWN', CM, process, Client, _} -> ok end,
    ok.

%% gleam_otp actors log and drop what is not for their subject (including
%% '$gen_call'); the node goes on working.
unexpected_messages_logged_and_dropped(_Config) ->
    {ok, {subject, Pid, Tag} = N} = raft_ref_node:start(1, 1),
    ok = logger:add_handler(raft_ref_suite_h, ?MODULE,
                            #{level => all, config => #{pid => self(), from => Pid}}),
    try
        ?assertEqual({'EXIT', {timeout, {gen_server, call, [Pid, hello, 300]}}},
                     catch gen_server:call(Pid, hello, 300)),
        Pid ! {make_ref(), start_election},          % a tag that is not its own
        Pid ! {Tag, start_election, extra},          % not a 2-tuple
        Pid ! hello,
        W = [receive {logged, warning, Text} -> Text
             after 5000 -> ct:fail(no_warning)
             end || _ <- [1, 2, 3, 4]],
        [?assertMatch(<<"Actor discarding unexpected message: ", _/binary>>, X) || X <- W],
        ?assertMatch(<<"Actor discarding unexpected message: #(atom.create(\"$gen_call\")",
                       _/binary>>, hd(W)),
        ?assertEqual(<<"Actor discarding unexpected message: Hello">>, lists:last(W)),
        %% Still a working node: 1-node cluster, elect and write.
        raft_ref_actor:send(N, start_election),
        ?assertEqual(op_ok, raft_ref_node:put(N, <<"k">>, <<"v">>)),
        ?assertEqual({ok, <<"v">>}, raft_ref_node:get(N, <<"k">>)),
        ?assertMatch(#{current_term := 1, role := leader}, raft_ref_main:status(N))
    after
        logger:remove_handler(raft_ref_suite_h),
        raft_ref_main:stop_nodes([{1, N}])
    end.

log(#{meta := #{pid := From}, level := Level, msg := Msg}, #{config := #{pid := To, from := From}}) ->
    Text = case Msg of
               {string, S} -> S;
               {report, R} -> io_lib:format("~tp", [R]);
               {F, A} -> io_lib:format(F, A)
           end,
    To ! {logged, Level, unicode:characters_to_binary(Text)};
log(_, _) ->
    ok.

%% sys:get_state answers as for a gleam_otp actor: {ok, State}, State the
%% Gleam State record.
state_shape(_Config) ->
    {ok, {subject, Pid, _} = N} = raft_ref_node:start(4, 5),
    try
        ?assertMatch({ok, {state, 4, 0, none, follower, #{}, 0, 0, [], #{}, #{}, #{}, 5,
                           {subject, Pid, _}}}, sys:get_state(Pid)),
        ok = sys:suspend(Pid),
        ok = sys:resume(Pid),
        ?assertMatch({status, Pid, {module, 'gleam@otp@actor'}, _}, sys:get_status(Pid))
    after
        raft_ref_main:stop_nodes([{4, N}])
    end.

%% run/1 with an externally supplied peer (here a reference node started
%% apart, standing for a C node whose Subject was obtained elsewhere): it is
%% counted in the cluster size, gets set_peers and is in everyone's peers;
%% once as follower, once as the elected leader.
external_peers_in_run(_Config) ->
    lists:foreach(fun external_peer_run/1, [1, 6]).

external_peer_run(LeaderId) ->
    {ok, S6} = raft_ref_node:start(6, 6),
    Ext = [{6, S6}],
    Out = try raft_ref_main:run(#{num_nodes => 5, num_clients => 3, seed => 99,
                                  external => Ext, leader_id => LeaderId,
                                  keep_nodes => true})
          catch C:R:St -> raft_ref_main:stop_nodes(Ext), erlang:raise(C, R, St)
          end,
    #{nodes := Nodes, applied := Applied, stores := Stores, results := Results,
      leader := Leader} = Out,
    Local = Nodes -- Ext,
    try
        ?assertEqual([1, 2, 3, 4, 5, 6], [Id || {Id, _} <- Nodes]),
        ?assertEqual({LeaderId, Leader}, lists:keyfind(LeaderId, 1, Nodes)),
        ?assertMatch(#{role := leader, current_term := 1}, raft_ref_main:status(Leader)),
        ?assertEqual(15, length(lists:append([Rs || {_, Rs} <- Results]))),
        ok = raft_ref_main:wait_applied(Nodes, 15, 5000),
        %% Everyone, the external node included, applied the same 15 entries
        %% and holds the same store.
        [{1, Log} | _] = Applied,
        ?assertEqual(15, length(Log)),
        [?assertEqual({Id, Log}, {Id, L}) || {Id, L} <- Applied],
        ?assertEqual(Log, raft_ref_main:applied(S6)),
        [{6, Store6}] = raft_ref_main:stores(Ext),
        [?assertEqual({Id, Store6}, {Id, S}) || {Id, S} <- Stores],
        %% set_peers reached every node, with the other five.
        [?assertEqual({Id, lists:seq(1, 6) -- [Id], 6},
                      begin
                          #{peers := P, cluster_size := CS} = raft_ref_main:status(S),
                          {Id, lists:sort(P), CS}
                      end) || {Id, S} <- Nodes]
    after
        raft_ref_main:stop_nodes(Local ++ Ext)
    end.

%% ---------------------------------------------------------------------------
%% Client op generation, config

client_ops_reproducible(_Config) ->
    A = raft_ref_main:client_ops(7, 1),
    ?assertEqual(A, raft_ref_main:client_ops(7, 1)),
    ?assertEqual(5, length(A)),
    ?assertNotEqual(A, raft_ref_main:client_ops(7, 2)),
    ?assertNotEqual(A, raft_ref_main:client_ops(8, 1)),
    All = lists:append([raft_ref_main:client_ops(S, C) || S <- lists:seq(1, 400),
                                                           C <- [1, 2, 3]]),
    Keys = [<<"a">>, <<"b">>, <<"c">>, <<"d">>, <<"e">>],
    Values = [<<"val_", (integer_to_binary(I))/binary>> || I <- lists:seq(0, 99)],
    Kinds = [case Op of
                 {get, K} -> true = lists:member(K, Keys), get;
                 {put, K, V} -> true = lists:member(K, Keys),
                                true = lists:member(V, Values), put;
                 {delete, K} -> true = lists:member(K, Keys), delete
             end || Op <- All],
    N = length(All),
    [begin
         Share = count(K, Kinds) / N,
         ?assert(Share > 0.30 andalso Share < 0.37)
     end || K <- [get, put, delete]],
    ?assertEqual(Keys, lists:usort([element(2, Op) || Op <- All])),
    ?assert(length(lists:usort([V || {put, _, V} <- All])) > 90),
    ok.

read_config(Config) ->
    Dir = ?config(priv_dir, Config),
    F1 = filename:join(Dir, "c1.toml"),
    ok = file:write_file(F1, "# cluster\nnum_nodes = 7\nnum_clients = 2 # two\n"),
    ?assertEqual({7, 2}, raft_ref_main:read_config(F1)),
    F2 = filename:join(Dir, "c2.toml"),
    ok = file:write_file(F2, "num_clients = 4\n"),
    ?assertEqual({5, 4}, raft_ref_main:read_config(F2)),
    ok.

%% ---------------------------------------------------------------------------
%% Helpers

%% Run Fun with a capturing group leader; {Result, Lines}.
traced(Fun) ->
    {ok, T} = raft_ref_trace:start(#{forward => group_leader()}),
    Old = raft_ref_trace:capture(T),
    Result = try Fun() after raft_ref_trace:release(Old) end,
    Lines = raft_ref_trace:lines(T),
    raft_ref_trace:stop(T),
    {Result, Lines}.

%% N reference nodes, peers set, node 1 elected; Fun(Nodes, Leader).
with_cluster(N, Fun) ->
    traced(fun() ->
                   Nodes = raft_ref_main:start_nodes(N),
                   try
                       ok = raft_ref_main:set_peers(Nodes),
                       Leader = raft_ref_main:elect(Nodes, 1),
                       ?assertMatch(#{role := leader}, raft_ref_main:status(Leader)),
                       Fun(Nodes, Leader)
                   after
                       raft_ref_main:stop_nodes(Nodes)
                   end
           end).

data_lines(Config, Name) ->
    {ok, Bin} = file:read_file(filename:join(?config(data_dir, Config), Name)),
    [L || L <- binary:split(Bin, <<"\n">>, [global]), L =/= <<>>].

source(<<"[node ", Rest/binary>>) ->
    {N, _} = string:to_integer(Rest),
    {node, N};
source(<<"[client]", _/binary>>) -> client;
source(_) -> main.

sources(Lines) -> lists:usort([source(L) || L <- Lines]).

by_source(Src, Lines) -> [L || L <- Lines, source(L) =:= Src].

is_client_banner(L) ->
    binary:match(L, [<<"] Starting ">>, <<"] Finished all">>]) =/= nomatch.

%% The line's format: numbers and quoted strings abstracted away.
shape(L) ->
    S1 = re:replace(L, "\"[^\"]*\"", "\"S\"", [global, {return, binary}]),
    S2 = re:replace(S1, "[0-9]+", "N", [global, {return, binary}]),
    re:replace(S2, "(key not found|key already exists): .*$", "\\1: K",
               [{return, binary}]).

count(X, List) -> length([Y || Y <- List, Y =:= X]).

is_subsequence([], _) -> true;
is_subsequence(_, []) -> false;
is_subsequence([X | Xs], [X | Ys]) -> is_subsequence(Xs, Ys);
is_subsequence(Xs, [_ | Ys]) -> is_subsequence(Xs, Ys).

%% "[node 1] PUT ..." / GET / DELETE: the leader applying an entry.
is_apply_text(L) ->
    re:run(L, "^\\[node [0-9]+\\] (PUT|GET|DELETE) \"") =/= nomatch.

%% The 15 commands of the seed's sample, from its leader's apply lines (a
%% rejected put's value is only in the client's line).
sample_commands(Sample) ->
    RejectedValues =
        [{K, V} || L <- Sample,
                   {match, [K, V]} <- [re:run(L, "^\\[client\\] PUT \"([^\"]*)\" = \"([^\"]*)\" -> key already exists",
                                              [{capture, all_but_first, binary}])]],
    {Cmds, []} =
        lists:foldl(
          fun(L, {Acc, Rej}) ->
                  case re:run(L, "^\\[node 1\\] (PUT|GET|DELETE) \"([^\"]*)\"(?: = \"([^\"]*)\")?(.*)$",
                              [{capture, all_but_first, binary}]) of
                      {match, [<<"PUT">>, K, <<>>, <<" -> REJECTED (key exists)">>]} ->
                          {K, V} = lists:keyfind(K, 1, Rej),
                          {[{put, K, V} | Acc], lists:keydelete(K, 1, Rej)};
                      {match, [<<"PUT">>, K, V, _]} -> {[{put, K, V} | Acc], Rej};
                      {match, [<<"GET">>, K, _, _]} -> {[{get, K} | Acc], Rej};
                      {match, [<<"DELETE">>, K, _, _]} -> {[{delete, K} | Acc], Rej};
                      nomatch -> {Acc, Rej}
                  end
          end, {[], RejectedValues}, Sample),
    lists:reverse(Cmds).

%% Independent model of the seed's KV semantics: final store, the reply each
%% command gets, and the apply text of each ("PUT \"k\" = \"v\" -> OK" ...).
model(Cmds) ->
    {Store, Replies, Texts} =
        lists:foldl(
          fun(Cmd, {S, Rs, Ts}) ->
                  {S1, R, T} = model_step(Cmd, S),
                  {S1, [{Cmd, R} | Rs], [iolist_to_binary(T) | Ts]}
          end, {#{}, [], []}, Cmds),
    {Store, lists:reverse(Replies), lists:reverse(Texts)}.

model_step({put, K, V}, S) ->
    case S of
        #{K := _} -> {S, {op_error, <<"key already exists: ", K/binary>>},
                      ["PUT \"", K, "\" -> REJECTED (key exists)"]};
        _ -> {S#{K => V}, op_ok, ["PUT \"", K, "\" = \"", V, "\" -> OK"]}
    end;
model_step({get, K}, S) ->
    case S of
        #{K := V} -> {S, {ok, V}, ["GET \"", K, "\" -> \"", V, "\""]};
        _ -> {S, {error, <<"key not found: ", K/binary>>}, ["GET \"", K, "\" -> NOT FOUND"]}
    end;
model_step({delete, K}, S) ->
    case S of
        #{K := _} -> {maps:remove(K, S), op_ok, ["DELETE \"", K, "\" -> OK"]};
        _ -> {S, {op_error, <<"key not found: ", K/binary>>},
              ["DELETE \"", K, "\" -> NOT FOUND"]}
    end.

%% The client's line for one reply.
client_line({get, K}, {ok, V}) -> iolist_to_binary(["[client] GET \"", K, "\" -> \"", V, "\""]);
client_line({get, K}, {error, R}) -> iolist_to_binary(["[client] GET \"", K, "\" -> ", R]);
client_line({put, K, V}, op_ok) -> iolist_to_binary(["[client] PUT \"", K, "\" = \"", V, "\" -> OK"]);
client_line({put, K, V}, {op_error, R}) ->
    iolist_to_binary(["[client] PUT \"", K, "\" = \"", V, "\" -> ", R]);
client_line({delete, K}, op_ok) -> iolist_to_binary(["[client] DELETE \"", K, "\" -> OK"]);
client_line({delete, K}, {op_error, R}) -> iolist_to_binary(["[client] DELETE \"", K, "\" -> ", R]).
