%% chatterbox_ref - the Erlang reference chatterbox node: the same flags,
%% peers.json, wire terms and output as priv/bin/chatterbox, so that C and
%% Erlang nodes form one cluster (docs/chatterbox.md).
%%
%%   erl -noshell -pa _build/default/lib/cnode/ebin -run chatterbox_ref main \
%%       -extra --sname n3 --peer-config-file peers.json --send-for 10
%%
%% The process registered as `chatterbox` is the seed's listener and worker:
%% it takes the wire terms, nodeup/nodedown (net_kernel:monitor_nodes) and
%% its own timers (the ticker, the phases, progress) as events for the
%% protocol's reducer (chatterbox_ref_fast or chatterbox_ref_seed) and
%% carries out what the reducer returns.  stdout gets only the result
%% tuple; logs go to stderr.  Exit status as the C binary: 0 after printing,
%% 1 if distribution cannot start, 2 for bad flags or a bad peers.json.
%%
%% That one process never waits on the network, as the C node's loop does
%% not: it sends with [noconnect, nosuspend] (a send a busy connection
%% refuses is reported to the reducer, which sends it again later), a dial
%% that has not come up within ?DIAL_MS is dropped and made again (a SYN
%% lost to a partition is otherwise retried only after seconds), and at the
%% end the node halts after at most ?STOP_DRAIN_MS even if a peer reads
%% nothing.
-module(chatterbox_ref).

-export([main/0, run/1, parse_args/1, load_peers/1]).

-define(PROBE_MS, 100).
-define(DIAL_MS, 250).
-define(STOP_DRAIN_MS, 300).
-define(WIRE_TAGS, [cb_data, cb_end, cb_ack, cb_done, cb_msg, cb_msg_ack, cb_flush,
                    cb_flush_ack, cb_hello]).

