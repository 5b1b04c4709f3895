%% raft_bench - raft_kv writes against the Erlang reference and etcd, in one run.
%%
%% Run by `make bench`.  Every system gets the same load: puts of fresh keys
%% with 100-byte values, from 1 client and from 256 requests in flight, for
%% BENCH_RAFT_SECONDS (default 8) each, on loopback:
%%   C raft_kv   3 and 5 nodes, --data-dir (fsync before acknowledging),
%%               driven by `raft_kv load` (a C client on its own node)
%%   reference   3 and 5 Erlang emulation nodes (in memory: the seed has no
%%               disk), driven by the same `raft_kv load` through a Subject
%%   reference   labelled "stop-and-wait": the seed's design, one entry
%%               replicated at a time
%%   etcd 3.4    3 and 5 members from Debian's etcd-server (fsync on, its
%%               default), driven over its JSON gateway by keep-alive HTTP
%%               clients in Erlang
%% Every row is BENCH_RAFT_RUNS runs (default 3) of the same cluster and
%% load, reported as the median with min-max; each counts its failed writes
%% (error answers and 5 s timeouts) and the servers' CPU per committed write:
%% user+system seconds of every server process of the cluster (C nodes, etcd
%% members, the reference's node) over the run, divided by the writes, a
%% figure that does not depend on how each client is written.  Ratios are
%% to etcd with as many members and as many clients.
%% Knobs (environment): BENCH_RAFT_SECONDS, BENCH_RAFT_RUNS,
%% BENCH_RAFT_SYSTEMS (say c,etcd), BENCH_RAFT_C_ARGS (extra raft_kv flags, say
%% "--snapshot-entries 0").
-module(raft_bench).
-export([main/0]).
%% on the reference cluster's node
-export([ref_host/2]).

-define(VALUE_BYTES, 100).

main() ->
    Secs = bench_lib:env_int("BENCH_RAFT_SECONDS", 8),
    Root = bench_lib:root(),
    Bin = filename:join([Root, "priv", "bin", "raft_kv"]),
    Tmp = filename:join([Root, "_build", "bench", "raft_tmp"]),
    _ = os:cmd("rm -rf " ++ Tmp),
    ok = filelib:ensure_path(Tmp),
    io:format("~nraft_kv writes (~b-byte values, ~b s per run, loopback)~n", [?VALUE_BYTES, Secs]),
    %% BENCH_RAFT_SYSTEMS=c runs a subset (c, ref, etcd)
    Only = string:lexemes(os:getenv("BENCH_RAFT_SYSTEMS", "c,ref,etcd"), ","),
    On = fun(S) -> lists:member(S, Only) end,
    Runs = bench_lib:env_int("BENCH_RAFT_RUNS", 3),
    Rows = lists:append([c_cluster(Bin, Tmp, N, Secs, Runs) || On("c"), N <- [3, 5]] ++
                        [ref_cluster(Bin, N, Secs, Runs) || On("ref"), N <- [3, 5]] ++
                        [etcd_cluster(Tmp, N, Secs, Runs) || On("etcd"), N <- [3, 5]]),
    Etcd = fun(Nodes, Clients) ->
                   case [R || #{system := "etcd", nodes := N, clients := C} = R <- Rows,
                              N =:= Nodes, C =:= Clients] of
                       [#{rate := E}] when E > 0 -> E;
                       _ -> undefined
                   end
           end,
    io:format("median of ~b runs [min-max]; CPU: server user+system us per committed write~n",
              [Runs]),
    io:format("~-26s ~5s ~7s ~24s ~8s ~8s ~8s ~7s ~10s  ~s~n",
              ["system", "nodes", "clients", "writes/s [min-max]", "p50 ms", "p99 ms", "vs etcd",
               "failed", "CPU us/w", "durability"]),
    [io:format("~-26s ~5b ~7b ~24s ~8.3f ~8.3f ~8s ~7b ~10.1f  ~s~n",
               [Sys, N, C, spread(Rate, Min, Max), P50, P99, ratio(Rate, Etcd(N, C)), Failed,
                Cpu, Dur])
     || #{system := Sys, nodes := N, clients := C, rate := Rate, min := Min, max := Max,
          p50 := P50, p99 := P99, failed := Failed, cpu_us := Cpu, durability := Dur} <- Rows],
    _ = os:cmd("rm -rf " ++ Tmp),
    ok.

ratio(_, undefined) -> "-";
ratio(R, E) -> lists:flatten(io_lib:format("~.2fx", [R / E])).

spread(Rate, Min, Max) ->
    lists:flatten(io_lib:format("~.1f [~b-~b]", [Rate, round(Min), round(Max)])).

%% CPU seconds of the server processes; one that is gone is said, not hidden.
servers_cpu(OsPids) ->
    lists:sum([case catch bench_lib:cpu(P) of
                   T when is_float(T) -> T;
                   _ -> io:format("(server process ~b is gone: its CPU is not counted)~n", [P]), 0.0
               end || P <- OsPids]).

%% Runs Load() Runs times against the server processes OsPids: the row of
%% the median run (by writes/s) with the min and max, the failures summed,
%% and the servers' CPU per committed write in microseconds.
measure(Runs, OsPids, Load) ->
    Rs = [begin
              C0 = servers_cpu(OsPids),
              R = Load(),
              C1 = servers_cpu(OsPids),
              R#{cpu_us => (C1 - C0) * 1.0e6 / max(1, maps:get(ops, R))}
          end || _ <- lists:seq(1, Runs)],
    Sorted = lists:sort(fun(#{rate := A}, #{rate := B}) -> A =< B end, Rs),
    Median = lists:nth((length(Sorted) + 1) div 2, Sorted),
    Median#{min => maps:get(rate, hd(Sorted)), max => maps:get(rate, lists:last(Sorted)),
            failed => lists:sum([maps:get(failed, R) || R <- Rs])}.

%% ---- C clusters ----------------------------------------------------------

c_cluster(Bin, Tmp, N, Secs, Runs) ->
    Cookie = atom_to_list(erlang:get_cookie()),
    Names = [bench_lib:uniq("rb" ++ integer_to_list(I)) || I <- lists:seq(1, N)],
    Host = bench_lib:host(),
    Peers = filename:join(Tmp, "peers" ++ integer_to_list(N) ++ ".json"),
    ok = file:write_file(Peers, ["{\"nodes\": [",
                                 lists:join(",", [io_lib:format("{\"name\": \"~s@~s\", \"id\": ~b}",
                                                                [Nm, Host, I])
                                                  || {I, Nm} <- lists:zip(lists:seq(1, N), Names)]),
                                 "]}"]),
    Extra = string:lexemes(os:getenv("BENCH_RAFT_C_ARGS", ""), " "),
    Cs = [cnode_proc:start(Bin, ["--sname", Nm, "--cookie", Cookie, "--peers", Peers, "--quiet",
                                 "--data-dir", filename:join(Tmp, Nm)] ++ Extra,
                           #{log => filename:join(Tmp, Nm ++ ".log")})
          || Nm <- Names],
    Leader = wait_leader([maps:get(node, C) || C <- Cs], 20000),
    OsPids = [maps:get(os_pid, C) || C <- Cs],
    Rows = [measure(Runs, OsPids,
                    fun() -> load_row("C raft_kv", N, "fsync", Bin, Cookie, Leader, Clients, Secs) end)
            || Clients <- [1, 256]],
    [cnode_proc:stop(C) || C <- Cs],
    Rows.

wait_leader(Nodes, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    wait_leader_loop(Nodes, Deadline).
wait_leader_loop(Nodes, Deadline) ->
    case [N || N <- Nodes, (catch maps:get(role, gen_server:call({raft_kv, N}, status))) =:= leader] of
        [L] -> L;
        _ ->
            erlang:monotonic_time(millisecond) < Deadline orelse error(no_leader),
            receive after 50 -> wait_leader_loop(Nodes, Deadline) end
    end.

%% Runs `raft_kv load` against Node (anything answering {raft_kv, Node}).
load_row(System, N, Dur, Bin, Cookie, Node, Clients, Secs) ->
    Out = os:cmd(string:join([Bin, "load", "--sname", bench_lib:uniq("load"), "--cookie", Cookie,
                              "--node", atom_to_list(Node),
                              "--inflight", integer_to_list(Clients),
                              "--seconds", integer_to_list(Secs),
                              "--value-bytes", integer_to_list(?VALUE_BYTES),
                              "2>/dev/null"], " ")),
    #{system => System, nodes => N, clients => Clients, durability => Dur,
      rate => num(Out, "writes_per_s"), p50 => num(Out, "p50_ms"), p99 => num(Out, "p99_ms"),
      ops => round(num(Out, "ops")),
      %% failed: answered with an error or unanswered for 5 s (the puts still
      %% out when the run ends are neither: etcd's clients finish theirs)
      failed => round(num(Out, "errors") + num(Out, "timeouts"))}.

num(Json, Key) ->
    case re:run(Json, "\"" ++ Key ++ "\": ([0-9.]+)", [{capture, all_but_first, list}]) of
        {match, [V]} ->
            case string:to_float(V) of
                {F, []} -> F;
                _ -> float(list_to_integer(V))        % counts: 707
            end;
        _ -> error({no_field, Key, Json})
    end.

%% ---- the Erlang reference ------------------------------------------------

%% N reference nodes on a node of their own, with a registered raft_kv
%% process there that hands out the leader's Subject (what the C load tool
%% asks a node for).
ref_cluster(Bin, N, Secs, Runs) ->
    Cookie = atom_to_list(erlang:get_cookie()),
    Code = [filename:absname(filename:dirname(code:which(M))) || M <- [raft_ref_main, ?MODULE]],
    {ok, Peer, Node} = peer:start(#{name => bench_lib:uniq("rref"),
                                    args => ["-setcookie", Cookie, "-pa" | Code]}),
    Self = self(),
    _ = erpc:call(Node, erlang, spawn, [?MODULE, ref_host, [N, Self]]),
    receive {ref_ready, Node} -> ok after 20000 -> error(ref_not_ready) end,
    OsPid = bench_lib:os_pid(Node),
    Rows = [measure(Runs, [OsPid],
                    fun() -> load_row("reference (stop-and-wait)", N, "memory", Bin, Cookie, Node,
                                      Clients, Secs) end)
            || Clients <- [1, 256]],
    peer:stop(Peer),
    Rows.

ref_host(N, ReplyTo) ->
    {ok, Null} = file:open("/dev/null", [write]),
    group_leader(Null, self()),
    Nodes = raft_ref_main:start_nodes(N),
    ok = raft_ref_main:set_peers(Nodes),
    Leader = raft_ref_main:elect(Nodes, 1),
    register(raft_kv, self()),
    ReplyTo ! {ref_ready, node()},
    ref_loop(Leader).

ref_loop(Leader) ->
    receive
        {'$gen_call', From, subject} -> gen_server:reply(From, Leader), ref_loop(Leader);
        _ -> ref_loop(Leader)
    end.

%% ---- etcd ----------------------------------------------------------------

etcd_cluster(Tmp, N, Secs, Runs) ->
    case os:find_executable("etcd") of
        false ->
            io:format("(etcd not installed: apt-get install etcd-server)~n"),
            [];
        Etcd -> etcd_run(Etcd, Tmp, N, Secs, Runs)
    end.

etcd_run(Etcd, Tmp, N, Secs, Runs) ->
    Base = 24000 + (list_to_integer(os:getpid()) rem 1000) * 20 + (N - 3) * 5,
    Members = lists:seq(1, N),
    Peer = fun(I) -> Base + I end,
    Client = fun(I) -> Base + 5 + I end,
    Cluster = string:join([io_lib:format("e~b=http://127.0.0.1:~b", [I, Peer(I)]) || I <- Members],
                          ","),
    Ports = [open_port({spawn_executable, Etcd},
                       [{args, ["--name", "e" ++ integer_to_list(I),
                                "--data-dir", filename:join(Tmp, "etcd" ++ integer_to_list(N) ++ "_"
                                                            ++ integer_to_list(I)),
                                "--listen-peer-urls", url(Peer(I)),
                                "--initial-advertise-peer-urls", url(Peer(I)),
                                "--listen-client-urls", url(Client(I)),
                                "--advertise-client-urls", url(Client(I)),
                                "--initial-cluster", lists:flatten(Cluster),
                                "--initial-cluster-state", "new", "--log-level", "error"]},
                        exit_status, stderr_to_stdout, binary])
             || I <- Members],
    OsPids = [element(2, erlang:port_info(P, os_pid)) || P <- Ports],
    LeaderPort = etcd_leader([Client(I) || I <- Members], 30000),
    Rows = [measure(Runs, OsPids, fun() -> etcd_load(LeaderPort, N, Clients, Secs) end)
            || Clients <- [1, 256]],
    [os:cmd("kill -TERM " ++ integer_to_list(P)) || P <- OsPids],
    [receive {Port, {exit_status, _}} -> ok after 10000 -> ok end || Port <- Ports],
    Rows.

url(Port) -> "http://127.0.0.1:" ++ integer_to_list(Port).

%% The member that says it leads (its status over the gateway).
etcd_leader(Ports, Ms) ->
    Deadline = erlang:monotonic_time(millisecond) + Ms,
    etcd_leader_loop(Ports, Deadline).
etcd_leader_loop(Ports, Deadline) ->
    Found = [P || P <- Ports,
                  case http_post(P, "/v3/maintenance/status", <<"{}">>) of
                      {ok, Body} ->
                          case {re:run(Body, "\"leader\":\"([0-9]+)\"", [{capture, all_but_first, binary}]),
                                re:run(Body, "\"member_id\":\"([0-9]+)\"", [{capture, all_but_first, binary}])} of
                              {{match, [L]}, {match, [L]}} -> true;
                              _ -> false
                          end;
                      _ -> false
                  end],
    case Found of
        [P | _] -> P;
        [] ->
            erlang:monotonic_time(millisecond) < Deadline orelse error(etcd_no_leader),
            receive after 100 -> etcd_leader_loop(Ports, Deadline) end
    end.

http_post(Port, Path, Body) ->
    case gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}, {packet, http_bin}], 2000) of
        {ok, S} ->
            R = request(S, Path, Body),
            gen_tcp:close(S),
            R;
        E -> E
    end.

