%% cnode_proc - running C node binaries from Erlang.
%%
%% A C node started here is an OS process behind a port held by an owner
%% process of its own, so the node outlives whichever process started it.
%% Readiness is the node's own "ready NODE" line on stdout; stderr goes to a
%% log file.  Nodes are stopped by their OS pid: SIGTERM for a graceful stop
%% (the exit status comes back: 0 when clean), SIGKILL for crash tests.  When
%% the owner goes away the node's stdin closes; nodes that watch stdin stop.
-module(cnode_proc).

-export([start/3, stop/1, kill/1, wait_exit/2, log_text/1, log_tail/1]).
-export([owner_init/5]).

-define(READY_TIMEOUT, 20000).

%% Starts Path with Args; Opts: log (file, default /tmp/<name>.log), wait
%% (default true: wait for "ready"), stdout (a pid that gets every other
%% stdout line as {cnode_line, Name, Line}), env ([{Var, Value}] added to
%% the environment).  Returns #{node, os_pid, owner, log, name}
%% where node is derived from the --sname/--name argument.
start(Path, Args, Opts) ->
    true = filelib:is_regular(Path) orelse error({no_binary, Path}),
    Name = arg_after(["--sname", "--name"], Args),
    Log = maps:get(log, Opts, filename:join("/tmp", Name ++ ".log")),
    Wait = maps:get(wait, Opts, true),
    Self = self(),
    Out = {maps:get(stdout, Opts, undefined), Name},
    Env = maps:get(env, Opts, []),
    Owner = spawn(owner_node(), ?MODULE, owner_init, [Self, {Path, Args, Env}, Log, Wait, Out]),
    Node = case string:find(Name, "@") of
               nomatch -> list_to_atom(Name ++ "@" ++ host());
               _ -> list_to_atom(Name)
           end,
    C = #{node => Node, owner => Owner, log => Log, name => Name},
    receive
        {Owner, started, OsPid} -> C#{os_pid => OsPid};
        {Owner, failed, Why} -> error({cnode_failed_to_start, Why, log_tail(C)})
    after ?READY_TIMEOUT ->
            error({cnode_not_ready, log_tail(C)})
    end.

%% Where the node's OS process is started: this node, or the node given as
%% `-cnode_host Node` (an erl node of another OTP release running test code
%% in a chroot, scripts/otp27.sh, has the C binaries' libraries only on the
%% host).  Either way the C node is a child of an erl node outside the chroot.
owner_node() ->
    case init:get_argument(cnode_host) of
        {ok, [[H | _] | _]} -> list_to_atom(H);
        _ -> node()
    end.

arg_after(Keys, [K, V | _]) ->
    case lists:member(K, Keys) of true -> V; false -> error(no_node_name) end;
arg_after(Keys, [_ | Rest]) -> arg_after(Keys, Rest);
arg_after(_, []) -> error(no_node_name).

host() ->
    case string:split(atom_to_list(node()), "@") of
        [_, H] -> H;
        _ -> {ok, H} = inet:gethostname(), H
    end.

owner_init(Parent, {Path, Args, Env}, Log, Wait, Out) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" 2>>" ++ Log, Path | Args]},
                      {env, Env}, {line, 4096}, exit_status, use_stdio, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    case Wait of
        false ->
            Parent ! {self(), started, OsPid},
            owner_loop(Port, OsPid, undefined, [], Out);
        true ->
            receive
                {Port, {data, {eol, <<"ready ", _/binary>>}}} ->
                    Parent ! {self(), started, OsPid},
                    owner_loop(Port, OsPid, undefined, [], Out);
                {Port, {exit_status, S}} ->
                    Parent ! {self(), failed, {exit_status, S}}
            end
    end.

owner_loop(Port, OsPid, Status, Waiters, Out) ->
    receive
        {Port, {exit_status, S}} ->
            [W ! {self(), exit_status, S} || W <- Waiters],
            owner_loop(Port, OsPid, S, [], Out);
        {Port, {data, {eol, Line}}} when is_pid(element(1, Out)) ->
            {To, Name} = Out,
            To ! {cnode_line, Name, Line},
            owner_loop(Port, OsPid, Status, Waiters, Out);
        {Port, {data, _}} ->
            owner_loop(Port, OsPid, Status, Waiters, Out);
        {signal, Sig} when Status =:= undefined ->
            _ = os:cmd("kill -" ++ Sig ++ " " ++ integer_to_list(OsPid)),
            owner_loop(Port, OsPid, Status, Waiters, Out);
        {signal, _} ->
            owner_loop(Port, OsPid, Status, Waiters, Out);
        {wait, From} when Status =:= undefined ->
            owner_loop(Port, OsPid, Status, [From | Waiters], Out);
        {wait, From} ->
            From ! {self(), exit_status, Status},
            owner_loop(Port, OsPid, Status, Waiters, Out)
    end.

%% Graceful stop; returns the exit status (0 when clean, sanitizers included).
stop(#{owner := O} = C) ->
    O ! {signal, "TERM"},
    wait_exit(C, 20000).

kill(#{owner := O} = C) ->
    O ! {signal, "KILL"},
    wait_exit(C, 20000).

wait_exit(#{owner := O} = C, Timeout) ->
    O ! {wait, self()},
    receive
        {O, exit_status, S} -> S
    after Timeout ->
            error({cnode_did_not_exit, log_tail(C)})
    end.

log_text(#{log := Log}) ->
    case file:read_file(Log) of
        {ok, B} -> B;
        _ -> <<>>
    end.

%% The end of a log, for error reports.
log_tail(C) ->
    B = log_text(C),
    binary:part(B, max(0, byte_size(B) - 3000), min(3000, byte_size(B))).
