%% cnode_check_nodes - the nodes of a cnode-check run as OS processes:
%% start (inside their host's namespace), kill -9, restart with the same
%% data directory, SIGSTOP / SIGCONT, and stop, always by OS pid.
%%
%% A node is an implementation given by start command:
%%   "c"       our binary (priv/bin/<protocol binary>)
%%   "erlang"  the Erlang reference peer of the protocol (src/, through
%%             cnode_check_peer), in a BEAM of its own
%%   {"cmd": TEMPLATE}  anything else, e.g. a user's Gleam program; the
%%             template's {name}, {cookie}, {id}, {data_dir}, {peers_file},
%%             {addr} are filled in and the result is run by /bin/sh.
%% Every process's stdout and stderr go to <run>/<node>/node.log; its pid is
%% written to the run's record first, so a crashed run can be cleaned up.
%%
%% Readiness is the protocol's: the workload module's ready/1 probe (for
%% raft_kv, the node hands out its Subject).
-module(cnode_check_nodes).

-export([start_epmds/2, start/2, restart/2, kill/1, kill_now/1, pause/1, resume/1, stop/1,
         os_pid/1, alive/1, spec/5, input/2, wait_exit/2]).

-define(SIGTERM_WAIT_MS, 5000).

%% A node's spec: everything needed to start it again.
spec(Hosts, Scenario, I, Impl, Protocol) ->
    Name = "n" ++ integer_to_list(I),
    Addr = cnode_check_hosts:addr(Hosts, I),
    Dir = filename:join(maps:get(dir, Hosts), Name),
    ok = filelib:ensure_path(Dir),
    NodeName = case maps:get(mode, Hosts) of
                   loopback -> Name ++ "_" ++ maps:get(run, Hosts) ++ "@" ++ Addr;
                   netns -> Name ++ "@" ++ Addr
               end,
    #{id => I, impl => Impl, protocol => Protocol, name => NodeName,
      node => list_to_atom(NodeName), addr => Addr, dir => Dir,
      log => filename:join(Dir, "node.log"), data_dir => filename:join(Dir, "data"),
      ns => ns(Hosts, I), hosts => Hosts, scenario => Scenario,
      cookie => maps:get(cookie, Scenario)}.

ns(Hosts = #{mode := netns}, I) -> cnode_check_hosts:ns(Hosts, I);
ns(_, _) -> none.

%% One epmd per host (loopback: the machine's, started if absent).
start_epmds(Hosts = #{mode := netns, n := N}, _) ->
    [launch(Hosts, cnode_check_hosts:ns(Hosts, I), ["epmd"],
            filename:join(maps:get(dir, Hosts), "epmd_h" ++ integer_to_list(I) ++ ".log"))
     || I <- lists:seq(1, N)];
start_epmds(#{mode := loopback}, _) ->
    _ = os:cmd("epmd -daemon"),
    [].

%% Starts the node; returns the spec with os_pid, port and log_offset (the
%% size of node.log before this start: where this life's output begins, as
%% a restarted node appends to the log of its earlier lives).
start(Spec, Argv) ->
    #{hosts := Hosts, ns := Ns, log := Log} = Spec,
    Offset = filelib:file_size(Log),
    {Port, OsPid} = launch(Hosts, Ns, Argv, Log),
    Spec#{port => Port, os_pid => OsPid, argv => Argv, log_offset => Offset}.

restart(Spec = #{argv := Argv}, _) -> start(Spec, Argv).

%% Runs Argv inside namespace Ns (none: here), output appended to Log.
launch(Hosts, Ns, Argv, Log) ->
    Prefix = case Ns of none -> []; _ -> ["ip", "netns", "exec", Ns] end,
    Self = self(),
    Owner = spawn(fun() -> own(Self, Prefix ++ Argv, Log) end),
    receive
        {Owner, os_pid, OsPid} ->
            cnode_check_hosts:record_pid(Hosts, OsPid),
            {Owner, OsPid}
    after 10000 -> error({could_not_start, Argv})
    end.

%% The port's owner: keeps the port (so the process's stdin stays open)
%% and reports its exit status to whoever asks.
own(Parent, [Exe | Args], Log) ->
    Path = case os:find_executable(Exe) of false -> Exe; P -> P end,
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" >>" ++ Log ++ " 2>&1", Path | Args]},
                      exit_status, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Parent ! {self(), os_pid, OsPid},
    own_loop(Port, running, []).

own_loop(Port, Status, Waiters) ->
    receive
        {Port, {exit_status, S}} ->
            [W ! {self(), exited, S} || W <- Waiters],
            own_loop(Port, {exited, S}, []);
        {Port, {data, _}} -> own_loop(Port, Status, Waiters);
        {status, From} -> From ! {self(), status, Status}, own_loop(Port, Status, Waiters);
        {input, Data} when Status =:= running ->
            catch port_command(Port, Data),
            own_loop(Port, Status, Waiters);
        {input, _} -> own_loop(Port, Status, Waiters);

        {wait, From} when Status =:= running -> own_loop(Port, Status, [From | Waiters]);
        {wait, From} -> {exited, S} = Status, From ! {self(), exited, S},
                        own_loop(Port, Status, Waiters)
    end.

os_pid(#{os_pid := P}) -> P.

%% Writes Data to the node's standard input (e.g. a line for gossip_chat).
input(#{port := Owner}, Data) -> Owner ! {input, Data}, ok.

alive(#{port := Owner}) ->
    Owner ! {status, self()},
    receive {Owner, status, S} -> S =:= running after 5000 -> false end.

%% SIGKILL, then the exit status.  The nemesis's kill is done once the
%% process is gone: the port's exit status has been seen to come 10 s
%% after the process was gone and reaped (under load; gossip_kills.json),
%% which delayed the fault's line and the restart past the run.
kill(Spec) -> signal(Spec, "KILL"), wait_gone(Spec), wait_exit(Spec, 10000).

%% SIGKILL; returns once the process is gone (or a zombie).
kill_now(Spec) -> signal(Spec, "KILL"), wait_gone(Spec).

wait_gone(#{os_pid := P}) -> cnode_check_hosts:wait_gone(P, 500).
pause(Spec) -> signal(Spec, "STOP").
resume(Spec) -> signal(Spec, "CONT").

%% SIGCONT first (a paused node cannot handle SIGTERM), SIGTERM, then
%% SIGKILL if it has not exited in time.  Returns the exit status.
stop(Spec) ->
    case alive(Spec) of
        false -> wait_exit(Spec, 0);
        true ->
            signal(Spec, "CONT"),
            signal(Spec, "TERM"),
            case wait_exit(Spec, ?SIGTERM_WAIT_MS) of
                timeout -> kill(Spec);
                S -> S
            end
    end.

signal(#{os_pid := P}, Sig) ->
    _ = os:cmd("kill -" ++ Sig ++ " " ++ integer_to_list(P) ++ " 2>/dev/null"),
    ok.

%% The node's exit status once it has exited (Ms: how long to wait, or
%% infinity), else timeout.  Any number of processes may wait at once.
wait_exit(#{port := Owner}, Ms) ->
    Owner ! {wait, self()},
    receive {Owner, exited, S} -> S after Ms -> timeout end.