%% One keep-alive request; the socket is in {packet, http_bin} mode.
request(S, Path, Body) ->
    Req = [<<"POST ">>, Path, <<" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: application/json\r\nContent-Length: ">>,
           integer_to_binary(byte_size(Body)), <<"\r\n\r\n">>, Body],
    ok = gen_tcp:send(S, Req),
    case gen_tcp:recv(S, 0, 10000) of
        {ok, {http_response, _, Code, _}} ->
            Len = headers(S, 0),
            ok = inet:setopts(S, [{packet, raw}]),
            {ok, Resp} = case Len of 0 -> {ok, <<>>}; _ -> gen_tcp:recv(S, Len, 10000) end,
            ok = inet:setopts(S, [{packet, http_bin}]),
            case Code of 200 -> {ok, Resp}; _ -> {error, Code} end;
        E -> E
    end.

headers(S, Len) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, {http_header, _, 'Content-Length', _, V}} -> headers(S, binary_to_integer(V));
        {ok, {http_header, _, _, _, _}} -> headers(S, Len);
        {ok, http_eoh} -> Len
    end.

etcd_load(Port, N, Clients, Secs) ->
    Self = self(),
    Value = base64:encode(binary:copy(<<"v">>, ?VALUE_BYTES)),
    Stop = erlang:monotonic_time(millisecond) + Secs * 1000,
    Run = erlang:unique_integer([positive]),
    Workers = [spawn_link(fun() -> etcd_worker(Self, Port, Value, Stop, Run, W) end)
               || W <- lists:seq(1, Clients)],
    T0 = erlang:monotonic_time(),
    Results = [receive {etcd_done, W, L, Errs} -> {L, Errs} end || W <- Workers],
    Elapsed = erlang:convert_time_unit(erlang:monotonic_time() - T0, native, microsecond) / 1.0e6,
    Lat = lists:sort(lists:append([L || {L, _} <- Results])),
    Count = length(Lat),
    #{system => "etcd", nodes => N, clients => Clients, durability => "fsync",
      rate => Count / Elapsed, p50 => pct(Lat, 50), p99 => pct(Lat, 99), ops => Count,
      failed => lists:sum([E || {_, E} <- Results])}.