-record(g, {mod, core, me, nodes, ids, connected = #{}, core_up = #{}, t0, opts,
            trace, traced = 0, cut_active = false, cut_over = false, last_probe = 0,
            dial_at = #{}, last = #{}}).

%% ---- command line ----------------------------------------------------------

main() ->
    Code = try run_cli(init:get_plain_arguments())
           catch C:R:St ->
                   io:format(standard_error, "chatterbox_ref: crashed: ~p:~p~n~p~n", [C, R, St]),
                   1
           end,
    halt_drained(Code).

%% erlang:halt/1 first waits until every port has written what it holds,
%% and a distribution port towards a peer that reads nothing (partitioned,
%% stopped) never does (OTP 25 has no flush timeout): peers get
%% ?STOP_DRAIN_MS, as from the C node, and what is left then is dropped.
halt_drained(Code) ->
    case drained(erlang:monotonic_time(millisecond) + ?STOP_DRAIN_MS) of
        true -> erlang:halt(Code);
        false -> erlang:halt(Code, [{flush, false}])
    end.

drained(Deadline) ->
    Queued = [P || {_, P} <- erlang:system_info(dist_ctrl), is_port(P),
                   queued(erlang:port_info(P, queue_size))],
    case Queued =:= [] orelse erlang:monotonic_time(millisecond) >= Deadline of
        true -> Queued =:= [];
        false -> receive after 10 -> drained(Deadline) end
    end.

queued({queue_size, N}) -> N > 0;
queued(undefined) -> false.                % closed meanwhile

run_cli(Args) ->
    case parse_args(Args) of
        help -> io:put_chars(usage()), 0;
        {error, Why} ->
            io:format(standard_error, "chatterbox_ref: ~s (see chatterbox_ref --help)~n", [Why]),
            2;
        {ok, Opts} -> run(Opts)
    end.

usage() ->
    "usage: chatterbox_ref (-p PORT | --sname NAME | --name NAME) [options]\n"
    "Options as priv/bin/chatterbox --help: -p -h --peer-config-file --send-for\n"
    "--wait-for --with-seed --tick-duration --protocol --verbose --batch-size\n"
    "--window --max-rate --trace --cut-at --cut-for --sname --name --cookie --port\n"
    "--listen-host --ticktime -v\n".

defaults() ->
    #{peers_path => "peers.json", protocol => fast, send_for => 10000000,
      wait_for => 5000000, seed => 0, tick => 10, batch => 4096, window => 262144,
      max_rate => 0, rto_ms => 1000, progress => false}.

%% Returns {ok, Opts} | help | {error, Message}, as the C binary parses.
parse_args(Args) ->
    try parse(Args, defaults()) of
        help -> help;
        Opts -> check(Opts)
    catch throw:{bad, Msg} -> {error, Msg}
    end.

parse([], O) -> O;
parse(["--help" | _], _) -> help;
parse([Flag], _) when Flag =/= "-v", Flag =/= "--verbose" ->
    case lists:member(Flag, value_flags()) of
        true -> bad("missing value for '~s'", [Flag]);
        false -> unknown(Flag)
    end;
parse([V | R], O) when V =:= "-v"; V =:= "--verbose" -> parse(R, O#{progress => true});
parse([Flag, Arg | R], O) ->
    case lists:member(Flag, value_flags()) of
        true -> parse(R, flag(Flag, Arg, O));
        false -> unknown(Flag)
    end.

unknown([$- | _] = Flag) -> bad("unknown option '~s'", [Flag]);
unknown(Arg) -> bad("unexpected argument '~s'", [Arg]).

value_flags() ->
    ["-p", "-h", "--peer-config-file", "--send-for", "--wait-for", "--with-seed",
     "--tick-duration", "--protocol", "--batch-size", "--window", "--max-rate", "--trace",
     "--cut-at", "--cut-for", "--sname", "--name", "--cookie", "--port", "--listen-host",
     "--ticktime"].

flag("-p", A, O) -> O#{port => int(A, 1, 65535, "-p", "a port number 1..65535"), by_port => true};
flag("--port", A, O) -> O#{port => int(A, 0, 65535, "--port", "a port number 0..65535")};
flag("-h", A, O) -> O#{host => A};
flag("--listen-host", A, O) -> O#{listen_host => A};
flag("--peer-config-file", A, O) -> O#{peers_path => A};
flag("--send-for", A, O) -> O#{send_for => seconds(A, "--send-for")};
flag("--wait-for", A, O) -> O#{wait_for => seconds(A, "--wait-for")};
flag("--with-seed", A, O) ->
    O#{seed => int(A, 0, 16#FFFFFFFFFFFFFFFF, "--with-seed", "an integer 0..2^64-1")};
flag("--tick-duration", A, O) ->
    O#{tick => int(A, 1, 60000, "--tick-duration", "milliseconds 1..60000")};
flag("--protocol", "fast", O) -> O#{protocol => fast};
flag("--protocol", "seed", O) -> O#{protocol => seed};
flag("--protocol", A, _) -> bad("--protocol needs fast or seed, not '~s'", [A]);
flag("--batch-size", A, O) ->
    O#{batch => int(A, 1, 65536, "--batch-size", "a count 1..65536"), fast_only => true};
flag("--window", A, O) ->
    O#{window => int(A, 1, 1 bsl 26, "--window", "a count 1..67108864"), fast_only => true};
flag("--max-rate", A, O) ->
    O#{max_rate => int(A, 0, 1000000000, "--max-rate", "messages per second 0..10^9"),
       fast_only => true};
flag("--trace", A, O) -> O#{trace => A};
flag("--cut-at", A, O) -> O#{cut_at => seconds(A, "--cut-at")};
flag("--cut-for", A, O) -> O#{cut_for => seconds(A, "--cut-for")};
flag("--sname", A, O) -> name(A, false, O);
flag("--name", A, O) -> name(A, true, O);
flag("--cookie", A, O) -> O#{cookie => A};
flag("--ticktime", A, O) -> O#{ticktime => int(A, 1, 3600, "--ticktime", "seconds 1..3600")}.

name(_, _, #{name := _}) -> bad("give one of --sname and --name, once", []);
name(A, Long, O) -> O#{name => A, longnames => Long}.

check(#{fast_only := true, protocol := seed}) ->
    {error, "--batch-size, --window and --max-rate are for --protocol fast"};
check(#{cut_at := _, cut_for := _} = O) -> {ok, O};
check(#{cut_at := _}) -> {error, "give --cut-at and --cut-for together"};
check(#{cut_for := _}) -> {error, "give --cut-at and --cut-for together"};
check(#{name := _} = O) -> {ok, O};
check(#{by_port := true} = O) -> {ok, O};
check(#{peers_path := P}) ->
    {error, io_lib:format("give -p PORT (a port listed in ~s) or --sname/--name", [P])}.

bad(Fmt, Args) -> throw({bad, lists:flatten(io_lib:format(Fmt, Args))}).

int(A, Min, Max, Flag, What) ->
    I = case A =/= "" andalso lists:all(fun(C) -> C >= $0 andalso C =< $9 end, A) of
            true -> list_to_integer(A);
            false -> -1
        end,
    case I >= Min andalso I =< Max of
        true -> I;
        false -> bad("~s needs ~s, not '~s'", [Flag, What, A])
    end.

seconds(A, Flag) ->
    V = case string:to_float(A) of
            {F, ""} -> F;
            _ -> case string:to_integer(A) of
                     {I, ""} -> I;
                     _ -> -1
                 end
        end,
    case V >= 0 andalso V =< 86400 of
        true -> round(V * 1000000);
        false -> bad("~s needs seconds (0..86400), not '~s'", [Flag, A])
    end.

%% ---- peers.json ------------------------------------------------------------

%% {ok, #{cookie, nodes => [{Name, Id, Host, Port}]}} | {error, Why}, with
%% the rules of c_src/node/peers.h.
load_peers(Path) ->
    case file:read_file(Path) of
        {error, E} -> {error, io_lib:format("cannot read ~s: ~s", [Path, file:format_error(E)])};
        {ok, Bin} ->
            case cnode_json:decode(Bin) of
                {error, Why} -> {error, io_lib:format("~s: not valid JSON (~p)", [Path, Why])};
                {ok, J} ->
                    try {ok, peers(J)}
                    catch throw:{bad, Msg} -> {error, io_lib:format("~s: ~s", [Path, Msg])}
                    end
            end
    end.

peers(J) when is_map(J) ->
    Nodes = case maps:get(<<"nodes">>, J, undefined) of
                L when is_list(L), L =/= [] -> L;
                _ -> bad("\"nodes\" must be a non-empty array", [])
            end,
    Cookie = case maps:get(<<"cookie">>, J, undefined) of
                 undefined -> undefined;
                 C when is_binary(C) -> binary_to_list(C);
                 _ -> bad("\"cookie\" must be a string", [])
             end,
    Es = lists:foldl(fun(E, Acc) -> [entry(E, length(Acc)) | Acc] end, [], Nodes),
    lists:foldl(fun({Name, Id, _, _}, Seen) ->
                        I = length(Seen),
                        [bad("nodes[~b]: name \"~s\" appears twice", [I, Name])
                         || lists:keymember(Name, 1, Seen)],
                        [bad("nodes[~b]: id ~b appears twice", [I, Id])
                         || lists:keymember(Id, 2, Seen)],
                        [{Name, Id} | Seen]
                end, [], lists:reverse(Es)),
    #{cookie => Cookie, nodes => lists:reverse(Es)};
peers(_) ->
    bad("the top level must be an object", []).

entry(E, I) when is_map(E) ->
    Str = fun(K) -> case maps:get(K, E, undefined) of
                        undefined -> undefined;
                        V when is_binary(V), V =/= <<>> -> binary_to_list(V);
                        _ -> bad("nodes[~b]: \"~s\" must be a non-empty string", [I, K])
                    end
          end,
    Int = fun(K, Min, Max, D) -> case maps:get(K, E, undefined) of
                                     undefined -> D;
                                     V when is_integer(V), V >= Min, V =< Max -> V;
                                     _ -> bad("nodes[~b]: \"~s\" must be an integer from ~b to ~b",
                                              [I, K, Min, Max])
                                 end
          end,
    Port = Int(<<"port">>, 0, 65535, 0),
    Id = Int(<<"id">>, 1, 1 bsl 30, I + 1),
    Host = Str(<<"host">>),
    case Str(<<"kind">>) of
        K when K =:= undefined; K =:= "c"; K =:= "erlang" -> ok;
        K -> bad("nodes[~b]: \"kind\" must be \"c\" or \"erlang\", not \"~s\"", [I, K])
    end,
    case Str(<<"name">>) of
        undefined when Host =/= undefined, Port > 0 ->
            {lists:flatten(io_lib:format("n~b@~s", [Port, Host])), Id, Host, Port};
        undefined ->
            bad("nodes[~b]: give \"name\", or \"host\" and \"port\"", [I]);
        Name ->
            case string:split(Name, "@", all) of
                [A, H] when A =/= "", H =/= "" ->
                    {Name, Id, case Host of undefined -> H; _ -> Host end, Port};
                _ -> bad("nodes[~b]: \"name\" must look like alive@host, not \"~s\"", [I, Name])
            end
    end;
entry(_, I) ->
    bad("nodes[~b] must be an object", [I]).

%% ---- running ---------------------------------------------------------------

%% Runs one node to the end; returns the exit status.
run(Opts) ->
    #{peers_path := Path} = Opts,
    case load_peers(Path) of
        {error, Why} ->
            io:format(standard_error, "chatterbox_ref: ~s~n", [Why]),
            2;
        {ok, Peers} ->
            case node_name(Opts, Peers) of
                {error, Why} ->
                    io:format(standard_error, "chatterbox_ref: ~s~n", [Why]),
                    2;
                {ok, Name, Long} ->
                    start(Opts, Peers, Name, Long)
            end
    end.

node_name(#{name := Name, longnames := Long}, _) -> {ok, Name, Long};
node_name(#{port := Port, peers_path := Path} = O, #{nodes := Nodes}) ->
    Host = maps:get(host, O, undefined),
    case [N || {N, _, H, P} <- Nodes, P =:= Port, Host =:= undefined orelse H =:= Host] of
        [N] -> {ok, N, lists:member($., lists:last(string:split(N, "@")))};
        [] -> {error, io_lib:format("~s lists no node with port ~b; give --sname or --name",
                                    [Path, Port])};
        _ -> {error, io_lib:format("~s lists several nodes with port ~b; give -h HOST or a name",
                                   [Path, Port])}
    end.

start(Opts, Peers, Name, Long) ->
    Port = maps:get(port, Opts, 0),
    [begin
         application:set_env(kernel, inet_dist_listen_min, Port),
         application:set_env(kernel, inet_dist_listen_max, Port)
     end || Port > 0],
    case maps:get(listen_host, Opts, maps:get(host, Opts, undefined)) of
        undefined -> ok;
        LH ->
            {ok, Ip} = inet:getaddr(LH, inet),
            application:set_env(kernel, inet_dist_use_interface, Ip)
    end,
    NetOpts = maps:merge(#{name_domain => case Long of true -> longnames; false -> shortnames end,
                           hidden => true},
                         case Opts of #{ticktime := T} -> #{net_ticktime => T}; _ -> #{} end),
    case net_kernel:start(list_to_atom(Name), NetOpts) of
        {ok, _} -> started(Opts, Peers);
        {error, Why} ->
            io:format(standard_error, "chatterbox_ref: cannot start distribution as ~s: ~p~n",
                      [Name, Why]),
            1
    end.

started(Opts, #{nodes := Nodes} = Peers) ->
    case {maps:get(cookie, Opts, undefined), maps:get(cookie, Peers)} of
        {undefined, undefined} -> ok;
        {undefined, C} -> erlang:set_cookie(list_to_atom(C));
        {C, _} -> erlang:set_cookie(list_to_atom(C))
    end,
    Self = atom_to_list(node()),
    case lists:keyfind(Self, 1, Nodes) of
        false ->
            io:format(standard_error, "chatterbox_ref: this node, ~s, is not listed in ~s~n",
                      [Self, maps:get(peers_path, Opts)]),
            2;
        {_, Me, _, _} ->
            Trace = case Opts of
                        #{trace := TP} -> {ok, F} = file:open(TP, [write, raw, delayed_write]), F;
                        _ -> undefined
                    end,
            Mod = case maps:get(protocol, Opts) of
                      fast -> chatterbox_ref_fast;
                      seed -> chatterbox_ref_seed
                  end,
            Ids = [Id || {_, Id, _, _} <- Nodes],
            Core = Mod:new(#{me => Me, ids => Ids, seed => maps:get(seed, Opts),
                             batch => maps:get(batch, Opts), window => maps:get(window, Opts),
                             max_rate => maps:get(max_rate, Opts),
                             rto_us => maps:get(rto_ms, Opts) * 1000}),
            true = register(chatterbox, self()),
            ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
            G = #g{mod = Mod, core = Core, me = Me, opts = Opts, trace = Trace,
                   t0 = erlang:monotonic_time(millisecond),
                   nodes = maps:from_list([{Id, list_to_atom(N)} || {N, Id, _, _} <- Nodes,
                                           Id =/= Me]),
                   ids = maps:from_list([{list_to_atom(N), Id} || {N, Id, _, _} <- Nodes,
                                         Id =/= Me])},
            self() ! tick,
            erlang:send_after(maps:get(send_for, Opts) div 1000, self(), {phase, wait}),
            [erlang:send_after(1000, self(), progress) || maps:get(progress, Opts)],
            io:format(standard_error, "chatterbox_ref: ~s ready: id ~b of ~b nodes, protocol ~s, "
                      "send ~g s, wait ~g s, seed ~b~n",
                      [node(), Me, length(Nodes), maps:get(protocol, Opts),
                       maps:get(send_for, Opts) / 1.0e6, maps:get(wait_for, Opts) / 1.0e6,
                       maps:get(seed, Opts)]),
            trace(G, "ready ~s ~b ~s~n", [node(), Me, maps:get(protocol, Opts)]),
            G1 = G#g{connected = maps:from_list([{Id, lists:member(N, nodes(hidden))}
                                                 || {Id, N} <- maps:to_list(G#g.nodes)])},
            %% peers that connected before monitor_nodes (their nodeup is
            %% lost, and the probe looks only at peers marked down) are up
            %% for the core now
            loop(reconcile(G1))
    end.

loop(G) ->
    receive
        tick ->
            G1 = tick(G),
            erlang:send_after(maps:get(tick, G#g.opts), self(), tick),
            next(step({tick, now_us()}, G1));
        {phase, wait} ->
            erlang:send_after(maps:get(wait_for, G#g.opts) div 1000, self(), {phase, 'end'}),
            next(step({phase, now_us(), wait}, G));
        {phase, 'end'} ->
            next(step({phase, now_us(), 'end'}, G));
        progress ->
            erlang:send_after(1000, self(), progress),
            loop(progress(G));
        {nodeup, N, _} ->
            next(status(N, true, G));
        {nodedown, N, _} ->
            next(status(N, false, G));
        Msg when is_tuple(Msg), tuple_size(Msg) >= 2 ->
            case lists:member(element(1, Msg), ?WIRE_TAGS) of
                true -> next(wire(Msg, G));
                false -> unexpected(Msg, G)
            end;
        Msg ->
            unexpected(Msg, G)
    end.

unexpected(Msg, G) ->
    io:format(standard_error, "chatterbox_ref: unexpected message dropped: ~P~n", [Msg, 20]),
    loop(G).

next(#g{mod = Mod, core = Core} = G) ->
    case Mod:finished(Core) of
        false -> loop(G);
        true ->
            [progress(G) || maps:get(progress, G#g.opts)],
            [file:close(G#g.trace) || G#g.trace =/= undefined],
            0
    end.

now_us() -> os:system_time(microsecond).

wire(_Msg, #g{cut_active = true} = G) -> G;
wire({cb_hello, _}, G) -> G;
wire(Msg, G) -> step({msg, now_us(), Msg}, G).

%% One event through the reducer, and its actions; what a busy connection
%% refused goes back to the reducer as a busy event.
step(Ev, #g{mod = Mod, core = Core} = G) ->
    {Acts, Core1} = Mod:step(Ev, Core),
    G1 = G#g{core = Core1},
    Refused = lists:foldl(fun(A, R) -> perform(A, R, G1) end, #{}, Acts),
    Now = element(2, Ev),
    maps:fold(fun(Id, Terms, Acc) -> step({busy, Now, Id, lists:reverse(Terms)}, Acc) end,
              trace_commits(Now, G1), Refused).

%% --trace: `commit TS COUNT` whenever the fold has grown (TS: the event's
%% time), so that a test can see when commits stall and resume.
trace_commits(_Now, #g{trace = undefined} = G) -> G;
trace_commits(Now, #g{mod = Mod, core = Core, traced = T} = G) ->
    case maps:get(committed, Mod:stats(Core)) of
        T -> G;
        C -> trace(G, "commit ~b ~b~n", [Now, C]),
             G#g{traced = C}
    end.

%% Performs one action; Refused: #{Id => [Term]}, the sends a busy
%% connection refused (and every later one to that peer in this step).
perform({send, _Id, _Term}, Refused, #g{cut_active = true}) -> Refused;
perform({send, Id, Term}, Refused, #g{nodes = Nodes}) ->
    case Refused of
        #{Id := Ts} -> Refused#{Id := [Term | Ts]};
        _ ->
            case erlang:send({chatterbox, maps:get(Id, Nodes)}, Term, [noconnect, nosuspend]) of
                nosuspend -> Refused#{Id => [Term]};
                _ -> Refused
            end
    end;
perform({reconnect, Id}, Refused, #g{nodes = Nodes} = G) ->
    N = maps:get(Id, Nodes),
    vlog(G, "~s acked nothing in time: reconnecting", [N]),
    erlang:disconnect_node(N),
    Refused;
perform(A, Refused, G) ->
    perform(A, G),
    Refused.

perform({created, _, _, _}, #g{trace = undefined}) -> ok;
perform({created, Ts, First, Bin}, #g{trace = F, me = Me}) ->
    Vals = [V || <<V:32>> <= Bin],
    Lines = [io_lib:format("sent ~b ~b ~b ~b~n", [Me, First + J, Ts, V])
             || {J, V} <- lists:zip(lists:seq(0, length(Vals) - 1), Vals)],
    ok = file:write(F, Lines);
perform({output, Count, Sum, Complete}, #g{mod = Mod, core = Core} = G) ->
    Tuple = chatterbox_ref_lib:format(Count, Sum),
    io:format("~s~n", [Tuple]),
    case Complete of
        true -> log("result ~s", [Tuple]);
        false -> log("result ~s printed at the deadline, incomplete: ~s",
                     [Tuple, Mod:describe(Core)])
    end,
    trace(G, "result ~b ~b ~s~n", [Count, Sum, case Complete of
                                                  true -> complete;
                                                  false -> incomplete
                                              end]).

trace(#g{trace = undefined}, _, _) -> ok;
trace(#g{trace = F}, Fmt, Args) -> ok = file:write(F, io_lib:format(Fmt, Args)).

log(Fmt, Args) ->
    io:format(standard_error, "chatterbox_ref ~s: " ++ Fmt ++ "~n", [node() | Args]).

%% With --verbose only.
vlog(#g{opts = #{progress := true}}, Fmt, Args) -> log(Fmt, Args);
vlog(_, _, _) -> ok.

%% ---- connections -----------------------------------------------------------

status(N, Up, #g{ids = Ids, connected = C} = G) ->
    case maps:find(N, Ids) of
        error -> G;
        {ok, Id} ->
            G1 = G#g{connected = C#{Id => Up}},
            G2 = case Up of
                     false -> tell(Id, false, G1);
                     true -> G1
                 end,
            reconcile(G2)
    end.

tell(Id, Up, #g{core_up = CU} = G) ->
    case maps:get(Id, CU, false) of
        Up -> G;
        _ ->
            Ev = case Up of true -> up; false -> down end,
            step({Ev, now_us(), Id}, G#g{core_up = CU#{Id => Up}})
    end.

reconcile(#g{connected = C, cut_active = Cut} = G) ->
    maps:fold(fun(Id, Up, Acc) -> tell(Id, Up andalso not Cut, Acc) end, G, C).

elapsed(#g{t0 = T0}) -> erlang:monotonic_time(millisecond) - T0.

tick(G0) ->
    G = cut(G0),
    Now = elapsed(G),
    case not G#g.cut_active andalso Now - G#g.last_probe >= ?PROBE_MS of
        false -> G;
        true ->
            Down = [{Id, N} || {Id, N} <- maps:to_list(G#g.nodes),
                               not maps:get(Id, G#g.connected, false)],
            DialAt = lists:foldl(fun({Id, N}, Acc) -> dial(Id, N, Now, Acc, G) end,
                                 maps:with([Id || {Id, _} <- Down], G#g.dial_at), Down),
            %% connections are the truth, nodeup only its news: a peer whose
            %% nodeup went missing is seen here within one probe
            Connected = nodes(connected),
            G1 = lists:foldl(fun({_, N}, Acc) -> status(N, true, Acc) end, G,
                             [D || {_, N} = D <- Down, lists:member(N, Connected)]),
            G1#g{last_probe = Now, dial_at = DialAt}
    end.

%% Probes a peer that is down, which dials it; a dial still pending after
%% ?DIAL_MS is dropped first (its owner killed: erlang:disconnect_node/1
%% leaves pending ones alone).  DialAt: #{Id => when the dial began}.
dial(Id, N, Now, DialAt, G) ->
    Pending = case net_kernel:node_info(N) of
                  {ok, Info} -> proplists:get_value(state, Info) =:= pending andalso
                                    proplists:get_value(owner, Info);
                  _ -> false
              end,
    DialAt1 = case {Pending, maps:get(Id, DialAt, none)} of
                  {false, _} -> DialAt#{Id => Now};
                  {_, none} -> DialAt#{Id => Now};
                  {Owner, T} when Now - T >= ?DIAL_MS ->
                      vlog(G, "no connection to ~s after ~b ms: dialing again", [N, ?DIAL_MS]),
                      exit(Owner, kill),
                      DialAt#{Id => Now};
                  _ -> DialAt
              end,
    _ = erlang:send({chatterbox, N}, {cb_hello, G#g.me}, [nosuspend]),
    DialAt1.

%% --cut-at / --cut-for: drop every connection to the cluster for a while.
cut(#g{cut_over = true} = G) -> G;
cut(#g{opts = #{cut_at := At, cut_for := For}} = G) ->
    Now = elapsed(G),
    AtMs = At div 1000,
    Until = AtMs + For div 1000,
    if
        Now < AtMs -> G;
        Now >= Until ->
            log("cut: over, reconnecting", []),
            trace(G, "cut end ~b~n", [now_us()]),
            reconcile(G#g{cut_active = false, cut_over = true});
        true ->
            G1 = case G#g.cut_active of
                     true -> G;
                     false ->
                         log("cut: dropping every connection to the cluster for ~b ms",
                             [Until - AtMs]),
                         trace(G, "cut start ~b~n", [now_us()]),
                         reconcile(G#g{cut_active = true})
                 end,
            [begin
                 log("cut: disconnecting ~s", [N]),
                 erlang:disconnect_node(N)
             end || {Id, N} <- maps:to_list(G1#g.nodes), maps:get(Id, G1#g.connected, false)],
            G1
    end;
cut(G) -> G.

progress(#g{mod = Mod, core = Core, last = L} = G) ->
    St = Mod:stats(Core),
    D = fun(K) -> maps:get(K, St) - maps:get(K, L, 0) end,
    Up = length([x || {_, true} <- maps:to_list(G#g.core_up)]),
    io:format(standard_error,
              "chatterbox_ref ~s: ~.1f s: sent ~b (+~b/s) received ~b (+~b/s) committed ~b "
              "(+~b/s) resent ~b, reconnects ~b, peers up ~b/~b~n",
              [node(), elapsed(G) / 1000, maps:get(created, St), D(created),
               maps:get(received, St), D(received), maps:get(committed, St), D(committed),
               maps:get(resent, St), maps:get(reconnects, St), Up, maps:size(G#g.nodes)]),
    G#g{last = St}.
