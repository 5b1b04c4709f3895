%% tls_bench - TLS distribution: a C node against native Erlang, both over
%% inet_tls (OTP's inet_tls_dist; the C node with --proto-dist inet_tls),
%% every connection verifying both certificates.
%%
%% Run by `make bench`.  Two erl peers A and B and a C node (bench_node),
%% all TLS; this driver is a plain node and runs everything on A through
%% peer's standard_io.  Rows: one-way throughput of N 64-byte binaries from
%% a sender on A to a sink on B (TLS E->E, the anchor) and to the C node's
%% sink (TLS E->C), rounds interleaved, median shown, with the OS
%% processes' user+system CPU per message; then gen_server:call round trips
%% from A to an Erlang gen_server on B and to the C node's echo process,
%% alternating in blocks (dist_bench:latency).  dist_bench's paths, sink,
%% sender and callee are reused, so the rows compare with its plain ones.
%% Knobs (environment): BENCH_TLS_N (default 300000), BENCH_ROUNDS (3),
%% BENCH_TLS_CALLS (10000; 0 skips the round trips).
-module(tls_bench).
-export([main/0, stream/2]).

main() ->
    N = bench_lib:env_int("BENCH_TLS_N", 300000),
    Calls = bench_lib:env_int("BENCH_TLS_CALLS", 10000),
    Rounds = bench_lib:env_int("BENCH_ROUNDS", 3),
    Root = bench_lib:root(),
    Dir = filename:join([Root, "_build", "bench", bench_lib:uniq("tls_certs")]),
    Certs = cnode_certs:make(Dir, bench_lib:host()),
    Cookie = atom_to_list(erlang:get_cookie()),
    Code = [filename:absname(filename:dirname(code:which(M))) || M <- [?MODULE, cnode_proc]],
    {PA, _} = start_peer("tbench_a", Cookie, Code, Certs),
    {PB, B} = start_peer("tbench_b", Cookie, Code, Certs),
    Bin = filename:join([Root, "_build", "c", "rel", "bin", "bench_node"]),
    C = cnode_proc:start(Bin, ["--sname", bench_lib:uniq("tbench_c"), "--cookie", Cookie,
                               "--proto-dist", "inet_tls" | c_opts(Certs)], #{}),
    CN = maps:get(node, C),
    OsA = os_pid(PA), OsB = os_pid(PB), OsC = maps:get(os_pid, C),
    io:format("~nTLS distribution (inet_tls, mutual verification): ~b one-way messages "
              "of 64 bytes per path~n(~s)~n~n", [N, bench_lib:machine()]),
    Paths = [{"TLS E->E", {erlang, B}, OsB}, {"TLS E->C", {c, CN}, OsC}],
    [_ = run(PA, OsA, Dest, OsR, 10000) || {_, Dest, OsR} <- Paths],   % warm up
    Runs = [{Name, run(PA, OsA, Dest, OsR, N)}
            || _ <- lists:seq(1, Rounds), {Name, Dest, OsR} <- Paths],
    Med = [{Name, median([R || {K, R} <- Runs, K =:= Name])} || {Name, _, _} <- Paths],
    {_, #{rate := Base}} = hd(Med),
    io:format("median of ~b interleaved rounds~n", [Rounds]),
    io:format("~-10s ~14s ~9s ~16s ~16s~n",
              ["path", "msgs/s", "vs E->E", "sender us/msg", "receiver us/msg"]),
    [io:format("~-10s ~14s ~8.2fx ~16.3f ~16.3f~n",
               [Name, bench_lib:fmt_int(round(Rate)), Rate / Base, S, R])
     || {Name, #{rate := Rate, sender_cpu := S, receiver_cpu := R}} <- Med],
    Calls > 0 andalso calls(PA, PB, CN, Calls),
    cnode_proc:stop(C),
    [peer:stop(P) || P <- [PA, PB]],
    ok.

calls(PA, PB, CN, Calls) ->
    Srv = peer:call(PB, erlang, spawn, [dist_bench, echo_loop, []]),
    {LE, LC} = peer:call(PA, dist_bench, latency, [Srv, {echo, CN}, Calls], infinity),
    io:format("~ngen_server:call round trip over TLS, ~b sequential calls from an "
              "Erlang node~n", [Calls]),
    io:format("~-8s ~10s ~10s ~10s~n", ["callee", "p50 us", "p99 us", "mean us"]),
    [io:format("~-8s ~10.1f ~10.1f ~10.1f~n", [Name, P50, P99, Mean])
     || {Name, {P50, P99, Mean}} <- [{"Erlang", LE}, {"C", LC}]],
    io:format("p50 ratio C/Erlang: ~.2f (below 1 means the C callee is faster)~n",
              [element(1, LC) / element(1, LE)]).

%% One path: the stream runs on A; CPU is read here around it.
run(PA, OsA, Dest, OsR, N) ->
    {S0, R0} = {bench_lib:cpu(OsA), bench_lib:cpu(OsR)},
    Secs = peer:call(PA, ?MODULE, stream, [Dest, N], 600000),
    {S1, R1} = {bench_lib:cpu(OsA), bench_lib:cpu(OsR)},
    #{rate => N / Secs, sender_cpu => (S1 - S0) * 1.0e6 / N,
      receiver_cpu => (R1 - R0) * 1.0e6 / N}.

%% On A: N messages to a fresh sink at Dest; the seconds until it has them.
stream({Kind, Node}, N) ->
    Self = self(),
    Sink = case Kind of
               erlang -> erpc:call(Node, erlang, spawn, [dist_bench, sink, [N, Self]]);
               c -> {ok, P} = gen_server:call({sink, Node}, {expect, N, Self}, 60000), P
           end,
    T0 = erlang:monotonic_time(),
    _ = spawn(dist_bench, sender, [Sink, N, Self]),
    receive {sink_done, N} -> ok after 300000 -> error(sink_timeout) end,
    T1 = erlang:monotonic_time(),
    receive {source_done, _} -> ok after 10000 -> ok end,
    erlang:convert_time_unit(T1 - T0, native, microsecond) / 1.0e6.

median(Rs) ->
    S = lists:sort(fun(#{rate := X}, #{rate := Y}) -> X =< Y end, Rs),
    lists:nth((length(S) + 1) div 2, S).

start_peer(Prefix, Cookie, Code, #{cert := Cert, key := Key, ca := CA}) ->
    {ok, P, Node} =
        peer:start(#{name => bench_lib:uniq(Prefix), connection => standard_io,
                     args => ["-setcookie", Cookie, "-proto_dist", "inet_tls",
                              "-ssl_dist_opt",
                              "server_certfile", Cert, "server_keyfile", Key,
                              "server_cacertfile", CA, "server_verify", "verify_peer",
                              "server_fail_if_no_peer_cert", "true",
                              "client_certfile", Cert, "client_keyfile", Key,
                              "client_cacertfile", CA, "client_verify", "verify_peer",
                              "-pa" | Code]}),
    {P, Node}.

c_opts(#{cert := Cert, key := Key, ca := CA}) ->
    lists:append([["--ssl-dist-opt", K, V]
                  || {K, V} <- [{"server_certfile", Cert}, {"server_keyfile", Key},
                                {"server_cacertfile", CA}, {"server_verify", "verify_peer"},
                                {"server_fail_if_no_peer_cert", "true"},
                                {"client_certfile", Cert}, {"client_keyfile", Key},
                                {"client_cacertfile", CA}, {"client_verify", "verify_peer"}]]).

os_pid(Peer) -> list_to_integer(peer:call(Peer, os, getpid, [])).
