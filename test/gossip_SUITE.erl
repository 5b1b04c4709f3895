%% gossip_SUITE - the gossip chat (priv/bin/gossip_chat, sanitizer build) and
%% its Erlang reference peer (gossip_ref) against each other.
%%
%% C nodes run with --json: every event they show is a JSON line on stdout,
%% which cnode_proc forwards here as {cnode_line, Name, Line}; reference
%% peers send the same events as {gossip_event, Node, Map}.  Each case
%% collects them into one state and waits for a condition on it, so every
%% wait is for an event.  The only fixed waits are the length of a fault
%% (how long a node is stopped) and the windows in which something must NOT
%% happen (no false removal), each commented.  Every node gets a unique name
%% and the suite's cookie; every node is stopped by its OS pid (SIGTERM,
%% whose exit status must be 0 under the sanitizers, or SIGKILL in crash
%% cases).
-module(gossip_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1, init_per_testcase/2, end_per_testcase/2]).
-export([two_nodes_chat/1, third_joins_through_either/1, kill_detected/1, quit_seen_at_once/1,
         eof_and_sigint_leave/1, thousand_messages/1, mixed_chat/1, junk_dropped/1,
         slow_node_not_removed/1, removed_node_returns/1, restart_rejoins/1, script_mode/1,
         join_nobody/1, bad_flags/1, scale_50/1]).

-define(T, 15000).

all() ->
    case cnode_test_lib:other_peer_otp() of
        false -> all_cases();
        true -> [mixed_chat]        % CNODE_PEER_OTP: the mixed chat only
    end.

all_cases() ->
    [two_nodes_chat, third_joins_through_either, kill_detected, quit_seen_at_once,
     eof_and_sigint_leave, thousand_messages, mixed_chat, junk_dropped, slow_node_not_removed,
     removed_node_returns, restart_rejoins, script_mode, join_nobody, bad_flags, scale_50].

init_per_suite(Config0) ->
    Config = cnode_test_lib:init_dist(Config0),
    true = filelib:is_regular(cnode_test_lib:bin("gossip_chat")),
    Self = self(),
    Keeper = spawn(fun() ->
                           ets:new(gossip_suite_nodes, [named_table, public, bag]),
                           Self ! {table_made, self()},
                           receive stop -> ok end
                   end),
    receive {table_made, Keeper} -> ok end,
    [{keeper, Keeper} | Config].

end_per_suite(Config) ->
    ?config(keeper, Config) ! stop,
    ok.

init_per_testcase(_, Config) ->
    ets:delete_all_objects(gossip_suite_nodes),
    Config.

%% Whatever a failed case left running goes now.
end_per_testcase(_, _Config) ->
    [catch cnode_proc:kill(C) || {c, C} <- ets:tab2list(gossip_suite_nodes)],
    [catch peer:stop(P) || {peer, P} <- ets:tab2list(gossip_suite_nodes)],
    ets:delete_all_objects(gossip_suite_nodes),
    ok.

%% ---- starting and stopping nodes ----------------------------------------------