etcd_worker(Parent, Port, Value, Stop, Run, W) ->
    {ok, S} = gen_tcp:connect("127.0.0.1", Port, [binary, {active, false}, {packet, http_bin},
                                                  {nodelay, true}]),
    etcd_loop(Parent, S, Value, Stop, Run, W, 0, [], 0).

etcd_loop(Parent, S, Value, Stop, Run, W, K, Lat, Errs) ->
    case erlang:monotonic_time(millisecond) >= Stop of
        true ->
            gen_tcp:close(S),
            Parent ! {etcd_done, self(), Lat, Errs};
        false ->
            Key = base64:encode(iolist_to_binary(io_lib:format("k~b_~b_~b", [Run, W, K]))),
            Body = <<"{\"key\":\"", Key/binary, "\",\"value\":\"", Value/binary, "\"}">>,
            T0 = erlang:monotonic_time(microsecond),
            case request(S, <<"/v3/kv/put">>, Body) of
                {ok, _} ->
                    T = (erlang:monotonic_time(microsecond) - T0) / 1000,
                    etcd_loop(Parent, S, Value, Stop, Run, W, K + 1, [T | Lat], Errs);
                _ ->
                    etcd_loop(Parent, S, Value, Stop, Run, W, K + 1, Lat, Errs + 1)
            end
    end.

pct([], _) -> 0.0;
pct(L, P) -> lists:nth(max(1, (length(L) * P) div 100), L).

%% ---- helpers -------------------------------------------------------------

