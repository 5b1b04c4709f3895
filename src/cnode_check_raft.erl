%% cnode_check_raft - the raft_kv workload of cnode-check.
%%
%% Nodes.  "c" is priv/bin/raft_kv (full Raft; with --data-dir unless the
%% scenario says "durable": false); "erlang" the reference emulation node
%% (cnode_check_peer:raft/2); a command template anything else.  The
%% workbench reaches a node through the Subject it hands out to
%% gen_server:call({Name, Node}, subject): Name is raft_kv for C nodes and
%% cnode_check_raft for the reference (and for a user's node that speaks
%% only the seed's messages).  An all-C cluster is formed by a peers file
%% (--peers, as operators run it); any other mix by set_peers with every
%% Subject, then start_election to node 1, as the Gleam emulation's main
%% does; a restarted node's new Subject is sent to everyone again.
%%
%% Clients.  `clients` processes (Jepsen's), each bound to one node in
%% turn, followers included, each doing one operation at a time over keys
%% k1..kK: put with a value unique to the run, get, delete, in the
%% scenario's mix and rate.  Every operation is recorded at invocation and
%% completion.  op_ok / {ok, V} are ok; "key already exists" and "key not
%% found" are definite fails (observations); "not leader" is a fail with
%% no effect; "replication failed", a timeout or the node going down are
%% indeterminate (info), after which the client continues as a new process
%% on the next node.
%%
%% Checks after the faults end (everything healed, resumed, restarted):
%% every node applies the same commit index within the settle time; a
%% final read of every key joins the history; the history is
%% linearizable (cnode_check_lin); every node's store is the same; and
%% every put (values are unique) is compared with every node's applied
%% log, read from its trace lines: an acknowledged put applied exactly
%% once, a put that failed definitely never applied with effect.
-module(cnode_check_raft).

-export([argv/2, ready/2, setup/2, leader/0, run_clients/2, settle/2, final_reads/2, restarted/1,
         check/2, status/1]).

-define(CALL_MS, 1000).

%% ---- nodes ---------------------------------------------------------------

argv(Spec = #{impl := <<"c">>}, Ctx) ->
    #{name := Name, cookie := Cookie, id := I, dir := Dir, data_dir := Data} = Spec,
    W = maps:get(workload, Ctx),
    power_loss(Ctx, Data) ++
    [bin(Ctx, "raft_kv"), "--name", Name, "--cookie", Cookie, "--id", integer_to_list(I),
     "--election-timeout", integer_to_list(maps:get(election_timeout_ms, W, 300)),
     "--trace-file", filename:join(Dir, "trace.log")]
        ++ case maps:get(durable, W, true) of true -> ["--data-dir", Data]; false -> [] end
        ++ case maps:get(peers_file, Ctx, none) of none -> []; F -> ["--peers", F] end;
argv(Spec = #{impl := <<"erlang">>}, Ctx) ->
    #{name := Name, cookie := Cookie, id := I} = Spec,
    N = length(maps:get(nodes, Ctx)),
    ["erl", "-noshell", "+Bd", "-name", Name, "-setcookie", Cookie,
     "-connect_all", "false", "-kernel", "prevent_overlapping_partitions", "false",
     "-pa", maps:get(ebin, Ctx),
     "-eval", io_lib:format("cnode_check_peer:raft(~b, ~b)", [I, N])];
argv(Spec = #{impl := {cmd, Template}}, Ctx) ->
    ["/bin/sh", "-c", cnode_check:fill(Template, Spec, Ctx)].

bin(Ctx, Name) -> filename:join(maps:get(bin_dir, Ctx), Name).

%% "power_loss": true - the node runs under the shim that journals what it
%% has not synced, so the nemesis's crash fault can lose exactly that.
power_loss(Ctx = #{workload := #{power_loss := true}}, Data) ->
    ["env", "LD_PRELOAD=" ++ filename:join([maps:get(root, Ctx), "_build", "c", "rel", "lib",
                                            "liblose_unsynced.so"]),
     "CNODE_LOSE_DIR=" ++ Data];
power_loss(_, _) -> [].

%% Waits until the node hands out its Subject.  A node that is starting
%% offers no event to wait on, so this asks again every 50 ms until Ms.
ready(Spec, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    ready_loop(Spec, Deadline).
ready_loop(Spec, Deadline) ->
    case subject(Spec) of
        {ok, _} -> ok;
        error ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, not_ready};
                false -> receive after 50 -> ready_loop(Spec, Deadline) end
            end
    end.

names(#{impl := <<"c">>}) -> [raft_kv];
names(#{impl := <<"erlang">>}) -> [cnode_check_raft];
names(_) -> [cnode_check_raft, raft_kv].

subject(Spec = #{node := Node}) ->
    first_answer([{N, Node} || N <- names(Spec)], subject).

status(Spec = #{node := Node}) ->
    case first_answer([{N, Node} || N <- names(Spec)], status) of
        {ok, S = #{current_term := T}} -> {ok, S#{term => T}};
        {ok, S} when is_map(S) -> {ok, S};
        _ -> error                              % down, or busy past the call's timeout
    end.

first_answer([], _) -> error;
first_answer([Dest | More], Req) ->
    try gen_server:call(Dest, Req, ?CALL_MS) of
        R -> {ok, R}
    catch
        exit:_ -> first_answer(More, Req)
    end.

specs() -> lists:sort(ets:tab2list(cnode_check_nodes)).

%% Forms the cluster (see the header).  Returns ok once a leader is known.
setup(Ctx, Ms) ->
    case maps:get(peers_file, Ctx, none) of
        none -> send_peers(), start_election(1);
        _ -> ok
    end,
    wait_leader(Ms).

send_peers() ->
    Subjects = [{I, S} || {I, Spec} <- specs(), {ok, S} <- [subject(Spec)]],
    %% each node gets the others, as the emulation's main sends them
    [send(S, {set_peers, lists:keydelete(I, 1, Subjects)}) || {I, S} <- Subjects],
    ok.

start_election(I) ->
    [{I, Spec}] = ets:lookup(cnode_check_nodes, I),
    case subject(Spec) of
        {ok, S} -> send(S, start_election);
        error -> ok
    end.

%% After a restart: the node's new Subject to everyone (set_peers clusters).
restarted(Ctx) ->
    case maps:get(peers_file, Ctx, none) of
        none -> send_peers();
        _ -> ok
    end.

send({subject, Pid, Tag}, Msg) -> Pid ! {Tag, Msg}.

%% The leader's id as most nodes see it: the node that says it leads with
%% the highest term, or none.
leader() ->
    Ls = [{maps:get(term, S), I} || {I, Spec} <- specs(), {ok, S} <- [status(Spec)],
                                    maps:get(role, S) =:= leader],
    case lists:reverse(lists:sort(Ls)) of
        [{_, I} | _] -> I;
        [] -> none
    end.

wait_leader(Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    wait_leader_loop(Deadline).
wait_leader_loop(Deadline) ->
    case leader() of
        none ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, no_leader};
                false -> receive after 50 -> wait_leader_loop(Deadline) end
            end;
        _ -> ok
    end.

%% ---- clients -------------------------------------------------------------

%% Runs the clients until Seconds have passed; returns when all are done.
run_clients(Ctx, Seconds) ->
    W = maps:get(workload, Ctx),
    C = maps:get(clients, W, 8),
    Until = erlang:monotonic_time(millisecond) + round(Seconds * 1000),
    Self = self(),
    Pids = [spawn_link(fun() ->
                               rand:seed(exsss, {maps:get(seed, Ctx), P, 99}),
                               client(Ctx#{until => Until, concurrency => C}, P, 0),
                               Self ! {client_done, self()}
                       end) || P <- lists:seq(1, C)],
    [receive {client_done, P} -> ok end || P <- Pids],
    ok.

client(Ctx = #{until := Until}, P, Seq) ->
    case erlang:monotonic_time(millisecond) >= Until of
        true -> ok;
        false ->
            Started = erlang:monotonic_time(millisecond),
            Next = case one_op(Ctx, P, random_op(Ctx, P, Seq)) of
                       info -> P + maps:get(concurrency, Ctx);
                       _ -> P
                   end,
            pace(Ctx, Started),
            client(Ctx, Next, Seq + 1)
    end.

%% Each client waits 1/rate seconds between starts (rate 0: no pause).
pace(#{workload := W}, Started) ->
    case maps:get(rate, W, 0) of
        0 -> ok;
        Rate ->
            Wait = Started + round(1000 / Rate) - erlang:monotonic_time(millisecond),
            receive after max(0, Wait) -> ok end
    end.

random_op(#{workload := W}, P, Seq) ->
    Key = iolist_to_binary(["k", integer_to_list(rand:uniform(maps:get(keys, W, 5)))]),
    {Puts, Gets, Dels} = maps:get(mix, W, {4, 4, 2}),
    R = rand:uniform() * (Puts + Gets + Dels),
    if R < Puts ->
            {put, Key, iolist_to_binary(["v", integer_to_list(P), "-", integer_to_list(Seq)])};
       R < Puts + Gets -> {get, Key};
       true -> {delete, Key}
    end.

%% Client process P's node: the clients are dealt round the nodes, and one
%% that continues as a new process (after an info) moves to the next.
node_for(P) ->
    Specs = specs(),
    {_, Spec} = lists:nth((P - 1) rem length(Specs) + 1, Specs),
    Spec.

%% One operation: invoke, send, wait; returns ok | fail | info.
one_op(Ctx, P, Op) ->
    Spec = node_for(P),
    case subject(Spec) of
        error -> skipped;                       % never invoked: nothing to record
        {ok, Subject} -> invoke(Ctx, P, Spec, Subject, Op)
    end.

invoke(Ctx, P, #{name := Node}, Subject = {subject, Pid, _}, Op) ->
    Base = #{process => P, f => element(1, Op), key => element(2, Op),
             node => list_to_binary(Node)},
    Invoke = case Op of {put, _, V} -> Base#{value => V}; _ -> Base end,
    cnode_check_history:add(Invoke#{type => invoke}),
    Ref = make_ref(),
    Mon = monitor(process, Pid),
    send(Subject, request(Op, {subject, self(), Ref})),
    Timeout = maps:get(op_timeout_ms, maps:get(workload, Ctx), 1000),
    Outcome = receive
                  {Ref, Reply} -> outcome(Op, Reply);
                  {'DOWN', Mon, process, _, Why} -> {info, #{error => reason(Why)}}
              after Timeout -> {info, #{error => <<"timeout">>}}
              end,
    demonitor(Mon, [flush]),
    {Type, Extra} = Outcome,
    cnode_check_history:add(maps:merge(Base#{type => Type}, Extra)),
    Type.

request({put, K, V}, R) -> {client_put, K, V, R};
request({get, K}, R) -> {client_get, K, R};
request({delete, K}, R) -> {client_delete, K, R}.

reason(noconnection) -> <<"nodedown">>;
reason(R) -> iolist_to_binary(io_lib:format("down: ~0p", [R])).

outcome(_, op_ok) -> {ok, #{}};
outcome({get, _}, {ok, V}) -> {ok, #{value => V}};
outcome(_, {_, <<"key already exists: ", _/binary>>}) -> {fail, #{error => exists}};
outcome(_, {_, <<"key not found: ", _/binary>>}) -> {fail, #{error => not_found}};
outcome(_, {_, <<"not leader">>}) -> {fail, #{error => not_leader}};
outcome(_, {_, Reason}) when is_binary(Reason) -> {info, #{error => Reason}};
outcome(_, Other) -> {info, #{error => iolist_to_binary(io_lib:format("~0p", [Other]))}}.

%% ---- after the faults ----------------------------------------------------

%% Every node reachable and at the same commit index and last_applied.
%% Returns {ok, Index} or {error, [{Id, Status | down}]} (each node's role,
%% term, commit_index and last_applied, or down).
settle(Ctx, Ms) ->
    restarted(Ctx),
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    settle_loop(Deadline).
settle_loop(Deadline) ->
    All = [{I, status(Spec)} || {I, Spec} <- specs()],
    Applied = [{maps:get(commit_index, S), maps:get(last_applied, S)} || {_, {ok, S}} <- All],
    case length(Applied) =:= length(All) andalso lists:usort(Applied) of
        [{C, C}] -> {ok, C};
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, [{I, summary(S)} || {I, S} <- All]};
                false -> receive after 100 -> settle_loop(Deadline) end
            end
    end.

summary({ok, S}) -> maps:with([role, term, commit_index, last_applied], S);
summary(error) -> down.

%% A get of every key, through the leader, recorded in the history.
final_reads(Ctx, P) ->
    Keys = [iolist_to_binary(["k", integer_to_list(K)])
            || K <- lists:seq(1, maps:get(keys, maps:get(workload, Ctx), 5))],
    L = case leader() of none -> 1; I -> I end,
    [{L, Spec}] = ets:lookup(cnode_check_nodes, L),
    lists:foldl(fun(K, Proc) ->
                        case subject(Spec) of
                            {ok, S} ->
                                case invoke(Ctx, Proc, Spec, S, {get, K}) of
                                    info -> Proc + 1;
                                    _ -> Proc
                                end;
                            error -> Proc
                        end
                end, P, Keys),
    ok.

%% The checks on the history and the nodes, [{Label, ok | {failed, Text}}],
%% and the counts the soak table shows: #{anomalies, lost}.
check(Ctx, Events) ->
    Lin = case cnode_check_lin:check(Events) of
              {linearizable, _} -> ok;
              {anomaly, A} -> {failed, cnode_check_lin:format_anomaly(A), A}
          end,
    Statuses = [{I, status(Spec)} || {I, Spec} <- specs()],
    Stores = lists:usort([maps:get(store, S) || {_, {ok, S}} <- Statuses]),
    Same = case Stores of
               [_] -> ok;
               _ -> {failed, io_lib:format("~b different stores among ~b nodes",
                                           [length(Stores), length(Statuses)])}
           end,
    {Applied, Lost} = applied_as_answered(Ctx, Events),
    {[{<<"linearizable">>, Lin}, {<<"stores equal">>, Same},
      {<<"puts applied as answered">>, Applied}],
     #{anomalies => case Lin of ok -> 0; _ -> 1 end, lost => Lost}}.

%% Acknowledged puts applied exactly once on every node; definitely failed
%% puts never applied with effect.  Also returns how many acknowledged puts
%% some node never applied (lost writes).
applied_as_answered(Ctx, Events) ->
    Puts = put_outcomes(Events),
    Problems = lists:append([node_problems(Id, applied_puts(Ctx, Spec), Puts)
                             || {Id, Spec} <- specs()]),
    Lost = length(lists:usort([V || {lost, V, _} <- Problems])),
    Verdict = case Problems of
                  [] -> ok;
                  _ -> {failed, [lists:join("\n", [T || {_, _, T} <- lists:sublist(Problems, 20)]),
                                 io_lib:format("~n(~b problems)", [length(Problems)])]}
              end,
    {Verdict, Lost}.

%% Value -> ok | exists | not_leader | info, from the history: each put's
%% completion paired with its process's open invocation.
put_outcomes(Events) ->
    {_, Outcomes} =
        lists:foldl(
          fun(E = #{<<"f">> := <<"put">>, <<"type">> := <<"invoke">>, <<"process">> := P}, {Open, Out}) ->
                  {Open#{P => maps:get(<<"value">>, E)}, Out};
             (E = #{<<"f">> := <<"put">>, <<"process">> := P}, {Open, Out}) when is_map_key(P, Open) ->
                  {maps:remove(P, Open), Out#{maps:get(P, Open) => result(E)}};
             (_, Acc) -> Acc
          end, {#{}, #{}}, Events),
    Outcomes.

result(#{<<"type">> := <<"ok">>}) -> ok;
result(#{<<"type">> := <<"fail">>, <<"error">> := E}) -> binary_to_atom(E);
result(_) -> info.

node_problems(Id, Applied, Puts) ->
    maps:fold(
      fun(V, Outcome, Acc) ->
              K = length(maps:get(V, Applied, [])),
              case {Outcome, K} of
                  {ok, 1} -> Acc;
                  {ok, 0} -> [{lost, V, io_lib:format("n~b: acknowledged put ~s never applied",
                                                      [Id, V])} | Acc];
                  {ok, _} -> [{twice, V, io_lib:format("n~b: acknowledged put ~s applied ~b times",
                                                       [Id, V, K])} | Acc];
                  {info, _} -> Acc;
                  {_, 0} -> Acc;
                  {Why, _} -> [{failed_applied, V,
                                io_lib:format("n~b: put ~s answered ~s applied ~b times",
                                              [Id, V, Why, K])} | Acc]
              end
      end, [], Puts).

%% Value -> [Slot] of the puts a node applied with effect ("-> OK"), from its
%% trace lines (a restarted node applies again from 1: slots are counted once).
applied_puts(_Ctx, #{impl := Impl, dir := Dir}) ->
    File = case Impl of
               <<"c">> -> filename:join(Dir, "trace.log");
               _ -> filename:join(Dir, "node.log")
           end,
    Lines = case file:read_file(File) of
                {ok, B} -> binary:split(B, <<"\n">>, [global]);
                _ -> []
            end,
    Pairs = lists:usort(applied_pairs(Lines, 0, [])),
    lists:foldl(fun({V, Slot}, M) -> maps:update_with(V, fun(S) -> [Slot | S] end, [Slot], M) end,
                #{}, Pairs).

%% [{Value, Slot}].  A follower's line names its slot; the emulation
%% leader's ("[node N] PUT ... -> OK") follows "Appending entry at index I".
applied_pairs([], _, Acc) -> Acc;
applied_pairs([L | Ls], Appending, Acc) ->
    case applied_put(L) of
        {Slot, V} -> applied_pairs(Ls, Appending, [{V, Slot} | Acc]);
        none ->
            case re:run(L, "\\] (?:PUT \"[^\"]*\" = \"([^\"]*)\" -> OK|Appending entry at index ([0-9]+))",
                        [{capture, all_but_first, binary}]) of
                {match, [V]} -> applied_pairs(Ls, Appending, [{V, Appending} | Acc]);
                {match, [<<>>, I]} -> applied_pairs(Ls, binary_to_integer(I), Acc);
                nomatch -> applied_pairs(Ls, Appending, Acc)
            end
    end.

applied_put(Line) ->
    case re:run(Line, "\\] slot ([0-9]+): PUT \"[^\"]*\" = \"([^\"]*)\" -> OK",
                [{capture, all_but_first, binary}]) of
        {match, [Slot, V]} -> {binary_to_integer(Slot), V};
        nomatch -> none
    end.
