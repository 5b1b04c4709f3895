%% cnode_check_chatterbox - the chatterbox workload of cnode-check
%% (docs/chatterbox.md has the task and its protocols).
%%
%% Nodes.  "c" is priv/bin/chatterbox, "erlang" the reference
%% (chatterbox_ref) in a BEAM of its own, both started with --name, --cookie,
%% --peer-config-file (a peers.json this module writes in the cluster's
%% folder, every node's long name and id, so every node finds its own
%% entry by its name), --send-for (the scenario's "seconds"), --wait-for,
%% --with-seed (the run's seed), --protocol, --trace (<node>/trace.log) and
%% -v.  A node's stdout goes to <node>/stdout.log (only the result tuple
%% belongs there), its stderr to <node>/node.log.  {"cmd": TEMPLATE} runs
%% anything else with cnode_check:fill/3's placeholders ({peers_file} is
%% the chatterbox peers file) plus {send_for}, {wait_for}, {seed},
%% {protocol} and {trace}; it must print the reference's "NODE ready:" line
%% on stderr when its send phase starts, the tuple on stdout, and write the
%% trace file in the same format.
%%
%% The scenario's "workload" fields for this protocol (all optional):
%%   protocol       "fast" (default) or "seed": --protocol
%%   wait_for       seconds, --wait-for (default 5)
%%   max_rate       fast only: --max-rate, messages per second per node
%%                  (default 2000: every message is a line of the trace;
%%                  0 is the node's own default, no limit)
%%   tick_ms        --tick-duration (default: the node's, 10)
%%   ticktime       --ticktime, seconds: how soon a silent connection is
%%                  taken down (default: the node's, 60 as erl's)
%%   tolerance      seconds (default 1.5) a node may take beyond
%%                  send_for + wait_for, from its ready line, to print and
%%                  to exit
%%   nemesis_until  seconds (default: "seconds", the send phase): when the
%%                  nemesis stops and every fault is undone, counted from
%%                  the cluster's first ready line.  Larger values make
%%                  faults outlast the send phase; at send_for + wait_for
%%                  or more they outlast every deadline ("unhealed", below).
%% "settle_seconds" is not used: how long nodes may take follows from
%% their flags.
%%
%% Workload.  The nodes run on their own: the workbench starts them
%% together (a node's send phase starts when it logs its ready line; ready/2
%% notes when each node's appeared), the nemesis runs during the send phase
%% only (run_clients/2 returns, and the workload stops the nemesis, healing
%% every partition and resuming every paused node, a little before the
%% earliest node's send phase ends), and settle/2 waits until every node
%% has exited, or until the last node's send_for + wait_for + tolerance
%% has passed.  Meanwhile an observer records into the history, as they
%% happen: each stdout line of node I as
%%   {"process": I, "type": "ok", "f": "result", "value": "(N, S)", "after_ms": ...}
%% (after_ms: since the node's ready line), each exit as
%%   {"process": "node", "type": "info", "f": "exit", "id": I, "value": Status, "after_ms": ...}
%% and each start as {"process": "node", "type": "info", "f": "start", "id": I,
%% "send_end": T, "deadline": T, "wall_us": W} (history times of the end of
%% that node's send phase and of its wait phase, and the wall clock, as the
%% traces keep time, at the event's own time).  Every node has an invoke
%% of "result" when the workload starts; one that never prints gets an info
%% completion at the end.
%%
%% Checks (besides the workload's "settled", always ok here).
%%   faults within the send phase
%%                             the premise: every nemesis line (each is
%%                             written once its action is done, a heal
%%                             included) precedes the end of the first
%%                             node's send phase (left out when
%%                             nemesis_until is past the send phase)
%%   printed by the deadline   every node printed exactly one line on
%%                             stdout, a tuple, within send_for + wait_for
%%                             + tolerance of its ready line
%%   same tuple everywhere     every node printed the same tuple (a node's
%%                             tuple: its one stdout line that is a tuple)
%%   tuple from the traces     it is the tuple recomputed here from every
%%                             node's --trace (each value checked against
%%                             the value function, computed here too; each
%%                             sender's seqs 1..n once each, send times not
%%                             decreasing), ordered by (send time, id, seq)
%%                             and folded into (|m|, sum of i * m_i) as
%%                             docs/chatterbox.md defines it
%%   each tuple a prefix of the send order
%%                             fast protocol only: every printed (N, S) is
%%                             the fold of the first N messages of that
%%                             order (what the docs promise when a node
%%                             cannot complete)
%%   exited 0 in time          every node exited with status 0 within
%%                             send_for + wait_for + tolerance of its ready
%%                             line
%% Counts: anomalies = nodes that did not print the recomputed tuple,
%% lost = 0.
%%
%% Unhealed: faults that outlast every deadline (nemesis_until >= send_for
%% + wait_for) are outside both protocols' assumptions: the nodes cannot
%% agree and are not asked to.  "same tuple everywhere" and "tuple from
%% the traces" are left out; printing and exiting in time are checked as
%% always, with what the protocol still promises: the fast protocol's
%% prefixes, and for the seed protocol
%%   tuples at most one message per sender apart
%%                             every printed tuple is the fold of every
%%                             sender's messages 1..c, c its last seq or
%%                             one or two less, and two nodes' c for a
%%                             sender differ by at most one
%% (anomalies: the nodes that break it).
%%
%% Resuming after a heal (resume_times/1, for the suites and for reports;
%% not a check): node traces have a `commit TS COUNT` line whenever the
%% node's fold grew, so for every healed partition the time from the heal
%% to each node's next commit can be read off.
%%
%% Faults.  Partitions (any shape; partition-leader is skipped: there is no
%% leader) and pause / pause-leader (skipped likewise) fit the protocol:
%% the docs guarantee agreement when every pair of nodes can talk during
%% the wait phase.  Kills do not: the protocol assumes no node crashes.  If
%% a scenario lists kill, the killed node is started again with the same
%% flags as a new node: a send phase of its own from its restart (so its
%% deadline is later than the others'), seqs from 1 again with new send
%% times, and a new trace file (the killed incarnation's messages are gone
%% from it, though the others hold some).  The others drop the new
%% incarnation's batches (they expect the old stream's next seq) and print
%% at their deadline the prefix they could fold; the restarted node gets
%% nothing of theirs and prints (0, 0.000000000) at its own deadline
%% (test/scenarios/chatterbox_kill.json).  Printing and exits pass (judged
%% for each node's latest incarnation, from its own ready line); the tuple
%% checks fail.
-module(cnode_check_chatterbox).

-export([argv/2, ready/2, setup/2, leader/0, run_clients/2, restarted/1, settle/2,
         final_reads/2, check/2, resume_times/1]).

-define(TAB, cnode_check_chatterbox).
-define(POLL_MS, 50).
-define(HEAL_MARGIN_MS, 1000).

%% ---- the scenario's fields -------------------------------------------------

%% A workload field as the scenario validator kept it, else the default.
field(Ctx, Key, Default) -> maps:get(Key, maps:get(workload, Ctx, #{}), Default).

cluster_dir(Ctx) -> maps:get(dir, maps:get(hosts, Ctx)).

send_for(Ctx) -> maps:get(seconds, Ctx).
wait_for(Ctx) -> field(Ctx, wait_for, 5).
tolerance(Ctx) -> field(Ctx, tolerance, 1.5).
protocol(Ctx) ->
    case field(Ctx, protocol, <<"fast">>) of
        P when P =:= <<"fast">>; P =:= <<"seed">>; P =:= fast; P =:= seed -> to_list(P);
        P -> throw({error, io_lib:format("workload.protocol is ~p: fast or seed", [P])})
    end.
%% A node's time limit to print and to exit, ms from its ready line.
limit_ms(Ctx) -> round((send_for(Ctx) + wait_for(Ctx) + tolerance(Ctx)) * 1000).

to_list(B) when is_binary(B) -> binary_to_list(B);
to_list(A) when is_atom(A) -> atom_to_list(A).

secs(I) when is_integer(I) -> integer_to_list(I);
secs(F) when is_float(F) -> float_to_list(F, [short]).

%% ---- nodes -----------------------------------------------------------------

argv(Spec, Ctx) ->
    ensure_table(),
    Peers = write_peers(Ctx),
    #{dir := Dir} = Spec,
    Stdout = filename:join(Dir, "stdout.log"),
    Trace = filename:join(Dir, "trace.log"),
    %% stdout to a file of its own; exec keeps the node's OS pid
    Redirect = ["/bin/sh", "-c", "exec \"$0\" \"$@\" >>" ++ quote(Stdout)],
    case maps:get(impl, Spec) of
        <<"c">> ->
            Redirect ++ [filename:join(maps:get(bin_dir, Ctx), "chatterbox")
                         | flags(Spec, Ctx, Peers, Trace)];
        <<"erlang">> ->
            Redirect ++ ["erl", "-noshell", "+Bd", "-pa", maps:get(ebin, Ctx),
                         "-run", "chatterbox_ref", "main", "-extra"
                         | flags(Spec, Ctx, Peers, Trace)];
        {cmd, Template} ->
            Own = [{"{send_for}", secs(send_for(Ctx))}, {"{wait_for}", secs(wait_for(Ctx))},
                   {"{seed}", integer_to_list(maps:get(seed, Ctx))},
                   {"{protocol}", protocol(Ctx)}, {"{trace}", Trace}],
            T = lists:foldl(fun({K, V}, Acc) -> string:replace(Acc, K, V, all) end,
                            binary_to_list(Template), Own),
            Filled = cnode_check:fill(iolist_to_binary(T), Spec, Ctx#{peers_file => Peers}),
            ["/bin/sh", "-c", "exec >>" ++ quote(Stdout) ++ "; " ++ Filled]
    end.

flags(#{name := Name, cookie := Cookie}, Ctx, Peers, Trace) ->
    Proto = protocol(Ctx),
    ["--name", Name, "--cookie", Cookie, "--peer-config-file", Peers,
     "--send-for", secs(send_for(Ctx)), "--wait-for", secs(wait_for(Ctx)),
     "--with-seed", integer_to_list(maps:get(seed, Ctx)), "--protocol", Proto,
     "--trace", Trace, "-v"]
        ++ case field(Ctx, tick_ms, none) of
               none -> [];
               T -> ["--tick-duration", integer_to_list(T)]
           end
        ++ case field(Ctx, ticktime, none) of
               none -> [];
               K -> ["--ticktime", integer_to_list(K)]
           end
        ++ case Proto of
               "fast" -> ["--max-rate", integer_to_list(field(Ctx, max_rate, 2000))];
               "seed" -> []
           end.

quote(S) -> "'" ++ lists:flatten(string:replace(S, "'", "'\\''", all)) ++ "'".

%% The cluster's peers.json: every node's long name and id (and kind).
%% Written once, before the first node starts: rewriting it for each node
%% truncated it under a node already reading it (n1 saw an empty file).
write_peers(Ctx) ->
    F = filename:join(cluster_dir(Ctx), "chatterbox_peers.json"),
    case filelib:is_regular(F) of
        true -> F;
        false -> write_peers(F, Ctx)
    end.

write_peers(F, Ctx) ->
    Nodes = [maps:merge(#{name => list_to_binary(N), id => I},
                        case Impl of
                            <<"c">> -> #{kind => <<"c">>};
                            <<"erlang">> -> #{kind => <<"erlang">>};
                            _ -> #{}
                        end)
             || #{name := N, id := I, impl := Impl} <- maps:get(nodes, Ctx)],
    ok = file:write_file(F, cnode_json:encode(#{cookie => list_to_binary(maps:get(cookie, Ctx)),
                                                nodes => Nodes})),
    F.

%% State shared by the callbacks (the exec process owns the table; the
%% nemesis and the observer write to it too).  Keys carry the cluster's
%% folder, so clusters of one run do not mix.
ensure_table() ->
    case ets:whereis(?TAB) of
        undefined -> ets:new(?TAB, [named_table, public]), ok;
        _ -> ok
    end.

now_ms() -> erlang:monotonic_time(millisecond).

specs() -> lists:sort(ets:tab2list(cnode_check_nodes)).

%% Waits until the node (this incarnation of it: its OS pid) has logged its
%% ready line: its send phase has started.  Every node of the cluster is
%% looked at on every poll, so each one's ready time is known to ?POLL_MS
%% even while another is waited for.
ready(#{id := I, os_pid := OsPid, dir := Dir}, Ms) ->
    Cluster = filename:dirname(Dir),
    Deadline = now_ms() + Ms,
    ready_loop(Cluster, I, OsPid, Deadline).

ready_loop(Cluster, I, OsPid, Deadline) ->
    poll_ready(Cluster),
    case lists:keyfind(OsPid, 1, incarnations(Cluster, I)) of
        {_, _} -> ok;
        false ->
            [{I, Spec}] = ets:lookup(cnode_check_nodes, I),
            case cnode_check_nodes:alive(Spec) of
                false -> {error, exited};
                true ->
                    case now_ms() > Deadline of
                        true -> {error, not_ready};
                        false -> receive after ?POLL_MS -> ready_loop(Cluster, I, OsPid, Deadline) end
                    end
            end
    end.

%% [{OsPid, ReadyMs}], the latest first.
incarnations(Cluster, I) ->
    case ets:lookup(?TAB, {ready, Cluster, I}) of
        [{_, L}] -> L;
        [] -> []
    end.

%% A ready line beyond those already counted belongs to the node's current
%% OS process (a restarted node logs a second one to the same file).
poll_ready(Cluster) ->
    Now = now_ms(),
    [begin
         Known = incarnations(Cluster, I),
         case ready_lines(Log) > length(Known) andalso not lists:keymember(P, 1, Known) of
             true ->
                 ets:insert(?TAB, {{ready, Cluster, I}, [{P, Now} | Known]}),
                 note_start(Cluster, I, Spec, Now, Known =/= []);
             false -> ok
         end
     end || {I, Spec = #{log := Log, os_pid := P, dir := Dir}} <- specs(),
            filename:dirname(Dir) =:= Cluster],
    ok.

ready_lines(Log) ->
    case file:read_file(Log) of
        {ok, B} -> length(binary:matches(B, <<" ready: id ">>));
        _ -> 0
    end.

%% A restarted node's start goes into the history at once (the history is
%% open); the first starts are written by setup/2, once it is open.
note_start(Cluster, I, Spec, ReadyMs, true) ->
    [{_, Send, Wait}] = ets:lookup(?TAB, {phases, Cluster}),
    start_event(I, Spec, ReadyMs, Send, Wait, true);
note_start(_, _, _, _, false) -> ok.

%% wall_us: the wall clock (as in the traces) at the event's time.
start_event(I, #{name := Name, impl := Impl}, ReadyMs, Send, Wait, Restart) ->
    Ago = now_ms() - ReadyMs,
    Now = cnode_check_history:now_ns(),
    Hist = fun(OffsetMs) -> Now + (OffsetMs - Ago) * 1000000 end,
    cnode_check_history:add(#{process => node, type => info, f => start, id => I,
                              node => list_to_binary(Name), impl => impl_name(Impl),
                              restart => Restart,
                              send_end => Hist(round(Send * 1000)),
                              deadline => Hist(round((Send + Wait) * 1000)),
                              wall_us => os:system_time(microsecond)}, Now).

impl_name({cmd, _}) -> <<"cmd">>;
impl_name(I) -> I.

leader() -> none.

restarted(_Ctx) -> ok.

%% ---- the run ---------------------------------------------------------------

%% Notes every node's start in the history and starts the observer.
setup(Ctx, _Ms) ->
    Cluster = cluster_dir(Ctx),
    ets:insert(?TAB, {{phases, Cluster}, send_for(Ctx), wait_for(Ctx)}),
    poll_ready(Cluster),
    [begin
         [{P, ReadyMs} | _] = incarnations(Cluster, I),
         P = maps:get(os_pid, Spec),
         start_event(I, Spec, ReadyMs, send_for(Ctx), wait_for(Ctx), false),
         cnode_check_history:add(#{process => I, type => invoke, f => result,
                                   node => list_to_binary(maps:get(name, Spec))})
     end || {I, Spec} <- specs()],
    Obs = spawn_link(fun() -> observe(Cluster) end),
    ets:insert(?TAB, {{observer, Cluster}, Obs}),
    ok.

%% The send phase: returns when the nemesis must stop (nemesis_until after
%% the earliest ready line, less the time healing takes).
run_clients(Ctx, _Seconds) ->
    Cluster = cluster_dir(Ctx),
    First = lists:min([T || {I, _} <- specs(), {_, T} <- [hd(incarnations(Cluster, I))]]),
    Until = field(Ctx, nemesis_until, send_for(Ctx)),
    Stop = First + round(Until * 1000) - ?HEAL_MARGIN_MS,
    receive after max(0, Stop - now_ms()) -> ok end.

%% Waits until every node has exited, or the last one's time is up.
settle(Ctx, _Ms) ->
    Cluster = cluster_dir(Ctx),
    Last = lists:max([T || {I, _} <- specs(), {_, T} <- [hd(incarnations(Cluster, I))]]),
    settle_loop(observer(Cluster), Last + limit_ms(Ctx) + 2 * ?POLL_MS).

settle_loop(Obs, Deadline) ->
    Running = call(Obs, running),
    case Running =:= [] orelse now_ms() > Deadline of
        true -> {ok, #{still_running => Running}};
        false -> receive after ?POLL_MS -> settle_loop(Obs, Deadline) end
    end.

%% Nothing to read: the observer's last look, and the results never printed.
final_reads(Ctx, _P) ->
    Obs = observer(cluster_dir(Ctx)),
    ok = call(Obs, stop),
    ok.

observer(Cluster) -> [{_, Obs}] = ets:lookup(?TAB, {observer, Cluster}), Obs.

call(Pid, Req) ->
    Ref = monitor(process, Pid),
    Pid ! {Req, self(), Ref},
    receive
        {Ref, Reply} -> demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, _, _, Why} -> error({observer_down, Why})
    end.

%% ---- the observer ----------------------------------------------------------

%% Every ?POLL_MS: new stdout lines of every node into the history; a
%% watcher per OS process reports its exit.  State: #{Id => #{offset, lines,
%% watched => [OsPid], exited => #{OsPid => Status}}}.
observe(Cluster) ->
    observe_loop(Cluster, #{}).

observe_loop(Cluster, St0) ->
    St = poll(Cluster, St0),
    receive
        {exited, I, OsPid, Status, AtMs} ->
            observe_loop(Cluster, exited(Cluster, I, OsPid, Status, AtMs, St));
        {running, From, Ref} ->
            From ! {Ref, running(St)},
            observe_loop(Cluster, St);
        {stop, From, Ref} ->
            St1 = drain_exits(Cluster, St),
            [cnode_check_history:add(#{process => I, type => info, f => result,
                                       error => <<"no result printed">>})
             || {I, #{lines := 0}} <- maps:to_list(St1)],
            From ! {Ref, ok}
    after ?POLL_MS ->
            observe_loop(Cluster, St)
    end.

drain_exits(Cluster, St) ->
    receive
        {exited, I, OsPid, Status, AtMs} ->
            drain_exits(Cluster, exited(Cluster, I, OsPid, Status, AtMs, St))
    after 0 -> poll(Cluster, St)
    end.

%% The ids whose current OS process has not exited.
running(St) ->
    [I || {I, #{os_pid := P, exited := E}} <- maps:to_list(St), not maps:is_key(P, E)].

poll(Cluster, St0) ->
    lists:foldl(fun({I, Spec}, St) -> poll_node(Cluster, I, Spec, St) end, St0,
                [{I, S} || {I, S = #{dir := D}} <- specs(), filename:dirname(D) =:= Cluster]).

poll_node(Cluster, I, Spec = #{os_pid := P, dir := Dir}, St) ->
    N0 = maps:get(I, St, #{offset => 0, lines => 0, buf => <<>>, watched => [], exited => #{}}),
    N1 = case lists:member(P, maps:get(watched, N0)) of
             true -> N0;
             false -> watch(I, Spec), N0#{watched => [P | maps:get(watched, N0)]}
         end,
    St#{I => read_stdout(Cluster, I, Spec, filename:join(Dir, "stdout.log"), N1#{os_pid => P})}.

watch(I, Spec = #{os_pid := P}) ->
    Obs = self(),
    spawn(fun() ->
                  S = cnode_check_nodes:wait_exit(Spec, infinity),
                  Obs ! {exited, I, P, S, now_ms()}
          end).

read_stdout(Cluster, I, Spec, File, N = #{offset := Off, buf := Buf}) ->
    case file:open(File, [read, raw, binary]) of
        {ok, F} ->
            Data = case file:pread(F, Off, 1 bsl 20) of
                       {ok, D} -> D;
                       _ -> <<>>
                   end,
            ok = file:close(F),
            Parts = binary:split(<<Buf/binary, Data/binary>>, <<"\n">>, [global]),
            {Lines, [Rest]} = lists:split(length(Parts) - 1, Parts),
            [result_event(Cluster, I, Spec, L) || L <- Lines],
            N#{offset => Off + byte_size(Data), buf => Rest,
               lines => maps:get(lines, N) + length(Lines)};
        {error, _} -> N
    end.

result_event(Cluster, I, #{name := Name, os_pid := P}, Line) ->
    cnode_check_history:add(#{process => I, type => ok, f => result, value => Line,
                              node => list_to_binary(Name),
                              after_ms => since_ready(Cluster, I, P, now_ms())}).

exited(Cluster, I, P, Status, AtMs, St) ->
    #{name := Name} = proplists:get_value(I, specs()),
    cnode_check_history:add(#{process => node, type => info, f => exit, id => I,
                              node => list_to_binary(Name),
                              value => case Status of timeout -> null; _ -> Status end,
                              after_ms => since_ready(Cluster, I, P, AtMs)}),
    N = maps:get(I, St),
    St#{I => N#{exited => (maps:get(exited, N))#{P => Status}}}.

since_ready(Cluster, I, P, AtMs) ->
    case lists:keyfind(P, 1, incarnations(Cluster, I)) of
        {_, R} -> AtMs - R;
        false -> null
    end.

%% ---- checks ----------------------------------------------------------------

check(Ctx, Events) ->
    Ids = [I || {I, _} <- specs()],
    Limit = limit_ms(Ctx),
    Results = maps:from_list([{I, [E || E = #{<<"process">> := P, <<"f">> := <<"result">>,
                                            <<"type">> := <<"ok">>} <- Events, P =:= I]}
                              || I <- Ids]),
    Exits = maps:from_list([{I, latest_exit(I, Events)} || I <- Ids]),
    Printed = printed(Ids, Results, Limit),
    %% a node's tuple: its only stdout line that is one (other lines fail
    %% "printed by the deadline" but do not hide the tuple from the others)
    Tuples = [{I, V} || I <- Ids,
                        [V] <- [[V || #{<<"value">> := V} <- maps:get(I, Results),
                                      parse_tuple(V) =/= error]]],
    Same = case lists:usort([V || {_, V} <- Tuples]) of
               [_] when length(Tuples) =:= length(Ids) -> ok;
               [] -> {failed, "no node printed a tuple"};
               Vs -> {failed, io_lib:format("~b of ~b nodes printed a tuple, ~b distinct: ~s",
                                            [length(Tuples), length(Ids), length(Vs),
                                             tuples_text(Tuples)])}
           end,
    Traces = [{I, read_trace(Spec)} || {I, Spec} <- specs()],
    {FromTraces, Anomalies} =
        case expected(maps:get(seed, Ctx), Traces) of
            {ok, Expect, Count} ->
                Wrong = [I || I <- Ids, proplists:get_value(I, Tuples) =/= Expect],
                {case Wrong of
                     [] -> ok;
                     _ -> {failed, io_lib:format("expected ~s (~b messages in the traces); ~s",
                                                 [Expect, Count,
                                                  lists:join("; ", [differs(I, Tuples, Traces)
                                                                    || I <- Wrong])])}
                 end, length(Wrong)};
            {error, Why} ->
                {{failed, ["the traces do not give a tuple: ", Why]}, length(Ids)}
        end,
    Unhealed = unhealed(Ctx),
    {Promise, Broken} =
        case {protocol(Ctx), Unhealed} of
            {"fast", _} ->
                {V, B} = prefixes(maps:get(seed, Ctx), Traces, Tuples),
                {[{<<"each tuple a prefix of the send order">>, V}], B};
            {"seed", true} ->
                {V, B} = seed_apart(maps:get(seed, Ctx), Traces, Tuples),
                {[{<<"tuples at most one message per sender apart">>, V}], B};
            {"seed", false} -> {[], 0}
        end,
    ExitCheck = exits(Ids, Exits, Limit),
    Faults = case field(Ctx, nemesis_until, send_for(Ctx)) > send_for(Ctx) of
                 true -> [];                    % faults outlast the send phase on purpose
                 false -> [{<<"faults within the send phase">>, faults_in_send(Events)}]
             end,
    Agreement = case Unhealed of
                    true -> [];
                    false -> [{<<"same tuple everywhere">>, Same},
                              {<<"tuple from the traces">>, FromTraces}]
                end,
    {Faults ++ [{<<"printed by the deadline">>, Printed}] ++ Agreement ++ Promise
         ++ [{<<"exited 0 in time">>, ExitCheck}],
     #{anomalies => case Unhealed of true -> Broken; false -> Anomalies end, lost => 0}}.

%% Faults that last past every deadline (nemesis_until at or after
%% send_for + wait_for): outside both protocols' assumptions, so the nodes
%% cannot agree and are not asked to; each must still print and exit in
%% time, with what its protocol promises then (docs/chatterbox.md).
unhealed(Ctx) -> field(Ctx, nemesis_until, send_for(Ctx)) >= send_for(Ctx) + wait_for(Ctx).

%% The fast protocol's promise when it cannot complete: every node prints
%% the fold of a prefix of the one order of every message (equal tuples
%% when complete).  Each printed tuple (N, S) must be the fold of the first
%% N messages by (send time, id, seq).
%% {Verdict, nodes that broke it}.
prefixes(Seed, Traces, Tuples) ->
    case sorted(Seed, Traces) of
        {error, Why} -> {{failed, ["the traces do not give the order: ", Why]}, length(Tuples)};
        {ok, All} ->
            Bad = [io_lib:format("n~b printed ~s, the first ~b messages give ~s", [I, V, N, P])
                   || {I, V} <- Tuples, {N, _} <- [parse_tuple(V)],
                      P <- [prefix(All, N)], P =/= V],
            {verdict(Bad), length(Bad)}
    end.

%% The seed protocol's promise when a partition outlasts the deadline: a
%% sender's message is committed once its successor (or flush) arrives, so
%% a node holds every sender's messages 1..c with c its last seq, or one or
%% two less, and two nodes' c differ by at most one.  Each printed tuple
%% must be the fold of such a choice, and the choices at most one apart.
%% {Verdict, nodes that broke it}.
seed_apart(Seed, Traces, Tuples) ->
    case sorted(Seed, Traces) of
        {error, Why} -> {{failed, ["the traces do not give the order: ", Why]}, length(Tuples)};
        {ok, All} ->
            Senders = maps:from_list([{Id, 0} || {_, {ok, #{id := Id}}} <- Traces]),
            Last = lists:foldl(fun({_, Id, Seq, _}, M) -> M#{Id => max(Seq, maps:get(Id, M))} end,
                               Senders, All),
            Found = [{I, V, choice(All, maps:to_list(Last), V)} || {I, V} <- Tuples],
            Bad = [io_lib:format("n~b printed ~s, which is not every sender's messages but its "
                                 "last one or two", [I, V]) || {I, V, none} <- Found],
            Spread = [io_lib:format("sender ~b: n~b holds 1..~b, n~b 1..~b", [Id, I, A, J, B])
                      || {I, _, CI} <- Found, {J, _, CJ} <- Found, I < J, CI =/= none,
                         CJ =/= none, {Id, A} <- maps:to_list(CI), B <- [maps:get(Id, CJ)],
                         abs(A - B) > 1],
            {verdict(Bad ++ Spread), length(Bad) + length(Spread)}
    end.

%% The per-sender counts #{Id => C} whose messages fold into tuple V, or
%% none.
choice(All, Last, V) ->
    {N, _} = parse_tuple(V),
    Fits = [C || C <- choices(Last), lists:sum(maps:values(C)) =:= N,
                 format(N, element(2, fold([M || {_, Id, Seq, _} = M <- All,
                                                 Seq =< maps:get(Id, C)]))) =:= V],
    case Fits of
        [C | _] -> C;
        [] -> none
    end.

choices([]) -> [#{}];
choices([{Id, M} | Rest]) ->
    [C#{Id => K} || K <- lists:seq(max(0, M - 2), M), C <- choices(Rest)].

prefix(All, N) when N =< length(All) ->
    {_, Sum} = fold(lists:sublist(All, N)),
    format(N, Sum);
prefix(All, _) -> iolist_to_binary(io_lib:format("(more than the ~b sent)", [length(All)])).

%% The premise of the other checks: every fault was undone (each nemesis
%% line is written once its action is done) before the first node's send
%% phase ended.
faults_in_send(Events) ->
    case [T || #{<<"process">> := <<"node">>, <<"f">> := <<"start">>, <<"send_end">> := T} <- Events] of
        [] -> {failed, "no node's start in the history"};
        Ends ->
            End = lists:min(Ends),
            Late = [E || E = #{<<"process">> := <<"nemesis">>, <<"time">> := T} <- Events, T >= End],
            case Late of
                [] -> ok;
                _ -> {failed, io_lib:format("the first send phase ended at ~.3f s; after it: ~s",
                                            [End / 1.0e9,
                                             lists:join("; ", [io_lib:format("~s ~s at ~.3f s",
                                                                             [F, V, T / 1.0e9])
                                                               || #{<<"f">> := F, <<"time">> := T,
                                                                    <<"value">> := V} <- Late])])}
            end
    end.

%% The first exit of node I after its latest start, or none.
latest_exit(I, Events) ->
    lists:foldl(fun(#{<<"process">> := <<"node">>, <<"f">> := <<"start">>, <<"id">> := X}, _)
                      when X =:= I -> none;
                   (E = #{<<"process">> := <<"node">>, <<"f">> := <<"exit">>, <<"id">> := X}, none)
                      when X =:= I -> E;
                   (_, Acc) -> Acc
                end, none, Events).

printed(Ids, Results, Limit) ->
    Problems =
        lists:append(
          [case maps:get(I, Results) of
               [] -> [io_lib:format("n~b printed nothing", [I])];
               [#{<<"value">> := V, <<"after_ms">> := T}] ->
                   [io_lib:format("n~b printed ~s, which is not a tuple", [I, V])
                    || parse_tuple(V) =:= error]
                       ++ [io_lib:format("n~b printed ~b ms after its start, over the ~b ms limit",
                                         [I, T, Limit]) || is_integer(T), T > Limit];
               Many -> [io_lib:format("n~b printed ~b lines: ~s",
                                      [I, length(Many), lists:join(" | ", [V || #{<<"value">> := V}
                                                                                   <- Many])])]
           end || I <- Ids]),
    verdict(Problems).

exits(Ids, Exits, Limit) ->
    Problems =
        lists:append(
          [case maps:get(I, Exits) of
               none -> [io_lib:format("n~b had not exited ~b ms after its start", [I, Limit])];
               #{<<"value">> := S, <<"after_ms">> := T} ->
                   [io_lib:format("n~b exited ~p", [I, S]) || S =/= 0]
                       ++ [io_lib:format("n~b exited ~b ms after its start, over the ~b ms limit",
                                         [I, T, Limit]) || is_integer(T), T > Limit]
           end || I <- Ids]),
    verdict(Problems).

verdict([]) -> ok;
verdict(Problems) -> {failed, lists:join("; ", Problems)}.

tuples_text(Tuples) -> lists:join(", ", [io_lib:format("n~b ~s", [I, V]) || {I, V} <- Tuples]).

%% What node I printed against what its own trace says it printed.
differs(I, Tuples, Traces) ->
    Own = case proplists:get_value(I, Traces) of
              {ok, #{result := {C, S, How}}} ->
                  io_lib:format(" (its trace: ~s ~s)", [format(C, S), How]);
              _ -> ""
          end,
    case proplists:get_value(I, Tuples) of
        undefined -> io_lib:format("n~b printed nothing~s", [I, Own]);
        V -> io_lib:format("n~b printed ~s~s", [I, V, Own])
    end.

parse_tuple(V) ->
    case re:run(V, "^\\(([0-9]+), ([0-9]+)\\.([0-9]{9})\\)$",
                [{capture, all_but_first, binary}]) of
        {match, [N, W, F]} ->
            {binary_to_integer(N), binary_to_integer(W) * 1000000000 + binary_to_integer(F)};
        nomatch -> error
    end.

%% ---- commits resuming after a heal -----------------------------------------

%% How soon each node's commits resumed after each healed partition, from
%% a cluster's folder (its history.jsonl and every node's trace.log):
%% [#{heal_ms, gap_ms, node, after_ms}], see resume/2.
resume_times(ClusterDir) ->
    {ok, Events} = cnode_check_history:read(filename:join(ClusterDir, "history.jsonl")),
    Ids = lists:usort([I || #{<<"process">> := <<"node">>, <<"f">> := <<"start">>,
                              <<"id">> := I} <- Events]),
    resume(Events, [{I, read_trace(#{id => I, dir => filename:join(ClusterDir, node_dir(I))})}
                    || I <- Ids]).

node_dir(I) -> "n" ++ integer_to_list(I).

%% For every heal (a stop_partition line) before a node's deadline:
%% heal_ms, when it was healed (history time); gap_ms, until the next
%% fault began (none if none did); after_ms, how long after the heal the
%% node's fold next grew (its first `commit` trace line at or after it), or
%% idle (its result is complete and it had committed everything before
%% the heal), or none (it committed nothing more).  Trace times are wall
%% clock: the start lines' wall_us ties them to history times.
resume(Events, Traces) ->
    Starts = [E || E = #{<<"process">> := <<"node">>, <<"f">> := <<"start">>} <- Events],
    case [{T, W} || #{<<"time">> := T, <<"wall_us">> := W} <- Starts] of
        [] -> [];
        [{T0, W0} | _] ->
            Wall = fun(Ns) -> W0 + (Ns - T0) div 1000 end,
            Nemesis = [{F, T} || #{<<"process">> := <<"nemesis">>, <<"f">> := F,
                                   <<"time">> := T} <- Events],
            Faults = [T || {F, T} <- Nemesis, not lists:member(F, [<<"stop_partition">>,
                                                                     <<"resume">>, <<"restart">>,
                                                                     <<"skipped">>])],
            [#{heal_ms => H div 1000000, gap_ms => gap_ms(H, Faults), node => I,
               after_ms => after_heal(Wall(H), Trace)}
             || {<<"stop_partition">>, H} <- Nemesis, {I, {ok, Trace}} <- Traces,
                H < lists:max([D || #{<<"id">> := X, <<"deadline">> := D} <- Starts, X =:= I])]
    end.

gap_ms(H, Faults) ->
    case [F - H || F <- Faults, F > H] of
        [] -> none;
        Gaps -> lists:min(Gaps) div 1000000
    end.

after_heal(HealUs, Trace) ->
    Commits = maps:get(commits, Trace, []),
    case [Ts || {Ts, _} <- Commits, Ts >= HealUs] of
        [] ->
            case maps:get(result, Trace, none) of
                {_, _, <<"complete">>} -> idle;
                _ -> none
            end;
        After -> (lists:min(After) - HealUs) div 1000
    end.

%% ---- traces and the expected tuple -----------------------------------------

%% {ok, #{id, protocol, sent => [{Ts, Id, Seq, Value}], result}} | {error, Why}.
read_trace(#{id := I, dir := Dir}) ->
    File = filename:join(Dir, "trace.log"),
    case file:read_file(File) of
        {error, E} -> {error, io_lib:format("n~b: no trace (~s)", [I, file:format_error(E)])};
        {ok, B} ->
            try
                {ok, lists:foldl(fun trace_line/2, #{sent => []},
                                 binary:split(B, <<"\n">>, [global, trim_all]))}
            catch
                throw:{bad_line, L} -> {error, io_lib:format("n~b: bad trace line: ~s", [I, L])}
            end
    end.

trace_line(L, T) ->
    case binary:split(L, <<" ">>, [global]) of
        [<<"sent">>, Id, Seq, Ts, V] ->
            T#{sent := [{int(Ts, L), int(Id, L), int(Seq, L), int(V, L)} | maps:get(sent, T)]};
        [<<"ready">>, _Node, Id, Proto] -> T#{id => int(Id, L), protocol => Proto};
        [<<"result">>, C, S, How] -> T#{result => {int(C, L), int(S, L), How}};
        [<<"commit">>, Ts, C] ->
            T#{commits => [{int(Ts, L), int(C, L)} | maps:get(commits, T, [])]};
        [<<"cut">>, _, _] -> T;
        _ -> throw({bad_line, L})
    end.

int(B, L) ->
    try binary_to_integer(B) catch error:badarg -> throw({bad_line, L}) end.

%% The tuple every node must print: every message in every trace, each
%% checked, ordered by (send time, sender id, seq).  Traces: [{Id,
%% {ok, Trace} | {error, Why}}].  {ok, Tuple, Count} | {error, Why}.
expected(Seed, Traces) ->
    case sorted(Seed, Traces) of
        {ok, []} -> {error, "no node sent a message"};
        {ok, All} ->
            {_, Sum} = fold(All),
            {ok, format(length(All), Sum), length(All)};
        {error, _} = E -> E
    end.

%% Every message of every trace, checked, in the order of the result.
sorted(Seed, Traces) ->
    case [Why || {_, {error, Why}} <- Traces] of
        [] ->
            case lists:append([trace_problems(Seed, I, T) || {I, {ok, T}} <- Traces]) of
                [] -> {ok, lists:sort(lists:append([maps:get(sent, T) || {_, {ok, T}} <- Traces]))};
                Problems -> {error, lists:join("; ", lists:sublist(Problems, 10))}
            end;
        Bad -> {error, lists:join("; ", Bad)}
    end.

%% (|m|, sum of i * m_i), i from 1.
fold(Msgs) ->
    lists:foldl(fun({_, _, _, V}, {K, S}) -> {K + 1, S + K * V} end, {1, 0}, Msgs).

%% A node's own messages: its id, seqs 1..n once each, send times not
%% decreasing with the seq, each value the value function's.
trace_problems(Seed, I, T = #{sent := Sent0}) ->
    Sent = lists:keysort(3, lists:reverse(Sent0)),
    Id = maps:get(id, T, I),
    Seqs = [S || {_, _, S, _} <- Sent],
    Times = [Ts || {Ts, _, _, _} <- Sent],
    [io_lib:format("n~b's trace has no ready line", [I]) || not maps:is_key(id, T)]
        ++ [io_lib:format("n~b's trace has messages of ids ~w", [I, lists:usort([X || {_, X, _, _} <- Sent])])
            || lists:any(fun({_, X, _, _}) -> X =/= Id end, Sent)]
        ++ [io_lib:format("n~b's seqs are not 1..~b", [I, length(Seqs)])
            || Seqs =/= lists:seq(1, length(Seqs))]
        ++ [io_lib:format("n~b's send times decrease", [I]) || Times =/= lists:sort(Times)]
        ++ case [{S, V} || {_, X, S, V} <- Sent, V =/= value(Seed, X, S)] of
               [] -> [];
               [{S, V} | _] = W -> [io_lib:format("n~b: ~b values are not the value function's "
                                                  "(seq ~b: ~b, expected ~b)",
                                                  [I, length(W), S, V, value(Seed, Id, S)])]
           end.

format(Count, Sum) ->
    iolist_to_binary(io_lib:format("(~b, ~b.~9..0b)", [Count, Sum div 1000000000,
                                                        Sum rem 1000000000])).

%% The value function of docs/chatterbox.md, written here again so that
%% the check does not trust the reference's code.
-define(M64, 16#FFFFFFFFFFFFFFFF).
-define(G, 16#9E3779B97F4A7C15).

mix64(Z0) ->
    Z1 = ((Z0 bxor (Z0 bsr 30)) * 16#BF58476D1CE4E5B9) band ?M64,
    Z2 = ((Z1 bxor (Z1 bsr 27)) * 16#94D049BB133111EB) band ?M64,
    Z2 bxor (Z2 bsr 31).

value(Seed, Id, Seq) ->
    Key = mix64((Seed + ?G * Id) band ?M64),
    ((mix64((Key + ?G * Seq) band ?M64) * 1000000000) bsr 64) + 1.
