%% dist_bench - C nodes against native Erlang distribution, side by side.
%%
%% Run by `make bench`.  Every figure comes from this one run on this
%% machine; the claims are the ratios.  Four one-way paths, each N messages
%% of a 64-byte binary from a sender on one node to a sink on another:
%%   E->E  Erlang peer A  -> Erlang peer B   (the anchor)
%%   E->C  Erlang peer A  -> C node 1
%%   C->E  C node 1       -> Erlang peer B
%%   C->C  C node 1       -> C node 2
%% and E->C once more to C node 3, started with --no-rx-batching, to show
%% what batched reading (c_src/node/rxbatch.c) does for an Erlang sender.
%% In those rows the C sink counts messages without decoding them and the
%% C source sends one payload encoded once: work the Erlang side does and
%% the C side skips.  The rows marked * do the same work as Erlang: the C
%% sink decodes every message (a binary's bytes copied out, as a receive
%% copies them onto the heap) and the C source encodes every message.
%% Throughput is N over the time from "go" to the sink's "done"; CPU per
%% message is the OS processes' user+system time over the run (from /proc),
%% so Erlang and C are measured the same way.  Then one-way latency inside
%% a paced stream (bursts every millisecond, each message stamped with
%% os:system_time on the sender and compared with the wall clock on
%% arrival), which is what batched reading trades.  Then gen_server:call round
%% trips, sequential, from peer A to an Erlang gen_server on B and to the C
%% node's echo process.  Then the C node's memory per process and per
%% connection.
%% Knobs (environment): BENCH_N messages per path, BENCH_BYTES payload,
%% BENCH_ROUNDS, BENCH_PATHS (say ee,ec), BENCH_C_ARGS (extra C node flags),
%% BENCH_LAT_N (0 skips the stream latency), BENCH_CALLS (0 skips the round
%% trips and memory).
-module(dist_bench).
-export([main/0, main/1]).
%% used on the peers
-export([sender/3, sink/2, latency/3, echo_loop/0, paced_sender/4, latency_sink/2]).

-define(PAYLOAD_BYTES, bench_lib:env_int("BENCH_BYTES", 64)).

main() -> main([]).

