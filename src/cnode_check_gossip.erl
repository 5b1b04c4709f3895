%% cnode_check_gossip - the gossip_chat workload of cnode-check
%% (docs/gossip.md has the protocol, docs/check.md the workbench).
%%
%% Nodes.  "c" is priv/bin/gossip_chat --json (every event a JSON line on
%% stdout, which is the node's node.log; lines to say on stdin); an all-C
%% cluster starts from the run's peers file (--peers), as operators run
%% it.  "erlang" is the reference peer (gossip_ref:main, --json) on a
%% hidden BEAM of its own.  In any other cluster node 1 joins through node
%% 2 and every other node through node 1 (--join); a restarted node joins
%% the same way again.  A {"cmd": TEMPLATE} node must print the same JSON
%% events on stdout and read lines on stdin.  A node is ready when this
%% life of it (its log after log_offset, cnode_check_nodes:start/2) shows
%% its "joined" event; the cluster is formed when every node's member list
%% (gen_server:call({gossip, Node}, members)) holds every node.
%%
%% Workload.  `clients` client processes (at most one per node), each
%% saying `rate` lines a second (0: as fast as they are shown), each line
%% from a random node that has no line pending, its text unique in the run
%% ("l<node>-<seq>"), written to the node's stdin.  History (Jepsen's
%% shape; process = the node's id, one line pending per node):
%%   {"process": 2, "type": "invoke", "f": "say", "value": "l2-7", "node": "n2@..."}
%%   {"process": 2, "type": "ok", "f": "say", "value": "l2-7", ...}   the sender showed it
%%   {"process": 2, "type": "info", ..., "error": "timeout" | "nodedown"}
%% An ok's time is the time the sender showed the line (its event's "t",
%% the same wall clock, mapped to the history's clock).
%%
%% Checks, after the faults end and the cluster settles (every node's
%% member list holds every node), on every node's log and the history.
%% Times are the nemesis's lines in the history (written just after it
%% acts); the bounds are docs/gossip.md's:
%%   lines delivered exactly once: no node shows a line twice; a line said
%%     to a node that was not killed afterwards is shown by it, and every
%%     line shown by a sender whose life was not killed afterwards is shown
%%     by every other node that was up: not killed from DELIVER_MS before
%%     the line until REJOIN_MS after its restart, not stopped longer than
%%     the suspicion time (a removed node gets no lines until it is back)
%%     in that window.  Lines sent across a partition are not excused: the
%%     known limitation (docs/gossip.md) shows here.
%%   dead in time: a node killed (and kept down past the bound) is declared
%%     dead by every other node (not itself killed or stopped meanwhile)
%%     within KILL_BOUND_MS + TOLERANCE_MS of the kill; a node stopped
%%     (SIGSTOP, a silent crash) past the bound within STOP_BOUND_MS +
%%     TOLERANCE_MS.  A node restarted or resumed sooner is
%%     not timed (its new life or its refutation wins), only counted.
%%   no false deaths: every "dead" event any node shows is explained by a
%%     fault: a kill of that life (its incarnation, a start time, predates
%%     the kill); a stop of that node or a partition that lasted at least
%%     SUSPICION_MS, the event no later than its end (+ TOLERANCE_MS, +
%%     HEAL_MS for a partition's remerge).  The event may not come sooner
%%     than SUSPECT_MIN_MS after the fault began (a probe already pending
%%     at the fault can shorten the 2.3 s, never below suspect_min).  So a
%%     node paused or cut off for less than the suspicion time is never
%%     removed, nor a node without a fault.
%%   members converged: within settle_seconds of the faults' end every
%%     node's member list is the whole cluster (final_reads then records
%%     each node's list in the history, as "f": "members" operations).
%% Counts: anomalies 0 (there is no linearizability check for a chat),
%% lost = (line, node) pairs missing.
-module(cnode_check_gossip).

-export([argv/2, ready/2, setup/2, leader/0, run_clients/2, restarted/1, settle/2,
         final_reads/2, check/2]).
-export([node_events/2]).

-define(TAB, cnode_check_gossip).
-define(CALL_MS, 1000).
-define(POLL_MS, 10).

%% docs/gossip.md: ping timeout + indirect timeout + suspect_min for a kill
%% (the connection reset starts the probe); plus a period with its jitter
%% for a silent crash (SIGSTOP).  A node stopped or cut off for less than
%% SUSPICION_MS is never removed.
-define(KILL_BOUND_MS, 2300).
-define(STOP_BOUND_MS, 2850).
-define(SUSPICION_MS, 2300).
%% A probe already unanswered when the fault began can make a removal
%% come sooner than the bound, but never sooner than suspect_min.
-define(SUSPECT_MIN_MS, 1500).
-define(TOLERANCE_MS, 1000).
%% The nemesis writes its line just after it acts: a fault began at most
%% this much before its line.
-define(EARLY_MS, 200).
%% A line sent this close before a node's kill may miss it; a restarted
%% node (or one back from a removal) has every line sent this long after.
-define(DELIVER_MS, 1000).
-define(REJOIN_MS, 2000).
%% After a partition heals, halves that removed each other merge again
%% (a removed node is pinged every 5 s): removals up to then are the
%% partition's.
-define(HEAL_MS, 10000).
%% docs/gossip.md: a partition is found like a silent crash, but a node's
%% own suspicion decides and may have no confirmation: the first probe
%% after the cut (a period with its jitter), ping and indirect timeouts,
%% suspect_max.
-define(PARTITION_BOUND_MS, 550 + 300 + 500 + 6000).

%% ---- nodes ---------------------------------------------------------------

argv(Spec = #{impl := <<"c">>}, Ctx) ->
    #{name := Name, cookie := Cookie, id := I} = Spec,
    Contact = case maps:get(peers_file, Ctx, none) of
                  none -> join_args(I, Ctx);
                  F -> ["--peers", F]
              end,
    [bin(Ctx, "gossip_chat"), "--name", Name, "--cookie", Cookie, "--json",
     "--seed", integer_to_list(seed(Ctx, I))] ++ Contact;
argv(Spec = #{impl := <<"erlang">>}, Ctx) ->
    #{name := Name, cookie := Cookie, id := I} = Spec,
    %% hidden (docs/gossip.md: no full mesh through global); schedulers
    %% that do not spin, on a shared machine
    ["erl", "-noshell", "-hidden", "+Bd", "+sbwt", "none", "+sbwtdcpu", "none",
     "+sbwtdio", "none", "-name", Name, "-setcookie", Cookie, "-connect_all", "false",
     "-pa", maps:get(ebin, Ctx), "-run", "gossip_ref", "main", "-extra", "--json"
     | join_args(I, Ctx)];
argv(Spec = #{impl := {cmd, Template}}, Ctx) ->
    ["/bin/sh", "-c", cnode_check:fill(Template, Spec, Ctx)].

bin(Ctx, Name) -> filename:join(maps:get(bin_dir, Ctx), Name).

seed(Ctx, I) -> max(1, (maps:get(seed, Ctx) * 1000 + I) rem 16#7fffffff).

%% Node 1 joins through node 2, every other node through node 1.
join_args(I, Ctx) ->
    Names = maps:from_list([{Id, N} || #{id := Id, name := N} <- maps:get(nodes, Ctx)]),
    Contact = case I of 1 -> 2; _ -> 1 end,
    case maps:find(Contact, Names) of
        {ok, N} -> ["--join", N];
        error -> []
    end.

%% Waits until this life of the node shows its "joined" event.
ready(Spec, Ms) ->
    Deadline = now_ms() + Ms,
    ready_loop(Spec, maps:get(log_offset, Spec, 0), Deadline).

ready_loop(Spec, Pos, Deadline) ->
    {Lines, Pos1} = read_lines(maps:get(log, Spec), Pos),
    case lists:any(fun(L) -> event_is(L, <<"joined">>) end, Lines) of
        true -> ok;
        false ->
            case {cnode_check_nodes:alive(Spec), now_ms() > Deadline} of
                {false, _} -> {error, exited};
                {true, true} -> {error, not_joined};
                {true, false} -> sleep(50), ready_loop(Spec, Pos1, Deadline)
            end
    end.

event_is(Line, Ev) ->
    binary:match(Line, Ev) =/= nomatch andalso
        case json(Line) of
            #{<<"event">> := E} -> E =:= Ev;
            _ -> false
        end.

specs() -> lists:sort(ets:tab2list(cnode_check_nodes)).

%% Makes the workload's table, takes the clock (node events carry
%% wall-clock microseconds, the history nanoseconds since its start) and
%% waits until every node knows every node.
setup(_Ctx, Ms) ->
    case ets:whereis(?TAB) of
        undefined -> ets:new(?TAB, [named_table, public]);
        _ -> ets:delete_all_objects(?TAB)
    end,
    ets:insert(?TAB, {clock, os:system_time(microsecond) - cnode_check_history:now_ns() div 1000}),
    case converge(Ms) of
        {ok, _} -> ok;
        {error, Members} -> {error, {members_differ, Members}}
    end.

leader() -> none.

restarted(_Ctx) -> ok.

%% {ok, Ms} once every node's member list is the whole cluster, else
%% {error, [{Id, Members | down}]} after Ms.
converge(Ms) ->
    T0 = now_ms(),
    converge_loop(T0, T0 + Ms).
converge_loop(T0, Deadline) ->
    All = lists:sort([list_to_binary(N) || {_, #{name := N}} <- specs()]),
    Seen = [{I, members(S)} || {I, S} <- specs()],
    case lists:all(fun({_, {ok, L}}) -> L =:= All; (_) -> false end, Seen) of
        true -> {ok, now_ms() - T0};
        false ->
            case now_ms() > Deadline of
                true -> {error, [{I, case M of {ok, L} -> L; down -> down end} || {I, M} <- Seen]};
                false -> sleep(100), converge_loop(T0, Deadline)
            end
    end.

members(#{node := Node, name := Name}) ->
    try gen_server:call({gossip, Node}, members, ?CALL_MS) of
        L when is_list(L) -> {ok, lists:usort([list_to_binary(Name) | L])};
        _ -> down
    catch
        exit:_ -> down
    end.

%% ---- clients -------------------------------------------------------------

run_clients(Ctx, Seconds) ->
    W = maps:get(workload, Ctx),
    N = length(specs()),
    C = max(1, min(maps:get(clients, W, N), N)),
    Until = now_ms() + round(Seconds * 1000),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               rand:seed(exsss, {maps:get(seed, Ctx), K, 77}),
                               client(Ctx, Until),
                               Self ! {client_done, self()}
                       end) || K <- lists:seq(1, C)],
    [receive {client_done, P} -> ok end || P <- Pids],
    ok.

client(Ctx, Until) ->
    case now_ms() >= Until of
        true -> ok;
        false ->
            Started = now_ms(),
            case pick() of
                none -> sleep(20);
                {I, Spec} ->
                    say(Ctx, I, Spec),
                    ets:delete(?TAB, {busy, I}),
                    pace(Ctx, Started)
            end,
            client(Ctx, Until)
    end.

%% A random node that is running and has no line pending (taken: busy).
pick() ->
    Specs = [X || {_, X} <- lists:sort([{rand:uniform(), S} || S <- specs()])],
    pick(Specs).
pick([]) -> none;
pick([{I, Spec} | More]) ->
    case ets:insert_new(?TAB, {{busy, I}}) of
        false -> pick(More);
        true ->
            case cnode_check_nodes:alive(Spec) of
                true -> {I, Spec};
                false -> ets:delete(?TAB, {busy, I}), pick(More)
            end
    end.

pace(#{workload := W}, Started) ->
    case maps:get(rate, W, 0) of
        0 -> ok;
        Rate -> sleep(max(0, Started + round(1000 / Rate) - now_ms()))
    end.

%% One line: invoke, write it to the node's stdin, wait for the node to
%% show it as its own.
say(Ctx, I, Spec = #{name := Name, log := Log}) ->
    Seq = ets:update_counter(?TAB, {seq, I}, 1, {{seq, I}, 0}),
    Text = iolist_to_binary(["l", integer_to_list(I), "-", integer_to_list(Seq)]),
    Base = #{process => I, f => say, value => Text, node => list_to_binary(Name)},
    Pos = filelib:file_size(Log),
    Inv = cnode_check_history:now_ns(),
    cnode_check_history:add(Base#{type => invoke}, Inv),
    ok = cnode_check_nodes:input(Spec, [Text, $\n]),
    Timeout = maps:get(op_timeout_ms, maps:get(workload, Ctx), 1000),
    case await_mine(Spec, Pos, Text, now_ms() + Timeout) of
        {ok, Us} -> cnode_check_history:add(Base#{type => ok}, max(Inv, to_ns(Us)));
        {error, Why} -> cnode_check_history:add(Base#{type => info, error => Why})
    end.

await_mine(Spec = #{log := Log}, Pos, Text, Deadline) ->
    {Lines, Pos1} = read_lines(Log, Pos),
    Mine = [T || L <- Lines, binary:match(L, Text) =/= nomatch,
                 #{<<"event">> := <<"chat">>, <<"text">> := X, <<"mine">> := true,
                   <<"t">> := T} <- [json(L)], X =:= Text],
    case Mine of
        [Us | _] -> {ok, Us};
        [] ->
            case {cnode_check_nodes:alive(Spec), now_ms() > Deadline} of
                {false, _} -> {error, <<"nodedown">>};
                {true, true} -> {error, <<"timeout">>};
                {true, false} -> sleep(?POLL_MS), await_mine(Spec, Pos1, Text, Deadline)
            end
    end.

%% ---- after the faults ----------------------------------------------------

settle(_Ctx, Ms) ->
    R = converge(Ms),
    ets:insert(?TAB, {settle, R}),
    R.

%% Lets the last floods land, then records every node's member list.
final_reads(_Ctx, P) ->
    sleep(500),
    lists:foldl(fun({_, Spec = #{name := Name}}, Proc) ->
                        Base = #{process => Proc, f => members, node => list_to_binary(Name)},
                        cnode_check_history:add(Base#{type => invoke}),
                        case members(Spec) of
                            {ok, L} -> cnode_check_history:add(Base#{type => ok, value => L});
                            down -> cnode_check_history:add(Base#{type => info,
                                                                  error => <<"nodedown">>})
                        end,
                        Proc + 1
                end, P, specs()),
    ok.

%% ---- checks ----------------------------------------------------------------

check(_Ctx, Events) ->
    Specs = specs(),
    Ids = [I || {I, _} <- Specs],
    Names = maps:from_list([{I, list_to_binary(N)} || {I, #{name := N}} <- Specs]),
    ById = maps:from_list([{N, I} || {I, N} <- maps:to_list(Names)]),
    Logs = maps:from_list([{I, node_events(Log, clock())} || {I, #{log := Log}} <- Specs]),
    F = faults(Events),
    {Delivery, Lost, Lines} = delivery(Events, Ids, Logs, F),
    {Detect0, Timed0} = detection(Ids, Names, Logs, F),
    {Detect, Timed} = partition_detection(Names, Logs, F, Detect0, Timed0),
    Order = order(Ids, Logs),
    {False, Deaths, Unexplained} = false_deaths(Ids, ById, Logs, F),
    Conv = case ets:lookup(?TAB, settle) of
               [{_, {ok, _}}] -> ok;
               [{_, {error, M}}] -> {failed, io_lib:format("member lists after settle_seconds: ~0p",
                                                           [M])};
               [] -> {failed, "never settled"}
           end,
    io:format("   gossip: ~b lines said, ~b shown by their sender; removals timed: ~s; "
              "~b dead events, ~b unexplained; members ~s~n",
              [length(Lines), length([x || {_, _, _, {shown, _}} <- Lines]),
               case Timed of [] -> "none"; _ -> lists:join(", ", Timed) end,
               Deaths, Unexplained,
               case ets:lookup(?TAB, settle) of
                   [{_, {ok, Ms}}] -> io_lib:format("converged ~b ms after the faults", [Ms]);
                   _ -> "did not converge"
               end]),
    {[{<<"lines delivered exactly once">>, Delivery},
      {<<"each sender's lines in order or marked late">>, Order},
      {<<"dead in time">>, Detect},
      {<<"no false deaths">>, False},
      {<<"members converged">>, Conv}],
     #{anomalies => 0, lost => Lost}}.

clock() -> ets:lookup_element(?TAB, clock, 2).

%% Node event time (wall-clock us) on the history's clock (ns).
to_ns(Us) -> (Us - clock()) * 1000.

%% A node's log as events: [#{event, ..., tn => history ns}], every life.
node_events(Log, Clock) ->
    Lines = case file:read_file(Log) of
                {ok, B} -> binary:split(B, <<"\n">>, [global]);
                _ -> []
            end,
    [E#{tn => (T - Clock) * 1000} || L <- Lines, E = #{<<"t">> := T} <- [json(L)],
                                    is_integer(T)].

%% The faults from the nemesis's lines: #{kills => [{Id, From, To}],
%% stops => [...], partitions => [{From, To}]}, To = the end (restart,
%% resume, heal) or the end of the history.
faults(Events) ->
    End = lists:max([0 | [T || #{<<"time">> := T} <- Events]]),
    Nem = [{F, V, T} || #{<<"process">> := <<"nemesis">>, <<"f">> := F, <<"time">> := T} = E
                            <- Events, V <- [maps:get(<<"value">>, E, <<>>)]],
    #{kills => windows(Nem, [<<"kill">>, <<"crash">>], <<"restart">>, End),
      stops => windows(Nem, [<<"pause">>], <<"resume">>, End),
      partitions => partitions(Events, End)}.

%% [{From, To, Cut}]: Cut the node pairs {Low, High} that could not talk.
%% One partition at a time; one still open at the end lasts until End.
partitions(Events, End) ->
    {Done, Open} =
        lists:foldl(fun(#{<<"process">> := <<"nemesis">>, <<"f">> := <<"start_partition">>,
                          <<"time">> := T} = E, {D, _}) ->
                            Cut = [{min(X, Y), max(X, Y)} || [X, Y] <- maps:get(<<"cut">>, E, [])],
                            {D, {T, Cut}};
                       (#{<<"process">> := <<"nemesis">>, <<"f">> := <<"stop_partition">>,
                          <<"time">> := T}, {D, {A, Cut}}) ->
                            {[{A, T, Cut} | D], none};
                       (_, Acc) -> Acc
                    end, {[], none}, Events),
    lists:reverse(case Open of
                      none -> Done;
                      {A, Cut} -> [{A, End, Cut} | Done]
                  end).

apart(X, Y, Cut) -> lists:member({min(X, Y), max(X, Y)}, Cut).

windows(Nem, Opens, Close, End) ->
    {Done, Pending} =
        lists:foldl(fun({F, V, T}, {D, P}) ->
                            case lists:member(F, Opens) of
                                true -> {D, P#{key(F, V) => {V, T}}};
                                false -> close(F, V, T, Close, D, P)
                            end
                    end, {[], #{}}, Nem),
    lists:sort(Done ++ [{id(V), T, End} || {V, T} <- maps:values(Pending)]).

close(F, V, T, Close, D, P) when F =:= Close ->
    case maps:take(key(F, V), P) of
        {{V0, T0}, P1} -> {[{id(V0), T0, T} | D], P1};
        error -> {D, P}
    end;
close(_, _, _, _, D, P) -> {D, P}.

%% Partitions are one at a time; kills and stops per node, named by the
%% value's first word ("n2", "n2 (power loss: ...)").
key(F, _) when F =:= <<"start_partition">>; F =:= <<"stop_partition">> -> partition;
key(_, V) -> id(V).

id(V) ->
    case re:run(V, "^n([0-9]+)", [{capture, all_but_first, binary}]) of
        {match, [I]} -> binary_to_integer(I);
        nomatch -> V
    end.

ms(Ms) -> Ms * 1000000.

%% Intervals (history ns) when a node could not be expected to get lines:
%% killed (from DELIVER_MS before, until REJOIN_MS after its restart) or
%% stopped long enough to be removed.
absent(I, #{kills := K, stops := S}) ->
    [{A - ms(?DELIVER_MS), B + ms(?REJOIN_MS)} || {J, A, B} <- K, J =:= I] ++
        [{A - ms(?DELIVER_MS), B + ms(?REJOIN_MS)} || {J, A, B} <- S, J =:= I,
                                                     B - A >= ms(?SUSPICION_MS) - ms(?EARLY_MS)].

%% When a node was killed or stopped (from the fault to its end).
down(I, #{kills := K, stops := S}) -> [{A, B} || {J, A, B} <- K ++ S, J =:= I].

within(T, Intervals) -> lists:any(fun({A, B}) -> T >= A andalso T =< B end, Intervals).

%% Lines delivered exactly once.  Returns {Verdict, Lost, Lines} with
%% Lines = [{Text, Sender, Invoked, {shown, Tn} | not_shown}].
delivery(Events, Ids, Logs, F) ->
    Said = [{V, P, T} || #{<<"f">> := <<"say">>, <<"type">> := <<"invoke">>, <<"process">> := P,
                           <<"value">> := V, <<"time">> := T} <- Events],
    Shows = maps:from_list(
              [{I, lists:foldl(fun(#{<<"event">> := <<"chat">>, <<"text">> := X} = E, M) ->
                                       maps:update_with(X, fun(L) -> [E | L] end, [E], M);
                                  (_, M) -> M
                               end, #{}, maps:get(I, Logs))} || I <- Ids]),
    Killed = fun(I, T) -> lists:any(fun({J, A, _}) -> J =:= I andalso A >= T - ms(?EARLY_MS) end,
                                    maps:get(kills, F)) end,
    Lines = [{Text, S, Inv, case [E || E = #{<<"mine">> := true} <- maps:get(Text, maps:get(S, Shows), [])] of
                                [#{tn := Tn} | _] -> {shown, Tn};
                                [] -> not_shown
                            end} || {Text, S, Inv} <- Said],
    Problems = lists:append([line_problems(L, Ids, Shows, F, Killed) || L <- Lines]),
    Lost = length([x || {lost, _} <- Problems]),
    Verdict = case Problems of
                  [] -> ok;
                  _ -> {failed, [io_lib:format("~b lines, ~b (line, node) pairs missing, ~b shown "
                                               "twice~n", [length(Lines), Lost,
                                                           length([x || {twice, _} <- Problems])]),
                                 lists:join("\n", [T || {_, T} <- lists:sublist(Problems, 20)])]}
              end,
    {Verdict, Lost, Lines}.

line_problems({Text, S, Inv, Shown}, Ids, Shows, F, Killed) ->
    Count = fun(I) -> length(maps:get(Text, maps:get(I, Shows), [])) end,
    Twice = [{twice, io_lib:format("n~b showed ~s ~b times", [I, Text, Count(I)])}
             || I <- Ids, Count(I) > 1],
    Missing =
        case Shown of
            not_shown ->
                case Killed(S, Inv) of
                    true -> [];                 % it went down with its sender
                    false -> [{lost, io_lib:format("n~b never showed its own line ~s (said at "
                                                   "~.3f s)", [S, Text, Inv / 1.0e9])}]
                end;
            {shown, Ts} ->
                case Killed(S, Ts) orelse within(Ts, absent(S, F)) of
                    true -> [];                 % the life that sent it was killed or removed
                    false ->
                        [{lost, io_lib:format("n~b never showed ~s (shown by n~b at ~.3f s)",
                                              [R, Text, S, Ts / 1.0e9])}
                         || R <- Ids, R =/= S, Count(R) =:= 0, not within(Ts, absent(R, F))]
                end
        end,
    Twice ++ Missing.

%% Killed nodes (and nodes stopped) past the bound declared dead within it
%% by every other node that was itself neither killed nor stopped then.  Returns {Verdict, [Text]} (the times measured).
detection(Ids, Names, Logs, #{kills := K, stops := S} = F) ->
    Cases = [{kill, I, A, B, ?KILL_BOUND_MS} || {I, A, B} <- K] ++
        [{stop, I, A, B, ?STOP_BOUND_MS} || {I, A, B} <- S],
    Results = [detect(C, Ids, Names, Logs, F) || C <- Cases],
    Problems = lists:append([P || {problems, P} <- Results]),
    Timed = [T || {timed, T} <- Results] ++
        case length([x || short <- Results]) of
            0 -> [];
            N -> [io_lib:format("~b fault(s) undone before the bound, not timed", [N])]
        end,
    Verdict = case Problems of
                  [] -> ok;
                  _ -> {failed, lists:join("\n", Problems)}
              end,
    {Verdict, Timed}.

detect({Kind, I, A, B, Bound}, Ids, Names, Logs, F) ->
    Limit = A + ms(Bound + ?TOLERANCE_MS),
    case B < Limit of
        true -> short;
        false ->
            Name = maps:get(I, Names),
            Others = [X || X <- Ids, X =/= I,
                           not lists:any(fun({P, Q}) -> P =< Limit andalso Q >= A end,
                                         down(X, F))],
            Delays = [{X, first_dead(maps:get(X, Logs), Name, A - ms(?EARLY_MS), Limit)}
                      || X <- Others],
            case [X || {X, none} <- Delays] of
                [] when Delays =:= [] -> {timed, io_lib:format("~s n~b: no other node up", [Kind, I])};
                [] ->
                    Ms = [(T - A) div 1000000 || {_, T} <- Delays],
                    {timed, io_lib:format("~s n~b ~b..~b ms", [Kind, I, lists:min(Ms),
                                                               lists:max(Ms)])};
                Late ->
                    {problems, [io_lib:format("~s of n~b at ~.3f s: n~b did not declare it dead "
                                              "within ~b ms (~b + ~b)~s",
                                              [Kind, I, A / 1.0e9, X, Bound + ?TOLERANCE_MS,
                                               Bound, ?TOLERANCE_MS,
                                               later(maps:get(X, Logs), Name, Limit, A)])
                                || X <- Late]}
            end
    end.

%% A partition longer than its bound (+ tolerance): every node declares
%% every node cut off from it dead within the bound (docs/gossip.md).
%% Nodes killed or stopped meanwhile are not timed.
partition_detection(Names, Logs, F = #{partitions := P}, Verdict, Timed) ->
    Limit = ms(?PARTITION_BOUND_MS + ?TOLERANCE_MS),
    Cases = [{A, X, Y} || {A, B, Cut} <- P, B - A >= Limit, {L, H} <- Cut,
                          {X, Y} <- [{L, H}, {H, L}],
                          not lists:any(fun({Q, R}) -> Q =< A + Limit andalso R >= A end,
                                        down(X, F) ++ down(Y, F))],
    Found = [{A, X, Y, first_dead(maps:get(X, Logs), maps:get(Y, Names), A, A + Limit)}
             || {A, X, Y} <- Cases],
    Late = [io_lib:format("partition at ~.3f s: n~b did not declare n~b dead within ~b ms "
                          "(~b + ~b)", [A / 1.0e9, X, Y, ?PARTITION_BOUND_MS + ?TOLERANCE_MS,
                                        ?PARTITION_BOUND_MS, ?TOLERANCE_MS])
            || {A, X, Y, none} <- Found],
    Ms = [(T - A) div 1000000 || {A, _, _, T} <- Found, T =/= none],
    Timed1 = case Ms of
                 [] -> Timed;
                 _ -> Timed ++ [io_lib:format("partition ~b..~b ms", [lists:min(Ms), lists:max(Ms)])]
             end,
    case {Verdict, Late} of
        {_, []} -> {Verdict, Timed1};
        {ok, _} -> {{failed, lists:join("\n", Late)}, Timed1};
        {{failed, Why}, _} -> {{failed, [Why, "\n" | lists:join("\n", Late)]}, Timed1}
    end.

%% Each node shows each sender's lines ("lS-K", K counting up) in the order
%% said, except those marked late, which must be older than one it showed.
order(Ids, Logs) ->
    Problems = lists:append([order_problems(X, maps:get(X, Logs)) || X <- Ids]),
    case Problems of
        [] -> ok;
        _ -> {failed, [io_lib:format("~b lines out of order~n", [length(Problems)]),
                       lists:join("\n", lists:sublist(Problems, 20))]}
    end.

order_problems(X, Events) ->
    Chats = [{S, K, maps:get(<<"late">>, E, false), T}
             || E = #{<<"event">> := <<"chat">>, <<"text">> := Text, tn := T} <- Events,
                {match, [S, K]} <- [re:run(Text, "^l([0-9]+)-([0-9]+)$",
                                           [{capture, all_but_first, binary}])]],
    {_, Problems} =
        lists:foldl(fun({S, K0, Late, T}, {Newest, Acc}) ->
                            K = binary_to_integer(K0),
                            Top = maps:get(S, Newest, -1),
                            Older = K < Top,
                            Acc1 = case {Older, Late} of
                                       {true, false} -> [io_lib:format("n~b showed l~s-~b after l~s-~b, not "
                                                                      "marked late (~.3f s)",
                                                                      [X, S, K, S, Top, T / 1.0e9]) | Acc];
                                       {false, true} -> [io_lib:format("n~b marked l~s-~b late, but it was the "
                                                                      "newest of n~s (~.3f s)",
                                                                      [X, S, K, S, T / 1.0e9]) | Acc];
                                       _ -> Acc
                                   end,
                            {Newest#{S => max(K, Top)}, Acc1}
                    end, {#{}, []}, Chats),
    lists:reverse(Problems).

first_dead(Events, Name, From, To) ->
    case [T || #{<<"event">> := <<"dead">>, <<"node">> := N, tn := T} <- Events,
               N =:= Name, T >= From, T =< To] of
        [] -> none;
        Ts -> lists:min(Ts)
    end.

later(Events, Name, Limit, A) ->
    case [T || #{<<"event">> := <<"dead">>, <<"node">> := N, tn := T} <- Events,
               N =:= Name, T > Limit] of
        [] -> " (never)";
        Ts -> io_lib:format(" (it did after ~b ms)", [(lists:min(Ts) - A) div 1000000])
    end.

%% Every "dead" event explained by a fault (see the header).  Returns
%% {Verdict, DeadEvents, Unexplained}.
false_deaths(Ids, ById, Logs, F = #{kills := K, stops := S, partitions := P}) ->
    Clock = clock(),
    Dead = [{X, E} || X <- Ids, E = #{<<"event">> := <<"dead">>} <- maps:get(X, Logs)],
    Explained =
        fun(X, #{<<"node">> := N, tn := T} = E) ->
                Inc = maps:get(<<"incarnation">>, E, 0),
                Id = maps:get(N, ById, none),
                Early = ms(?SUSPECT_MIN_MS - ?EARLY_MS),
                Long = ms(?SUSPICION_MS - ?EARLY_MS),
                %% a kill of the life the event is about (its incarnation,
                %% a start time in ms, predates the kill)
                lists:any(fun({J, A, _}) ->
                                  J =:= Id andalso T >= A + Early andalso
                                      Inc < (A div 1000 + Clock) div 1000
                          end, K)
                    orelse lists:any(fun({J, A, B}) ->
                                             J =:= Id andalso B - A >= Long andalso
                                                 T >= A + Early andalso
                                                 T =< B + ms(?TOLERANCE_MS)
                                     end, S)
                    orelse lists:any(fun({A, B, Cut}) ->
                                             apart(X, Id, Cut) andalso
                                                 B - A >= Long andalso T >= A + Early andalso
                                                 T =< B + ms(?HEAL_MS)
                                     end, P)
        end,
    Bad = [{X, E} || {X, E} <- Dead, not Explained(X, E)],
    Verdict = case Bad of
                  [] -> ok;
                  _ -> {failed, [io_lib:format("~b of ~b dead events not explained by a kill, a stop "
                                               "or a partition of at least ~b ms:~n",
                                               [length(Bad), length(Dead), ?SUSPICION_MS]),
                                 lists:join("\n", [unexplained(X, E, F)
                                                   || {X, E} <- lists:sublist(Bad, 20)])]}
              end,
    {Verdict, length(Dead), length(Bad)}.

unexplained(X, #{<<"node">> := N, tn := T} = E, #{kills := K, stops := S, partitions := P}) ->
    Near = [io_lib:format("~s n~b ~.3f-~.3f s", [W, J, A / 1.0e9, B / 1.0e9])
            || {W, L} <- [{"kill", K}, {"stop", S}], {J, A, B} <- L,
               T >= A - ms(5000), T =< B + ms(5000)] ++
        [io_lib:format("partition ~.3f-~.3f s", [A / 1.0e9, B / 1.0e9])
         || {A, B, _} <- P, T >= A - ms(5000), T =< B + ms(5000)],
    io_lib:format("n~b: ~s dead at ~.3f s (by ~s, incarnation ~p); faults near: ~s",
                  [X, N, T / 1.0e9, maps:get(<<"by">>, E, <<"?">>),
                   maps:get(<<"incarnation">>, E, 0),
                   case Near of [] -> "none"; _ -> lists:join(", ", Near) end]).

%% ---- logs ----------------------------------------------------------------

%% The complete lines of Log from byte Pos on, and where the next starts.
read_lines(Log, Pos) ->
    case file:open(Log, [read, raw, binary]) of
        {ok, F} ->
            R = case file:pread(F, Pos, 16#4000000) of
                    {ok, Bin} ->
                        case binary:matches(Bin, <<"\n">>) of
                            [] -> {[], Pos};
                            Ms ->
                                {Last, _} = lists:last(Ms),
                                {binary:split(binary:part(Bin, 0, Last), <<"\n">>, [global]),
                                 Pos + Last + 1}
                        end;
                    _ -> {[], Pos}
                end,
            ok = file:close(F),
            R;
        {error, _} -> {[], Pos}
    end.

json(<<"{", _/binary>> = Line) ->
    case cnode_json:decode(Line) of
        {ok, M} when is_map(M) -> M;
        _ -> none
    end;
json(_) -> none.

now_ms() -> erlang:monotonic_time(millisecond).

sleep(Ms) -> receive after Ms -> ok end.
