%% cnode_check_hosts - the hosts of a cnode-check run, and the partitions
%% between them.
%%
%% A run gets N hosts, each a network namespace of its own ("ck<Run>-h<I>")
%% with its own loopback, epmd and address 10.99.0.<10+I>/24, joined by veth
%% pairs to a bridge that lives in a namespace of its own ("ck<Run>-net").
%% The controller (the Erlang node that runs the workload and the nemesis)
%% lives in "ck<Run>-ctl" at 10.99.0.254, on the same bridge.  Every address
%% is inside namespaces this module made; nothing is routed anywhere else.
%%
%% A partition is iptables DROP rules inside the hosts' namespaces (INPUT
%% from and OUTPUT to the hosts on the other side; one-way cuts drop only
%% the receiving side's INPUT); heal flushes them.  The controller itself is
%% never cut off: clients reach every node, as Jepsen's do.
%%
%% Where namespaces cannot be made (not root, no iproute2), hosts/1 says so
%% and the run falls back to loopback: every node on 127.0.0.1 with one
%% epmd, and the nemesis can only kill and pause.
%%
%% Everything made is written down in the run's record (records/1: one file
%% per run under /run/cnode-check) before it is made, so `cnode-check clean`
%% can remove what a crashed run left behind.
-module(cnode_check_hosts).

-export([up/3, down/1, new_record/2, process_alive/1, wait_gone/2, addr/2, ctl_addr/1, ns/2, ctl_ns/1, netns_usable/0,
         partition/2, heal/1, exec_in/2, record_pid/2, clean_all/0, records_dir/0]).

-define(SUBNET, "10.99.0.").
-define(CTL_HOST, 254).

