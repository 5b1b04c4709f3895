%% chatterbox_ref_cluster - running a chatterbox cluster of OS processes
%% (C binaries and Erlang reference nodes) from Erlang: for the Common Test
%% suite and the benchmark.
%%
%% Each node is an OS process behind a port owned by a process of its own.
%% Its stdout (which must hold only the result tuple) is collected line by
%% line, its stderr appended to a log file.  wait/2 waits for every node's
%% exit; nodes still running at the timeout are killed by their OS pid, and
%% stop/1 kills one by OS pid, so a run never leaves processes behind.
-module(chatterbox_ref_cluster).

-export([write_peers/3, start/1, wait/2, stop/1, run/2, erl_args/1, erl_args/2]).

%% Writes a peers.json for Names (full node names), ids 1..N in order.
write_peers(Path, Names, Cookie) ->
    Nodes = [io_lib:format("    {\"name\": \"~s\", \"id\": ~b}", [N, I])
             || {I, N} <- lists:zip(lists:seq(1, length(Names)), Names)],
    ok = file:write_file(Path, ["{\n  \"cookie\": \"", Cookie, "\",\n  \"nodes\": [\n",
                                lists:join(",\n", Nodes), "\n  ]\n}\n"]).

%% The command line of an Erlang reference node (after the executable).
erl_args(Args) ->
    erl_args(filename:dirname(code:which(chatterbox_ref)), Args).

%% The same with the reference node's code in Ebin (another OTP's build).
erl_args(Ebin, Args) ->
    ["-noshell", "-pa", Ebin, "-run", "chatterbox_ref", "main", "-extra" | Args].

%% Specs: #{exe := Path, args := [string()], log := File}.  Returns handles.
start(Specs) ->
    Self = self(),
    [begin
         Owner = spawn(fun() -> owner(Self, S) end),
         receive {Owner, os_pid, OsPid} -> S#{owner => Owner, os_pid => OsPid} end
     end || S <- Specs].

owner(Parent, #{exe := Exe, args := Args, log := Log}) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" 2>>'" ++ Log ++ "'", Exe | Args]},
                      {line, 1 bsl 16}, exit_status, use_stdio, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Parent ! {self(), os_pid, OsPid},
    collect(Parent, Port, []).

collect(Parent, Port, Lines) ->
    receive
        {Port, {data, {eol, L}}} -> collect(Parent, Port, [L | Lines]);
        {Port, {data, {noeol, L}}} -> collect(Parent, Port, [L | Lines]);
        {Port, {exit_status, S}} -> Parent ! {self(), exited, S, lists:reverse(Lines)}
    end.

%% Waits for every node; returns, in order, #{status, stdout, log, ...}.
%% A node still running after TimeoutMs is killed (status killed).
wait(Handles, TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    [wait_one(H, Deadline) || H <- Handles].

wait_one(#{owner := O} = H, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {O, exited, S, Lines} -> H#{status => S, stdout => Lines}
    after Left ->
            stop(H),
            receive {O, exited, _, Lines} -> H#{status => killed, stdout => Lines}
            after 10000 -> H#{status => killed, stdout => []}
            end
    end.

%% Kills a node by its OS pid.
stop(#{os_pid := OsPid}) ->
    _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
    ok.

%% start + wait.
run(Specs, TimeoutMs) -> wait(start(Specs), TimeoutMs).