%% A C node with --json; its stdout lines come here.  Opts: args, name, json.
start_c(Config) -> start_c(Config, []).
start_c(Config, Opts) ->
    Name = proplists:get_value(name, Opts, cnode_test_lib:unique("g")),
    Cookie = atom_to_list(?config(cookie, Config)),
    Json = case proplists:get_value(json, Opts, true) of true -> ["--json"]; false -> [] end,
    Args = ["--sname", Name, "--cookie", Cookie, "-v" | Json] ++ proplists:get_value(args, Opts, []),
    Log = filename:join(?config(priv_dir, Config), Name ++ ".log"),
    C = cnode_proc:start(cnode_test_lib:bin("gossip_chat"), Args,
                         #{log => Log, stdout => self()}),
    ets:insert(gossip_suite_nodes, {c, C}),
    put({sname, Name}, node_bin(C)),
    C.

join(Config, Contact) -> join(Config, Contact, []).
join(Config, Contact, Opts) ->
    start_c(Config, [{args, ["--join", atom_to_list(node_of(Contact))] ++
                          proplists:get_value(args, Opts, [])} | proplists:delete(args, Opts)]).

%% An Erlang node running the reference peer, hidden, events to us; its OTP
%% release is the host's or CNODE_PEER_OTP's (cnode_test_lib:peer_erl/0).
start_ref(Config, Join) ->
    Ebin = cnode_test_lib:peer_ebin(gossip_ref),
    {ok, Peer, Node} = cnode_test_lib:peer_start_link(
                         #{name => cnode_test_lib:unique("eref"),
                           args => ["-setcookie", atom_to_list(?config(cookie, Config)),
                                    "-hidden", "-pa", Ebin]}),
    ets:insert(gossip_suite_nodes, {peer, Peer}),
    ok = cnode_test_lib:peer_release_ok(Node),
    Opts = case Join of undefined -> #{}; _ -> #{join => node_of(Join)} end,
    {ok, _} = erpc:call(Node, gossip_ref, start, [Opts#{listener => self()}]),
    #{node => Node, peer => Peer}.

stop(#{peer := P}) -> peer:stop(P);
stop(C) -> cnode_test_lib:stop(C).

node_of(#{node := N}) -> N;
node_of(N) when is_atom(N) -> N.

node_bin(X) -> atom_to_binary(node_of(X)).

say(X, Text) ->
    {ok, Id} = gen_server:call({gossip, node_of(X)}, {say, Text}),
    Id.

%% ---- events --------------------------------------------------------------------

%% The events seen so far: a list (newest first) and indexes.
new_state() -> #{evs => [], chats => #{}, views => #{}}.

%% Folds one arriving event into the state.
absorb({cnode_line, Name, Line}, S) ->
    case cnode_json:decode(Line) of
        {ok, M} when is_map(M) -> add_event(get({sname, Name}), M, S);
        _ -> ct:log("~s: ~s", [Name, Line]), S
    end;
absorb({gossip_event, Node, M}, S) -> add_event(Node, M, S).

add_event(Node, M, #{evs := Evs, chats := Chats, views := Views} = S) ->
    Ev = maps:get(<<"event">>, M),
    Chats1 = case Ev of
                 <<"chat">> ->
                     K = {Node, maps:get(<<"from">>, M), maps:get(<<"id">>, M)},
                     maps:update_with(K, fun(V) -> V + 1 end, 1, Chats);
                 _ -> Chats
             end,
    View0 = maps:get(Node, Views, sets:from_list([Node])),
    View = case Ev of
               <<"join">> -> sets:add_element(maps:get(<<"node">>, M), View0);
               <<"leave">> -> sets:del_element(maps:get(<<"node">>, M), View0);
               <<"dead">> -> sets:del_element(maps:get(<<"node">>, M), View0);
               _ -> View0
           end,
    S#{evs := [{Node, M} | Evs], chats := Chats1, views := Views#{Node => View}}.

%% Absorbs events until Pred(S) holds; fails after Timeout ms.
until(S, Pred, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    until_loop(S, Pred, Deadline).

until_loop(S, Pred, Deadline) ->
    case Pred(S) of
        true -> S;
        false ->
            Left = Deadline - erlang:monotonic_time(millisecond),
            receive
                {cnode_line, _, _} = Msg -> until_loop(absorb(Msg, S), Pred, Deadline);
                {gossip_event, _, _} = Msg -> until_loop(absorb(Msg, S), Pred, Deadline)
            after max(0, Left) ->
                    ct:log("state at timeout: views ~p~nlast events ~p",
                           [maps:map(fun(_, V) -> lists:sort(sets:to_list(V)) end, maps:get(views, S)),
                            lists:sublist(maps:get(evs, S), 30)]),
                    ct:fail(timeout_waiting_for_events)
            end
    end.

%% Everything that arrives within Ms (a window in which something must not
%% happen).
drain(S, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    drain_loop(S, Deadline).

drain_loop(S, Deadline) ->
    Left = Deadline - erlang:monotonic_time(millisecond),
    receive
        {cnode_line, _, _} = Msg -> drain_loop(absorb(Msg, S), Deadline);
        {gossip_event, _, _} = Msg -> drain_loop(absorb(Msg, S), Deadline)
    after max(0, Left) -> S
    end.

%% Every node in Nodes sees exactly Nodes as members.
converged(Nodes) ->
    Want = sets:from_list([node_bin(N) || N <- Nodes]),
    fun(#{views := V}) ->
            lists:all(fun(N) -> sets:is_subset(Want, maps:get(node_bin(N), V, sets:new())) andalso
                                    sets:is_subset(maps:get(node_bin(N), V, sets:new()), Want)
                      end, Nodes)
    end.

%% Every node in Nodes showed chat {From, Id}.
shown(Nodes, From, Id) ->
    fun(#{chats := C}) ->
            lists:all(fun(N) -> maps:is_key({node_bin(N), node_bin(From), Id}, C) end, Nodes)
    end.

%% Events of a kind about Subject, at Node.
events(#{evs := Evs}, Node, Kind, Subject) ->
    [M || {N, #{<<"event">> := K} = M} <- Evs, N =:= node_bin(Node), K =:= Kind,
          maps:get(<<"node">>, M, undefined) =:= node_bin(Subject)].

seen_by_all(Nodes, Kind, Subject) ->
    fun(S) -> lists:all(fun(N) -> events(S, N, Kind, Subject) =/= [] end, Nodes) end.

%% When (system time, us) each of Nodes first saw Kind about Subject.
first_times(S, Nodes, Kind, Subject) ->
    [lists:min([maps:get(<<"t">>, M) || M <- events(S, N, Kind, Subject)]) || N <- Nodes].

members(X) -> gen_server:call({gossip, node_of(X)}, members).

%% ---- failure detection: the documented bound ------------------------------------

%% docs/gossip.md ("Failure detection"; defaults from "Parameters", which
%% these nodes run with).  A kill -9 resets the connections, so each
%% neighbour probes the victim at once: no pong within the ping timeout,
%% then indirect probes; none within the indirect timeout, then suspicion,
%% whose floods confirm each other, so it runs out after suspect_min; then
%% `dead` floods, in milliseconds.  A silent crash (SIGSTOP, no reset) waits
%% for the next probe, up to one period (+10 % jitter).
-define(PERIOD, 500).
-define(PING_TIMEOUT, 300).
-define(INDIRECT_TIMEOUT, 500).
-define(SUSPECT_MIN, 1500).
-define(SLACK, 1000).       % the kill's own latency (a shell), the flood, and
                            % scheduling of sanitizer builds on a busy machine

crash_bound() -> ?PING_TIMEOUT + ?INDIRECT_TIMEOUT + ?SUSPECT_MIN.     % 2,300 ms
silent_bound() -> ?PERIOD * 11 div 10 + crash_bound().                 % 2,850 ms

%% Waits until every one of Observers shows Victim dead, then checks that
%% each did within Bound + ?SLACK ms of T0 (system time in us, taken just
%% before the fault) and not before suspect_min (no removal skips a
%% suspicion).  Only events after T0 count (an earlier removal of the same
%% node is another fault's).  The wait is longer than the bound, so a late
%% detection is measured and reported.  Returns the state and each
%% observer's time in ms; the log also has when each first suspected it.
detected(S, Observers, Victim, T0, Bound) ->
    S2 = until(S, fun(St) -> not lists:member(none, since(St, Observers, <<"dead">>, Victim, T0))
                  end, Bound + ?T),
    Ms = since(S2, Observers, <<"dead">>, Victim, T0),
    ct:log("~s removed ~w ms after the fault by each of ~b nodes (bound ~b + ~b ms); "
           "suspected after ~w ms",
           [node_bin(Victim), Ms, length(Observers), Bound, ?SLACK,
            since(S2, Observers, <<"suspect">>, Victim, T0)]),
    case [M || M <- Ms, M > Bound + ?SLACK orelse M < ?SUSPECT_MIN] of
        [] -> {S2, Ms};
        _ -> ct:fail({detection_outside_bound, Ms, {?SUSPECT_MIN, Bound + ?SLACK}})
    end.

%% For each of Nodes, ms from T0 (us) to its first Kind event about Subject
%% at or after T0; none if there is none.
since(S, Nodes, Kind, Subject, T0) ->
    [case [T || #{<<"t">> := T} <- events(S, N, Kind, Subject), T >= T0] of
         [] -> none;
         Ts -> (lists:min(Ts) - T0) div 1000
     end || N <- Nodes].

%% ---- cases -----------------------------------------------------------------------

two_nodes_chat(Config) ->
    A = start_c(Config),
    B = join(Config, A),
    S1 = until(new_state(), converged([A, B]), ?T),
    [_, _] = members(A),
    true = lists:sort([node_bin(A), node_bin(B)]) =:= members(B),
    Id1 = say(A, <<"hello from A">>),
    Id2 = say(B, <<"héllo from B"/utf8>>),
    S2 = until(S1, fun(S) -> (shown([A, B], A, Id1))(S) andalso (shown([A, B], B, Id2))(S) end, ?T),
    [#{<<"text">> := <<"héllo from B"/utf8>>}] =
        [M || {N, #{<<"event">> := <<"chat">>, <<"id">> := I} = M} <- maps:get(evs, S2),
              N =:= node_bin(A), I =:= Id2],
    0 = stop(B),
    0 = stop(A).

third_joins_through_either(Config) ->
    A = start_c(Config),
    B = join(Config, A),
    S1 = until(new_state(), converged([A, B]), ?T),
    C = join(Config, B),                     % through the second node
    S2 = until(S1, converged([A, B, C]), ?T),
    3 = length(members(C)),
    D = join(Config, A),                     % and through the first
    S3 = until(S2, converged([A, B, C, D]), ?T),
    IdC = say(C, <<"from C">>),
    IdD = say(D, <<"from D">>),
    _ = until(S3, fun(S) -> (shown([A, B, C, D], C, IdC))(S) andalso
                                (shown([A, B, C, D], D, IdD))(S) end, ?T),
    [0 = stop(X) || X <- [D, C, B, A]],
    ok.

%% kill -9: every other node removes it within the documented bound.
kill_detected(Config) ->
    A = start_c(Config),
    Others = [join(Config, A) || _ <- [1, 2, 3]],
    All = [A | Others],
    S1 = until(new_state(), converged(All), ?T),
    [Victim | Rest0] = lists:reverse(All),
    Rest = lists:reverse(Rest0),
    T0 = os:system_time(microsecond),
    _ = cnode_test_lib:kill(Victim),
    {S2, Ms} = detected(S1, Rest, Victim, T0, crash_bound()),
    ct:comment("detected in ~w ms (bound ~b + ~b)", [Ms, crash_bound(), ?SLACK]),
    _ = until(S2, converged(Rest), ?T),
    [0 = stop(X) || X <- Rest],
    ok.

%% /quit from a script: the others see the leave at once, well before any
%% failure detector could have removed it (which takes at least 1.8 s).
quit_seen_at_once(Config) ->
    A = start_c(Config),
    B = join(Config, A),
    S1 = until(new_state(), converged([A, B]), ?T),
    Script = filename:join(?config(priv_dir, Config), "quit_script.txt"),
    ok = file:write_file(Script, "/wait 3\nbye all\n/quit\n"),
    Q = join(Config, A, [{args, ["--input", Script]}]),
    S2 = until(S1, seen_by_all([A, B], <<"leave">>, Q), ?T),
    [Bye] = [M || {N, #{<<"event">> := <<"chat">>, <<"text">> := <<"bye all">>} = M}
                      <- maps:get(evs, S2), N =:= node_bin(Q)],
    Said = maps:get(<<"t">>, Bye),
    Ms = [(T - Said) div 1000 || T <- first_times(S2, [A, B], <<"leave">>, Q)],
    ct:log("leave seen ~w ms after the last line", [Ms]),
    true = lists:max(Ms) < 1000,
    0 = cnode_test_lib:wait_exit(Q, ?T),
    true = (shown([A, B], Q, maps:get(<<"id">>, Bye)))(S2),
    [] = events(S2, A, <<"dead">>, Q),
    %% the control call quit leaves the same way
    T0 = os:system_time(microsecond),
    ok = gen_server:call({gossip, node_of(B)}, quit),
    S3 = until(S2, seen_by_all([A], <<"leave">>, B), ?T),
    [T1] = first_times(S3, [A], <<"leave">>, B),
    true = (T1 - T0) div 1000 < 1000,
    0 = cnode_test_lib:wait_exit(B, ?T),
    0 = stop(A).

%% EOF on stdin and SIGINT both leave gracefully.
eof_and_sigint_leave(Config) ->
    A = start_c(Config),
    B = join(Config, A),
    C = join(Config, A),
    S1 = until(new_state(), converged([A, B, C]), ?T),
    %% EOF: the port holding B's stdin closes when its owner goes
    pong = net_adm:ping(node_of(B)),
    monitor_node(node_of(B), true),
    exit(maps:get(owner, B), kill),
    S2 = until(S1, seen_by_all([A, C], <<"leave">>, B), 5000),
    NB = node_of(B),
    receive {nodedown, NB} -> ok after ?T -> ct:fail(b_still_up) end,
    %% SIGINT
    _ = os:cmd("kill -INT " ++ integer_to_list(maps:get(os_pid, C))),
    S3 = until(S2, seen_by_all([A], <<"leave">>, C), 5000),
    0 = cnode_test_lib:wait_exit(C, ?T),
    [] = events(S3, A, <<"dead">>, B) ++ events(S3, A, <<"dead">>, C),
    0 = stop(A).

%% 1,002 lines from three senders at once, a non-sender killed midway:
%% every live node shows every line exactly once.
thousand_messages(Config) ->
    A = start_c(Config),
    Rest = [join(Config, A) || _ <- lists:seq(1, 5)],
    All = [A | Rest],
    S1 = until(new_state(), converged(All), ?T),
    Senders = [A, lists:nth(1, Rest), lists:nth(2, Rest)],
    Victim = lists:nth(5, Rest),
    Live = All -- [Victim],
    Self = self(),
    Pids = [spawn_link(fun() ->
                               Ids = [say(X, iolist_to_binary(io_lib:format("line ~b", [K])))
                                      || K <- lists:seq(1, 334)],
                               Self ! {sent, node_bin(X), Ids}
                       end) || X <- Senders],
    %% the victim dies while lines are flowing
    S2 = until(S1, fun(#{chats := C}) -> maps:size(C) > 600 end, 60000),
    _ = cnode_test_lib:kill(Victim),
    Sent = lists:append([receive {sent, F, Ids} -> [{F, Id} || Id <- Ids]
                         after 60000 -> ct:fail(no_sent)
                         end || _ <- Pids]),
    1002 = length(Sent),
    Want = [{node_bin(N), F, Id} || N <- Live, {F, Id} <- Sent],
    S3 = until(S2, fun(#{chats := C}) -> lists:all(fun(K) -> maps:is_key(K, C) end, Want) end,
               60000),
    %% exactly once: no count above 1, and nothing that was not sent
    Chats = maps:get(chats, S3),
    Dups = [K || {K, V} <- maps:to_list(Chats), V =/= 1],
    [] = Dups,
    SentSet = sets:from_list(Sent),
    [] = [K || {N, F, Id} = K <- maps:keys(Chats), lists:member(N, [node_bin(L) || L <- Live]),
               not sets:is_element({F, Id}, SentSet)],
    ct:comment("~b lines x ~b live nodes, no duplicate, none lost", [length(Sent), length(Live)]),
    [0 = stop(X) || X <- Live],
    ok.

%% C and Erlang reference nodes in one chat, joining through each other.
mixed_chat(Config) ->
    E1 = start_ref(Config, undefined),
    C1 = join(Config, E1),
    S1 = until(new_state(), converged([E1, C1]), ?T),
    E2 = start_ref(Config, C1),
    S2 = until(S1, converged([E1, C1, E2]), ?T),
    C2 = join(Config, E2),
    All = [E1, C1, E2, C2],
    S3 = until(S2, converged(All), ?T),
    Ids = [{X, say(X, iolist_to_binary(["hi from ", node_bin(X)]))} || X <- All],
    S4 = until(S3, fun(S) -> lists:all(fun({X, Id}) -> (shown(All, X, Id))(S) end, Ids) end, ?T),
    %% junk to a reference peer is dropped too; it keeps serving
    [{gossip, node_of(E2)} ! J || J <- [hello, {chat, 1, 2, 3}, {peer_list, x}, {ping, <<"x">>}]],
    true = length(members(E2)) =:= 4,
    %% a C node stopped (SIGSTOP) is removed by C and Erlang peers alike
    %% within the documented bound for a silent crash, and is back at all of
    %% them when it resumes
    Pid = integer_to_list(maps:get(os_pid, C2)),
    T0 = os:system_time(microsecond),
    _ = os:cmd("kill -STOP " ++ Pid),
    {S4a, _} = detected(S4, [E1, C1, E2], C2, T0, silent_bound()),
    _ = os:cmd("kill -CONT " ++ Pid),
    S4b = until(S4a, fun(S) ->
                             lists:all(fun(N) ->
                                               [M || M <- events(S, N, <<"join">>, C2),
                                                     maps:get(<<"rejoin">>, M, false)] =/= []
                                       end, [E1, C1, E2])
                     end, ?T),
    S4c = until(S4b, converged(All), ?T),
    IdBack = say(C2, <<"back">>),
    S4d = until(S4c, shown(All, C2, IdBack), ?T),
    %% an Erlang peer leaves; a C peer dies: both are seen by all the rest
    ok = erpc:call(node_of(E1), gossip_ref, stop, []),
    S5 = until(S4d, seen_by_all([C1, E2, C2], <<"leave">>, E1), ?T),
    T1 = os:system_time(microsecond),
    _ = cnode_test_lib:kill(C2),
    {S6, _} = detected(S5, [C1, E2], C2, T1, crash_bound()),
    _ = until(S6, converged([C1, E2]), ?T),
    [stop(X) || X <- [E1, E2]],
    0 = stop(C1).

%% Junk sent to {gossip, Node}: each dropped with a log line, the node
%% keeps working.
junk_dropped(Config) ->
    A = start_c(Config),
    B = join(Config, A),
    S1 = until(new_state(), converged([A, B]), ?T),
    Big = binary:copy(<<"x">>, 70000),
    Junk = [hello, {}, {chat}, {chat, 1, 2, 3}, {chat, <<"a@h">>, <<255, 254>>, 1},
            {chat, <<"a@h">>, Big, 1}, {chat, <<"a@h">>, <<"x">>, -1},
            {chat, <<"a@h">>, <<"x">>, 1 bsl 70}, {chat, <<"no host">>, <<"x">>, 1},
            {peer_list, notalist}, {peer_list, [<<"bad name@h">>]}, {peer_list, [1, 2]},
            {ping, not_a_binary}, {ping, <<"nohost">>}, {pong}, {join, 42},
            {leave, <<"@h">>}, {alive, <<"a@h">>, -1}, {suspect, <<"a@h">>, 1},
            {dead, <<"a@h">>, 1, 2}, {ping_req, <<"a@h">>}, {bogus, 1, 2}, <<"a binary">>,
            [1, 2, 3], 3.14, make_ref(), self()],
    [{gossip, node_of(A)} ! J || J <- Junk],
    gen_server:cast({gossip, node_of(A)}, not_a_cast_it_knows),
    %% a call on the same connection returns after all of the above was handled
    2 = length(members(A)),
    Log = cnode_test_lib:log_text(A),
    Dropped = length(binary:matches(Log, <<"gossip: junk dropped">>)),
    ct:log("~b junk terms, ~b 'junk dropped' log lines", [length(Junk), Dropped]),
    true = Dropped >= length(Junk),
    {match, _} = re:run(Log, "unexpected message dropped: \\{'\\$gen_cast',not_a_cast_it_knows\\}"),
    {match, _} = re:run(Log, "malformed chat"),
    {match, _} = re:run(Log, "not UTF-8"),
    Id = say(B, <<"still here?">>),
    _ = until(S1, shown([A, B], B, Id), ?T),
    0 = stop(B),
    0 = stop(A).

%% A node stopped (SIGSTOP) for 1.5 s, three times, is never removed.
slow_node_not_removed(Config) ->
    A = start_c(Config),
    Others = [join(Config, A) || _ <- [1, 2, 3]],
    All = [A | Others],
    S1 = until(new_state(), converged(All), ?T),
    Slow = lists:last(All),
    Pid = integer_to_list(maps:get(os_pid, Slow)),
    S2 = lists:foldl(
           fun(_, S) ->
                   _ = os:cmd("kill -STOP " ++ Pid),
                   timer:sleep(1500),              % the fault: stopped this long
                   _ = os:cmd("kill -CONT " ++ Pid),
                   Id = say(Slow, <<"back">>),
                   until(S, shown(All, Slow, Id), ?T)
           end, S1, [1, 2, 3]),
    %% a suspicion started during a stop runs out within suspect_max (6 s):
    %% watch that long for a removal that must not come
    S3 = drain(S2, 6500),
    [] = lists:append([events(S3, N, <<"dead">>, Slow) || N <- All -- [Slow]]),
    true = (converged(All))(S3),
    Susp = length(lists:append([events(S3, N, <<"suspect">>, Slow) || N <- All -- [Slow]])),
    ct:comment("~b suspicions, all refuted, no removal", [Susp]),
    [0 = stop(X) || X <- All],
    ok.

%% A node stopped (SIGSTOP) is removed within the documented bound for a
%% silent crash; when it resumes it is back.
removed_node_returns(Config) ->
    A = start_c(Config),
    Others = [join(Config, A) || _ <- [1, 2]],
    All = [A | Others],
    S1 = until(new_state(), converged(All), ?T),
    Gone = lists:last(All),
    Rest = All -- [Gone],
    Pid = integer_to_list(maps:get(os_pid, Gone)),
    T0 = os:system_time(microsecond),
    _ = os:cmd("kill -STOP " ++ Pid),
    {S2, _} = detected(S1, Rest, Gone, T0, silent_bound()),
    _ = os:cmd("kill -CONT " ++ Pid),
    S3 = until(S2, fun(S) ->
                           lists:all(fun(N) ->
                                             [M || M <- events(S, N, <<"join">>, Gone),
                                                   maps:get(<<"rejoin">>, M, false)] =/= []
                                     end, Rest)
                   end, ?T),
    S4 = until(S3, converged(All), ?T),
    Id = say(Gone, <<"I am back">>),
    _ = until(S4, shown(All, Gone, Id), ?T),
    [0 = stop(X) || X <- All],
    ok.

%% kill -9 (removed within the documented bound), then the same node name
%% starts again and joins: it is back.
restart_rejoins(Config) ->
    A = start_c(Config),
    B = join(Config, A),
    Name = cnode_test_lib:unique("again"),
    C = join(Config, B, [{name, Name}]),
    S1 = until(new_state(), converged([A, B, C]), ?T),
    T0 = os:system_time(microsecond),
    _ = cnode_test_lib:kill(C),
    {S2, _} = detected(S1, [A, B], C, T0, crash_bound()),
    C2 = join(Config, A, [{name, Name}]),
    S3 = until(S2, fun(S) -> (converged([A, B, C2]))(S) end, ?T),
    Id = say(C2, <<"new life">>),
    _ = until(S3, shown([A, B, C2], C2, Id), ?T),
    [0 = stop(X) || X <- [C2, B, A]],
    ok.

%% The human format, a script with commands, and --say.
script_mode(Config) ->
    A = start_c(Config),
    Script = filename:join(?config(priv_dir, Config), "script.txt"),
    ok = file:write_file(Script, "/wait 2\nhello world\n/peers\n/bogus\n/quit\n"),
    P = join(Config, A, [{json, false}, {args, ["--input", Script]}]),
    PName = maps:get(name, P),
    Lines = text_lines(PName, []),
    ct:log("text output:~n~s", [lists:join("\n", Lines)]),
    Me = binary_to_list(node_bin(P)),
    true = lists:member("[" ++ Me ++ "] hello world", Lines),
    true = lists:member("* 2 members: " ++ string:join(lists:sort([Me, atom_to_list(node_of(A))]),
                                                       " "), Lines),
    true = lists:member("! unknown command /bogus (try /help)", Lines),
    0 = cnode_test_lib:wait_exit(P, ?T),
    S1 = until(new_state(), seen_by_all([A], <<"leave">>, P), ?T),
    [_] = [M || {_, #{<<"event">> := <<"chat">>, <<"text">> := <<"hello world">>} = M}
                    <- maps:get(evs, S1)],
    B = join(Config, A, [{args, ["--say", "said with a flag"]}]),
    _ = until(S1, fun(#{evs := Evs}) ->
                          [x || {N, #{<<"text">> := <<"said with a flag">>}} <- Evs,
                                N =:= node_bin(A)] =/= []
                  end, ?T),
    0 = stop(B),
    0 = stop(A).

%% The text node's stdout lines until its "left" notice or exit.
text_lines(Name, Acc) ->
    receive
        {cnode_line, Name, Line} ->
            L = binary_to_list(Line),
            case string:find(L, "unknown command") of
                nomatch -> text_lines(Name, [L | Acc]);
                _ -> lists:reverse([L | Acc])
            end
    after ?T -> ct:fail({no_text_lines, lists:reverse(Acc)})
    end.

%% Joining through a node that is not there: the node says why (a warning,
%% not only with -v), and /quit does not wait for a join that never comes.
join_nobody(Config) ->
    Nobody = cnode_test_lib:unique("nobody"),
    C = start_c(Config, [{args, ["--join", Nobody]}]),
    Why = "warning: gossip: waiting for " ++ Nobody ++ "@[^:]+: node is not registered with epmd",
    log_matches(C, Why, erlang:monotonic_time(millisecond) + ?T),
    0 = stop(C),
    Script = filename:join(?config(priv_dir, Config), "quit_only.txt"),
    ok = file:write_file(Script, "/quit\n"),
    {0, Out} = cnode_test_lib:run(cnode_test_lib:bin("gossip_chat"),
                                  [cnode_test_lib:unique("q"), "--cookie",
                                   atom_to_list(?config(cookie, Config)), "--join", Nobody,
                                   "--input", Script]),
    {match, _} = re:run(Out, "^ready ").

log_matches(C, Re, Deadline) ->
    case re:run(cnode_test_lib:log_text(C), Re) of
        {match, _} -> ok;
        nomatch ->
            erlang:monotonic_time(millisecond) > Deadline andalso
                ct:fail({not_in_log, Re, cnode_test_lib:log_tail(C)}),
            timer:sleep(100),
            log_matches(C, Re, Deadline)
    end.

bad_flags(_Config) ->
    Bin = cnode_test_lib:bin("gossip_chat"),
    Run = fun(Args) -> cnode_test_lib:run(Bin, Args) end,
    %% a usage error: one line naming the flag and pointing to --help, exit 2
    Usage = fun(Args, Re) -> cnode_test_lib:usage_error(Bin, Args, Re) end,
    Usage(["--cookie", "c"], "node name is required"),
    Usage(["x", "--period", "fast"], "bad value for --period: 'fast'"),
    Usage(["x", "--input", "/nonexistent/file"], "cannot open /nonexistent/file"),
    Usage(["x", "--bogus"], "unknown option '--bogus'"),
    Usage(["x", "--bogus=1"], "unknown option '--bogus'"),
    Usage(["x", "-q"], "unknown option '-q'"),
    Usage(["x", "--join"], "missing value for '--join'"),
    Usage(["x", "--port", "no"], "--port needs a port number"),
    Usage(["x", "--join", "a", "--peers", "p.json"], "not both"),
    Usage(["x", "--suspect-min", "9000", "--suspect-max", "100"], "above"),
    Usage(["x", "stray"], "unexpected argument 'stray'"),
    %% the partition and history parameters (issue 14)
    [Usage(["x", Flag, Value], "bad value for " ++ Flag)
     || {Flag, Value} <- [{"--history", "0"}, {"--history-seconds", "soon"},
                          {"--reconnect-timeout", "-1"}, {"--sync", "5"}]],
    {0, O6} = Run(["--help"]),
    {match, _} = re:run(O6, "\\Ausage: gossip_chat NAME"),
    {match, _} = re:run(O6, "\noptions:\n  --join NODE"),
    {match, _} = re:run(O6, "\nnode options \\(every binary\\):\n  --sname").


conn_stats(Nodes) ->
    Stats = [gen_server:call({gossip, node_of(X)}, stats) || X <- Nodes],
    {lists:max([maps:get(connections, St) || St <- Stats]),
     lists:max([maps:get(view, St) || St <- Stats])}.

%% Polls (every 500 ms, at most Tries times) until no node holds more than
%% Bound connections: there is no event for a connection being dropped.
bounded_connections(Nodes, Bound, Tries) ->
    {Max, _} = conn_stats(Nodes),
    if
        Max =< Bound -> Max;
        Tries =< 1 -> ct:fail({too_many_connections, Max, Bound});
        true -> timer:sleep(500), bounded_connections(Nodes, Bound, Tries - 1)
    end.

%% 50 C nodes: one membership, bounded connections, lines reach all, a
%% kill -9 detected by all 49 others.
scale_50(Config) ->
    N = list_to_integer(os:getenv("GOSSIP_SCALE_NODES", "50")),
    T0 = erlang:monotonic_time(millisecond),
    First = start_c(Config),
    Nodes = lists:foldl(fun(_, Acc) ->
                                Contact = lists:nth(rand:uniform(length(Acc)), Acc),
                                [join(Config, Contact) | Acc]
                        end, [First], lists:seq(2, N)),
    All = lists:reverse(Nodes),
    S1 = until(new_state(), converged(All), 120000),
    T1 = erlang:monotonic_time(millisecond),
    {MaxConn0, MaxView} = conn_stats(All),
    ct:log("~b nodes up and converged in ~b ms; connections per node at most ~b "
           "(the test node's included), view at most ~b", [N, T1 - T0, MaxConn0, MaxView]),
    true = MaxView =< 6,
    %% once joins are over, each node keeps only its neighbours (at most 6)
    %% and the test node: connections used by joins go within a few seconds
    MaxConn = bounded_connections(All, 6 + 1, 20),
    ct:log("then at most ~b connections per node", [MaxConn]),
    %% 20 lines from random nodes reach all 50 exactly once
    Said = [begin
                X = lists:nth(rand:uniform(N), All),
                {X, say(X, <<"scale">>), os:system_time(microsecond)}
            end || _ <- lists:seq(1, 20)],
    S2 = until(S1, fun(S) -> lists:all(fun({X, Id, _}) -> (shown(All, X, Id))(S) end, Said) end,
               60000),
    [] = [K || {K, V} <- maps:to_list(maps:get(chats, S2)), V =/= 1],
    Lat = lists:sort([lists:max([maps:get(<<"t">>, M) || {_, #{<<"event">> := <<"chat">>,
                                                               <<"id">> := I} = M}
                                                            <- maps:get(evs, S2), I =:= Id]) - T
                      || {_, Id, T} <- Said]),
    P50 = lists:nth(10, Lat) div 1000,
    P99 = lists:last(Lat) div 1000,
    %% kill -9 one: all 49 others remove it within the documented bound
    Victim = lists:nth(N div 2, All),
    Rest = All -- [Victim],
    K0 = os:system_time(microsecond),
    _ = cnode_test_lib:kill(Victim),
    {_, Det} = detected(S2, Rest, Victim, K0, crash_bound()),
    ct:log("lines to all ~b nodes: p50 ~b ms, max ~b ms; kill -9 detected by all in ~b ms "
           "(first ~b ms)", [N, P50, P99, lists:max(Det), lists:min(Det)]),
    ct:comment("~b nodes: join ~b ms, line to all p50 ~b ms max ~b ms, kill detected ~b ms, "
               "<= ~b connections", [N, T1 - T0, P50, P99, lists:max(Det), MaxConn]),
    Statuses = [stop(X) || X <- Rest],
    [] = [S || S <- Statuses, S =/= 0],
    ok.
