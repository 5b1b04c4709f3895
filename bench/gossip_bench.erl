%% gossip_bench - the gossip chat's dissemination and cost, C against the
%% Erlang reference peer, measured in one run on this machine.
%%
%% Run by `make bench`.  For each configuration (C nodes at 10, 50 and 100;
%% Erlang reference nodes at 10 and 50) it starts the nodes on this machine,
%% each joining through a random earlier one, waits until every node lists
%% every other, then measures:
%%   idle     gossip messages and bytes (encoded terms) sent per node per
%%            second, and CPU per node, over GOSSIP_BENCH_IDLE s (default 5)
%%            of heartbeats and peer-list exchange;
%%   lines    GOSSIP_BENCH_LINES lines (default 100), one every 50 ms from a
%%            random node: the time from the sender showing a line to the
%%            last node showing it (p50, p99; both ends stamp their events
%%            with the same system clock), and messages, bytes and CPU per
%%            node per second meanwhile;
%%   conns    the most distribution connections any node holds (this
%%            benchmark's own node included).
%% C nodes are the release build (priv/bin/gossip_chat --json); reference
%% nodes are hidden erl nodes with one scheduler and no busy waiting, so
%% that both are one thread per node.  The claims are the ratios.
-module(gossip_bench).
-export([main/0, main/1]).

main() -> main([]).

main(_) ->
    Lines = bench_lib:env_int("GOSSIP_BENCH_LINES", 100),
    Idle = bench_lib:env_int("GOSSIP_BENCH_IDLE", 5),
    Configs = [{c, 10}, {c, 50}, {c, 100}, {erlang, 10}, {erlang, 50}],
    io:format("~nGossip chat: local nodes on one machine (~s)~n", [bench_lib:machine()]),
    io:format("~b lines, one every 50 ms from a random node; idle: ~b s of heartbeats~n~n",
              [Lines, Idle]),
    io:format("~-7s ~5s ~8s ~8s ~10s ~10s ~8s ~10s ~10s ~8s ~6s~n",
              ["impl", "nodes", "p50 ms", "p99 ms", "idle msg/s", "idle KB/s", "idle CPU",
               "line msg/s", "line KB/s", "line CPU", "conns"]),
    Rows = [run(K, N, Lines, Idle) || {K, N} <- Configs],
    [print_row(R) || R <- Rows],
    io:format("(msg/s, KB/s and CPU are per node; KB are encoded gossip terms; CPU is the "
              "share of one core)~n"),
    ratios(Rows),
    ok.

print_row(#{kind := K, n := N, p50 := P50, p99 := P99, idle := I, load := L, conns := C}) ->
    io:format("~-7s ~5b ~8.1f ~8.1f ~10.1f ~10.2f ~7.3f% ~10.1f ~10.2f ~7.3f% ~6b~n",
              [name(K), N, P50, P99, maps:get(msgs, I), maps:get(kb, I), maps:get(cpu, I),
               maps:get(msgs, L), maps:get(kb, L), maps:get(cpu, L), C]).

name(c) -> "C";
name(erlang) -> "Erlang".

ratios(Rows) ->
    Find = fun(K, N) -> hd([R || #{kind := K2, n := N2} = R <- Rows, K2 =:= K, N2 =:= N]) end,
    io:format("~nErlang / C at the same size (above 1: C is better):~n"),
    [begin
         C = Find(c, N), E = Find(erlang, N),
         io:format("  ~b nodes: p50 latency ~.2fx, CPU with lines ~.2fx, idle CPU ~.2fx~n",
                   [N, ratio(maps:get(p50, E), maps:get(p50, C)),
                    ratio(maps:get(cpu, maps:get(load, E)), maps:get(cpu, maps:get(load, C))),
                    ratio(maps:get(cpu, maps:get(idle, E)), maps:get(cpu, maps:get(idle, C)))])
     end || N <- [10, 50]],
    ok.

ratio(_, Z) when Z == 0 -> 0.0;
ratio(A, B) -> A / B.

%% ---- one configuration -------------------------------------------------------

run(Kind, N, Lines, Idle) ->
    Collector = spawn_link(fun() -> collector(#{}) end),
    Nodes = start_nodes(Kind, N, Collector),
    try
        converge(Nodes, N, 120000),
        S0 = snapshot(Nodes),
        timer:sleep(Idle * 1000),                 % the measured idle period
        S1 = snapshot(Nodes),
        Said = [begin
                    timer:sleep(50),              % the offered load: 20 lines/s
                    X = lists:nth(rand:uniform(N), Nodes),
                    {ok, Id} = gen_server:call({gossip, node_of(X)},
                                               {say, <<"benchmark line">>}),
                    {atom_to_binary(node_of(X)), Id}
                end || _ <- lists:seq(1, Lines)],
        Lat = latencies(Collector, Said, N, 60000),
        S2 = snapshot(Nodes),
        Conns = lists:max([maps:get(connections, St) || {_, St, _} <- S2]),
        #{kind => Kind, n => N, p50 => pct(Lat, 50), p99 => pct(Lat, 99),
          idle => rates(S0, S1), load => rates(S1, S2), conns => Conns}
    after
        stop_nodes(Kind, Nodes),
        unlink(Collector),
        exit(Collector, kill)
    end.

start_nodes(Kind, N, Collector) ->
    lists:reverse(
      lists:foldl(fun(I, Acc) ->
                          Join = case Acc of
                                     [] -> undefined;
                                     _ -> node_of(lists:nth(rand:uniform(length(Acc)), Acc))
                                 end,
                          [start_node(Kind, I, Join, Collector) | Acc]
                  end, [], lists:seq(1, N))).

start_node(c, I, Join, Collector) ->
    Bin = filename:join([bench_lib:root(), "priv", "bin", "gossip_chat"]),
    Name = bench_lib:uniq("gb" ++ integer_to_list(I)),
    JoinArgs = case Join of undefined -> []; _ -> ["--join", atom_to_list(Join)] end,
    C = cnode_proc:start(Bin, ["--sname", Name, "--cookie", cookie(), "--json" | JoinArgs],
                         #{stdout => Collector, log => "/tmp/" ++ Name ++ ".log"}),
    Collector ! {name, Name, atom_to_binary(maps:get(node, C))},
    #{kind => c, node => maps:get(node, C), os_pid => maps:get(os_pid, C), handle => C};
start_node(erlang, I, Join, Collector) ->
    Ebin = filename:dirname(code:which(gossip_ref)),
    {ok, Peer, Node} = peer:start(#{name => bench_lib:uniq("gbe" ++ integer_to_list(I)),
                                    args => ["-setcookie", cookie(), "-hidden", "-pa", Ebin,
                                             "+S", "1:1", "+sbwt", "none", "+sbwtdcpu", "none",
                                             "+sbwtdio", "none"]}),
    Opts = case Join of undefined -> #{}; _ -> #{join => Join} end,
    {ok, _} = erpc:call(Node, gossip_ref, start, [Opts#{listener => Collector}]),
    OsPid = list_to_integer(erpc:call(Node, os, getpid, [])),
    #{kind => erlang, node => Node, os_pid => OsPid, handle => Peer}.

stop_nodes(c, Nodes) -> [catch cnode_proc:stop(H) || #{handle := H} <- Nodes];
stop_nodes(erlang, Nodes) -> [catch peer:stop(H) || #{handle := H} <- Nodes].

node_of(#{node := N}) -> N.

%% Polls every node's member list until all have n members.
converge(Nodes, N, Timeout) when Timeout > 0 ->
    Counts = [length(gen_server:call({gossip, node_of(X)}, members)) || X <- Nodes],
    case lists:all(fun(C) -> C =:= N end, Counts) of
        true -> ok;
        false -> timer:sleep(200), converge(Nodes, N, Timeout - 200)
    end;
converge(_, N, _) -> error({no_convergence, N}).

%% {node, stats, cpu seconds} for every node, and the time.
snapshot(Nodes) ->
    T = erlang:monotonic_time(millisecond),
    [{T, gen_server:call({gossip, node_of(X)}, stats), cpu(maps:get(os_pid, X))} || X <- Nodes].

rates(S0, S1) ->
    Per = [{maps:get(msgs_out, B) - maps:get(msgs_out, A),
            maps:get(bytes_out, B) - maps:get(bytes_out, A), CB - CA, TB - TA}
           || {{TA, A, CA}, {TB, B, CB}} <- lists:zip(S0, S1)],
    N = length(Per),
    Secs = lists:max([Dt || {_, _, _, Dt} <- Per]) / 1000,
    #{msgs => lists:sum([M || {M, _, _, _} <- Per]) / N / Secs,
      kb => lists:sum([B || {_, B, _, _} <- Per]) / N / Secs / 1024,
      cpu => 100 * lists:sum([C || {_, _, C, _} <- Per]) / N / Secs}.

pct(L, P) ->
    S = lists:sort(L),
    lists:nth(max(1, (length(S) * P + 99) div 100), S) / 1000.

%% ---- events --------------------------------------------------------------------

%% Gathers chat events from C nodes' stdout and reference nodes' messages:
%% per {From, Id}, how many nodes showed it, the sender's time and the last.
collector(St) ->
    receive
        {name, Sname, Node} -> collector(St#{{sname, Sname} => Node});
        {cnode_line, _Sname, Line} ->
            case cnode_json:decode(Line) of
                {ok, #{<<"event">> := <<"chat">>} = M} -> collector(chat(M, St));
                _ -> collector(St)
            end;
        {gossip_event, _, #{<<"event">> := <<"chat">>} = M} -> collector(chat(M, St));
        {gossip_event, _, _} -> collector(St);
        {get, Key, From} -> From ! {got, maps:get(Key, St, undefined)}, collector(St)
    end.

chat(#{<<"from">> := F, <<"id">> := Id, <<"t">> := T} = M, St) ->
    {Count, Sent, Last} = maps:get({F, Id}, St, {0, undefined, 0}),
    Sent1 = case maps:get(<<"mine">>, M, false) of true -> T; false -> Sent end,
    St#{{F, Id} => {Count + 1, Sent1, max(Last, T)}}.

latencies(Collector, Said, N, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    [latency(Collector, K, N, Deadline) || K <- Said].

latency(Collector, Key, N, Deadline) ->
    Collector ! {get, Key, self()},
    receive
        {got, {N, Sent, Last}} when Sent =/= undefined -> Last - Sent;
        {got, _} ->
            case erlang:monotonic_time(millisecond) < Deadline of
                true -> timer:sleep(20), latency(Collector, Key, N, Deadline);
                false -> error({line_not_everywhere, Key})
            end
    end.

%% ---- helpers -------------------------------------------------------------------

cookie() -> atom_to_list(erlang:get_cookie()).

%% CPU seconds of every thread of the process (schedstat: nanoseconds on CPU).
cpu(OsPid) ->
    Dir = "/proc/" ++ integer_to_list(OsPid) ++ "/task",
    {ok, Tasks} = file:list_dir(Dir),
    lists:sum([case file:read_file(filename:join([Dir, T, "schedstat"])) of
                   {ok, B} -> binary_to_integer(hd(binary:split(B, <<" ">>))) / 1.0e9;
                   _ -> 0
               end || T <- Tasks]).