%% Hosts = #{run, mode := netns | loopback, n, record}
up(Run, N, RunDir) ->
    Record = filename:join(records_dir(), Run),
    ok = filelib:ensure_dir(Record),
    ok = new_record(Record, RunDir),
    Hosts = #{run => Run, n => N, record => Record, dir => RunDir},
    case netns_usable() of
        true -> make_netns(Hosts#{mode => netns});
        {false, Why} ->
            io:format("cnode-check: no network namespaces here (~s); falling back to "
                      "loopback: the nemesis can only kill and pause~n", [Why]),
            Hosts#{mode => loopback}
    end.

netns_usable() ->
    case os:find_executable("ip") of
        false -> {false, "iproute2's ip is missing"};
        _ ->
            Probe = "ck" ++ integer_to_list(erlang:unique_integer([positive])) ++ "-probe",
            case sh(["ip netns add ", Probe]) of
                {0, _} -> _ = sh(["ip netns del ", Probe]), true;
                {_, Out} -> {false, string:trim(Out)}
            end
    end.

ns(#{run := Run}, I) -> "ck" ++ Run ++ "-h" ++ integer_to_list(I).
ctl_ns(#{mode := loopback}) -> none;
ctl_ns(#{run := Run}) -> "ck" ++ Run ++ "-ctl".
net_ns(#{run := Run}) -> "ck" ++ Run ++ "-net".

addr(#{mode := loopback}, _I) -> "127.0.0.1";
addr(_, I) -> ?SUBNET ++ integer_to_list(10 + I).
ctl_addr(#{mode := loopback}) -> "127.0.0.1";
ctl_addr(_) -> ?SUBNET ++ integer_to_list(?CTL_HOST).

make_netns(Hosts = #{n := N}) ->
    Net = net_ns(Hosts),
    note(Hosts, ["netns ", Net]),
    run_all([["ip netns add ", Net],
             ["ip -n ", Net, " link add br0 type bridge"],
             ["ip -n ", Net, " link set br0 up"]]),
    [attach(Hosts, ns(Hosts, I), "h" ++ integer_to_list(I), addr(Hosts, I))
     || I <- lists:seq(1, N)],
    attach(Hosts, ctl_ns(Hosts), "ctl", ctl_addr(Hosts)),
    Hosts.

%% A namespace with eth0 on the bridge (its peer named Port there).
attach(Hosts, Ns, Port, Addr) ->
    Net = net_ns(Hosts),
    note(Hosts, ["netns ", Ns]),
    run_all([["ip netns add ", Ns],
             ["ip -n ", Net, " link add ", Port, " type veth peer name eth0 netns ", Ns],
             ["ip -n ", Net, " link set ", Port, " master br0 up"],
             ["ip -n ", Ns, " addr add ", Addr, "/24 dev eth0"],
             ["ip -n ", Ns, " link set eth0 up"],
             ["ip -n ", Ns, " link set lo up"]]).

%% Removes the run's processes and namespaces, and its record.
down(#{record := Record}) -> clean_record(Record).

clean_record(Record) ->
    case file:read_file(Record) of
        {ok, Bin} ->
            Lines = [string:split(L, " ") || L <- string:split(Bin, "\n", all), L =/= <<>>],
            [kill_recorded(P, T) || [<<"pid">>, PT] <- Lines, [P, T] <- [string:split(PT, " ")]],
            [kill_inside(Ns) || [<<"netns">>, Ns] <- Lines],
            [sh(["ip netns del ", Ns]) || [<<"netns">>, Ns] <- lists:reverse(Lines)],
            file:delete(Record);
        {error, enoent} -> ok
    end.

%% A run's record names its folder and the process that owns the run (the
%% cnode-check script, $CNODE_CHECK_OWNER), so `clean` leaves live runs be.
new_record(Record, RunDir) ->
    ok = filelib:ensure_dir(Record),
    Owner = case os:getenv("CNODE_CHECK_OWNER") of
                false -> os:getpid();
                P -> P
            end,
    file:write_file(Record, ["dir ", RunDir, "\n", "owner ", Owner, " ",
                             start_time(list_to_integer(Owner)), "\n"]).

%% `cnode-check clean`: every run record whose owner is gone.
clean_all() ->
    Records = [R || R <- filelib:wildcard(filename:join(records_dir(), "*")), not owner_alive(R)],
    [begin io:format("cleaning ~s~n", [R]), clean_record(R) end || R <- Records],
    length(Records).

owner_alive(Record) ->
    case file:read_file(Record) of
        {ok, Bin} ->
            case re:run(Bin, "^owner ([0-9]+) (\\S+)$", [multiline, {capture, all_but_first, binary}]) of
                {match, [Pid, Start]} -> start_time(binary_to_integer(Pid)) =:= Start;
                nomatch -> false
            end;
        _ -> false
    end.

records_dir() -> "/run/cnode-check".

%% The record holds "pid PID STARTTIME": a pid is killed only if it is still
%% the process we started (same start time), never a recycled pid.
record_pid(#{record := Record}, OsPid) ->
    {ok, F} = file:open(Record, [append]),
    ok = io:format(F, "pid ~b ~s~n", [OsPid, start_time(OsPid)]),
    file:close(F).

kill_recorded(Pid, Start) ->
    P = binary_to_integer(Pid),
    case start_time(P) of
        S when S =:= Start ->
            _ = os:cmd("kill -9 " ++ integer_to_list(P) ++ " 2>/dev/null"),
            wait_gone(P, 250);
        _ -> ok
    end.

%% Every process inside one of the run's namespaces: also one whose start
%% was under way when the controller died, before its pid was recorded.
kill_inside(Ns) ->
    {_, Out} = sh(["ip netns pids ", Ns]),
    Pids = [list_to_integer(P) || P <- string:lexemes(Out, "\n"),
                                  lists:all(fun(C) -> C >= $0 andalso C =< $9 end, P)],
    [begin
         _ = os:cmd("kill -9 " ++ integer_to_list(P) ++ " 2>/dev/null"),
         wait_gone(P, 250)
     end || P <- Pids],
    ok.

%% SIGKILL is delivered asynchronously: wait (20 ms steps, bounded) until
%% the process is gone or a zombie, so that nothing outlives teardown.
wait_gone(_, 0) -> ok;
wait_gone(P, K) ->
    case process_alive(P) of
        true -> receive after 20 -> wait_gone(P, K - 1) end;
        false -> ok
    end.

%% Running (not gone, not a zombie).
process_alive(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterComm] = string:split(Stat, ") ", trailing),
            hd(string:lexemes(AfterComm, " ")) =/= <<"Z">>;
        _ -> false
    end.

start_time(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterComm] = string:split(Stat, ") ", trailing),
            lists:nth(20, string:lexemes(AfterComm, " "));
        _ -> <<"gone">>
    end.

note(#{record := Record}, Line) ->
    ok = file:write_file(Record, [Line, "\n"], [append]).

%% {cut, [{A, B}]}: hosts A and B cannot reach each other (both ways).
%% {oneway, From, To}: packets from hosts From to hosts To are dropped.
partition(#{mode := loopback}, _) -> {error, no_netns};
partition(Hosts, {oneway, From, To}) ->
    [exec_in(Hosts, {I, [drop_in(Hosts, J) || J <- From]}) || I <- To],
    ok;
partition(Hosts = #{n := N}, {cut, Pairs}) ->
    [exec_in(Hosts, {I, lists:append([drop_both(Hosts, J) || J <- cut_from(I, Pairs)])})
     || I <- lists:seq(1, N)],
    ok.

cut_from(I, Pairs) ->
    [B || {A, B} <- Pairs, A =:= I] ++ [A || {A, B} <- Pairs, B =:= I].

heal(#{mode := loopback}) -> ok;
heal(Hosts = #{n := N}) ->
    [exec_in(Hosts, {I, ["iptables -F INPUT", "iptables -F OUTPUT"]}) || I <- lists:seq(1, N)],
    ok.

drop_in(Hosts, J) -> "iptables -A INPUT -s " ++ addr(Hosts, J) ++ " -j DROP".
drop_both(Hosts, J) ->
    [drop_in(Hosts, J), "iptables -A OUTPUT -d " ++ addr(Hosts, J) ++ " -j DROP"].

%% Runs shell commands inside host I's namespace, all in one process.
exec_in(_, {_, []}) -> ok;
exec_in(Hosts, {I, Cmds}) ->
    Script = lists:join(" && ", Cmds),
    case sh(["ip netns exec ", ns(Hosts, I), " sh -c '", Script, "'"]) of
        {0, _} -> ok;
        {_, Out} -> error({host_command_failed, I, Out})
    end.

run_all(Cmds) ->
    lists:foreach(fun(C) ->
                          case sh(C) of
                              {0, _} -> ok;
                              {_, Out} -> error({command_failed, lists:flatten(C), Out})
                          end
                  end, Cmds).

sh(Cmd) ->
    Line = binary_to_list(iolist_to_binary([Cmd, " 2>&1"])),
    Port = open_port({spawn, Line}, [exit_status, stderr_to_stdout, binary]),
    sh_collect(Port, []).
sh_collect(Port, Acc) ->
    receive
        {Port, {data, D}} -> sh_collect(Port, [Acc, D]);
        {Port, {exit_status, S}} -> {S, binary_to_list(iolist_to_binary(Acc))}
    end.
