%% runtime_SUITE - the C node runtime against real erl nodes.
%%
%% One C test node (test/c/testnode.c, sanitizer build) serves most cases;
%% cases that kill or stop a node start their own.  Workers report what
%% reaches them as {cnode_event, Pid, Event} messages, so every wait here is
%% for an event, never a sleep.
-module(runtime_SUITE).
-behaviour(gen_server).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_testcase/2]).
-export([init/1, handle_call/3, handle_cast/2]).
-compile([export_all, nowarn_export_all]).

-define(T, 10000).
-define(STOP_DRAIN_MS, 5000).        % cn.h: cn_node_config.stop_drain_ms
-define(MBOX_LIMIT, (4 bsl 20)).     % the flooded processes' mailbox limit
-define(FLOOD, 2000000).             % messages in a flood
-define(RSS_ALLOWANCE_KB, (64 * 1024)).  % RSS a flood may add

%% With CNODE_PEER_OTP set to another release, runtime_peer_SUITE runs the
%% interop cases here with the Erlang side on such a node; this suite then
%% has nothing to add (its other cases do not depend on the peer's OTP).
all() ->
    case cnode_test_lib:other_peer_otp() of
        true -> [];
        false -> all_groups()
    end.

all_groups() ->
    [{group, node}, {group, messages}, {group, monitors}, {group, links},
     {group, calls}, {group, gleam}, {group, named_subjects}, {group, managed}, {group, timers}, {group, faults},
     {group, hostile}, {group, scale}, {group, limits}, {group, ipv6},
     {group, tls}].

groups() ->
    [{node, [], [ping_and_hidden, echo_node_example, c_to_c_nodes, graceful_stop,
                 stop_with_unreachable_peer, name_in_use, bad_flags,
                 epmd_started_if_absent]},
     {messages, [], [send_to_pid, send_to_name, send_from_c, cast_to_c, big_and_odd_terms,
                     one_way_stream, one_way_stream_unbatched]},
     {monitors, [], [monitor_name_reason, monitor_pid_reason, monitor_missing_name,
                     monitor_dead_pid, demonitor_from_erlang, c_monitors_erlang,
                     c_monitors_erlang_name, c_demonitor]},
     {links, [], [link_c_exit_to_erlang, link_erlang_exit_to_c, link_normal_ignored,
                  link_trap_exit, unlink_from_erlang, exit2_semantics, c_links_missing]},
     {calls, [], [call_missing_name, call_into_c, c_calls_erlang, c_calls_c_local,
                  c_call_timeout, c_call_callee_dies]},
     {gleam, [], [subject_receive, subject_call_from_erlang, subject_send_from_c,
                  gleam_call_from_c]},
     {named_subjects, [], [named_subject_to_c, named_call_into_c, named_call_missing_c_name,
                           named_send_from_c, named_call_from_c, named_call_from_c_noproc,
                           named_subject_terms]},
     {managed, [], [idle_timeout, unhandled_log, unhandled_stop, unhandled_forward,
                    deferred_reply, sys_state_and_status, sys_suspend_resume,
                    sys_unknown_request, fmt_terms_reused]},
     {timers, [], [process_timers_in_order, process_timer_cancel,
                   process_timers_go_with_process, process_timer_while_suspended]},
     {faults, [], [c_node_killed, erlang_node_killed, wrong_cookie]},
     {hostile, [], [malformed_frames, malformed_handshake, impostor_name, junk_to_ctl,
                    name_flood_without_cookie, impostor_holds_peer_name,
                    impostor_cannot_evict_dial, simultaneous_connect_won_by_peer,
                    simultaneous_connect_won_by_us]},
     {scale, [], [many_processes, many_connections, big_packets_announced,
                  input_budget_exceeded, input_budget_shared, short_lived_peers]},
     {limits, [], [mailbox_flood_shed, mailbox_flood_kill, output_limit_busy]},
     {ipv6, [], [ipv6_erlang_to_c, ipv6_c_to_erlang, ipv6_long_name_resolved_over_ipv6]},
     {tls, [], [tls_erlang_to_c, tls_c_to_erlang, tls_c_to_c, tls_ipv6, tls_stream_and_big_terms,
                tls_untrusted_client_refused,
                tls_untrusted_server_refused, tls_plain_peer_refused, tls_bad_options]}].

init_per_suite(Config0) ->
    Config = cnode_test_lib:init_dist(Config0),
    C = cnode_test_lib:start("testnode", Config),
    [{cnode, C} | Config].

end_per_suite(Config) ->
    C = ?config(cnode, Config),
    Status = cnode_test_lib:stop(C),
    ct:log("C node log:~n~s", [cnode_test_lib:log_text(C)]),
    0 = Status,
    ok.

init_per_group(tls, Config) ->
    [{certs, cnode_certs:make(?config(priv_dir, Config), cnode_test_lib:host())} | Config];
init_per_group(_, Config) -> Config.
end_per_group(_, _Config) -> ok.

init_per_testcase(_, Config) -> Config.
end_per_testcase(_, _Config) -> ok.

%% ---- helpers -------------------------------------------------------------

cnode(Config) -> maps:get(node, ?config(cnode, Config)).

worker(Config) -> worker(Config, log).
worker(Config, Policy) -> worker(Config, undefined, Policy).
worker(Config, Name, Policy) ->
    Pid = gen_server:call({ctl, cnode(Config)}, {spawn, Name, Policy}),
    true = is_pid(Pid),
    ok = gen_server:call(Pid, {notify, self()}),
    Pid.

event(Pid) ->
    receive {cnode_event, Pid, E} -> E
    after ?T -> ct:fail({no_event_from, Pid})
    end.

%% Waits for an event matching Pattern (given as a fun), skipping others.
event(Pid, Match) ->
    receive {cnode_event, Pid, E} ->
            case Match(E) of
                true -> E;
                false -> event(Pid, Match)
            end
    after ?T -> ct:fail({no_matching_event_from, Pid})
    end.

down(Ref) ->
    receive {'DOWN', Ref, process, Obj, Reason} -> {Obj, Reason}
    after ?T -> ct:fail({no_down, Ref})
    end.

uname(P) -> list_to_atom(cnode_test_lib:unique(P)).

%% An Erlang process that waits to be told how to exit.
sleeper() ->
    spawn(fun() -> receive {exit, R} -> exit(R) end end).

%% gen_server callbacks for the calls group's Erlang server.
init(Parent) -> {ok, Parent}.
handle_call({double, X}, _From, S) -> {reply, 2 * X, S};
handle_call(silent, _From, S) -> {noreply, S};
handle_call({crash, R}, _From, S) -> {stop, R, S}.
handle_cast(_, S) -> {noreply, S}.

%% ---- node ----------------------------------------------------------------

ping_and_hidden(Config) ->
    N = cnode(Config),
    pong = net_adm:ping(N),
    true = lists:member(N, nodes(hidden)),
    false = lists:member(N, nodes()).

%% No epmd answers on the node's epmd port (ERL_EPMD_PORT, a free port
%% here): the C node starts one, as erl does, registers with it, and an
%% Erlang node using that epmd port reaches it.  The test then stops that
%% epmd by its port.
epmd_started_if_absent(Config) ->
    {ok, L} = gen_tcp:listen(0, []),
    {ok, Port} = inet:port(L),
    ok = gen_tcp:close(L),
    Env = [{"ERL_EPMD_PORT", integer_to_list(Port)}],
    C = cnode_test_lib:start("testnode", Config, [{env, Env}]),
    N = maps:get(node, C),
    try
        {match, _} = re:run(cnode_test_lib:log_text(C), "starting epmd -daemon"),
        Cookie = atom_to_list(erlang:get_cookie()),
        {ok, Peer, _} = peer:start(#{name => cnode_test_lib:unique("epmdpeer"),
                                     args => ["-setcookie", Cookie], env => Env,
                                     connection => standard_io}),
        try
            pong = peer:call(Peer, net_adm, ping, [N])
        after
            peer:stop(Peer)
        end
    after
        0 = cnode_test_lib:stop(C),
        ct:log("~s", [os:cmd("epmd -port " ++ integer_to_list(Port) ++ " -kill")])
    end.

