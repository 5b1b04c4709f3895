%% cnode_test_lib - starting and stopping C nodes from Common Test.
%%
%% Every C node a suite starts gets a unique name and the suite's cookie, is
%% a child OS process of this node (through a port), and is stopped by its
%% OS pid: SIGTERM for a graceful stop (the exit status is returned, so leaks
%% found by the sanitizers fail the test), SIGKILL for crash tests.  Readiness
%% is the node's own "ready NODE" line, never a sleep.
-module(cnode_test_lib).

-export([init_dist/1, root/0, bin/1, unique/1, host/0,
         start/2, start/3, stop/1, kill/1, wait_exit/2, log_text/1, log_tail/1, run/2, run/3, run/4, check_run/4,
         usage_error/3,
         await/2, raw_handshake/3, raw_handshake/4,
         peer_otp/0, other_peer_otp/0, peer_erl/0, peer_ebin/1, peer_start/1, peer_start_link/1,
         peer_release_ok/1, check_peer_erl/0,
         start_body_peer/1, stop_body_peer/1, on_body_peer/4]).

-define(config_cookie(C), proplists:get_value(cookie, C)).

%% Makes this node distributed (short names) with a fresh cookie.
init_dist(Config) ->
    _ = os:cmd("epmd -daemon"),
    case node() of
        nonode@nohost ->
            {ok, _} = net_kernel:start([list_to_atom(unique("ct")), shortnames]);
        _ -> ok
    end,
    Cookie = list_to_atom(unique("cookie")),
    erlang:set_cookie(node(), Cookie),
    [{cookie, Cookie} | Config].

root() ->
    case os:getenv("CNODE_ROOT") of
        false ->
            %% _build/test/lib/cnode/ebin/<this>.beam -> project root
            Beam = code:which(?MODULE),
            Dir = filename:dirname(filename:dirname(Beam)),
            case filelib:is_file(filename:join(Dir, "Makefile")) of
                true -> Dir;
                false -> filename:join([Dir, "..", "..", "..", ".."])
            end;
        R -> R
    end.

%% The sanitizer build unless $CNODE_BIN points elsewhere.
bin(Name) ->
    Dir = case os:getenv("CNODE_BIN") of
              false -> filename:join([root(), "_build", "c", "san", "bin"]);
              D -> D
          end,
    filename:join(Dir, Name).

unique(Prefix) ->
    Prefix ++ integer_to_list(erlang:unique_integer([positive])) ++ "_" ++ os:getpid().

host() ->
    [_, H] = string:split(atom_to_list(node()), "@"),
    H.

start(Bin, Config) ->
    start(Bin, Config, []).

%% Starts a C node binary of this project with the suite's cookie and a
%% unique name; returns cnode_proc's map.  Extra: name, cookie, args, wait,
%% stdout (a pid that gets the node's other stdout lines), env.  The suite's CT process may exit:
%% the node lives until stopped (or until the CT node goes away).
start(Bin, Config, Extra) ->
    Name = proplists:get_value(name, Extra, unique("c")),
    Cookie = atom_to_list(proplists:get_value(cookie, Extra, ?config_cookie(Config))),
    Args = ["--sname", Name, "--cookie", Cookie, "-v"] ++ proplists:get_value(args, Extra, []),
    Log = filename:join(proplists:get_value(priv_dir, Config, "/tmp"), Name ++ ".log"),
    Opts = #{log => Log, wait => proplists:get_value(wait, Extra, true),
             env => proplists:get_value(env, Extra, [])},
    cnode_proc:start(bin(Bin), Args, case proplists:get_value(stdout, Extra) of
                                         undefined -> Opts;
                                         Pid -> Opts#{stdout => Pid}
                                     end).

stop(C) -> cnode_proc:stop(C).
kill(C) -> cnode_proc:kill(C).
wait_exit(C, T) -> cnode_proc:wait_exit(C, T).
log_text(C) -> cnode_proc:log_text(C).
log_tail(C) -> cnode_proc:log_tail(C).

%% Runs a program to its end (for flag checks): {ExitStatus, Output}, where
%% Output is stdout and stderr together.
run(Exe, Args) -> run(Exe, Args, 30000).

%% As run/2, failing if the program is silent for SilenceMs.
run(Exe, Args, SilenceMs) -> run(Exe, Args, SilenceMs, []).

%% As run/3 with Env ([{Var, Value | false}]) added to the environment.
run(Exe, Args, SilenceMs, Env) ->
    P = open_port({spawn_executable, Exe},
                  [{args, Args}, {env, Env}, exit_status, stderr_to_stdout, binary]),
    run_collect(P, <<>>, SilenceMs).

