%% cnode_check_nemesis - the faults of a cnode-check run, seeded and
%% recorded in the history.
%%
%% Every interval the nemesis picks one fault of the scenario's list (with
%% its own seeded random stream, so a seed replays the same schedule),
%% holds it for the fault's duration, and undoes it:
%%
%%   partition-halves   two random halves, cut both ways
%%   partition-leader   the current leader alone
%%   partition-bridge   two halves that both still reach one node in between
%%   partition-ring     every node reaches only its ring neighbours (a
%%                      majority each, but not the same one)
%%   partition-oneway   one random half's packets to the other are dropped
%%   kill               kill -9 a random node; restart it, same data dir
%%   kill-leader        the same for the current leader
%%   pause              SIGSTOP a random node; SIGCONT it
%%   pause-leader       the same for the current leader
%%   crash              power loss: kill -9 a random node, undo every write
%%                      it had not synced (its data dir under the power-loss
%%                      shim, lose_unsynced.c), restart it
%%   crash-leader       the same for the current leader
%%
%% A fault may combine several with "+" ("partition-halves+pause-leader"):
%% they start together, in order, and end together, in reverse order.
%%
%% Partitions need network namespaces; on loopback hosts they are skipped
%% (and the skip is written in the history).  Nodes live in the ets table
%% cnode_check_nodes (id -> spec); a restart puts the new spec there.
-module(cnode_check_nemesis).

-export([start/1, stop/1, faults/0, valid/1]).

faults() ->
    [<<"partition-halves">>, <<"partition-leader">>, <<"partition-bridge">>,
     <<"partition-ring">>, <<"partition-oneway">>, <<"kill">>, <<"kill-leader">>,
     <<"pause">>, <<"pause-leader">>, <<"crash">>, <<"crash-leader">>].

%% A fault of a scenario: one of faults/0, or several joined by "+".
valid(Fault) ->
    lists:all(fun(P) -> lists:member(P, faults()) end, binary:split(Fault, <<"+">>, [global])).