main(_) ->
    N = bench_lib:env_int("BENCH_N", 1000000),
    Calls = bench_lib:env_int("BENCH_CALLS", 20000),
    Root = bench_lib:root(),
    Bin = filename:join([Root, "_build", "c", "rel", "bin", "bench_node"]),
    Cookie = atom_to_list(erlang:get_cookie()),
    Code = [filename:absname(filename:dirname(code:which(?MODULE))),
            filename:absname(filename:dirname(code:which(cnode_proc)))],
    {ok, PA, A} = peer:start(#{name => bench_lib:uniq("bench_a"), args => ["-setcookie", Cookie]}),
    {ok, PB, B} = peer:start(#{name => bench_lib:uniq("bench_b"), args => ["-setcookie", Cookie]}),
    [ok = erpc:call(P, code, add_pathsa, [Code]) || P <- [A, B]],
    %% BENCH_C_ARGS: extra flags for the C nodes (say --no-rx-batching)
    CArgs = string:lexemes(os:getenv("BENCH_C_ARGS", ""), " "),
    C1 = cnode_proc:start(Bin, ["--sname", bench_lib:uniq("bench_c1"), "--cookie", Cookie | CArgs], #{}),
    C2 = cnode_proc:start(Bin, ["--sname", bench_lib:uniq("bench_c2"), "--cookie", Cookie | CArgs], #{}),
    C3 = cnode_proc:start(Bin, ["--sname", bench_lib:uniq("bench_c3"), "--cookie", Cookie,
                                "--no-rx-batching" | CArgs], #{}),
    #{node := CN1} = C1,
    #{node := CN2} = C2,
    #{node := CN3} = C3,
    OsA = bench_lib:os_pid(A), OsB = bench_lib:os_pid(B),
    OsC1 = maps:get(os_pid, C1), OsC2 = maps:get(os_pid, C2), OsC3 = maps:get(os_pid, C3),
    io:format("~nDistribution throughput: ~b one-way messages of ~b bytes per path~n",
              [N, ?PAYLOAD_BYTES]),
    io:format("(~s)~n~n", [bench_lib:machine()]),
    %% warm up connections and code
    _ = run_path(erlang, A, OsA, erlang, B, OsB, 10000),
    _ = run_path(c, CN1, OsC1, c, CN2, OsC2, 10000),
    _ = run_path(erlang, A, OsA, c, CN1, OsC1, 10000),
    _ = run_path(erlang, A, OsA, c, CN3, OsC3, 10000),
    _ = run_path(c, CN1, OsC1, erlang, B, OsB, 10000),
    Paths = [{ee, {erlang, A, OsA}, {erlang, B, OsB}},
             {ec, {erlang, A, OsA}, {c, CN1, OsC1}},
             {ce, {c, CN1, OsC1}, {erlang, B, OsB}},
             {cc, {c, CN1, OsC1}, {c, CN2, OsC2}},
             {ecu, {erlang, A, OsA}, {c, CN3, OsC3}},
             {ecw, {erlang, A, OsA}, {cw, CN1, OsC1}},
             {cwe, {cw, CN1, OsC1}, {erlang, B, OsB}},
             {cwcw, {cw, CN1, OsC1}, {cw, CN2, OsC2}}],
    Rounds = bench_lib:env_int("BENCH_ROUNDS", 3),
    %% BENCH_PATHS=ee,ec runs a subset (the table still shows every path)
    Only = string:lexemes(os:getenv("BENCH_PATHS", "ee,ec,ce,cc,ecu,ecw,cwe,cwcw"), ","),
    %% rounds interleave the paths, so a busy moment hurts all of them alike
    Runs = [{K, run_path(SK, SN, SO, RK, RN, RO, N)}
            || _ <- lists:seq(1, Rounds), {K, {SK, SN, SO}, {RK, RN, RO}} <- Paths,
               lists:member(atom_to_list(K), Only)],
    [EE, EC, CE, CC, ECU, ECW, CWE, CWCW] =
        [median_run([R || {K2, R} <- Runs, K2 =:= K]) || {K, _, _} <- Paths],
    io:format("median of ~b interleaved rounds~n", [Rounds]),
    Base = max(maps:get(rate, EE), 1.0),
    io:format("~-6s ~14s ~9s ~16s ~16s ~10s~n",
              ["path", "msgs/s", "vs E->E", "sender us/msg", "receiver us/msg", "segs/msg"]),
    [print_row(Name, Run, Base, Note)
     || {Name, Run, Note} <- [{"E->E", EE, ""},
                              {"E->C", EC, "  (C sink counts, does not decode)"},
                              {"C->E", CE, "  (C source sends one pre-encoded payload)"},
                              {"C->C", CC, "  (both)"},
                              {"E->C", ECU, "  (C node 3: --no-rx-batching; counts only)"},
                              {"E->C*", ECW, "  (C sink decodes every message)"},
                              {"C*->E", CWE, "  (C source encodes every message)"},
                              {"C*->C*", CWCW, "  (encodes and decodes every message)"}]],
    bench_lib:env_int("BENCH_LAT_N", 200000) > 0 andalso stream_latency(A, B, CN1, CN3),
    Calls > 0 andalso latency_and_memory(A, B, case os:getenv("LATC") of "3" -> CN3; _ -> CN1 end, Calls, Bin, Cookie),
    [cnode_proc:stop(C) || C <- [C1, C2, C3]],
    [peer:stop(P) || P <- [PA, PB]],
    ok.

print_row(Name, #{rate := Rate, sender_cpu := SCpu, receiver_cpu := RCpu, segs := Segs},
          Base, Note) ->
    io:format("~-6s ~14s ~8.2fx ~16.3f ~16.3f ~10.3f~s~n",
              [Name, bench_lib:fmt_int(round(Rate)), Rate / Base, SCpu, RCpu, Segs, Note]).

%% BENCH_CALLS=0 leaves these out (for quick throughput-only runs)
latency_and_memory(A, B, CN1, Calls, Bin, Cookie) ->
    Srv = erpc:call(B, erlang, spawn, [?MODULE, echo_loop, []]),
    {LE, LC} = erpc:call(A, ?MODULE, latency, [Srv, {echo, CN1}, Calls], infinity),
    io:format("~ngen_server:call round trip, ~b sequential calls from an Erlang node~n", [Calls]),
    io:format("~-8s ~10s ~10s ~10s~n", ["callee", "p50 us", "p99 us", "mean us"]),
    [io:format("~-8s ~10.1f ~10.1f ~10.1f~n", [Name, P50, P99, Mean])
     || {Name, {P50, P99, Mean}} <- [{"Erlang", LE}, {"C", LC}]],
    io:format("p50 ratio C/Erlang: ~.2f (below 1 means the C callee is faster)~n",
              [element(1, LC) / element(1, LE)]),
    memory(Bin, Cookie).

%% ---- one path ------------------------------------------------------------

median_run([]) ->
    #{rate => 0.0, sender_cpu => 0.0, receiver_cpu => 0.0, segs => 0.0};
median_run(Rs) ->
    S = lists:sort(fun(#{rate := A}, #{rate := B}) -> A =< B end, Rs),
    lists:nth((length(S) + 1) div 2, S).

run_path(SKind, SNode, SOs, RKind, RNode, ROs, N) ->
    Self = self(),
    Dest = arm_sink(RKind, RNode, N, Self),
    Cpu0 = {bench_lib:cpu(SOs), bench_lib:cpu(ROs)},
    Segs0 = tcp_segments(),
    T0 = erlang:monotonic_time(),
    Mon = monitor(process, Dest),
    start_sender(SKind, SNode, Dest, N, Self),
    %% a sink that dies (its node's log says why) ends the run at once
    receive
        {sink_done, N} -> demonitor(Mon, [flush]);
        {'DOWN', Mon, process, _, Why} -> error({sink_died, SKind, RKind, Why})
    after 300000 -> error(sink_timeout)
    end,
    T1 = erlang:monotonic_time(),
    receive {source_done, _} -> ok after 0 -> ok end,
    {S1, R1} = {bench_lib:cpu(SOs), bench_lib:cpu(ROs)},
    Segs = tcp_segments() - Segs0,
    Secs = erlang:convert_time_unit(T1 - T0, native, microsecond) / 1.0e6,
    #{rate => N / Secs, segs => Segs / N,
      sender_cpu => (S1 - element(1, Cpu0)) * 1.0e6 / N,
      receiver_cpu => (R1 - element(2, Cpu0)) * 1.0e6 / N}.

arm_sink(erlang, Node, N, Report) ->
    erpc:call(Node, erlang, spawn, [?MODULE, sink, [N, Report]]);
arm_sink(c, Node, N, Report) ->
    %% a pid, as the Erlang sink is addressed: the same SEND on the wire
    {ok, Pid} = gen_server:call({sink, Node}, {expect, N, Report}, 60000),
    Pid;
arm_sink(cw, Node, N, Report) ->
    {ok, Pid} = gen_server:call({sink, Node}, {expect, N, Report, decode}, 60000),
    Pid.

start_sender(erlang, Node, Dest, N, Report) ->
    _ = erpc:call(Node, erlang, spawn, [?MODULE, sender, [Dest, N, Report]]),
    ok;
start_sender(c, Node, Dest, N, Report) ->
    ok = gen_server:call({source, Node}, {send, Dest, N, ?PAYLOAD_BYTES, Report}, 60000);
start_sender(cw, Node, Dest, N, Report) ->
    ok = gen_server:call({source, Node}, {send, Dest, N, ?PAYLOAD_BYTES, Report, encode}, 60000).

sender(Dest, N, Report) ->
    Payload = binary:copy(<<"x">>, ?PAYLOAD_BYTES),
    send_loop(Dest, Payload, N),
    Report ! {source_done, N}.

send_loop(_, _, 0) -> ok;
send_loop(Dest, P, N) -> Dest ! P, send_loop(Dest, P, N - 1).

sink(N, Report) ->
    sink_loop(N),
    Report ! {sink_done, N}.

sink_loop(0) -> ok;
sink_loop(N) -> receive _ -> sink_loop(N - 1) end.

%% ---- latency in a stream -------------------------------------------------

stream_latency(A, B, CN1, CN3) ->
    N = bench_lib:env_int("BENCH_LAT_N", 200000),
    io:format("~nOne-way latency in a paced stream from an Erlang node, ~b messages "
              "(bursts every 1 ms)~n", [N]),
    io:format("~-10s ~-28s ~10s ~10s ~10s~n", ["per burst", "path", "p50 us", "p99 us", "max us"]),
    [begin
         {P50, P99, Max} = stream_latency_run(A, Sink, N, PerMs),
         io:format("~-10b ~-28s ~10b ~10b ~10b~n", [PerMs, Name, P50, P99, Max])
     end || PerMs <- [100, 400],
            {Name, Sink} <- [{"E->E", {erlang, B}}, {"E->C", {c, CN1}},
                             {"E->C --no-rx-batching", {c, CN3}}]],
    ok.

stream_latency_run(A, {Kind, Node}, N, PerMs) ->
    Self = self(),
    Dest = case Kind of
               erlang -> erpc:call(Node, erlang, spawn, [?MODULE, latency_sink, [N, Self]]);
               c -> {ok, P} = gen_server:call({sink, Node}, {expect_latency, N, Self}, 60000), P
           end,
    _ = erpc:call(A, erlang, spawn, [?MODULE, paced_sender, [Dest, N, PerMs, Self]]),
    R = receive {sink_latency, N, P50, P99, Max} -> {P50, P99, Max}
        after 300000 -> error(latency_timeout)
        end,
    receive {source_done, _} -> ok after 10000 -> ok end,
    R.

paced_sender(Dest, N, PerMs, Report) ->
    paced_loop(Dest, N, PerMs),
    Report ! {source_done, N}.

paced_loop(_, 0, _) -> ok;
paced_loop(Dest, N, PerMs) ->
    K = min(N, PerMs),
    [Dest ! {t, os:system_time(nanosecond)} || _ <- lists:seq(1, K)],
    receive after 1 -> ok end,
    paced_loop(Dest, N - K, PerMs).

latency_sink(N, Report) ->
    Ls = lists:sort(latency_loop(N, [])),
    Report ! {sink_latency, N, lists:nth(N div 2 + 1, Ls) div 1000,
              lists:nth(N * 99 div 100 + 1, Ls) div 1000, lists:last(Ls) div 1000}.

latency_loop(0, Acc) -> Acc;
latency_loop(N, Acc) ->
    receive {t, Sent} -> latency_loop(N - 1, [os:system_time(nanosecond) - Sent | Acc]) end.

%% ---- latency -------------------------------------------------------------

echo_loop() ->
    receive
        {'$gen_call', From, Req} -> gen_server:reply(From, Req), echo_loop();
        stop -> ok
    end.

%% Calls to the two callees alternate in blocks, so both see the same
%% machine: the comparison is fair even when the machine is busy.
latency(DestE, DestC, Calls) ->
    _ = [gen_server:call(D, warm) || _ <- lists:seq(1, 1000), D <- [DestE, DestC]],
    Blocks = [{DestE, DestC} || _ <- lists:seq(1, Calls div 100)],
    {TE, TC} = lists:foldl(fun({E, C}, {AE, AC}) ->
                                   {time_calls(E, 100, AE), time_calls(C, 100, AC)}
                           end, {[], []}, Blocks),
    {stats(TE), stats(TC)}.

time_calls(_, 0, Acc) -> Acc;
time_calls(Dest, K, Acc) ->
    T0 = erlang:monotonic_time(),
    ping = gen_server:call(Dest, ping),
    T = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, nanosecond),
    time_calls(Dest, K - 1, [T | Acc]).

stats(Ts) ->
    S = lists:sort(Ts),
    L = length(S),
    {lists:nth(max(1, L div 2), S) / 1000,
     lists:nth(max(1, (L * 99) div 100), S) / 1000,
     lists:sum(S) / L / 1000}.

%% ---- memory --------------------------------------------------------------

memory(Bin, Cookie) ->
    Test = filename:join([bench_lib:root(), "_build", "c", "rel", "bin", "testnode"]),
    case filelib:is_regular(Test) of
        false -> io:format("~n(memory: build testnode to measure)~n");
        true -> memory_run(Test, Cookie)
    end,
    _ = Bin.

memory_run(Test, Cookie) ->
    C = cnode_proc:start(Test, ["--sname", bench_lib:uniq("bench_mem"), "--cookie", Cookie], #{}),
    N = maps:get(node, C),
    #{rss_kb := R0} = gen_server:call({ctl, N}, stats),
    10000 = gen_server:call({ctl, N}, {spawn_many, 10000}, 60000),
    #{rss_kb := R1} = gen_server:call({ctl, N}, stats),
    Socks = [raw_connect(N, Cookie, I) || I <- lists:seq(1, 500)],
    #{rss_kb := R2, conns := Conns} = gen_server:call({ctl, N}, stats),
    io:format("~nC node memory (RSS): 10,000 processes ~.1f bytes each; "
              "500 connections ~.1f KiB each (~b connections up)~n",
              [(R1 - R0) * 1024 / 10000, (R2 - R1) / 500, Conns]),
    [gen_tcp:close(S) || S <- Socks],
    cnode_proc:stop(C).

%% A bare distribution connection: handshake only, as another node would.
raw_connect(Node, Cookie, I) ->
    [Alive, Host] = string:split(atom_to_list(Node), "@"),
    {port, Port, _} = erl_epmd:port_please(Alive, Host),
    {ok, S} = gen_tcp:connect(Host, Port, [binary, {packet, 2}, {active, false}]),
    Name = list_to_binary("mem" ++ integer_to_list(I) ++ "@x"),
    Flags = 16#1000000 bor 16#40000 bor 16#20000 bor 16#10000 bor 16#800 bor 16#400
        bor 16#200 bor 16#100 bor 16#80 bor 16#10 bor 16#4,
    ok = gen_tcp:send(S, <<$N, Flags:64, 1:32, (byte_size(Name)):16, Name/binary>>),
    {ok, <<"sok">>} = gen_tcp:recv(S, 0, 5000),
    {ok, <<$N, _:64, Ch:32, _/binary>>} = gen_tcp:recv(S, 0, 5000),
    ok = gen_tcp:send(S, <<$r, 1:32, (erlang:md5([Cookie, integer_to_list(Ch)]))/binary>>),
    {ok, <<$a, _/binary>>} = gen_tcp:recv(S, 0, 5000),
    S.

%% ---- helpers -------------------------------------------------------------

%% TCP segments sent by the whole machine (all of them loopback here): how
%% well senders' writes were coalesced.
tcp_segments() ->
    {ok, B} = file:read_file("/proc/net/snmp"),
    [Names, Values] = [L || L <- binary:split(B, <<"\n">>, [global]),
                            binary:match(L, <<"Tcp: ">>) =/= nomatch],
    M = maps:from_list(lists:zip(string:lexemes(binary_to_list(Names), " "),
                                 string:lexemes(binary_to_list(Values), " "))),
    list_to_integer(maps:get("OutSegs", M)).

