%% chatterbox_SUITE - chatterbox clusters of real OS processes through epmd:
%% C nodes (the sanitizer build of priv/bin/chatterbox) and Erlang reference
%% nodes (chatterbox_ref), 3 and 5 nodes, both protocols, several seeds.
%%
%% Every node writes a --trace file with each message it sent (id, seq, send
%% time, value).  The suite computes the expected tuple itself from those
%% values (checking each against the value function), in its own code: sort
%% by (time, id, seq), sum i * value.  A run passes when every node exits 0
%% (sanitizers included), its stdout is exactly one line, and that line is
%% the expected tuple: every node printed the same thing, and it is the
%% right thing.  Cluster runs start their own nodes with unique names and
%% cookies; the nodes stop by themselves (they are finished, or their
%% --wait-for deadline passed) and are killed by OS pid if they do not.
%%
%% The cut cases use the nodes' test-only --cut-at/--cut-for: the node drops
%% every connection to the cluster from inside (cn_node_disconnect /
%% erlang:disconnect_node, repeated for connections the peers re-open) and
%% ignores chatterbox traffic during the cut, then reconnects before the
%% wait phase.
-module(chatterbox_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([fast_c3/1, fast_c5/1, seed_c3/1, seed_c5/1, fast_mixed3/1, fast_mixed5/1,
         seed_mixed3/1, seed_mixed5/1, fast_erlang3/1, fast_unlimited_c3/1,
         fast_unlimited_mixed3/1, cut_fast_c3/1, cut_seed_c3/1, cut_fast_mixed3/1,
         cut_seed_mixed3/1,
         bad_flags_c/1, bad_flags_erlang/1, bad_peers_c/1, bad_peers_erlang/1,
         not_listed/1, by_port/1]).

-define(SEND, 1.5).
-define(WAIT, 5).

suite() -> [{timetrap, {minutes, 3}}].

all() ->
    case cnode_test_lib:other_peer_otp() of
        false -> [{group, agreement}, {group, faults}, {group, errors}];
        true -> [{group, interop}]     % CNODE_PEER_OTP: the mixed runs only
    end.

groups() ->
    [{agreement, [], [fast_c3, fast_c5, seed_c3, seed_c5, fast_mixed3, fast_mixed5,
                      seed_mixed3, seed_mixed5, fast_erlang3, fast_unlimited_c3,
                      fast_unlimited_mixed3, by_port]},
     {faults, [], [cut_fast_c3, cut_seed_c3, cut_fast_mixed3, cut_seed_mixed3]},
     {errors, [], [bad_flags_c, bad_flags_erlang, bad_peers_c, bad_peers_erlang,
                   not_listed]},
     {interop, [], [fast_mixed3, fast_mixed5, seed_mixed3, seed_mixed5,
                    fast_unlimited_mixed3, cut_fast_mixed3, cut_seed_mixed3]}].

init_per_suite(Config0) ->
    Config = cnode_test_lib:init_dist(Config0),
    Bin = cnode_test_lib:bin("chatterbox"),
    true = filelib:is_regular(Bin) orelse ct:fail({no_binary, Bin}),
    %% the Erlang nodes' erl and code: OTP 25 or, with CNODE_PEER_OTP=27, 27
    Release = cnode_test_lib:check_peer_erl(),
    ct:log("Erlang reference nodes run OTP ~s", [Release]),
    [{bin, Bin}, {erl, cnode_test_lib:peer_erl()},
     {ref_ebin, cnode_test_lib:peer_ebin(chatterbox_ref)} | Config].

end_per_suite(_Config) -> ok.

%% ---- agreement -------------------------------------------------------------

fast_c3(Config) -> agree(Config, fast, [c, c, c], 1, rate(2000)).
fast_c5(Config) -> agree(Config, fast, [c, c, c, c, c], 2, rate(1000)).
seed_c3(Config) -> agree(Config, seed, [c, c, c], 3, []).
seed_c5(Config) -> agree(Config, seed, [c, c, c, c, c], 4, []).
fast_mixed3(Config) -> agree(Config, fast, [c, erlang, c], 5, rate(2000)).
fast_mixed5(Config) -> agree(Config, fast, [c, erlang, c, erlang, c], 6, rate(1000)).
seed_mixed3(Config) -> agree(Config, seed, [erlang, c, c], 7, []).
seed_mixed5(Config) -> agree(Config, seed, [c, c, erlang, c, erlang], 8, []).
fast_erlang3(Config) -> agree(Config, fast, [erlang, erlang, erlang], 9, rate(2000)).

%% Full speed, no trace: every node prints the same tuple, and it counts
%% many messages.
fast_unlimited_c3(Config) -> unlimited(Config, [c, c, c], 10).
fast_unlimited_mixed3(Config) -> unlimited(Config, [c, c, erlang], 11).

unlimited(Config, Kinds, Seed) ->
    Runs = cluster(Config, Kinds, fast, Seed, [], #{trace => false}),
    [Tuple] = lists:usort([T || #{tuple := T} <- Runs]),
    {match, [N]} = re:run(Tuple, "^\\(([0-9]+), ", [{capture, all_but_first, list}]),
    ct:log("~p nodes agree on ~s", [length(Kinds), Tuple]),
    true = list_to_integer(N) > 100000.

rate(PerNode) -> ["--max-rate", integer_to_list(PerNode)].

%% Starting by -p PORT, as the seed's nodes do: the name comes from the
%% peers.json entry with that port.
by_port(Config) ->
    Dir = ?config(priv_dir, Config),
    Cookie = atom_to_list(?config(cookie, Config)),
    Ports = free_ports(3),
    Host = cnode_test_lib:host(),
    Peers = filename:join(Dir, "byport.json"),
    Nodes = [io_lib:format("{\"host\": \"~s\", \"port\": ~b, \"id\": ~b}", [Host, P, I])
             || {I, P} <- lists:zip([1, 2, 3], Ports)],
    ok = file:write_file(Peers, ["{\"cookie\": \"", Cookie, "\", \"nodes\": [",
                                 lists:join(", ", Nodes), "]}"]),
    Specs = [spec(Config, c, Dir, "byport" ++ integer_to_list(P),
                  ["-p", integer_to_list(P), "--peer-config-file", Peers,
                   "--send-for", "1", "--wait-for", "3", "--with-seed", "12", "-v"
                   | rate(1000)], false)
             || P <- Ports],
    Runs = chatterbox_ref_cluster:run(Specs, 30000),
    [0, 0, 0] = [S || #{status := S} <- Runs],
    [[T], [T], [T]] = [L || #{stdout := L} <- Runs],
    ct:log("by port: ~s", [T]).

free_ports(N) ->
    Socks = [begin {ok, S} = gen_tcp:listen(0, []), S end || _ <- lists:seq(1, N)],
    Ports = [begin {ok, P} = inet:port(S), P end || S <- Socks],
    [gen_tcp:close(S) || S <- Socks],
    Ports.

%% ---- faults ----------------------------------------------------------------

cut_fast_c3(Config) -> cut(Config, fast, [c, c, c], 21).
cut_seed_c3(Config) -> cut(Config, seed, [c, c, c], 22).
cut_fast_mixed3(Config) -> cut(Config, fast, [c, c, erlang], 23).
cut_seed_mixed3(Config) -> cut(Config, seed, [c, erlang, c], 24).   % the Erlang node cuts

%% Node 2 drops its connections from 0.5 s to 1.5 s into a 2.5 s
%% send phase; everyone must still end with the full, agreed result.
cut(Config, Proto, Kinds, Seed) ->
    Extra = case Proto of fast -> rate(2000); seed -> [] end,
    Runs = cluster(Config, Kinds, Proto, Seed, Extra,
                   #{send => 2.5, extra_for => #{2 => ["--cut-at", "0.5", "--cut-for", "1"]}}),
    [_, Cut, _] = Runs,
    Trace = read_trace(Cut),
    [Start] = [T || {cut_start, T} <- Trace],
    [End] = [T || {cut_end, T} <- Trace],
    true = End - Start >= 900000,
    CutLog = binary_to_list(log_text(Cut)),
    %% the connections really went down: the cut node dropped them, the
    %% others saw the cut node go down
    {match, _} = re:run(CutLog, "cut: disconnecting"),
    CutName = maps:get(node, Cut),
    [{match, _} = re:run(log_text(R), "nodedown " ++ CutName ++ "|" ++ CutName ++ " down")
     || R <- Runs, R =/= Cut, maps:get(kind, R) =:= c],
    case Proto of
        fast ->
            %% the cut node went on creating during the cut: those messages
            %% can only have reached the others after it, by re-sending
            During = [x || {sent, Ts, _, _, _} <- Trace, Ts > Start, Ts < End],
            ct:log("~b messages created during the cut", [length(During)]),
            true = length(During) > 100;
        seed ->
            ok
    end.

%% ---- errors ----------------------------------------------------------------

bad_flags_c(Config) -> bad_flags(Config, c).
bad_flags_erlang(Config) -> bad_flags(Config, erlang).

bad_flags(Config, Kind) ->
    Peers = good_peers(Config),
    P = ["--peer-config-file", Peers],
    Cases = [{["--sname", "x", "--send-for", "soon" | P], "--send-for needs seconds"},
             {["--sname", "x", "--wait-for", "-1" | P], "--wait-for needs seconds"},
             {["--sname", "x", "--with-seed", "-3" | P], "--with-seed needs an integer"},
             {["--sname", "x", "--tick-duration", "0" | P], "--tick-duration needs milliseconds"},
             {["--sname", "x", "--protocol", "paxos" | P], "--protocol needs fast or seed"},
             {["--sname", "x", "-p", "99999" | P], "-p needs a port number"},
             {["--sname", "x", "--bogus" | P], "unknown option '--bogus'"},
             {["--sname", "x", "stray" | P], "unexpected argument 'stray'"},
             {["--sname", "x" | P] ++ ["--send-for"], "missing value for '--send-for'"},
             {["--send-for", "1" | P], "give -p PORT"},
             {["--sname", "x", "--protocol", "seed", "--batch-size", "5" | P],
              "are for --protocol fast"},
             {["--sname", "x", "--cut-at", "1" | P], "give --cut-at and --cut-for together"}]
        ++ [{["--sname", "x", "--proto-dist", "inet_tls" | P],
             "--proto-dist inet_tls needs --ssl-dist-opt server_certfile"} || Kind =:= c],
    %% each one line naming the flag, pointing to --help (c_src/node/cli.h)
    [begin
         {Exe, Argv} = cmd(Config, Kind, Args),
         cnode_test_lib:usage_error(Exe, Argv, Re)
     end || {Args, Re} <- Cases],
    {0, Help} = run_cmd(Config, Kind, ["--help"]),
    {match, _} = re:run(Help, "usage: chatterbox").

bad_peers_c(Config) -> bad_peers(Config, c).
bad_peers_erlang(Config) -> bad_peers(Config, erlang).

bad_peers(Config, Kind) ->
    Dir = ?config(priv_dir, Config),
    Write = fun(Name, Text) ->
                    F = filename:join(Dir, Name),
                    ok = file:write_file(F, Text),
                    F
            end,
    Cases = [{filename:join(Dir, "missing.json"), "cannot read"},
             {Write("syntax.json", "{\"nodes\": [ {\"name\": \"a@b\"} "), "not valid JSON"},
             {Write("nonodes.json", "{\"cookie\": \"c\"}"), "\"nodes\" must be a non-empty array"},
             {Write("empty.json", "{\"nodes\": []}"), "\"nodes\" must be a non-empty array"},
             {Write("top.json", "[1, 2]"), "top level must be an object"},
             {Write("dup.json", "{\"nodes\": [{\"name\": \"a@b\"}, {\"name\": \"a@b\"}]}"),
              "appears twice"},
             {Write("dupid.json", "{\"nodes\": [{\"name\": \"a@b\", \"id\": 4}, "
                    "{\"name\": \"c@b\", \"id\": 4}]}"), "id 4 appears twice"},
             {Write("badname.json", "{\"nodes\": [{\"name\": \"nohost\"}]}"),
              "must look like alive@host"},
             {Write("kind.json", "{\"nodes\": [{\"name\": \"a@b\", \"kind\": \"go\"}]}"),
              "\"kind\" must be"},
             {Write("port.json", "{\"nodes\": [{\"host\": \"h\", \"port\": 70000}]}"),
              "\"port\" must be an integer"},
             {Write("neither.json", "{\"nodes\": [{\"id\": 1}]}"), "give \"name\""}],
    [expect_error(Config, Kind, ["--sname", "x", "--peer-config-file", F], 2, Re)
     || {F, Re} <- Cases],
    %% -p with no entry for the port
    expect_error(Config, Kind, ["-p", "4", "--peer-config-file", good_peers(Config)], 2,
                 "lists no node with port 4").

%% A node that is not in peers.json says so and exits 2, C and Erlang.
not_listed(Config) ->
    Peers = good_peers(Config),
    [expect_error(Config, K, ["--sname", cnode_test_lib:unique("stranger"), "--cookie",
                              atom_to_list(?config(cookie, Config)),
                              "--peer-config-file", Peers], 2, "is not listed in")
     || K <- [c, erlang]].

good_peers(Config) ->
    F = filename:join(?config(priv_dir, Config), "good.json"),
    Host = cnode_test_lib:host(),
    chatterbox_ref_cluster:write_peers(F, ["a@" ++ Host, "b@" ++ Host], "c"),
    F.

expect_error(Config, Kind, Args, Status, Re) ->
    case run_cmd(Config, Kind, Args) of
        {Status, Out} ->
            case re:run(Out, Re) of
                {match, _} -> ok;
                nomatch -> ct:fail({Kind, Args, {expected, Re}, {got, Out}})
            end;
        Other ->
            ct:fail({Kind, Args, {expected_status, Status}, {got, Other}})
    end.

run_cmd(Config, Kind, Args) ->
    {Exe, Argv} = cmd(Config, Kind, Args),
    cnode_test_lib:run(Exe, Argv).

cmd(Config, c, Args) -> {?config(bin, Config), Args};
cmd(Config, erlang, Args) -> {?config(erl, Config), erl_args(Config, Args)}.


%% ---- running a cluster -----------------------------------------------------

%% Runs one cluster and checks it: every node exits 0 and prints exactly the
%% tuple computed here from the trace files.
agree(Config, Proto, Kinds, Seed, Extra) ->
    Runs = cluster(Config, Kinds, Proto, Seed, Extra, #{}),
    ct:log("~s, ~p: ~s", [Proto, Kinds, maps:get(tuple, hd(Runs))]).

cluster(Config, Kinds, Proto, Seed, Extra, Opts) ->
    Dir = ?config(priv_dir, Config),
    Cookie = atom_to_list(?config(cookie, Config)),
    Host = cnode_test_lib:host(),
    Names = [cnode_test_lib:unique("cb") || _ <- Kinds],
    Peers = filename:join(Dir, hd(Names) ++ "_peers.json"),
    chatterbox_ref_cluster:write_peers(Peers, [N ++ "@" ++ Host || N <- Names], Cookie),
    Trace = maps:get(trace, Opts, true),
    Send = maps:get(send, Opts, ?SEND),
    ExtraFor = maps:get(extra_for, Opts, #{}),
    Specs = [spec(Config, K, Dir, N,
                  ["--sname", N, "--peer-config-file", Peers, "--protocol", atom_to_list(Proto),
                   "--send-for", float_to_list(Send * 1.0, [{decimals, 2}]),
                   "--wait-for", integer_to_list(?WAIT), "--with-seed", integer_to_list(Seed),
                   "-v"] ++ Extra ++ maps:get(I, ExtraFor, []), Trace)
             || {I, K, N} <- lists:zip3(lists:seq(1, length(Kinds)), Kinds, Names)],
    Runs = chatterbox_ref_cluster:run(Specs, round((Send + ?WAIT) * 1000) + 20000),
    [R#{tuple => check_run(R)} || R <- expected(Runs, Seed, Trace)].

spec(Config, c, Dir, Name, Args, Trace) ->
    spec1(?config(bin, Config), Args, c, Dir, Name, Trace);
spec(Config, erlang, Dir, Name, Args, Trace) ->
    spec1(?config(erl, Config), erl_args(Config, Args), erlang, Dir, Name, Trace).

erl_args(Config, Args) -> chatterbox_ref_cluster:erl_args(?config(ref_ebin, Config), Args).

spec1(Exe, Args, Kind, Dir, Name, Trace) ->
    Log = filename:join(Dir, Name ++ ".log"),
    TraceFile = filename:join(Dir, Name ++ ".trace"),
    TraceArgs = case Trace of true -> ["--trace", TraceFile]; false -> [] end,
    #{exe => Exe, args => Args ++ TraceArgs, log => Log, kind => Kind,
      node => Name ++ "@" ++ cnode_test_lib:host(), trace => TraceFile}.

%% Attaches the expected tuple, computed from every node's trace.
expected(Runs, _Seed, false) ->
    [_ | _] = Tuples = [T || #{stdout := [T]} <- Runs],
    [Only] = lists:usort(Tuples),
    [R#{expect => binary_to_list(Only)} || R <- Runs];
expected(Runs, Seed, true) ->
    Sent = lists:append([[{Ts, Id, Seq, V} || {sent, Ts, Id, Seq, V} <- read_trace(R)]
                         || R <- Runs]),
    Bad = [M || {_, Id, Seq, V} = M <- Sent, V =/= chatterbox_ref_lib:value(Seed, Id, Seq)],
    [] = Bad,
    N = length(Sent),
    N = length(lists:usort([{Id, Seq} || {_, Id, Seq, _} <- Sent])),
    true = N > 0,
    {_, Sum} = lists:foldl(fun({_, _, _, V}, {I, S}) -> {I + 1, S + I * V} end, {1, 0},
                           lists:sort(Sent)),
    Expect = lists:flatten(io_lib:format("(~b, ~b.~9..0b)",
                                         [N, Sum div 1000000000, Sum rem 1000000000])),
    [R#{expect => Expect} || R <- Runs].

check_run(#{status := Status, stdout := Out, expect := Expect} = R) ->
    case {Status, [binary_to_list(L) || L <- Out]} of
        {0, [Expect]} -> Expect;
        _ ->
            ct:log("~s log:~n~s", [maps:get(node, R), log_text(R)]),
            ct:fail({node, maps:get(node, R), {status, Status}, {stdout, Out},
                     {expected, Expect}})
    end.

read_trace(#{trace := F}) ->
    {ok, B} = file:read_file(F),
    [trace_line(string:lexemes(binary_to_list(L), " "))
     || L <- binary:split(B, <<"\n">>, [global, trim_all])].

trace_line(["sent", Id, Seq, Ts, V]) ->
    {sent, list_to_integer(Ts), list_to_integer(Id), list_to_integer(Seq), list_to_integer(V)};
trace_line(["cut", "start", T]) -> {cut_start, list_to_integer(T)};
trace_line(["cut", "end", T]) -> {cut_end, list_to_integer(T)};
trace_line(Other) -> {other, Other}.

log_text(#{log := F}) ->
    case file:read_file(F) of
        {ok, B} -> B;
        _ -> <<>>
    end.