%% Ctx: hosts, faults ([binary]), interval_ms, duration_ms, seed,
%% leader (fun() -> Id | none), restart (fun(Spec) -> Spec).
start(Ctx = #{faults := []}) -> spawn_link(fun() -> idle(Ctx) end);
start(Ctx) ->
    spawn_link(fun() ->
                       rand:seed(exsss, {maps:get(seed, Ctx), 17, 4242}),
                       loop(Ctx)
               end).

%% Ends the current fault (if any) and returns when everything is undone.
stop(Pid) ->
    Ref = monitor(process, Pid),
    Pid ! {stop, self()},
    receive {'DOWN', Ref, _, _, _} -> ok end.

idle(_) -> receive {stop, _} -> ok end.

loop(Ctx = #{faults := Faults, interval_ms := Interval, duration_ms := Duration}) ->
    case wait(Interval) of
        stop -> ok;
        go ->
            Fault = lists:nth(rand:uniform(length(Faults)), Faults),
            Undo = inject_all(Ctx, binary:split(Fault, <<"+">>, [global])),
            Stopped = wait(Duration),
            Undo(),
            case Stopped of stop -> ok; go -> loop(Ctx) end
    end.

wait(Ms) -> receive {stop, _} -> stop after Ms -> go end.

ids() -> lists:sort([I || {I, _} <- ets:tab2list(cnode_check_nodes)]).
spec(I) -> [{I, S}] = ets:lookup(cnode_check_nodes, I), S.
name(I) -> iolist_to_binary(["n", integer_to_list(I)]).

note(F, Value) -> note(F, Value, #{}).

note(F, Value, Extra) ->
    cnode_check_history:add(Extra#{process => nemesis, type => info, f => F,
                                   value => iolist_to_binary(Value)}).

%% Applies every part of a combined fault; undoes them in reverse.
inject_all(Ctx, Parts) ->
    Undos = [inject(Ctx, P) || P <- Parts],
    fun() -> [U() || U <- lists:reverse(Undos)], ok end.

%% Applies Fault; returns the fun that undoes it.
inject(#{hosts := #{mode := loopback}}, <<"partition-", _/binary>> = F) ->
    note(skipped, [F, " (loopback hosts: no partitions)"]),
    fun() -> ok end;
inject(Ctx, <<"partition-", Shape/binary>>) ->
    case cut(Ctx, Shape, ids()) of
        none -> fun() -> ok end;
        {Cut, Text} ->
            ok = cnode_check_hosts:partition(maps:get(hosts, Ctx), Cut),
            %% the node pairs that cannot talk (either way), for checkers
            note(start_partition, [Shape, ": ", Text], #{cut => cut_pairs(Cut)}),
            fun() ->
                    ok = cnode_check_hosts:heal(maps:get(hosts, Ctx)),
                    note(stop_partition, "healed")
            end
    end;
inject(Ctx, <<"kill", Who/binary>>) ->
    on_node(Ctx, Who, fun(I) ->
                               cnode_check_nodes:kill_now(spec(I)),
                               note(kill, name(I)),
                               fun() -> restart(Ctx, I) end
                       end);
inject(Ctx, <<"crash", Who/binary>>) ->
    on_node(Ctx, Who, fun(I) ->
                               S = spec(I),
                               cnode_check_nodes:kill_now(S),
                               Undone = lose_unsynced(Ctx, S),
                               note(crash, [name(I), " (power loss: ", Undone, ")"]),
                               fun() -> restart(Ctx, I) end
                       end);
inject(Ctx, <<"pause", Who/binary>>) ->
    on_node(Ctx, Who, fun(I) ->
                               cnode_check_nodes:pause(spec(I)),
                               note(pause, name(I)),
                               fun() ->
                                       cnode_check_nodes:resume(spec(I)),
                                       note(resume, name(I))
                               end
                       end).

%% Rolls the killed node's data directory back to its last sync.
lose_unsynced(#{root := Root}, #{data_dir := Dir}) ->
    Tool = filename:join([Root, "_build", "c", "rel", "bin", "lose_unsynced"]),
    Out = os:cmd(Tool ++ " " ++ Dir ++ " 2>&1"),
    N = length(string:split(Out, "unsynced writes undone", all)) - 1,
    io_lib:format("~b files rolled back", [N]).

restart(#{restart := Restart}, I) ->
    Spec = Restart(spec(I)),
    ets:insert(cnode_check_nodes, {I, Spec}),
    note(restart, name(I)).

on_node(Ctx, <<"-leader">>, F) ->
    case (maps:get(leader, Ctx))() of
        none -> note(skipped, "no leader to fault"), fun() -> ok end;
        I -> F(I)
    end;
on_node(_, <<>>, F) ->
    Ids = ids(),
    F(lists:nth(rand:uniform(length(Ids)), Ids)).

%% The partition's shape as {Cut, Description}; Cut is what
%% cnode_check_hosts:partition/2 takes.
cut(_, <<"halves">>, Ids) ->
    {A, B} = halves(Ids),
    {{cut, pairs(A, B)}, groups_text([A, B])};
cut(Ctx, <<"leader">>, Ids) ->
    case (maps:get(leader, Ctx))() of
        none -> note(skipped, "no leader to isolate"), none;
        L -> {{cut, pairs([L], Ids -- [L])}, groups_text([[L], Ids -- [L]])}
    end;
cut(_, <<"bridge">>, Ids) ->
    [Bridge | Rest] = shuffle(Ids),
    {A, B} = halves(Rest),
    {{cut, pairs(A, B)},
     [groups_text([A, B]), " bridged by n", integer_to_list(Bridge)]};
cut(_, <<"ring">>, Ids) ->
    Ring = shuffle(Ids),
    N = length(Ring),
    Pos = maps:from_list(lists:zip(Ring, lists:seq(0, N - 1))),
    Adjacent = fun(X, Y) ->
                       D = abs(maps:get(X, Pos) - maps:get(Y, Pos)),
                       D =< 1 orelse D =:= N - 1
               end,
    {{cut, [{X, Y} || X <- Ids, Y <- Ids, X < Y, not Adjacent(X, Y)]},
     ["ring ", lists:join(" - ", [["n", integer_to_list(I)] || I <- Ring])]};
cut(_, <<"oneway">>, Ids) ->
    {A, B} = halves(Ids),
    {{oneway, A, B}, [groups_text([A]), " -> ", groups_text([B]), " dropped"]}.

halves(Ids) ->
    S = shuffle(Ids),
    lists:split(length(S) div 2, S).

pairs(A, B) -> [{X, Y} || X <- A, Y <- B].

cut_pairs({cut, Pairs}) -> [[X, Y] || {X, Y} <- Pairs];
cut_pairs({oneway, A, B}) -> [[X, Y] || {X, Y} <- pairs(A, B)].

shuffle(L) -> [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].

groups_text(Groups) ->
    lists:join(" | ", [["{", lists:join(" ", [["n", integer_to_list(I)] || I <- lists:sort(G)]), "}"]
                       || G <- Groups]).