echo_node_example(Config) ->
    C = cnode_test_lib:start("echo_node", Config),
    N = maps:get(node, C),
    T = {hello, <<"wörld"/utf8>>, [1, 2.5, -7, 1 bsl 70], #{k => v}, self(), make_ref()},
    T = gen_server:call({echo, N}, T),
    {echo, N} ! {self(), T},
    receive T -> ok after ?T -> ct:fail(no_echo) end,
    gen_server:cast({echo, N}, {self(), cast_back}),
    receive cast_back -> ok after ?T -> ct:fail(no_cast_echo) end,
    0 = cnode_test_lib:stop(C).

%% An all-C pair found through epmd: a worker on one C node calls a worker
%% on another, and a link across them reports noconnection when one dies.
c_to_c_nodes(Config) ->
    C2 = cnode_test_lib:start("testnode", Config),
    N2 = maps:get(node, C2),
    Remote = gen_server:call({ctl, N2}, {spawn, undefined, log}),
    W = worker(Config),
    {ok, hi} = gen_server:call(W, {call, Remote, {echo, hi}, 5000}),
    ok = gen_server:call(W, {trap_exit, true}),
    ok = gen_server:call(W, {link, Remote}),
    {ok, pong} = gen_server:call(W, {call, Remote, ping, 5000}),
    cnode_test_lib:kill(C2),
    {'EXIT', Remote, noconnection} = event(W, fun({'EXIT', _, _}) -> true; (_) -> false end),
    ok.

graceful_stop(Config) ->
    C = cnode_test_lib:start("testnode", Config),
    N = maps:get(node, C),
    Name = uname("w"),
    Pid = gen_server:call({ctl, N}, {spawn, Name, log}),
    Ref = erlang:monitor(process, {Name, N}),
    Ref2 = erlang:monitor(process, Pid),
    0 = cnode_test_lib:stop(C),
    {{Name, N}, shutdown} = down(Ref),
    {Pid, shutdown} = down(Ref2),
    {ok, Names} = net_adm:names(),
    false = lists:keymember(maps:get(name, C), 1, Names).

%% A node asked to stop while a peer is unreachable, with output queued to
%% it, still exits: the drain of pending output is bounded (cn.h,
%% stop_drain_ms, 5 s by default), and ticks go on meanwhile.  The peer is
%% an erl node stopped with SIGSTOP (it reads nothing, as a black-holed
%% host), sent what the node's output limit (64 MiB) lets through of 96 MiB,
%% more than the socket buffers take.  The node must
%% exit with status 0 (sanitizers clean) within the bound plus 3 s.
stop_with_unreachable_peer(Config) ->
    C = cnode_test_lib:start("testnode", Config),
    N = maps:get(node, C),
    try
        with_stopped_peer(
          Config, N,
          fun(PNode, _Resume) ->
                  W = gen_server:call({ctl, N}, {spawn, undefined, log}),
                  %% ok, or busy past the output limit (64 MiB)
                  {_, Sent} = gen_server:call(W, {flood, {nosuch, PNode}, 1 bsl 20, 96}),
                  #{out_buffered := Queued} = gen_server:call({ctl, N}, stats),
                  ct:log("sent ~b MiB, ~b bytes not written at the stop", [Sent, Queued]),
                  true = Queued > 0,
                  T0 = erlang:monotonic_time(millisecond),
                  signal(C, "TERM"),
                  0 = cnode_test_lib:wait_exit(C, ?STOP_DRAIN_MS + 3000),
                  Ms = erlang:monotonic_time(millisecond) - T0,
                  ct:log("exited ~b ms after SIGTERM", [Ms]),
                  {match, _} = re:run(cnode_test_lib:log_text(C), "not written within")
          end)
    after
        _ = cnode_test_lib:kill(C)          % nothing if it has exited
    end.

%% Sends an OS signal to a C node this suite started, by its OS pid.
signal(C, Sig) ->
    os:cmd("kill -" ++ Sig ++ " " ++ integer_to_list(maps:get(os_pid, C))).

%% Runs Fun(PeerNode, Resume) with an erl peer connected to the C node N
%% and then stopped with SIGSTOP (by its OS pid); Resume() sends it SIGCONT,
%% which it also gets after Fun, before it is stopped.
with_stopped_peer(Config, N, Fun) ->
    with_peer(Config, uname("stopped"),
              fun(Peer, PNode) ->
                      pong = peer:call(Peer, net_adm, ping, [N]),
                      OsPid = peer:call(Peer, os, getpid, []),
                      os:cmd("kill -STOP " ++ OsPid),
                      Resume = fun() -> os:cmd("kill -CONT " ++ OsPid) end,
                      try Fun(PNode, Resume)
                      after Resume()
                      end
              end).

name_in_use(Config) ->
    C = ?config(cnode, Config),
    C2 = cnode_test_lib:start("testnode", Config, [{name, maps:get(name, C)}, {wait, false}]),
    1 = cnode_test_lib:wait_exit(C2, ?T),
    Log = cnode_test_lib:log_text(C2),
    {match, _} = re:run(Log, "already in use"),
    pong = net_adm:ping(cnode(Config)).

bad_flags(_Config) ->
    Bin = cnode_test_lib:bin("testnode"),
    Run = fun(Args) -> cnode_test_lib:run(Bin, Args) end,
    Usage = fun(Args, Re) -> cnode_test_lib:usage_error(Bin, Args, Re) end,
    Usage(["--sname", "x", "--port", "notaport"], "--port needs a port number"),
    Usage(["--cookie", "c"], "node name is required"),
    Usage(["--sname", "x", "--bogus"], "unknown option '--bogus'"),
    Usage(["--sname", "x", "--proto-dist", "inet7_tcp"], "--proto-dist needs"),
    Usage(["--sname", "x", "--ssl-dist-opt", "server_verify", "maybe"], "needs verify_peer"),
    {1, Out3} = Run(["--sname", "bad name!", "--cookie", "c"]),
    {match, _} = re:run(Out3, "bad node name").


%% ---- messages ------------------------------------------------------------

send_to_pid(Config) ->
    W = worker(Config),
    W ! {hello, 1},
    {hello, 1} = event(W).

%% sys looks at a C process as at a gen_server: its state (from the
%% process's format_state), and a status shaped as gen_server's.
sys_state_and_status(Config) ->
    W = worker(Config),
    W ! {tally, x},
    W ! {tally, y},
    {worker, 2} = sys:get_state(W),
    {status, W, {module, cnode}, [[], running, undefined, [], Misc]} = sys:get_status(W),
    [{data, [{<<"State">>, {worker, 2}}]}] = [D || {data, [{<<"State">>, _}]} = D <- Misc],
    %% a process without format_state shows its kind
    {cnode_process, ctl} = sys:get_state({ctl, cnode(Config)}).

%% sys:suspend holds messages (sys calls still answer; the process runs
%% nothing else) until sys:resume, which delivers them in order.
sys_suspend_resume(Config) ->
    W = worker(Config),
    ok = sys:suspend(W),
    W ! {held, 1},
    W ! {held, 2},
    %% the C process answered this after the two messages reached it
    {status, W, _, [_, suspended | _]} = sys:get_status(W),
    receive {cnode_event, W, E} -> ct:fail({ran_while_suspended, E}) after 0 -> ok end,
    ok = sys:resume(W),
    {held, 1} = event(W),
    {held, 2} = event(W),
    pong = gen_server:call(W, ping).

%% What a C process cannot do, sys reports as an error in the caller.
sys_unknown_request(Config) ->
    W = worker(Config),
    {'EXIT', _} = (catch sys:replace_state(W, fun(S) -> S end)),
    %% a system message whose From is not {Pid, Tag} is an ordinary message
    W ! {system, not_a_from, get_state},
    {system, not_a_from, get_state} = event(W),
    pong = gen_server:call(W, ping).

%% A one-way stream of small messages is read in batches (rxbatch.c): every
%% message arrives, in order, and a call right behind the stream is answered
%% (the batching lets go when the stream pauses; a broken pause check would
%% hold the call until it times out).
one_way_stream(Config) ->
    N = cnode(Config),
    #{rx_streams := S0} = gen_server:call({ctl, N}, stats),
    stream_and_call(worker(Config), 300000),
    #{rx_streams := S1} = gen_server:call({ctl, N}, stats),
    ct:log("streams batched: ~b", [S1 - S0]),
    true = S1 > S0.

%% --no-rx-batching: the same stream is read segment by segment.
one_way_stream_unbatched(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--no-rx-batching"]}]),
    N = maps:get(node, C),
    W = gen_server:call({ctl, N}, {spawn, undefined, log}),
    stream_and_call(W, 100000),
    #{rx_streams := 0} = gen_server:call({ctl, N}, stats),
    0 = cnode_test_lib:stop(C).

stream_and_call(W, Count) ->
    Self = self(),
    Payload = binary:copy(<<"x">>, 64),
    {Pid, Ref} = spawn_monitor(fun() ->
                                       [W ! {tally, Payload} || _ <- lists:seq(1, Count)],
                                       Self ! {tallied, gen_server:call(W, tallied, ?T)}
                               end),
    receive
        {tallied, Got} -> Count = Got;
        {'DOWN', Ref, process, Pid, Why} -> ct:fail({stream_sender_died, Why})
    end.

send_to_name(Config) ->
    Name = uname("named"),
    W = worker(Config, Name, log),
    {Name, cnode(Config)} ! to_name,
    to_name = event(W).

send_from_c(Config) ->
    W = worker(Config),
    ok = gen_server:call(W, {send, self(), to_pid}),
    receive to_pid -> ok after ?T -> ct:fail(no_msg) end,
    Name = uname("erl"),
    register(Name, self()),
    ok = gen_server:call(W, {send, {Name, node()}, to_name}),
    receive to_name -> ok after ?T -> ct:fail(no_named_msg) end.

cast_to_c(Config) ->
    W = worker(Config),
    gen_server:cast(W, {some, cast}),
    {cast, {some, cast}} = event(W).

big_and_odd_terms(Config) ->
    W = worker(Config),
    Big = crypto:strong_rand_bytes(4 * 1024 * 1024),
    Terms = [Big, [], "a string", [1 | 2], {}, 1.0e300, -(1 bsl 200), 'ä',
             'an atom with spaces', fun lists:map/2, #{[1] => {2}}, <<1:3>>,
             lists:seq(1, 1000), list_to_tuple(lists:seq(1, 300)), self(), make_ref()],
    [T = gen_server:call(W, {echo, T}) || T <- Terms],
    ok.

%% ---- monitors ------------------------------------------------------------

monitor_name_reason(Config) ->
    Name = uname("mon"),
    W = worker(Config, Name, log),
    N = cnode(Config),
    Ref = erlang:monitor(process, {Name, N}),
    ok = gen_server:call(W, {stop, {shutdown, bye}}),
    {{Name, N}, {shutdown, bye}} = down(Ref).

monitor_pid_reason(Config) ->
    W = worker(Config),
    Ref = erlang:monitor(process, W),
    ok = gen_server:call(W, {stop, {custom, 1}}),
    {W, {custom, 1}} = down(Ref).

monitor_missing_name(Config) ->
    N = cnode(Config),
    Ref = erlang:monitor(process, {no_such_name, N}),
    {{no_such_name, N}, noproc} = down(Ref).

monitor_dead_pid(Config) ->
    W = worker(Config),
    Ref = erlang:monitor(process, W),
    ok = gen_server:call(W, {stop, normal}),
    {W, normal} = down(Ref),
    Ref2 = erlang:monitor(process, W),
    {W, noproc} = down(Ref2).

demonitor_from_erlang(Config) ->
    W = worker(Config),
    Ref1 = erlang:monitor(process, W),
    true = erlang:demonitor(Ref1),
    Ref2 = erlang:monitor(process, W),
    ok = gen_server:call(W, {stop, gone}),
    {W, gone} = down(Ref2),
    receive {'DOWN', Ref1, _, _, _} -> ct:fail(demonitor_ignored) after 0 -> ok end.

c_monitors_erlang(Config) ->
    W = worker(Config),
    P = sleeper(),
    Ref = gen_server:call(W, {monitor, P}),
    true = is_reference(Ref),
    P ! {exit, bye},
    {'DOWN', Ref, process, P, bye} = event(W).

c_monitors_erlang_name(Config) ->
    W = worker(Config),
    Name = uname("target"),
    P = sleeper(),
    register(Name, P),
    Ref = gen_server:call(W, {monitor, {Name, node()}}),
    P ! {exit, {done, 2}},
    {'DOWN', Ref, process, {Name, Node}, {done, 2}} = event(W),
    Node = node(),
    Ref2 = gen_server:call(W, {monitor, {no_such_name, node()}}),
    {'DOWN', Ref2, process, {no_such_name, Node}, noproc} = event(W).

c_demonitor(Config) ->
    W = worker(Config),
    P1 = sleeper(),
    P2 = sleeper(),
    Ref1 = gen_server:call(W, {monitor, P1}),
    ok = gen_server:call(W, {demonitor, Ref1}),
    Ref2 = gen_server:call(W, {monitor, P2}),
    P1 ! {exit, one},
    P2 ! {exit, two},
    %% P1's DOWN would have come first from this node; only P2's arrives
    {'DOWN', Ref2, process, P2, two} = event(W).

%% ---- links ---------------------------------------------------------------

link_c_exit_to_erlang(Config) ->
    W = worker(Config),
    process_flag(trap_exit, true),
    true = link(W),
    ok = gen_server:call(W, {stop, boom}),
    receive {'EXIT', W, boom} -> ok after ?T -> ct:fail(no_exit) end,
    process_flag(trap_exit, false).

link_erlang_exit_to_c(Config) ->
    W = worker(Config),
    P = sleeper(),
    ok = gen_server:call(W, {link, P}),
    Ref = erlang:monitor(process, W),
    P ! {exit, boom},
    {W, boom} = down(Ref),
    {terminate, boom} = event(W).

link_normal_ignored(Config) ->
    W = worker(Config),
    P = sleeper(),
    ok = gen_server:call(W, {link, P}),
    Ref = erlang:monitor(process, P),
    P ! {exit, normal},
    {P, normal} = down(Ref),
    pong = gen_server:call(W, ping).

link_trap_exit(Config) ->
    W = worker(Config),
    ok = gen_server:call(W, {trap_exit, true}),
    P = sleeper(),
    ok = gen_server:call(W, {link, P}),
    P ! {exit, boom},
    {'EXIT', P, boom} = event(W),
    pong = gen_server:call(W, ping).

unlink_from_erlang(Config) ->
    W = worker(Config),
    process_flag(trap_exit, true),
    true = link(W),
    true = unlink(W),
    Ref = erlang:monitor(process, W),
    ok = gen_server:call(W, {stop, boom}),
    {W, boom} = down(Ref),
    receive {'EXIT', W, _} -> ct:fail(unlink_ignored) after 0 -> ok end,
    process_flag(trap_exit, false).

exit2_semantics(Config) ->
    W1 = worker(Config),
    true = exit(W1, normal),
    pong = gen_server:call(W1, ping),
    Ref1 = erlang:monitor(process, W1),
    true = exit(W1, foo),
    {W1, foo} = down(Ref1),
    W2 = worker(Config),
    ok = gen_server:call(W2, {trap_exit, true}),
    true = exit(W2, foo),
    Self = self(),
    {'EXIT', Self, foo} = event(W2),
    ok = gen_server:call(W2, {trap_exit, true}),
    Ref2 = erlang:monitor(process, W2),
    true = exit(W2, kill),
    {W2, killed} = down(Ref2),
    %% and from C to Erlang
    W3 = worker(Config),
    P = spawn(fun() -> process_flag(trap_exit, true),
                       receive M -> Self ! {trapped, M} end end),
    ok = gen_server:call(W3, {exit, P, from_c}),
    receive {trapped, {'EXIT', W3, from_c}} -> ok after ?T -> ct:fail(no_exit2) end.

c_links_missing(Config) ->
    W = worker(Config),
    ok = gen_server:call(W, {trap_exit, true}),
    P = sleeper(),
    Ref = erlang:monitor(process, P),
    P ! {exit, normal},
    {P, normal} = down(Ref),
    ok = gen_server:call(W, {link, P}),
    {'EXIT', P, noproc} = event(W),
    ok.

%% ---- calls ---------------------------------------------------------------

%% A call to a name that does not exist fails with noproc at once (the C
%% node answers the call's monitor with noproc), well within its timeout.
call_missing_name(Config) ->
    T0 = erlang:monotonic_time(millisecond),
    {'EXIT', {noproc, _}} = (catch gen_server:call({no_such, cnode(Config)}, x, 5000)),
    Ms = erlang:monotonic_time(millisecond) - T0,
    ct:log("noproc after ~b ms", [Ms]),
    true = Ms < 1000.

call_into_c(Config) ->
    W = worker(Config),
    pong = gen_server:call(W, ping),
    {a, <<"b">>} = gen_server:call(W, {echo, {a, <<"b">>}}).

c_calls_erlang(Config) ->
    Name = uname("srv"),
    {ok, S} = gen_server:start({local, Name}, ?MODULE, self(), []),
    W = worker(Config),
    {ok, 42} = gen_server:call(W, {call, {Name, node()}, {double, 21}, 5000}),
    {ok, 8} = gen_server:call(W, {call, S, {double, 4}, 0}),
    {down, noproc} = gen_server:call(W, {call, {no_such_srv, node()}, x, 5000}),
    gen_server:stop(S).

c_calls_c_local(Config) ->
    W1 = worker(Config),
    W2 = worker(Config),
    {ok, {x, 1}} = gen_server:call(W1, {call, W2, {echo, {x, 1}}, 5000}).

c_call_timeout(Config) ->
    Name = uname("srv"),
    {ok, S} = gen_server:start({local, Name}, ?MODULE, self(), []),
    W = worker(Config),
    timeout = gen_server:call(W, {call, S, silent, 200}),
    %% the process is still fine and a later call works
    {ok, 2} = gen_server:call(W, {call, S, {double, 1}, 5000}),
    gen_server:stop(S).

c_call_callee_dies(Config) ->
    {ok, S} = gen_server:start(?MODULE, self(), []),
    W = worker(Config),
    {down, {shutdown, crashed}} =
        gen_server:call(W, {call, S, {crash, {shutdown, crashed}}, 5000}).

%% ---- gleam subjects ------------------------------------------------------

subject_receive(Config) ->
    W = worker(Config),
    {subject, W, Tag} = gen_server:call(W, new_subject),
    true = is_reference(Tag),
    W ! {Tag, hello},
    {subject, hello} = event(W).

%% actor.call from the Erlang side, as compiled Gleam does it.
subject_call_from_erlang(Config) ->
    W = worker(Config),
    {subject, W, Tag} = gen_server:call(W, new_subject),
    ReplyTag = make_ref(),
    Mon = erlang:monitor(process, W),
    W ! {Tag, {ping, {subject, self(), ReplyTag}}},
    receive {ReplyTag, pong} -> ok
    after ?T -> ct:fail(no_reply)
    end,
    erlang:demonitor(Mon, [flush]).

subject_send_from_c(Config) ->
    W = worker(Config),
    Tag = make_ref(),
    ok = gen_server:call(W, {subject_send, {subject, self(), Tag}, {msg, 1}}),
    receive {Tag, {msg, 1}} -> ok after ?T -> ct:fail(no_subject_msg) end.

gleam_call_from_c(Config) ->
    W = worker(Config),
    Tag = make_ref(),
    Actor = spawn(fun() ->
                          receive {Tag, {ask, {subject, P, R}}} -> P ! {R, answer} end,
                          receive stop -> ok end
                  end),
    {ok, answer} = gen_server:call(W, {gleam_call, {subject, Actor, Tag}, 5000}),
    Silent = spawn(fun() -> receive stop -> ok end end),
    timeout = gen_server:call(W, {gleam_call, {subject, Silent, Tag}, 200}),
    Dead = sleeper(),
    Ref = erlang:monitor(process, Dead),
    Dead ! {exit, normal},
    {Dead, normal} = down(Ref),
    {down, noproc} = gen_server:call(W, {gleam_call, {subject, Dead, Tag}, 5000}),
    Actor ! stop,
    Silent ! stop.

%% ---- gleam named subjects --------------------------------------------------
%%
%% {named_subject, Name} as gleam_erlang 1.3 has it: messages are {Name, Msg}
%% to whoever holds Name.  The Erlang side is raft_ref_actor, which does what
%% compiled gleam_erlang 1.3 does (send/2, call/3 on this node) and what a
%% distributed Gleam program does for a name on another node (send_at/3,
%% call_at/4: {Name, Node} ! {Name, Msg}, the callee monitored as {Name, Node}).

%% The panic message a Gleam caller dies with.
gleam_panic(F) ->
    try F() of
        R -> ct:fail({no_panic, R})
    catch error:#{gleam_error := panic, message := M} -> M
    end.

named_subject_to_c(Config) ->
    Name = uname("named"),
    W = worker(Config, Name, log),
    Node = cnode(Config),
    %% until it takes its named subject, {Name, Msg} is an info message
    W ! {Name, before},
    {Name, before} = event(W),
    Subject = {named_subject, Name} = gen_server:call(W, named_subject),
    nil = raft_ref_actor:send_at(Subject, Node, hello),
    {named, Subject, hello} = event(W),
    %% by pid, as process.send sends once it has looked the name up
    W ! {Name, by_pid},
    {named, Subject, by_pid} = event(W),
    %% its ordinary subjects work alongside
    {subject, W, Tag} = gen_server:call(W, new_subject),
    W ! {Tag, plain},
    {subject, plain} = event(W),
    %% a process without a name has no named subject
    error = gen_server:call(worker(Config), named_subject).

%% process.call on the named subject of a C process.
named_call_into_c(Config) ->
    Name = uname("named"),
    W = worker(Config, Name, log),
    Subject = gen_server:call(W, named_subject),
    pong = raft_ref_actor:call_at(Subject, cnode(Config), ?T, fun(R) -> {ping, R} end),
    pong = raft_ref_actor:call_at(Subject, cnode(Config), ?T, fun(R) -> {ask, R} end),
    %% nothing left behind: the next message is the next event
    W ! {Name, after_calls},
    {named, Subject, after_calls} = event(W).

%% A name nobody holds on the C node: the caller's monitor fires noproc at
%% once (a timeout of a minute would fail the suite's ?T waits).
named_call_missing_c_name(Config) ->
    Node = cnode(Config),
    Ask = fun(R) -> {ping, R} end,
    M1 = gleam_panic(fun() -> raft_ref_actor:call_at({named_subject, uname("nobody")}, Node,
                                                       60000, Ask) end),
    {match, _} = re:run(M1, "callee exited: .*Abnormal\\(Noproc\\)"),
    %% a named C process that has gone
    Name = uname("named"),
    W = worker(Config, Name, log),
    Subject = gen_server:call(W, named_subject),
    ok = gen_server:call(W, {stop, normal}),
    {terminate, normal} = event(W),
    M2 = gleam_panic(fun() -> raft_ref_actor:call_at(Subject, Node, 60000, Ask) end),
    {match, _} = re:run(M2, "callee exited: .*Abnormal\\(Noproc\\)").

%% C sends to a named subject: on an erl node, and on its own node.
named_send_from_c(Config) ->
    Name = uname("erlname"),
    true = register(Name, self()),
    W = worker(Config),
    ok = gen_server:call(W, {named_send, atom_to_binary(Name), node(), {msg, 1}}),
    receive {Name, {msg, 1}} -> ok after ?T -> ct:fail(no_named_msg) end,
    unregister(Name),
    %% to a name nobody holds: dropped, as {Name, Node} ! Msg
    ok = gen_server:call(W, {named_send, atom_to_binary(Name), node(), {msg, 2}}),
    %% a named subject read from a term is on the C node itself
    CName = uname("named"),
    B = worker(Config, CName, log),
    Subject = gen_server:call(B, named_subject),
    ok = gen_server:call(W, {subject_send, Subject, {msg, 3}}),
    {named, Subject, {msg, 3}} = event(B),
    ok = gen_server:call(W, {named_send, atom_to_binary(CName), undefined, {msg, 4}}),
    {named, Subject, {msg, 4}} = event(B),
    receive Stray -> ct:fail({stray, Stray}) after 0 -> ok end.

%% An Erlang actor registered as Name, answering {ask, ReplySubject} on its
%% named subject as a Gleam actor does (process.send on the reply subject).
named_actor(Name, Answer) ->
    Parent = self(),
    Ready = make_ref(),
    Pid = spawn(fun() ->
                        true = register(Name, self()),
                        Parent ! Ready,
                        named_actor_loop(Name, Answer)
                end),
    receive Ready -> Pid after ?T -> ct:fail(named_actor_not_ready) end.

named_actor_loop(Name, Answer) ->
    receive
        {Name, {ask, ReplySubject}} ->
            case Answer of
                silent -> ok;
                {exit, R} -> exit(R);
                _ -> raft_ref_actor:send(ReplySubject, Answer)
            end,
            named_actor_loop(Name, Answer);
        stop -> ok
    end.

%% cn_gleam_call on a named subject: on an erl node, and on the C node.
named_call_from_c(Config) ->
    W = worker(Config),
    Answering = uname("actor"),
    A = named_actor(Answering, answer),
    {ok, answer} = gen_server:call(W, {named_call, atom_to_binary(Answering), node(), ?T}),
    Silent = uname("silent"),
    S = named_actor(Silent, silent),
    timeout = gen_server:call(W, {named_call, atom_to_binary(Silent), node(), 200}),
    Dying = uname("dying"),
    D = named_actor(Dying, {exit, boom}),
    Ref = erlang:monitor(process, D),
    {down, boom} = gen_server:call(W, {named_call, atom_to_binary(Dying), node(), ?T}),
    {D, boom} = down(Ref),
    %% a named C process on the C node itself
    CName = uname("named"),
    B = worker(Config, CName, log),
    {named_subject, CName} = gen_server:call(B, named_subject),
    {ok, pong} = gen_server:call(W, {named_call, atom_to_binary(CName), undefined, ?T}),
    {ok, pong} = gen_server:call(W, {named_call, atom_to_binary(CName), cnode(Config), ?T}),
    {ok, pong} = gen_server:call(W, {gleam_call, {named_subject, CName}, ?T}),
    A ! stop,
    S ! stop.

%% Names nobody holds: DOWN noproc at once, on an erl node and on the C
%% node (the calls' own timeout is a minute; gen_server:call waits 5 s).
named_call_from_c_noproc(Config) ->
    W = worker(Config),
    Nobody = atom_to_binary(uname("nobody")),
    {down, noproc} = gen_server:call(W, {named_call, Nobody, node(), 60000}),
    {down, noproc} = gen_server:call(W, {named_call, Nobody, undefined, 60000}),
    {down, noproc} = gen_server:call(W, {gleam_call, {named_subject, binary_to_atom(Nobody)},
                                         60000}),
    pong = gen_server:call(W, ping).

%% Subjects read and written back; malformed ones are refused, never a crash.
named_subject_terms(Config) ->
    W = worker(Config),
    Name = uname("named"),
    {named_subject, Name} = gen_server:call(W, {subject_echo, {named_subject, Name}}),
    Ordinary = {subject, self(), make_ref()},
    Ordinary = gen_server:call(W, {subject_echo, Ordinary}),
    Bad = [{named_subject, 42}, {named_subject, <<"name">>}, {named_subject, ''},
           {named_subject}, {named_subject, Name, node()}, named_subject,
           {named_subject, "name"}, {subject, self()}],
    [badarg = gen_server:call(W, {subject_echo, B}) || B <- Bad],
    [badarg = gen_server:call(W, {subject_send, B, x}) || B <- Bad],
    [error = gen_server:call(W, {gleam_call, B, 1000}) || B <- Bad],
    %% cn_named_subject: an atom's text, 1..255 characters of UTF-8
    Long = binary:copy(<<"a">>, 256),
    Wide = binary:copy(<<"é"/utf8>>, 255),
    badarg = gen_server:call(W, {named_send, <<>>, node(), x}),
    badarg = gen_server:call(W, {named_send, Long, node(), x}),
    badarg = gen_server:call(W, {named_call, Long, node(), 1000}),
    badarg = gen_server:call(W, {named_send, <<Wide/binary, "é"/utf8>>, node(), x}),
    ok = gen_server:call(W, {named_send, binary:part(Long, 0, 255), node(), x}),
    ok = gen_server:call(W, {named_send, Wide, node(), x}),
    pong = gen_server:call(W, ping).

%% ---- process timers (cn_start_timer) ---------------------------------------

timers(Config) -> maps:get(timers, gen_server:call({ctl, cnode(Config)}, stats)).

%% Polls Cond (the node's stats, where no event tells) until it holds.
wait_until(Cond) -> wait_until(Cond, erlang:monotonic_time(millisecond) + ?T).
wait_until(Cond, Deadline) ->
    case Cond() of
        true -> ok;
        false ->
            erlang:monotonic_time(millisecond) < Deadline orelse ct:fail(condition_never_held),
            receive after 5 -> wait_until(Cond, Deadline) end
    end.

%% 300 timers started in one turn with random delays (2 s and more, so
%% that the cancels below come first), a third of them cancelled: the others arrive as {timeout, Ref, Msg}, each with
%% its own ref, in order of due time and, for equal times, of starting;
%% none of the cancelled ones arrives, none is early, none is left.
process_timers_in_order(Config) ->
    W = worker(Config),
    Specs = [{2000 + rand:uniform(120) - 1, {msg, I}} || I <- lists:seq(1, 300)],
    T0 = erlang:monotonic_time(millisecond),
    Refs = gen_server:call(W, {start_timers, Specs}),
    300 = length(lists:usort(Refs)),
    All = lists:zip(Specs, Refs),
    {Cancel, Keep} = lists:partition(fun({{_, {msg, I}}, _}) -> I rem 3 =:= 0 end, All),
    [true = is_integer(gen_server:call(W, {cancel_timer, R})) || {_, R} <- Cancel],
    Sorted = lists:sort([{Ms, I, R} || {{Ms, {msg, I}}, R} <- Keep]),
    Expected = [{timeout, R, {msg, I}} || {_, I, R} <- Sorted],
    Got = [event(W) || _ <- Expected],
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    ct:log("~b timers in ~b ms", [length(Got), Elapsed]),
    Expected = Got,
    MaxMs = lists:max([Ms || {{Ms, _}, _} <- Keep]),
    %% not early, to the clocks' resolution: the loop's clock (uv_now) and
    %% this one count whole milliseconds, so a timer due MaxMs after its
    %% start shows here as at least MaxMs - 1 (2118 for 2119 was seen)
    true = Elapsed >= MaxMs - 1,
    pong = gen_server:call(W, ping),
    receive {cnode_event, W, E} -> ct:fail({unexpected, E}) after 0 -> ok end,
    0 = timers(Config).

%% cn_cancel_timer: the time that was left, then false; false for a timer
%% that fired; a cancelled timer never arrives (one started after it and
%% due after it comes first).
process_timer_cancel(Config) ->
    W = worker(Config),
    R = gen_server:call(W, {start_timer, 60000, never}),
    1 = timers(Config),
    Left = gen_server:call(W, {cancel_timer, R}),
    true = Left > 50000 andalso Left =< 60000,
    false = gen_server:call(W, {cancel_timer, R}),
    R2 = gen_server:call(W, {start_timer, 0, now}),
    {timeout, R2, now} = event(W),
    false = gen_server:call(W, {cancel_timer, R2}),
    R3 = gen_server:call(W, {start_timer, 20, cancelled}),
    R4 = gen_server:call(W, {start_timer, 40, later}),
    true = is_integer(gen_server:call(W, {cancel_timer, R3})),
    {timeout, R4, later} = event(W),
    0 = timers(Config).

%% A process's timers go when it exits (none fires for a pid that is gone).
process_timers_go_with_process(Config) ->
    W = worker(Config),
    _ = gen_server:call(W, {start_timers, [{60000, a}, {60000, b}, {0, c}]}),
    {timeout, _, c} = event(W),
    2 = timers(Config),
    M = monitor(process, W),
    ok = gen_server:call(W, {stop, normal}),
    {_, normal} = down(M),
    0 = timers(Config).

%% A timer that fires while its process is suspended is held with its
%% other messages, and arrives in order after sys:resume.  (ctl starts it:
%% any code on the loop may start a timer for a local process.)
process_timer_while_suspended(Config) ->
    W = worker(Config),
    ok = sys:suspend(W),
    W ! {held, 1},
    ok = gen_server:call({ctl, cnode(Config)}, {start_timer_for, W, 0, fired}),
    wait_until(fun() -> timers(Config) =:= 0 end),
    W ! {held, 2},
    %% the C process answered this after the timer fired and both messages came
    {status, W, _, [_, suspended | _]} = sys:get_status(W),
    receive {cnode_event, W, E} -> ct:fail({ran_while_suspended, E}) after 0 -> ok end,
    ok = sys:resume(W),
    {held, 1} = event(W),
    {timeout, R, fired} = event(W),
    true = is_reference(R),
    {held, 2} = event(W).

%% ---- managed processes ---------------------------------------------------

idle_timeout(Config) ->
    W = worker(Config),
    ok = gen_server:call(W, {timeout, 50}),
    timeout = event(W),
    %% a message in the meantime cancels it, as in gen_server
    ok = gen_server:call(W, {timeout, 60000}),
    pong = gen_server:call(W, ping).

unhandled_log(Config) ->
    W = worker(Config, log),
    W ! junk,
    pong = gen_server:call(W, ping),
    %% unknown calls are unhandled too; the caller times out, the process lives
    {'EXIT', {timeout, _}} = (catch gen_server:call(W, what_is_this, 300)),
    pong = gen_server:call(W, ping).

unhandled_stop(Config) ->
    W = worker(Config, stop),
    Ref = erlang:monitor(process, W),
    W ! {junk, 7},
    {W, {unhandled_message, {junk, 7}}} = down(Ref).

unhandled_forward(Config) ->
    W = worker(Config, forward),
    ok = gen_server:call(W, {dead_letter, self()}),
    W ! {junk, 8},
    receive {junk, 8} -> ok after ?T -> ct:fail(not_forwarded) end.

deferred_reply(Config) ->
    %% the C worker replies to our call only when its own call returns
    Name = uname("srv"),
    {ok, S} = gen_server:start({local, Name}, ?MODULE, self(), []),
    W = worker(Config),
    Parent = self(),
    spawn(fun() -> Parent ! {r, gen_server:call(W, {call, S, {double, 5}, 5000})} end),
    receive {r, {ok, 10}} -> ok after ?T -> ct:fail(no_deferred_reply) end,
    gen_server:stop(S).

%% A term built by cn_fmt may be given to cn_replyf (which builds in a
%% buffer of its own) and to the next cn_fmt (cn.h says how long each
%% lives).  Terms small and large (the large one makes the buffers grow).
%% A node of its own: a buffer misused would be caught by the sanitizers,
%% so the exit status must be 0.
fmt_terms_reused(Config) ->
    C = cnode_test_lib:start("testnode", Config),
    N = maps:get(node, C),
    try
        W = gen_server:call({ctl, N}, {spawn, undefined, log}),
        [begin
             {ok, {fmt, T}} = gen_server:call(W, {fmt_reply, T}),
             {b, {a, T}} = gen_server:call(W, {fmt_fmt, T})
         end || T <- [x, {1, <<"two">>, [3]}, binary:copy(<<"y">>, 100000)]],
        pong = gen_server:call(W, ping)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% ---- faults --------------------------------------------------------------

c_node_killed(Config) ->
    C = cnode_test_lib:start("testnode", Config),
    N = maps:get(node, C),
    Name = uname("w"),
    W = gen_server:call({ctl, N}, {spawn, Name, log}),
    Ref = erlang:monitor(process, {Name, N}),
    Ref2 = erlang:monitor(process, W),
    erlang:monitor_node(N, true),
    Self = self(),
    Linker = spawn(fun() -> process_flag(trap_exit, true), link(W), Self ! linked,
                            receive M -> Self ! {linker, M} end end),
    receive linked -> ok end,
    _ = cnode_test_lib:kill(C),
    {{Name, N}, noconnection} = down(Ref),
    {W, noconnection} = down(Ref2),
    receive {nodedown, N} -> ok after ?T -> ct:fail(no_nodedown) end,
    receive {linker, {'EXIT', W, noconnection}} -> ok
    after ?T -> ct:fail(no_link_exit)
    end,
    _ = Linker.

erlang_node_killed(Config) ->
    {ok, Peer, PeerNode} = peer:start(#{name => uname("peer"),
                                        args => ["-setcookie",
                                                 atom_to_list(?config(cookie, Config))]}),
    P = erpc:call(PeerNode, erlang, spawn, [timer, sleep, [infinity]]),
    W = worker(Config),
    ok = gen_server:call(W, {trap_exit, true}),
    Ref = gen_server:call(W, {monitor, P}),
    ok = gen_server:call(W, {link, P}),
    %% a round trip on the same connection: the peer has the link and monitor
    {down, noproc} = gen_server:call(W, {call, {no_such, PeerNode}, x, 5000}),
    OsPid = erpc:call(PeerNode, os, getpid, []),
    _ = os:cmd("kill -KILL " ++ OsPid),
    catch peer:stop(Peer),
    Events = [event(W, fun({'DOWN', _, _, _, _}) -> true;
                         ({'EXIT', _, _}) -> true;
                         (_) -> false end) || _ <- [1, 2]],
    true = lists:member({'DOWN', Ref, process, P, noconnection}, Events),
    true = lists:member({'EXIT', P, noconnection}, Events).

wrong_cookie(Config) ->
    N = cnode(Config),
    %% a raw client with the wrong cookie is turned away...
    {error, _} = cnode_test_lib:raw_handshake(N, cnode_test_lib:unique("bad") ++ "@x",
                                              wrong_cookie),
    %% ...and so is a real erl node
    {ok, Peer, PeerNode} = peer:start(#{name => uname("badcookie"),
                                        connection => standard_io,
                                        args => ["-setcookie", "definitely_wrong"]}),
    pang = peer:call(Peer, net_adm, ping, [N]),
    peer:stop(Peer),
    _ = PeerNode,
    %% the node logged it and keeps serving others
    pong = net_adm:ping(N),
    Log = cnode_test_lib:log_text(?config(cnode, Config)),
    {match, _} = re:run(Log, "wrong cookie"),
    %% a peer that keeps retrying is warned about once in 10 s, not every
    %% time (cn_log's rate limit)
    Retry = cnode_test_lib:unique("retry") ++ "@x",
    [{error, _} = cnode_test_lib:raw_handshake(N, Retry, wrong_cookie) || _ <- lists:seq(1, 5)],
    Warned = fun() ->
                     L = cnode_test_lib:log_text(?config(cnode, Config)),
                     [X || X <- string:split(L, "\n", all), string:find(X, Retry) =/= nomatch,
                           string:find(X, "warning") =/= nomatch]
             end,
    wait_until(fun() -> Warned() =/= [] end),
    pong = net_adm:ping(N),
    [_] = Warned().

%% ---- hostile input -------------------------------------------------------

malformed_frames(Config) ->
    N = cnode(Config),
    Cookie = ?config(cookie, Config),
    Bad = [<<"x">>,                                       % not a 'p' packet
           <<"p", 131, 104, 3>>,                          % truncated control
           <<"p", (term_to_binary({99, a}))/binary>>,     % unknown operation
           <<"p", (term_to_binary({2, '', self()}))/binary>>,  % SEND without message
           <<"p", (term_to_binary({2, '', self()}))/binary, 131, 109, 0, 0, 0, 9>>,
           <<"p", (term_to_binary({6, self(), '', ctl}))/binary, 131, 82, 0>>, % atom cache
           <<"p", 131, 108, 255, 255, 255, 255, 106>>,     % absurd list length
           <<"p", (term_to_binary({2, '', self()}))/binary,
             (term_to_binary(x))/binary, 0>>,             % trailing byte
           <<"p", 131, 104, 3, 97, 2, 100, 0, 0, 103, 100, 0, 1, $a>>],
    lists:foreach(
      fun(Frame) ->
              {ok, S} = cnode_test_lib:raw_handshake(N, cnode_test_lib:unique("raw") ++ "@x",
                                                     Cookie),
              ok = gen_tcp:send(S, Frame),
              {error, closed} = gen_tcp:recv(S, 0, ?T)
      end, Bad),
    %% a length beyond the limit, written raw
    {ok, S2} = cnode_test_lib:raw_handshake(N, cnode_test_lib:unique("raw") ++ "@x", Cookie),
    ok = inet:setopts(S2, [{packet, raw}]),
    ok = gen_tcp:send(S2, <<255, 255, 255, 255, "p">>),
    {error, closed} = gen_tcp:recv(S2, 0, ?T),
    %% a good frame on a raw connection is still delivered
    {ok, S3} = cnode_test_lib:raw_handshake(N, cnode_test_lib:unique("raw") ++ "@x", Cookie),
    ok = gen_tcp:send(S3, <<"p", (term_to_binary({6, self(), '', no_such_name}))/binary,
                            (term_to_binary(hi))/binary>>),
    gen_tcp:close(S3),
    %% and the node serves others throughout
    pong = net_adm:ping(N),
    W = worker(Config),
    pong = gen_server:call(W, ping).

malformed_handshake(Config) ->
    N = cnode(Config),
    [Alive, Host] = string:split(atom_to_list(N), "@"),
    {port, PortNo, _} = erl_epmd:port_please(Alive, Host),
    Garbage = [<<0, 3, "abc">>, <<0, 1, $n>>, <<255, 255>>, <<0, 20, $N, 0:64, 0:32, 0:16>>,
               <<0, 5, $N, 1, 2, 3, 4>>],
    lists:foreach(fun(G) ->
                          {ok, S} = gen_tcp:connect(Host, PortNo, [binary, {active, false}]),
                          ok = gen_tcp:send(S, G),
                          {error, closed} = drain(S)
                  end, Garbage),
    pong = net_adm:ping(N).

drain(S) ->
    case gen_tcp:recv(S, 0, ?T) of
        {ok, _} -> drain(S);
        E -> E
    end.

impostor_name(Config) ->
    N = cnode(Config),
    %% a peer claiming to be the node itself is refused
    {error, {status, {ok, <<"snot_allowed">>}}} =
        cnode_test_lib:raw_handshake(N, atom_to_list(N), ?config(cookie, Config)),
    pong = net_adm:ping(N).

%% A stranger without the cookie claims more names than the node's table of
%% node names holds, one connection each, several at a time.  A name is
%% only kept once the cookie is proven, so none of these is: afterwards a
%% real node with the cookie still connects, pings and calls.  The flood
%% gets its own node, whose cap is lowered from 65,536 to 2,000 so that it
%% takes a few seconds instead of a minute (the rule is the same).
name_flood_without_cookie(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--max-node-names", "2000"]}]),
    N = maps:get(node, C),
    try
        T0 = erlang:monotonic_time(millisecond),
        ok = claim_names(dist_port(N), "flood", 3000, 8),
        ct:log("3,000 claimed names in ~b ms", [erlang:monotonic_time(millisecond) - T0]),
        #{node_names := Names} = gen_server:call({ctl, N}, stats),
        true = Names < 10,
        real_peer_served(Config, "afterflood", N)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% A real erl node (named Prefix...) still pings N and calls its echo process.
real_peer_served(Config, Prefix, N) ->
    with_peer(Config, uname(Prefix),
              fun(Peer, _) ->
                      pong = peer:call(Peer, net_adm, ping, [N]),
                      pong = peer:call(Peer, gen_server, call, [{echo, N}, ping])
              end).

%% A stranger claims a real node's name and holds its handshake open; the
%% real node, connecting meanwhile, is not turned away.
impostor_holds_peer_name(Config) ->
    N = cnode(Config),
    Name = uname("real"),
    {ok, S, <<"sok">>} = claim_name(dist_port(N), node_name(Name)),
    with_peer(Config, Name,
              fun(Peer, _) ->
                      pong = peer:call(Peer, net_adm, ping, [N]),
                      pong = peer:call(Peer, gen_server, call, [{echo, N}, ping])
              end),
    gen_tcp:close(S).

%% The C node dials a node P (here a raw acceptor registered with epmd)
%% that sorts after it, so P would win a simultaneous connect.  While the
%% dial waits in its handshake, a stranger claims P's name: the dial is not
%% given up for the stranger, and when P completes the handshake the
%% message queued on the dial arrives.
impostor_cannot_evict_dial(Config) ->
    dial_to_raw_peer(Config, "zz",
                     fun(N, PNode, D) ->
                             {ok, S, <<"sok_simultaneous">>} = claim_name(dist_port(N), PNode),
                             gen_tcp:close(S),
                             ok = accept_handshake(D, PNode, ?config(cookie, Config)),
                             {6, _, '', inbox, queued_on_the_dial} = next_message(D)
                     end).

%% The same dial, but this time P itself connects meanwhile, with the
%% cookie: a simultaneous connect P wins (as net_kernel decides it).  The
%% C node answers ok_simultaneous, gives up its dial once P has proven the
%% cookie, and the message queued on the dial arrives on P's connection.
simultaneous_connect_won_by_peer(Config) ->
    dial_to_raw_peer(Config, "zz",
                     fun(N, PNode, D) ->
                             {ok, S, <<"sok_simultaneous">>} = claim_name(dist_port(N), PNode),
                             ok = finish_initiator(S, ?config(cookie, Config)),
                             {6, _, '', inbox, queued_on_the_dial} = next_message(S),
                             {error, closed} = gen_tcp:recv(D, 0, ?T)
                     end).

%% And when P sorts before the C node, the C node wins: P's connection is
%% answered nok, and the dial, completed by P, carries the message.
simultaneous_connect_won_by_us(Config) ->
    dial_to_raw_peer(Config, "a",
                     fun(N, PNode, D) ->
                             {ok, S, <<"snok">>} = claim_name(dist_port(N), PNode),
                             {error, closed} = gen_tcp:recv(S, 0, ?T),
                             ok = accept_handshake(D, PNode, ?config(cookie, Config)),
                             {6, _, '', inbox, queued_on_the_dial} = next_message(D)
                     end).

%% A worker sends queued_on_the_dial to {inbox, P}, P being a raw acceptor
%% named Prefix..., registered with epmd; once the C node's dial has sent
%% its name, Fun(CNode, P, DialSocket) goes on from there.  The worker
%% still answers afterwards.
dial_to_raw_peer(Config, Prefix, Fun) ->
    N = cnode(Config),
    PNode = node_name(Prefix ++ cnode_test_lib:unique("p")),
    [P, _] = string:split(atom_to_list(PNode), "@"),
    {ok, L} = gen_tcp:listen(0, [binary, {packet, 2}, {active, false}]),
    {ok, LPort} = inet:port(L),
    Epmd = epmd_register(P, LPort),
    try
        W = worker(Config),
        ok = gen_server:call(W, {send, {inbox, PNode}, queued_on_the_dial}),
        {ok, D} = gen_tcp:accept(L, ?T),
        {ok, <<$N, _:64, _:32, NL:16, NameBin:NL/binary>>} = gen_tcp:recv(D, 0, ?T),
        N = binary_to_atom(NameBin),
        Fun(N, PNode, D),
        pong = gen_server:call(W, ping)
    after
        gen_tcp:close(Epmd),
        gen_tcp:close(L)
    end.

junk_to_ctl(Config) ->
    N = cnode(Config),
    {ctl, N} ! {some, junk, <<1, 2, 3>>},
    {ctl, N} ! {'$gen_call', not_a_from, x},
    {ctl, N} ! {'$gen_cast', whatever},
    #{procs := P} = gen_server:call({ctl, N}, stats),
    true = P > 0,
    Log = cnode_test_lib:log_text(?config(cnode, Config)),
    {match, _} = re:run(Log, "unexpected message dropped: \\{some,junk").

%% ---- scale ---------------------------------------------------------------

many_processes(Config) ->
    N = cnode(Config),
    #{rss_kb := Before} = gen_server:call({ctl, N}, stats),
    10000 = gen_server:call({ctl, N}, {spawn_many, 10000}, 60000),
    #{procs := Procs, rss_kb := After} = gen_server:call({ctl, N}, stats),
    true = Procs >= 10000,
    ct:log("10,000 processes: ~p KiB (~.1f bytes each)",
           [After - Before, (After - Before) * 1024 / 10000]),
    W = worker(Config),
    pong = gen_server:call(W, ping),
    10000 = gen_server:call({ctl, N}, stop_many, 60000),
    #{procs := Procs2} = gen_server:call({ctl, N}, stats),
    true = Procs2 < 100.

many_connections(Config) ->
    N = cnode(Config),
    Cookie = ?config(cookie, Config),
    #{conns := C0, rss_kb := Before} = gen_server:call({ctl, N}, stats),
    Socks = [begin
                 {ok, S} = cnode_test_lib:raw_handshake(
                             N, cnode_test_lib:unique("many") ++ "@x", Cookie),
                 S
             end || _ <- lists:seq(1, 500)],
    #{conns := C1, rss_kb := After} = gen_server:call({ctl, N}, stats),
    true = C1 >= C0 + 500,
    ct:log("500 connections: ~p KiB (~.1f KiB each)", [After - Before, (After - Before) / 500]),
    W = worker(Config),
    pong = gen_server:call(W, ping),
    %% every connection is live: each delivers a message to the worker
    [ok = gen_tcp:send(S, <<"p", (term_to_binary({2, '', W}))/binary,
                            (term_to_binary({via, I}))/binary>>)
     || {I, S} <- lists:zip(lists:seq(1, 500), Socks)],
    Got = [event(W) || _ <- Socks],
    500 = length(lists:usort(Got)),
    [gen_tcp:close(S) || S <- Socks],
    ok.

%% ---- raw distribution clients ----------------------------------------------

%% The flags raw handshakes here announce (what cnode_test_lib's does).
-define(RAW_FLAGS, (16#1000000 bor 16#40000 bor 16#20000 bor 16#10000 bor 16#800
                    bor 16#400 bor 16#200 bor 16#100 bor 16#80 bor 16#10 bor 16#4
                    bor 16#8 bor 16#400000)).

node_name(Alive) -> list_to_atom(lists:concat([Alive, "@", cnode_test_lib:host()])).

dist_port(Node) ->
    [Alive, Host] = string:split(atom_to_list(Node), "@"),
    {port, Port, _} = erl_epmd:port_please(Alive, Host),
    Port.

%% Opens a handshake claiming to be Node, without the cookie: the name
%% message, then the status the C node answers (its challenge follows).
claim_name(Port, Node) ->
    Name = atom_to_binary(Node),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port,
                              [binary, {packet, 2}, {active, false}, {linger, {true, 0}}]),
    ok = gen_tcp:send(S, <<$N, ?RAW_FLAGS:64, 1:32, (byte_size(Name)):16, Name/binary>>),
    {ok, Status} = gen_tcp:recv(S, 0, ?T),
    {ok, S, Status}.

%% Count names Prefix<i>@x claimed by Workers processes at once, each
%% connection reset once the node has answered.
claim_names(Port, Prefix, Count, Workers) ->
    Self = self(),
    Per = Count div Workers,
    Pids = [spawn_link(fun() ->
                               [begin
                                    Name = lists:concat([Prefix, W, "_", I, "@x"]),
                                    {ok, S, <<"sok">>} = claim_name(Port, list_to_atom(Name)),
                                    gen_tcp:close(S)
                                end || I <- lists:seq(1, Per)],
                               Self ! {claimed, self()}
                       end) || W <- lists:seq(1, Workers)],
    [receive {claimed, P} -> ok after 120000 -> ct:fail(claim_names_timeout) end || P <- Pids],
    ok.

%% Runs Fun(Peer, PeerNode) on a fresh erl node named Name with the cookie
%% (and this module: peer:call may run its functions there).
with_peer(Config, Name, Fun) ->
    {ok, Peer, PeerNode} = peer:start(#{name => Name, connection => standard_io,
                                        args => ["-setcookie",
                                                 atom_to_list(?config(cookie, Config)),
                                                 "-pa", filename:dirname(code:which(?MODULE))]}),
    try Fun(Peer, PeerNode)
    after peer:stop(Peer)
    end.

%% Registers Alive with the local epmd at Port (ALIVE2_REQ), as a hidden
%% node; the registration lasts while the returned socket is open.
epmd_register(Alive, Port) ->
    {ok, E} = gen_tcp:connect({127, 0, 0, 1}, 4369, [binary, {packet, 2}, {active, false}]),
    A = list_to_binary(Alive),
    ok = gen_tcp:send(E, <<120, Port:16, 72, 0, 6:16, 6:16, (byte_size(A)):16, A/binary, 0:16>>),
    ok = inet:setopts(E, [{packet, raw}]),
    {ok, <<R, 0, _/binary>>} = gen_tcp:recv(E, 0, ?T),
    true = R =:= 118 orelse R =:= 121,
    E.

%% The acceptor's side of a handshake on D, as node Name with Cookie, after
%% the initiator's name message; leaves D in {packet, 4} mode.
accept_handshake(D, Name, Cookie) ->
    NameBin = atom_to_binary(Name),
    Challenge = 424242,
    ok = gen_tcp:send(D, <<"sok">>),
    ok = gen_tcp:send(D, <<$N, ?RAW_FLAGS:64, Challenge:32, 1:32, (byte_size(NameBin)):16,
                           NameBin/binary>>),
    {ok, <<$r, Theirs:32, Digest:16/binary>>} = gen_tcp:recv(D, 0, ?T),
    Digest = erlang:md5([atom_to_list(Cookie), integer_to_list(Challenge)]),
    ok = gen_tcp:send(D, <<$a, (erlang:md5([atom_to_list(Cookie),
                                             integer_to_list(Theirs)]))/binary>>),
    inet:setopts(D, [{packet, 4}]).

%% The initiator's side of a handshake on S after the status: answers the
%% C node's challenge with Cookie and checks its ack; leaves S in
%% {packet, 4} mode.
finish_initiator(S, Cookie) ->
    {ok, <<$N, _:64, Challenge:32, _/binary>>} = gen_tcp:recv(S, 0, ?T),
    Mine = 171717,
    ok = gen_tcp:send(S, <<$r, Mine:32, (erlang:md5([atom_to_list(Cookie),
                                                     integer_to_list(Challenge)]))/binary>>),
    {ok, <<$a, Ack:16/binary>>} = gen_tcp:recv(S, 0, ?T),
    Ack = erlang:md5([atom_to_list(Cookie), integer_to_list(Mine)]),
    inet:setopts(S, [{packet, 4}]).

%% The next message on a raw connection, ticks skipped: the control tuple
%% with the message appended to it.
next_message(D) ->
    case gen_tcp:recv(D, 0, ?T) of
        {ok, <<>>} -> next_message(D);
        {ok, <<"p", Rest/binary>>} ->
            {Ctl, Used} = binary_to_term(Rest, [used]),
            <<_:Used/binary, Msg/binary>> = Rest,
            erlang:append_element(Ctl, binary_to_term(Msg))
    end.

%% ---- input memory ----------------------------------------------------------

%% Peers with the cookie announce 100 MiB packets on five connections and
%% send a few bytes of each.  The node's input buffers grow as bytes arrive,
%% so it holds kilobytes for them, not 500 MiB, and keeps serving.  Each
%% connection first completes a small message to a worker in the same
%% write: its event means the node has read the announcement too.
big_packets_announced(Config) ->
    C = cnode_test_lib:start("testnode", Config),
    N = maps:get(node, C),
    try
        W = gen_server:call({ctl, N}, {spawn, undefined, log}),
        ok = gen_server:call(W, {notify, self()}),
        #{rss_kb := Rss0} = gen_server:call({ctl, N}, stats),
        Socks = [begin
                     {ok, S} = cnode_test_lib:raw_handshake(
                                 N, cnode_test_lib:unique("big") ++ "@x", ?config(cookie, Config)),
                     ok = inet:setopts(S, [{packet, raw}]),
                     ok = gen_tcp:send(S, [frame(send_to(W, {announcing, I})),
                                           <<(100 bsl 20):32, "p", 131, 104, 3>>]),
                     {announcing, I} = event(W),
                     S
                 end || I <- lists:seq(1, 5)],
        #{rss_kb := Rss1, in_buffered := InBuf} = gen_server:call({ctl, N}, stats),
        ct:log("RSS ~b -> ~b KiB; input buffers ~b bytes", [Rss0, Rss1, InBuf]),
        true = InBuf < 4 bsl 20,
        true = Rss1 - Rss0 < 64 * 1024,
        pong = gen_server:call(W, ping),
        [gen_tcp:close(S) || S <- Socks]
    after
        0 = cnode_test_lib:stop(C)
    end.

%% A packet larger than the node's input budget (here 4 MiB; the packet
%% limit is 128 MiB) cannot be read: the peer is disconnected at its
%% announcement, with a log line, and others are served.
input_budget_exceeded(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--input-budget", "4"]}]),
    N = maps:get(node, C),
    try
        {ok, S} = cnode_test_lib:raw_handshake(N, cnode_test_lib:unique("huge") ++ "@x",
                                               ?config(cookie, Config)),
        ok = inet:setopts(S, [{packet, raw}]),
        ok = gen_tcp:send(S, <<(8 bsl 20):32, "p", 131>>),
        {error, _} = drain(S),
        {match, _} = re:run(cnode_test_lib:log_text(C), "does not fit the input budget"),
        pong = gen_server:call({echo, N}, ping)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% The budget is shared: while the node holds most of one peer's 3 MiB
%% message (all but its last byte), another peer's 3 MiB message does not
%% fit a 4 MiB budget, so that peer is disconnected as its buffer grows;
%% the first message then completes, and once it is delivered the budget
%% is free for the next.
input_budget_shared(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--input-budget", "4"]}]),
    N = maps:get(node, C),
    try
        W = gen_server:call({ctl, N}, {spawn, undefined, log}),
        ok = gen_server:call(W, {notify, self()}),
        Big = binary:copy(<<"x">>, 3 bsl 20),
        Open = fun() ->
                       {ok, S} = cnode_test_lib:raw_handshake(
                                   N, cnode_test_lib:unique("share") ++ "@x",
                                   ?config(cookie, Config)),
                       ok = inet:setopts(S, [{packet, raw}]),
                       S
               end,
        A = Open(),
        F = frame(send_to(W, {a, Big})),
        Rest = byte_size(F) - 1,
        <<Head:Rest/binary, Last/binary>> = F,
        ok = gen_tcp:send(A, Head),
        await_stats(N, fun(#{in_buffered := Held}) -> Held >= Rest end),
        B = Open(),
        _ = gen_tcp:send(B, frame(send_to(W, {b, Big}))),
        {error, closed} = drain(B),
        {match, _} = re:run(cnode_test_lib:log_text(C),
                            "does not fit the input budget \\(4194304 bytes, [1-9]"),
        ok = gen_tcp:send(A, Last),
        {a, Big} = event(W),
        ok = gen_tcp:send(Open(), frame(send_to(W, {c, Big}))),
        {c, Big} = event(W)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% Calls the C node's stats until Pred holds of them (a condition of its
%% memory, with no event to wait for).
await_stats(N, Pred) -> await_stats(N, Pred, erlang:monotonic_time(millisecond) + ?T).
await_stats(N, Pred, Deadline) ->
    case Pred(gen_server:call({ctl, N}, stats)) of
        true -> ok;
        false ->
            erlang:monotonic_time(millisecond) < Deadline orelse ct:fail(stats_condition),
            await_stats(N, Pred, Deadline)
    end.

%% A SEND of Msg to Pid, as the body of a distribution packet.
send_to(Pid, Msg) ->
    [<<"p">>, term_to_binary({2, '', Pid}), term_to_binary(Msg)].

%% A packet with its 4-byte length, for a socket in raw mode.
frame(Body) ->
    B = iolist_to_binary(Body),
    <<(byte_size(B)):32, B/binary>>.

%% ---- node names ------------------------------------------------------------

%% A long-running node meets many short-lived peers: here 300, each a new
%% name with the cookie that connects, pings (net_adm:ping's call to
%% net_kernel, from a pid of its own) and goes, against a cap on node names
%% lowered to 64.  The names of peers that are gone are reclaimed, so every
%% one gets in and is answered, the table stays within the cap, and a real
%% node still connects and calls.
short_lived_peers(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--max-node-names", "64"]}]),
    N = maps:get(node, C),
    Cookie = ?config(cookie, Config),
    try
        [brief_peer(N, Cookie, lists:concat(["brief", I, "_", os:getpid(), "@x"]))
         || I <- lists:seq(1, 300)],
        #{node_names := Names} = gen_server:call({ctl, N}, stats),
        ct:log("node names in the table after 300 peers: ~b", [Names]),
        true = Names =< 64,
        real_peer_served(Config, "afterbrief", N)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% One short-lived peer: handshake as Name, {is_auth, N} to net_kernel from
%% a pid of Name, the answer, gone.
brief_peer(N, Cookie, Name) ->
    {ok, S} = cnode_test_lib:raw_handshake(N, Name, Cookie),
    NameBin = list_to_binary(Name),
    From = binary_to_term(<<131, 88, 119, (byte_size(NameBin)), NameBin/binary,
                            1:32, 0:32, 1:32>>),
    Tag = make_ref(),
    ok = gen_tcp:send(S, [<<"p">>, term_to_binary({6, From, '', net_kernel}),
                          term_to_binary({'$gen_call', {From, Tag}, {is_auth, N}})]),
    {2, '', From, {Tag, yes}} = next_message(S),
    gen_tcp:close(S).

%% ---- limits ----------------------------------------------------------------

%% An erl node floods a slow C process (it sleeps 50 us on each message,
%% holding the node's loop) with 2,000,000 small messages.  The node reads
%% greedily (--no-rx-batching; batched reading would pace it to the slow
%% loop and the sender would wait instead), so messages come faster than
%% they are handled.  The mailbox is limited to 4 MiB with the shed
%% policy: the node's RSS stays within its RSS before the flood plus 64
%% MiB, the messages beyond the limit are shed (stats msgs_shed), the
%% process lives on, and calls from this node to another C process are
%% answered within 1 s throughout.
mailbox_flood_shed(Config) ->
    flood_slow(Config, shed, 50, fun(_) -> ok end,
               fun(N, _W, MRef) ->
                       #{msgs_shed := Shed} = gen_server:call({ctl, N}, stats),
                       ct:log("shed ~b messages", [Shed]),
                       true = Shed > 0,
                       receive {'DOWN', MRef, _, _, Why} -> ct:fail({died, Why})
                       after 0 -> ok
                       end
               end).

%% The same flood to a process suspended by sys:suspend (its messages are
%% held), with the kill policy: it exits with {mailbox_full, Limit}, with
%% the same bounds on memory and on calls to another process.
mailbox_flood_kill(Config) ->
    flood_slow(Config, kill, 0, fun(W) -> ok = sys:suspend(W) end,
               fun(N, W, MRef) ->
                       {W, {mailbox_full, ?MBOX_LIMIT}} = down(MRef),
                       #{mailbox_kills := 1} = gen_server:call({ctl, N}, stats)
               end).

%% A slow worker with Policy and ?MBOX_LIMIT on a node of its own, made
%% ready by Prep(W), is flooded from a fresh erl node while this node
%% samples the C node's VmRSS and times calls to its echo process; then
%% Check(Node, W, MonitorRef).
flood_slow(Config, Policy, SleepUs, Prep, Check) ->
    %% ASan keeps freed memory in quarantine (256 MiB by default); a small
    %% one lets RSS show what the runtime holds
    C = cnode_test_lib:start("testnode", Config,
                             [{args, ["--no-rx-batching"]},
                              {env, [{"ASAN_OPTIONS", "quarantine_size_mb=16"}]}]),
    N = maps:get(node, C),
    try
        W = gen_server:call({ctl, N}, {spawn_slow, Policy, ?MBOX_LIMIT, SleepUs}),
        MRef = erlang:monitor(process, W),
        Prep(W),
        Rss0 = vm_rss_kb(C),
        Sampler = repeat(fun() -> vm_rss_kb(C) end),
        Prober = repeat(fun() -> call_ms({echo, N}) end),
        with_peer(Config, uname("flooder"),
                  fun(Peer, _) -> ok = peer:call(Peer, ?MODULE, flood, [W, ?FLOOD, N], 300000) end),
        Rss = finish(Sampler),
        Calls = finish(Prober),
        ct:log("RSS ~b KiB before, at most ~b KiB during the flood; ~b calls, slowest ~b ms",
               [Rss0, lists:max(Rss), length(Calls), lists:max(Calls)]),
        true = lists:max(Rss) - Rss0 < ?RSS_ALLOWANCE_KB,
        true = lists:max(Calls) < 1000,
        Check(N, W, MRef)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% Runs on the flooding node: Count messages {tally, I} to W, then a call
%% to the echo process on W's node over the same connection, which returns
%% once that node has read every message before it.
flood(W, Count, CNode) ->
    flood_loop(W, Count),
    pong = gen_server:call({echo, CNode}, ping, 60000),
    ok.

flood_loop(_, 0) -> ok;
flood_loop(W, I) -> W ! {tally, I}, flood_loop(W, I - 1).

%% A process that runs Fun every 20 ms (a sampling period: there is no
%% event to wait for) until finish/1 collects the results.
repeat(Fun) ->
    spawn_link(fun() -> repeat_loop(Fun, [Fun()]) end).
repeat_loop(Fun, Acc) ->
    receive {finish, From} -> From ! {self(), Acc}
    after 20 -> repeat_loop(Fun, [Fun() | Acc])
    end.
finish(Pid) ->
    Pid ! {finish, self()},
    receive {Pid, Acc} -> Acc end.

%% How long a gen_server call to Dest takes, in ms.
call_ms(Dest) ->
    T0 = erlang:monotonic_time(millisecond),
    pong = gen_server:call(Dest, ping, 5000),
    erlang:monotonic_time(millisecond) - T0.

%% The C node's resident memory, from /proc/PID/status.
vm_rss_kb(C) ->
    {ok, B} = file:read_file("/proc/" ++ integer_to_list(maps:get(os_pid, C)) ++ "/status"),
    {match, [Kb]} = re:run(B, "VmRSS:\\s+(\\d+) kB", [{capture, all_but_first, list}]),
    list_to_integer(Kb).

%% A peer that reads nothing (SIGSTOPped) is sent 64 MiB from a C process
%% on a node whose output limit is 8 MiB (--max-output): the sends past
%% the limit are refused as busy, the output held stays within the limit
%% and one message, a later send and a call are refused too (the call's
%% continuation never runs: the sanitizers would see its state freed
%% twice), and once the peer reads again the process is told
%% {cn_drained, Peer}.
output_limit_busy(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--max-output", "8"]}]),
    N = maps:get(node, C),
    try
        with_stopped_peer(
          Config, N,
          fun(PNode, Resume) ->
                  W = gen_server:call({ctl, N}, {spawn, undefined, log}),
                  ok = gen_server:call(W, {notify, self()}),
                  Dest = {nosuch, PNode},
                  {busy, Sent} = gen_server:call(W, {flood, Dest, 1 bsl 20, 64}),
                  #{out_buffered := Queued} = gen_server:call({ctl, N}, stats),
                  ct:log("~b MiB taken, then busy; ~b bytes held", [Sent, Queued]),
                  true = Queued =< 9 bsl 20,
                  {busy, 0} = gen_server:call(W, {flood, Dest, 1 bsl 20, 1}),
                  error = gen_server:call(W, {call, Dest, ping, 1000}),
                  Resume(),
                  {cn_drained, PNode} = event(W),
                  {ok, 1} = gen_server:call(W, {flood, Dest, 1 bsl 20, 1})
          end)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% ---- ipv6 ------------------------------------------------------------------
%%
%% A C node with --proto-dist inet6_tcp among erl nodes started with
%% -proto_dist inet6_tcp: it registers with epmd over ::1 and listens and
%% dials over IPv6.  The erl peers are driven through peer's standard_io
%% (this node speaks IPv4 distribution); what they see is run there by the
%% functions below, which return what they saw.

ipv6_erlang_to_c(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--proto-dist", "inet6_tcp"]}]),
    N = maps:get(node, C),
    try
        with_proto_peer(Config, "inet6_tcp", uname("v6e"),
                        fun(Peer, _) ->
                                #{ping := pong, addr := {0, 0, 0, 0, 0, 0, 0, 1},
                                  call := {rt, <<"call">>}, send := ok} =
                                    peer:call(Peer, ?MODULE, erlang_drives_c, [N])
                        end)
    after
        0 = cnode_test_lib:stop(C)
    end.

%% The C node dials: a peer (the driver) asks a C worker to call and send
%% to another peer (the target) that the C node has not met.
ipv6_c_to_erlang(Config) ->
    C = cnode_test_lib:start("testnode", Config, [{args, ["--proto-dist", "inet6_tcp"]}]),
    N = maps:get(node, C),
    try
        with_proto_peer(
          Config, "inet6_tcp", uname("v6t"),
          fun(Target, TNode) ->
                  ok = peer:call(Target, ?MODULE, start_targets, []),
                  with_proto_peer(
                    Config, "inet6_tcp", uname("v6d"),
                    fun(Driver, _) ->
                            #{ping := {ok, yes}, call := {ok, 42}, send := ok} =
                                peer:call(Driver, ?MODULE, c_drives_erlang, [N, TNode])
                    end),
                  {rt, hello} = peer:call(Target, ?MODULE, sink_get, []),
                  {ok, {{0, 0, 0, 0, 0, 0, 0, 1}, _}} =
                      peer:call(Target, ?MODULE, dist_peer_addr, [N])
          end),
        {match, _} = re:run(cnode_test_lib:log_text(C), "connection to \\S+ \\(\\[::1\\]:\\d+\\) is up")
    after
        0 = cnode_test_lib:stop(C)
    end.

%% --name ALIVE (no host) with inet6_tcp takes this host's canonical name
%% as IPv6 resolves it, as erl -proto_dist inet6_tcp does.  In a UTS and
%% mount namespace where the host is "v6only" and /etc/hosts knows it only
%% as ::1 v6only.example.test, the node is ALIVE@v6only.example.test (it
%% looked the host up over IPv4, found nothing, and refused to start).
%% The release echo_node: the ASan build aborts in a mount namespace.
ipv6_long_name_resolved_over_ipv6(Config) ->
    Dir = ?config(priv_dir, Config),
    Hosts = filename:join(Dir, "hosts_v6only"),
    ok = file:write_file(Hosts, "::1 v6only.example.test v6only\n::1 localhost\n"
                                "127.0.0.1 localhost\n"),
    Alive = cnode_test_lib:unique("v6n"),
    Out = filename:join(Dir, Alive ++ ".out"),
    Script = "hostname v6only && mount --bind \"$1\" /etc/hosts || exit 3\n"
             "\"$2\" --name \"$3\" --cookie \"$4\" --proto-dist inet6_tcp > \"$5\" 2>&1 & p=$!\n"
             "i=0; until grep -q '^ready ' \"$5\" || ! kill -0 $p 2>/dev/null || [ $i -gt 300 ]; do\n"
             "  i=$((i + 1)); sleep 0.1; done\n"
             "kill $p 2>/dev/null; wait $p; echo \"exit $?\"; cat \"$5\"\n",
    {0, Text} = cnode_test_lib:run(os:find_executable("unshare"),
                                   ["--uts", "--mount", "sh", "-c", Script, "sh", Hosts,
                                    filename:join(cnode_test_lib:root(), "priv/bin/echo_node"),
                                    Alive,
                                    atom_to_list(?config(cookie, Config)), Out]),
    ct:log("~s", [Text]),
    {match, _} = re:run(Text, "^ready " ++ Alive ++ "@v6only\\.example\\.test$", [multiline]),
    {match, _} = re:run(Text, "^exit 0$", [multiline]).

%% Runs Fun(Peer, PeerNode) on a fresh erl node with -proto_dist Proto
%% (and Extra arguments), the suite's cookie and this module.
with_proto_peer(Config, Proto, Name, Fun) ->
    with_proto_peer(Config, Proto, Name, [], Fun).
with_proto_peer(Config, Proto, Name, Extra, Fun) ->
    {ok, Peer, PeerNode} =
        peer:start(#{name => Name, connection => standard_io,
                     args => ["-proto_dist", Proto,
                              "-setcookie", atom_to_list(?config(cookie, Config)),
                              "-pa", filename:dirname(code:which(?MODULE)) | Extra]}),
    try Fun(Peer, PeerNode)
    after peer:stop(Peer)
    end.

%% On a peer: pings the C node N, calls and sends to a worker there, and
%% says from which address the connection came.
erlang_drives_c(N) ->
    Ping = net_adm:ping(N),
    Addr = case dist_peer_addr(N) of
               {ok, {A, _}} -> A;
               Other -> Other
           end,
    W = gen_server:call({ctl, N}, {spawn, undefined, log}),
    ok = gen_server:call(W, {notify, self()}),
    Call = gen_server:call(W, {echo, {rt, <<"call">>}}),
    W ! {rt, hello},
    Send = receive {cnode_event, W, {rt, hello}} -> ok after ?T -> timeout end,
    #{ping => Ping, addr => Addr, call => Call, send => Send}.

%% On a peer: has a C worker on N ping (net_kernel's is_auth, as
%% net_adm:ping does), call and send to the targets on TNode.
c_drives_erlang(N, TNode) ->
    W = gen_server:call({ctl, N}, {spawn, undefined, log}),
    Ping = gen_server:call(W, {call, {net_kernel, TNode}, {is_auth, N}, 5000}),
    Call = gen_server:call(W, {call, {rt_server, TNode}, {double, 21}, 5000}),
    Send = gen_server:call(W, {send, {rt_sink, TNode}, {rt, hello}}),
    #{ping => Ping, call => Call, send => Send}.

%% On a peer: this module's gen_server as rt_server and a sink as rt_sink.
start_targets() ->
    {ok, _} = gen_server:start({local, rt_server}, ?MODULE, self(), []),
    Sink = spawn(fun() -> receive {sink_get, From} -> receive M -> From ! {sink, M} end end end),
    true = register(rt_sink, Sink),
    ok.

%% On a peer: the first message rt_sink got (waiting for it).
sink_get() ->
    rt_sink ! {sink_get, self()},
    receive {sink, M} -> M after ?T -> timeout end.

%% On a peer: the address of the other end of the connection to Node
%% (tls if a process holds the connection, as under inet_tls_dist).
dist_peer_addr(Node) ->
    case [P || {Nd, P} <- erlang:system_info(dist_ctrl), Nd =:= Node] of
        [Ctrl] when is_port(Ctrl) -> inet:peername(Ctrl);
        [_] -> tls
    end.

%% ---- tls -------------------------------------------------------------------
%%
%% A C node with --proto-dist inet_tls among erl nodes started with
%% -proto_dist inet_tls (OTP's inet_tls_dist), every side verifying the
%% other's certificate (signed by a CA made here, naming this host).  As in
%% the ipv6 group, the erl peers are driven through standard_io.

%% Erl ->C: ping, a gen_server call and a send to a C worker.
tls_erlang_to_c(Config) ->
    with_tls_cnode(Config, "inet_tls", [],
                   fun(N) ->
                           with_tls_peer(Config, "inet_tls", uname("tlse"), good,
                                         fun(Peer, _) -> erlang_drives(Peer, N) end)
                   end).

%% C -> erl: the C node dials a TLS peer it has not met (ping, a call to
%% a gen_server there, a send to a registered process).
tls_c_to_erlang(Config) ->
    with_tls_cnode(Config, "inet_tls", [], fun(N) -> c_drives(Config, "inet_tls", N) end).

%% Two TLS C nodes (OpenSSL at both ends, so TLS 1.3): one calls and
%% links to a worker on the other, a 3 MB term included.
tls_c_to_c(Config) ->
    with_tls_cnode(
      Config, "inet_tls", [],
      fun(N1) ->
              with_tls_cnode(
                Config, "inet_tls", [],
                fun(N2) ->
                        with_tls_peer(Config, "inet_tls", uname("tlsd"), good,
                                      fun(Peer, _) ->
                                              ok = peer:call(Peer, ?MODULE, c_calls_c, [N1, N2])
                                      end)
                end)
      end).

%% On a peer: a worker on N1 calls one on N2.
c_calls_c(N1, N2) ->
    R = gen_server:call({ctl, N2}, {spawn, undefined, log}),
    W = gen_server:call({ctl, N1}, {spawn, undefined, log}),
    Big = binary:copy(<<"tls">>, 1000000),
    {ok, hi} = gen_server:call(W, {call, R, {echo, hi}, 5000}),
    {ok, Big} = gen_server:call(W, {call, R, {echo, Big}, 5000}),
    ok = gen_server:call(W, {link, R}),
    {ok, pong} = gen_server:call(W, {call, R, ping, 5000}),
    ok.

%% Both ways again over inet6_tls.
tls_ipv6(Config) ->
    with_tls_cnode(Config, "inet6_tls", [],
                   fun(N) ->
                           with_tls_peer(Config, "inet6_tls", uname("tls6e"), good,
                                         fun(Peer, _) -> erlang_drives(Peer, N) end),
                           c_drives(Config, "inet6_tls", N)
                   end).

%% Packets spanning many TLS records (a 4 MiB echo both ways) and a
%% one-way stream of 300,000 small messages, every one counted.  (The C
%% node's batched reading, rxbatch.c, applies under TLS too, but an erl
%% TLS sender already writes large segments, so its rules leave such a
%% stream alone; the count of batched streams is logged.)
tls_stream_and_big_terms(Config) ->
    with_tls_cnode(Config, "inet_tls", [],
                   fun(N) ->
                           with_tls_peer(Config, "inet_tls", uname("tlse"), good,
                                         fun(Peer, _) ->
                                                 Batched = peer:call(Peer, ?MODULE, big_and_stream,
                                                                     [N, 300000], 120000),
                                                 ct:log("streams batched: ~b", [Batched])
                                         end)
                   end).

%% On a peer: echoes a 4 MiB term off a C worker on N, then streams Count
%% messages to another, which counts them all; how many streams the C
%% node read in batches.
big_and_stream(N, Count) ->
    W = gen_server:call({ctl, N}, {spawn, undefined, log}),
    Big = {big, crypto:strong_rand_bytes(4 bsl 20), lists:seq(1, 1000)},
    Big = gen_server:call(W, {echo, Big}, ?T),
    #{rx_streams := S0} = gen_server:call({ctl, N}, stats),
    stream_and_call(gen_server:call({ctl, N}, {spawn, undefined, log}), Count),
    #{rx_streams := S1} = gen_server:call({ctl, N}, stats),
    S1 - S0.

%% An erl peer whose certificate no trusted CA signed (it trusts ours) is
%% refused by the C node, which logs why, and serves others after.
tls_untrusted_client_refused(Config) ->
    with_tls_cnode(
      Config, "inet_tls", [],
      fun(N, C) ->
              with_tls_peer(Config, "inet_tls", uname("rogue"), rogue,
                            fun(Peer, _) -> pang = peer:call(Peer, net_adm, ping, [N]) end),
              {match, _} = re:run(cnode_test_lib:log_text(C),
                                  "TLS handshake failed: the peer's certificate was refused"),
              with_tls_peer(Config, "inet_tls", uname("tlse"), good,
                            fun(Peer, _) -> pong = peer:call(Peer, net_adm, ping, [N]) end)
      end).

%% The C node dials an erl peer with such a certificate: the call fails,
%% and the C node logs that it refused the certificate.
tls_untrusted_server_refused(Config) ->
    with_tls_cnode(
      Config, "inet_tls", [],
      fun(N, C) ->
              with_tls_peer(
                Config, "inet_tls", uname("rogue"), rogue,
                fun(_, RNode) ->
                        with_tls_peer(
                          Config, "inet_tls", uname("tlsd"), good,
                          fun(Driver, _) ->
                                  W = peer:call(Driver, gen_server, call,
                                                [{ctl, N}, {spawn, undefined, log}]),
                                  R = peer:call(Driver, gen_server, call,
                                                [W, {call, {net_kernel, RNode}, {is_auth, N}, 5000}]),
                                  ct:log("call to the rogue peer: ~p", [R]),
                                  false = is_tuple(R) andalso element(1, R) =:= ok
                          end)
                end),
              {match, _} = re:run(cnode_test_lib:log_text(C),
                                  "TLS handshake failed: the peer's certificate was refused")
      end).

%% A plain TCP erl node cannot connect to a TLS C node; the refusal is
%% logged.
tls_plain_peer_refused(Config) ->
    with_tls_cnode(
      Config, "inet_tls", [],
      fun(N, C) ->
              with_proto_peer(Config, "inet_tcp", uname("plain"),
                              fun(Peer, _) -> pang = peer:call(Peer, net_adm, ping, [N]) end),
              {match, _} = re:run(cnode_test_lib:log_text(C),
                                  "connection from an unnamed peer at .*: TLS handshake failed: "
                                  "the peer does not speak TLS")
      end).

%% Bad TLS options stop the start (or the parse) with a clear error.
tls_bad_options(Config) ->
    Bin = cnode_test_lib:bin("testnode"),
    Certs = ?config(certs, Config),
    Run = fun(Args) -> cnode_test_lib:run(Bin, ["--sname", uname("bad"), "--cookie", "c" | Args]) end,
    {2, O1} = Run(["--proto-dist", "inet_tls"]),
    {match, _} = re:run(O1, "needs --ssl-dist-opt server_certfile"),
    {2, O2} = Run(["--ssl-dist-opt", "server_verify", "maybe"]),
    {match, _} = re:run(O2, "verify_peer or verify_none"),
    {2, O3} = Run(["--ssl-dist-opt", "server_password", "x"]),
    {match, _} = re:run(O3, "unsupported key 'server_password'"),
    {2, O4} = Run(["--ssl-dist-opt", "server_certfile"]),
    {match, _} = re:run(O4, "needs KEY VALUE"),
    {1, O5} = Run(["--proto-dist", "inet_tls", "--ssl-dist-opt", "server_certfile", "/nonexistent.pem"]),
    {match, _} = re:run(O5, "server_certfile /nonexistent.pem: No such file or directory"),
    {1, O6} = Run(["--proto-dist", "inet_tls",
                   "--ssl-dist-opt", "server_certfile", maps:get(cert, Certs),
                   "--ssl-dist-opt", "server_keyfile", maps:get(rogue_key, Certs)]),
    {match, _} = re:run(O6, "server_keyfile .*: "),
    ct:log("~s~n~s~n~s~n~s~n~s~n~s", [O1, O2, O3, O4, O5, O6]).

%% Runs Fun(Node) or Fun(Node, C) with a TLS C node (Proto: inet_tls or
%% inet6_tls) verifying its peers both ways; stops it after (status 0).
with_tls_cnode(Config, Proto, Extra, Fun) ->
    #{cert := Cert, key := Key, ca := CA} = ?config(certs, Config),
    Opts = lists:append([["--ssl-dist-opt", K, V]
                         || {K, V} <- [{"server_certfile", Cert}, {"server_keyfile", Key},
                                       {"server_cacertfile", CA}, {"server_verify", "verify_peer"},
                                       {"server_fail_if_no_peer_cert", "true"},
                                       {"client_certfile", Cert}, {"client_keyfile", Key},
                                       {"client_cacertfile", CA}, {"client_verify", "verify_peer"}]]),
    C = cnode_test_lib:start("testnode", Config, [{args, ["--proto-dist", Proto | Opts] ++ Extra}]),
    N = maps:get(node, C),
    try
        case erlang:fun_info(Fun, arity) of
            {arity, 1} -> Fun(N);
            {arity, 2} -> Fun(N, C)
        end
    after
        ct:log("C node log:~n~s", [cnode_test_lib:log_text(C)]),
        0 = cnode_test_lib:stop(C)
    end.

%% An erl peer with -proto_dist Proto, verifying both ways; Who: good (a
%% certificate from our CA) or rogue (one from another CA; it still
%% trusts ours).
with_tls_peer(Config, Proto, Name, Who, Fun) ->
    Certs = ?config(certs, Config),
    {Cert, Key} = case Who of
                      good -> {maps:get(cert, Certs), maps:get(key, Certs)};
                      rogue -> {maps:get(rogue_cert, Certs), maps:get(rogue_key, Certs)}
                  end,
    CA = maps:get(ca, Certs),
    Opts = ["-ssl_dist_opt",
            "server_certfile", Cert, "server_keyfile", Key, "server_cacertfile", CA,
            "server_verify", "verify_peer", "server_fail_if_no_peer_cert", "true",
            "client_certfile", Cert, "client_keyfile", Key, "client_cacertfile", CA,
            "client_verify", "verify_peer"],
    with_proto_peer(Config, Proto, Name, Opts, Fun).

erlang_drives(Peer, N) ->
    #{ping := pong, call := {rt, <<"call">>}, send := ok} =
        peer:call(Peer, ?MODULE, erlang_drives_c, [N]).

%% A target peer the C node has not met, and a driver peer that has the C
%% node call and send to it.
c_drives(Config, Proto, N) ->
    with_tls_peer(
      Config, Proto, uname("tlst"), good,
      fun(Target, TNode) ->
              ok = peer:call(Target, ?MODULE, start_targets, []),
              with_tls_peer(Config, Proto, uname("tlsd"), good,
                            fun(Driver, _) ->
                                    #{ping := {ok, yes}, call := {ok, 42}, send := ok} =
                                        peer:call(Driver, ?MODULE, c_drives_erlang, [N, TNode])
                            end),
              {rt, hello} = peer:call(Target, ?MODULE, sink_get, [])
      end).