%% A usage error as every binary reports it (c_src/node/cli.h): exit
%% status 2 and one line, "PROG: ... (see PROG --help)", matching Re.
usage_error(Exe, Args, Re) ->
    case run(Exe, Args) of
        {2, Out} ->
            Line = "\\A([a-z_]+): [^\n]*(?:" ++ Re ++ ")[^\n]* \\(see \\1 --help\\)\n\\z",
            case re:run(Out, Line) of
                {match, _} -> Out;
                nomatch -> ct:fail({not_one_usage_line, Args, {expected, Re}, {got, Out}})
            end;
        Other ->
            ct:fail({not_a_usage_error, Args, Other})
    end.

%% cnode-check (docs/check.md): `cnode-check run File --out PrivDir Flags`
%% with Env added; logs the output and returns {ExitStatus, Output, RunDir,
%% Results}, Results being the run's results.json (one map per cluster).
check_run(Config, File, Flags, Env) ->
    Script = filename:join([root(), "priv", "bin", "cnode-check"]),
    Out = proplists:get_value(priv_dir, Config),
    {S, Text} = run(Script, ["run", File, "--out", Out | Flags], 240000, Env),
    ct:log("~s", [Text]),
    case re:run(Text, "run folder: (\\S+)", [{capture, all_but_first, list}]) of
        {match, [Dir]} ->
            {ok, B} = file:read_file(filename:join(Dir, "results.json")),
            {ok, R} = cnode_json:decode(B),
            {S, Text, Dir, R};
        nomatch -> ct:fail("no run folder in the output")
    end.

run_collect(P, Acc, SilenceMs) ->
    receive
        {P, {data, D}} -> run_collect(P, <<Acc/binary, D/binary>>, SilenceMs);
        {P, {exit_status, S}} -> {S, Acc}
    after SilenceMs -> error({no_exit, Acc})
    end.

%% Waits for a message matching Fun (returns {true, V} or false).
await(Fun, Timeout) ->
    receive
        M ->
            case Fun(M) of
                {true, V} -> V;
                false -> await(Fun, Timeout)
            end
    after Timeout ->
            error(await_timeout)
    end.

%% ---- peer erl nodes: OTP 25 (the host's) or OTP 27 --------------------------
%%
%% Every erl node a suite starts as the Erlang side of an interop case takes
%% its erl and its ebin from here.  CNODE_PEER_OTP=27 selects OTP 27: erl of
%% the Debian 13 chroot that scripts/otp27.sh sets up (sharing this host's
%% network and epmd), and the Erlang peers compiled by OTP 27's erlc.  Unset
%% (or the host's release), peers run the host's erl and this node's code.
%% The Common Test node itself always runs the host's OTP.

%% The OTP release peer nodes run: 25 or 27 (an integer).
peer_otp() ->
    Host = list_to_integer(erlang:system_info(otp_release)),
    case os:getenv("CNODE_PEER_OTP") of
        false -> Host;
        "" -> Host;
        V -> list_to_integer(V)
    end.

%% True when peer nodes run another release than this node; the suites then
%% run only their interop cases (C nodes with erl nodes), not the all-C ones.
other_peer_otp() -> otp27().

otp27() -> peer_otp() =/= list_to_integer(erlang:system_info(otp_release)).

otp27_dir() ->
    case os:getenv("CNODE_OTP27_EBIN") of
        false -> filename:join([root(), "_build", "otp27"]);
        E -> filename:dirname(E)
    end.

%% The erl executable of peer nodes (one path, no arguments).
peer_erl() ->
    case otp27() of
        false -> os:find_executable("erl");
        true -> filename:join([otp27_dir(), "bin", "erl"])
    end.

%% The ebin holding Module for peer nodes' -pa.
peer_ebin(Module) ->
    case otp27() of
        false -> filename:dirname(code:which(Module));
        true -> filename:join(otp27_dir(), "ebin")
    end.

%% peer:start/1 and peer:start_link/1 with the peer erl and, with OTP 27,
%% the OTP 27 ebin of this project at the end of the code path (so that
%% suite functions a case runs on the peer exist there in OTP 27's build).
peer_start(Opts) -> peer:start(peer_opts(Opts)).
peer_start_link(Opts) -> peer:start_link(peer_opts(Opts)).

peer_opts(Opts) ->
    case otp27() of
        false -> Opts;
        true ->
            %% OTP 27's peer, on the started node, asks its origin
            %% gen_server:call(Origin, {starting, Node}) when the control
            %% channel is the distribution connection; OTP 25's peer has no
            %% such clause (function_clause).  Over standard_io both agree.
            Args = maps:get(args, Opts, []),
            %% CNODE_ROOT: this tree (root/0 cannot find it from the OTP 27
            %% ebin)
            Env = [{"CNODE_ROOT", root()} | maps:get(env, Opts, [])],
            maps:merge(#{connection => standard_io},
                       Opts#{exec => peer_erl(), env => Env,
                             args => Args ++ ["-pa", peer_ebin(?MODULE)]})
    end.

%% Checks that Node runs the release peer nodes should run (fails the case
%% if not): the proof that an OTP 27 pass really talked to OTP 27.
peer_release_ok(Node) ->
    Want = integer_to_list(peer_otp()),
    case erpc:call(Node, erlang, system_info, [otp_release]) of
        Want -> ok;
        Got -> error({peer_otp_release, Node, {want, Want}, {got, Got}})
    end.

%% Checks that peer_erl() exists and runs the release wanted; for the
%% suites' init_per_suite.  Returns the release.
check_peer_erl() ->
    Erl = peer_erl(),
    Want = integer_to_list(peer_otp()),
    case Erl =/= false andalso filelib:is_regular(Erl) of
        false -> error({no_peer_erl, Erl, "run scripts/otp27.sh setup"});
        true -> ok
    end,
    case run(Erl, ["-noshell", "-eval",
                   "io:format(\"~s\", [erlang:system_info(otp_release)]), halt()."]) of
        {0, Out} ->
            case binary_to_list(Out) of
                Want -> Want;
                Got -> error({peer_otp_release, Erl, {want, Want}, {got, Got}})
            end;
        Other -> error({peer_erl_failed, Erl, Other})
    end.

%% A "body peer": an erl node of the peer release (CNODE_PEER_OTP) on which
%% whole test cases of a suite run (on_body_peer/3), so that the Erlang side
%% of each interop case is that release while Common Test stays on this one.
%% It has the suite's cookie and leaves C nodes to this node (cnode_proc's
%% -cnode_host), whose libraries they need.  Adds body_peer and body_node
%% to Config.
start_body_peer(Config) ->
    Cookie = atom_to_list(proplists:get_value(cookie, Config)),
    {ok, Peer, Node} = peer_start(#{name => unique("body"),
                                    args => ["-setcookie", Cookie,
                                             "-cnode_host", atom_to_list(node())]}),
    ok = peer_release_ok(Node),
    ct:log("test cases run on ~p, OTP ~s",
           [Node, erpc:call(Node, erlang, system_info, [otp_release])]),
    [{body_peer, Peer}, {body_node, Node} | Config].

