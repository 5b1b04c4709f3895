%% chatterbox_bench - chatterbox's |m| on local clusters, side by side.
%%
%% Run by `make bench`.  For 3 and 5 nodes on this machine, one run each of
%% --send-for 10 --wait-for 5 with the same seed:
%%   C fast       priv/bin/chatterbox, the fast protocol (the default)
%%   C seed       priv/bin/chatterbox --protocol seed (stop-and-wait)
%%   Erlang fast  the Erlang reference nodes (chatterbox_ref), fast protocol
%% (There was a "vs raw" column: |m|/s, a cluster-wide count of 4-byte
%% values, over one path's rate of 64-byte messages, which compares unlike
%% things; raw distribution throughput is dist_bench's table.)
%% A run counts only if every node exits 0 and prints the same tuple.
%% Environment: BENCH_CB_SEND, BENCH_CB_WAIT (seconds), BENCH_CB_SEED.
-module(chatterbox_bench).
-export([main/0, main/1]).

main() -> main([]).

main(_) ->
    Send = bench_lib:env_int("BENCH_CB_SEND", 10),
    Wait = bench_lib:env_int("BENCH_CB_WAIT", 5),
    Seed = bench_lib:env_int("BENCH_CB_SEED", 42),
    Root = bench_lib:root(),
    Dir = filename:join([Root, "_build", "bench", "chatterbox"]),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    C = filename:join([Root, "priv", "bin", "chatterbox"]),
    Erl = os:find_executable("erl"),
    io:format("~nChatterbox: |m| after --send-for ~b --wait-for ~b, seed ~b, one run each~n",
              [Send, Wait, Seed]),
    io:format("(~s)~n~n", [bench_lib:machine()]),
    Configs = [{"C", fast, C}, {"C", seed, C}, {"Erlang ref", fast, Erl}],
    Rows = [{N, Impl, Proto, run(Dir, N, Exe, Proto, Send, Wait, Seed)}
            || N <- [3, 5], {Impl, Proto, Exe} <- Configs],
    io:format("~-6s ~-11s ~-6s ~15s ~14s ~7s ~10s~n",
              ["nodes", "impl", "proto", "|m|", "|m|/s", "agree", "vs seed"]),
    [io:format("~-6b ~-11s ~-6s ~15s ~14s ~7s ~10s~n",
               [N, Impl, Proto, bench_lib:fmt_int(M), bench_lib:fmt_int(M div Send), yes_no(Agree),
                ratio(M, seed_count(N, Rows))])
     || {N, Impl, Proto, #{count := M, agree := Agree}} <- Rows],
    io:format("vs seed: |m| over the C seed protocol's |m| with as many nodes~n"),
    ok.

seed_count(N, Rows) ->
    hd([M || {N2, "C", seed, #{count := M}} <- Rows, N2 =:= N]).

%% ---- one cluster -----------------------------------------------------------

run(Dir, N, Exe, Proto, Send, Wait, Seed) ->
    Host = bench_lib:host(),
    Cookie = atom_to_list(erlang:get_cookie()),
    Names = [bench_lib:uniq("cbb") || _ <- lists:seq(1, N)],
    Peers = filename:join(Dir, hd(Names) ++ "_peers.json"),
    chatterbox_ref_cluster:write_peers(Peers, [Nm ++ "@" ++ Host || Nm <- Names], Cookie),
    Args = fun(Nm) -> ["--sname", Nm, "--peer-config-file", Peers,
                       "--protocol", atom_to_list(Proto), "--send-for", integer_to_list(Send),
                       "--wait-for", integer_to_list(Wait), "--with-seed", integer_to_list(Seed)]
           end,
    Specs = [#{exe => Exe, log => filename:join(Dir, Nm ++ ".log"),
               args => case filename:basename(Exe) of
                           "erl" -> chatterbox_ref_cluster:erl_args(Args(Nm));
                           _ -> Args(Nm)
                       end} || Nm <- Names],
    Runs = chatterbox_ref_cluster:run(Specs, (Send + Wait + 30) * 1000),
    Outs = [{S, Out} || #{status := S, stdout := Out} <- Runs],
    Tuples = lists:usort([T || {_, [T]} <- Outs]),
    Agree = lists:all(fun({S, O}) -> S =:= 0 andalso length(O) =:= 1 end, Outs)
        andalso length(Tuples) =:= 1,
    Count = case Tuples of
                [T | _] ->
                    {match, [M]} = re:run(T, "^\\(([0-9]+),", [{capture, all_but_first, list}]),
                    list_to_integer(M);
                [] -> 0
            end,
    [io:format("  (~b ~s ~s: nodes disagree or failed: ~p; logs in ~s)~n",
               [N, filename:basename(Exe), Proto, Outs, Dir]) || not Agree],
    #{count => Count, agree => Agree}.

%% ---- helpers ---------------------------------------------------------------

ratio(_, 0) -> "-";
ratio(M, S) -> io_lib:format("~.1fx", [M / S]).

yes_no(true) -> "yes";
yes_no(false) -> "NO".