stop_body_peer(Config) ->
    catch peer:stop(proplists:get_value(body_peer, Config)),
    ok.

%% apply(Mod, Fun, Args) on the body peer of Config (Mod compiled by that
%% release's erlc); an exception there is this caller's.
on_body_peer(Config, Mod, Fun, Args) ->
    Node = proplists:get_value(body_node, Config),
    try erpc:call(Node, Mod, Fun, Args, infinity)
    catch error:{exception, Reason, Stack} ->
            ct:log("~p:~p failed on ~p:~n~p~n~p", [Mod, Fun, Node, Reason, Stack]),
            erlang:raise(error, Reason, Stack)
    end.

%% A raw TCP client that performs the version 6 handshake as node Name with
%% Cookie and returns the socket in {packet, 4} mode, ready for frames.
raw_handshake(Node, Name, Cookie) ->
    raw_handshake(Node, Name, Cookie, []).
raw_handshake(Node, Name, Cookie, Opts) ->
    [Alive, Host] = string:split(atom_to_list(Node), "@"),
    {ok, PortNo} = epmd_port(Alive, Host),
    {ok, S} = gen_tcp:connect(Host, PortNo, [binary, {packet, 2}, {active, false}]),
    Flags = proplists:get_value(flags, Opts, 16#1000000 bor 16#40000 bor 16#20000 bor 16#10000
                                bor 16#800 bor 16#400 bor 16#200 bor 16#100 bor 16#80
                                bor 16#10 bor 16#4 bor 16#8 bor 16#400000),
    NameBin = list_to_binary(Name),
    ok = gen_tcp:send(S, <<$N, Flags:64, 1:32, (byte_size(NameBin)):16, NameBin/binary>>),
    case gen_tcp:recv(S, 0, 5000) of
        {ok, <<"sok">>} ->
            {ok, <<$N, _PFlags:64, Challenge:32, _Cr:32, NL:16, _PName:NL/binary>>} =
                gen_tcp:recv(S, 0, 5000),
            Digest = erlang:md5([atom_to_list(Cookie), integer_to_list(Challenge)]),
            MyChallenge = 12345,
            ok = gen_tcp:send(S, <<$r, MyChallenge:32, Digest/binary>>),
            case gen_tcp:recv(S, 0, 5000) of
                {ok, <<$a, Ack:16/binary>>} ->
                    Ack = erlang:md5([atom_to_list(Cookie), integer_to_list(MyChallenge)]),
                    ok = inet:setopts(S, [{packet, 4}]),
                    {ok, S};
                Other ->
                    gen_tcp:close(S),
                    {error, {no_ack, Other}}
            end;
        Other ->
            gen_tcp:close(S),
            {error, {status, Other}}
    end.

epmd_port(Alive, Host) ->
    case erl_epmd:port_please(Alive, Host) of
        {port, P, _} -> {ok, P};
        E -> {error, E}
    end.
