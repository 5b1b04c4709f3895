%% gossip_ref - the Erlang reference peer of the gossip chat.
%%
%% A gen_server registered as `gossip` that speaks exactly the terms of the C
%% node (c_src/gossip, docs/gossip.md) and runs the same protocol, so C and
%% Erlang nodes form one chat:
%%
%%   {chat, Sender, Text, Id}      {peer_list, [Node]}     {ping, Sender}
%%   {pong, Sender}   {join, Node}   {leave, Node}         {alive, Node, Inc}
%%   {suspect, Node, Inc, By}      {dead, Node, Inc, By}   {ping_req, Sender, Target}
%%   {catch_up, Node, Ms}
%%
%% (strings are UTF-8 binaries, node names like <<"alice@host">>).  Overlay:
%% successor and predecessor on R hash rings (gossip_ref_ring).  Failure
%% detection: SWIM probes, ping_req, suspicion with Lifeguard's shrinking
%% timeout and local health.  Dissemination: flooding over the view with
%% dedup by {Sender, Id}.  Partitions: removed members are kept (and pinged)
%% for reconnect_timeout, seeds we know nothing of any more are asked to let
%% us in again, membership is pushed and pulled with a random member every
%% sync period; a `dead` from another node only starts or confirms a
%% suspicion (only our own suspicion running out removes), suspected members
%% are told so every period, and a neighbour we suspected or removed that
%% refutes is asked ({catch_up, Self, Ms}) for the lines it showed since we
%% lost touch, which it sends from its history.  The C core's comments have
%% the rules; this module follows them one for one.
%%
%% Events go to a listener pid as {gossip_event, NodeBin, Map}, Map being
%% exactly what the C node's JSON line for the event decodes to (binary keys,
%% cnode_json), and/or to stdout (text or JSON lines).
%% Run it on a hidden node (erl -hidden), so that connections between
%% Erlang peers do not become a full mesh through global.
-module(gossip_ref).
-behaviour(gen_server).

-export([start/1, start_link/1, stop/0, say/1, members/0, main/0, main/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(DEFAULTS, #{rings => 3, period => 500, ping_timeout => 300, indirect_timeout => 500,
                    indirect_k => 3, suspect_min => 1500, suspect_max => 6000, confirm_k => 3,
                    peer_list => 2000, join_retry => 1000, tombstone => 60000,
                    reconnect_timeout => 86400000, reconnect => 5000, sync => 30000,
                    %% history_ms is also how long a generation of chat
                    %% ids lives: ids are kept 1-2 history_ms, so a line
                    %% still in some node's history is never shown twice
                    history => 10000, history_ms => 300000,
                    late => 250, lhm_max => 4, max_members => 10000}).
-define(MAX_TEXT, 65536).
-define(MAX_RELAYS, 64).
-define(HISTORY_BYTES, 32 bsl 20).   % names and text kept at most (C: GC_HISTORY_BYTES)
-define(IDSET_MAX, 1 bsl 22).        % ids in a generation before an early rotation

%% heard: last first-hand message; lost: heard when it went from alive to
%% suspect or dead (lines since may not have reached us).
-record(m, {pos, inc = 0, status = unknown, since = 0, heard, lost, contacted, told,
            owed}).                   % it caught up while removed here: lines since

-record(st, {self, pos, inc, id_base, seq = 0, p,
             members = #{},            % Name => #m{}
             seeds = [],               % [Name]: our join contact
             ring = [], view = [],     % [{R, Succ, Pred}], [Name]
             joined = false, joining = false, contact, join_at = 0, leaving = false,
             probes = #{},             % Name => {Deadline, direct | indirect}
             relays = [],              % [{Requester, Target, Expires}]
             susp = #{},               % Name => {Inc, Started, Deadline, [By], Expect}
             lhm = 0, seen = {#{}, #{}}, rotate_at = 0,
             started,                  % now_ms() at start: our clock's zero
             history = queue:new(), history_n = 0, history_bytes = 0,
                                       % {Shown, Sender, Text, Id}, oldest first
             top_id = #{},             % Sender => highest chat id shown
             next_period = 0, next_peer_list = 0, next_reconnect = 0, next_purge = 0,
             next_sync = 0,
             armed = infinity, listener, out = none, rand,
             stats = #{msgs_in => 0, msgs_out => 0, bytes_in => 0, bytes_out => 0, junk => 0,
                       duplicates => 0, suspicions => 0, removals => 0, refutations => 0}}).

%% ---- API --------------------------------------------------------------------

%% Opts: join (node name, atom or binary), listener (pid), out (none | text |
%% json), params (map overriding ?DEFAULTS), seed (integer).
start(Opts) -> gen_server:start({local, gossip}, ?MODULE, Opts, []).
start_link(Opts) -> gen_server:start_link({local, gossip}, ?MODULE, Opts, []).
stop() -> gen_server:call(gossip, quit).
say(Text) -> gen_server:call(gossip, {say, iolist_to_binary(Text)}).
members() -> gen_server:call(gossip, members).

%% A terminal chat like the C one, for a node started by hand:
%%   erl -sname bob -setcookie C -hidden -noshell -pa _build/default/lib/cnode/ebin \
%%       -run gossip_ref main -extra --join alice [--json]
%% (main/0 takes the arguments after -extra).
main() -> main_run(init:get_plain_arguments()).
main(Args) -> main_run(Args).

main_run(Args) ->
    {ok, _} = start(main_args(Args, #{out => text, params => #{}})),
    io:format("ready ~s~n", [node()]),
    input_loop(),
    halt(0).

%% The C node's partition flags: {Flag, Param, ms per unit}.
-define(FLAGS, [{"--sync", sync, 1}, {"--reconnect-timeout", reconnect_timeout, 1000},
                {"--history", history, 1}, {"--history-seconds", history_ms, 1000}]).

main_args(["--join", N | R], O) -> main_args(R, O#{join => full_name(N)});
main_args(["--json" | R], O) -> main_args(R, O#{out => json});
main_args([F, V | R] = A, #{params := P} = O) ->
    case {lists:keyfind(F, 1, ?FLAGS), string:to_integer(V)} of
        {{_, K, Unit}, {N, ""}} when N > 0 -> main_args(R, O#{params := P#{K => N * Unit}});
        _ -> bad_arg(A)
    end;
main_args([], O) -> O;
main_args(A, _) -> bad_arg(A).

bad_arg([A | _]) -> io:format(standard_error, "gossip_ref: bad argument ~s~n", [A]), halt(2).

full_name(N) ->
    case lists:member($@, N) of
        true -> list_to_binary(N);
        false -> [_, Host] = string:split(atom_to_list(node()), "@"),
                 list_to_binary(N ++ "@" ++ Host)
    end.

input_loop() ->
    case io:get_line("") of
        eof -> stop();
        {error, _} -> stop();
        Line ->
            case string:trim(unicode:characters_to_binary(Line), trailing, "\r\n") of
                <<>> -> input_loop();
                <<"/quit">> -> stop();
                <<"/peers">> ->
                    gen_server:call(gossip, show_members), input_loop();
                T -> _ = say(T), input_loop()
            end
    end.

%% ---- gen_server -------------------------------------------------------------

init(Opts) ->
    process_flag(trap_exit, true),
    P = maps:merge(?DEFAULTS, maps:get(params, Opts, #{})),
    Self = atom_to_binary(node()),
    Seed = maps:get(seed, Opts, erlang:unique_integer([positive]) bxor os:system_time()),
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    Now = now_ms(),
    S0 = #st{self = Self, pos = gossip_ref_ring:positions(Self, maps:get(rings, P)),
             inc = os:system_time(millisecond), id_base = os:system_time(microsecond),
             p = P, started = Now, listener = maps:get(listener, Opts, undefined),
             out = maps:get(out, Opts, none), rand = rand:seed_s(exsss, Seed)},
    S1 = start_timers(S0, Now),
    S = case maps:get(join, Opts, undefined) of
            undefined -> emit(#{event => joined, count => 1}, S1#st{joined = true});
            J -> send_join(S1#st{joining = true, contact = to_bin(J), seeds = [to_bin(J)]}, Now)
        end,
    {ok, arm(S)}.

handle_call(members, _From, S) ->
    {reply, lists:sort(live_names(S)), S};
handle_call(view, _From, S) ->
    {reply, lists:sort(S#st.view), S};
handle_call(show_members, _From, S) ->
    {reply, ok, emit(#{event => members, members => lists:sort(live_names(S))}, S)};
handle_call({say, Text}, _From, S) when is_binary(Text) ->
    case byte_size(Text) > 0 andalso byte_size(Text) =< ?MAX_TEXT andalso utf8(Text)
        andalso not S#st.leaving of
        true ->
            Id = S#st.id_base + S#st.seq + 1,
            S1 = show_chat(S#st.self, Text, Id, true, S#st{seq = S#st.seq + 1}),
            S2 = flood({chat, S#st.self, Text, Id}, undefined, S1),
            {reply, {ok, Id}, arm(S2)};
        false ->
            {reply, {error, <<"not sent (empty, too long, not UTF-8, or leaving)">>}, S}
    end;
handle_call(stats, _From, S) ->
    St = S#st.stats,
    {reply, St#{members => length(live_names(S)), view => length(S#st.view),
                connections => length(nodes(connected)), local_health => S#st.lhm,
                incarnation => S#st.inc}, S};
handle_call(quit, _From, S) ->
    {stop, normal, ok, leave(S)};
handle_call(Req, _From, S) ->
    logger:warning("gossip: unexpected call dropped: ~p", [Req]),
    {noreply, S}.

handle_cast(Msg, S) ->
    logger:warning("gossip: unexpected cast dropped: ~p", [Msg]),
    {noreply, S}.

handle_info({timeout, Ref, tick}, #st{armed = {_, Ref}} = S) ->
    {noreply, arm(tick(S#st{armed = infinity}, now_ms()))};
handle_info({nodedown, Node, _}, S) ->
    Name = atom_to_binary(Node),
    S1 = case maps:find(Name, S#st.members) of
             {ok, M} -> case live(M) andalso lists:member(Name, S#st.view) of
                            true -> probe_start(Name, S, now_ms());
                            false -> S
                        end;
             error -> S
         end,
    {noreply, arm(S1)};
handle_info({nodeup, _, _}, S) ->
    {noreply, S};
handle_info(Msg, #st{stats = St} = S0) ->
    S = S0#st{stats = bump(bytes_in, erlang:external_size(Msg), bump(msgs_in, 1, St))},
    case decode(Msg) of
        {ok, M} ->
            {noreply, arm(recv(M, S, now_ms()))};
        {error, Why} ->
            logger:warning("gossip: junk dropped (~s): ~P", [Why, Msg, 20]),
            {noreply, S#st{stats = bump(junk, 1, S#st.stats)}}
    end.

terminate(_, S) ->
    _ = leave(S),
    ok.

%% ---- wire: checking what arrives -----------------------------------------------

decode({chat, Sender, Text, Id}) when is_binary(Text), is_integer(Id), Id >= 0, Id < 1 bsl 64 ->
    case {name(Sender), byte_size(Text) =< ?MAX_TEXT, utf8(Text)} of
        {true, true, true} -> {ok, {chat, Sender, Text, Id}};
        {false, _, _} -> {error, "the sender is not a node name"};
        {_, false, _} -> {error, "chat text longer than 65536 bytes"};
        _ -> {error, "chat text is not UTF-8"}
    end;
decode({chat, _, _, _}) -> {error, "malformed chat: expected {chat, Sender, Text, Id}"};
decode({peer_list, L}) when is_list(L) ->
    try lists:all(fun name/1, L) andalso length(L) =< 16384 of
        true -> {ok, {peer_list, L}};
        false -> {error, "peer_list needs a list of node names"}
    catch error:_ -> {error, "peer_list is not a proper list"}
    end;
decode({T, N} = M) when T =:= ping; T =:= pong; T =:= join; T =:= leave ->
    ok_if(name(N), M, "malformed " ++ atom_to_list(T) ++ ": expected a node name");
decode({alive, N, I} = M) when is_integer(I), I >= 0, I < 1 bsl 64 ->
    ok_if(name(N), M, "malformed alive");
decode({T, N, I, By} = M) when (T =:= suspect orelse T =:= dead), is_integer(I), I >= 0,
                               I < 1 bsl 64 ->
    ok_if(name(N) andalso name(By), M, "malformed " ++ atom_to_list(T));
decode({ping_req, S, T} = M) ->
    ok_if(name(S) andalso name(T), M, "malformed ping_req");
decode({catch_up, N, Ms} = M) when is_integer(Ms), Ms >= 0, Ms < 1 bsl 64 ->
    ok_if(name(N), M, "malformed catch_up");
decode(_) ->
    {error, "not a gossip message"}.

ok_if(true, M, _) -> {ok, M};
ok_if(false, _, Why) -> {error, Why}.

%% alive@host: letters, digits, _ and - before the @, also . after it.
name(B) when is_binary(B), byte_size(B) >= 3, byte_size(B) =< 255 ->
    case binary:split(B, <<"@">>, [global]) of
        [A, H] when A =/= <<>>, H =/= <<>> -> chars(A, false) andalso chars(H, true);
        _ -> false
    end;
name(_) -> false.

chars(B, Dot) ->
    lists:all(fun(C) -> (C >= $a andalso C =< $z) orelse (C >= $A andalso C =< $Z) orelse
                            (C >= $0 andalso C =< $9) orelse C =:= $_ orelse C =:= $- orelse
                            (Dot andalso C =:= $.)
              end, binary_to_list(B)).

utf8(B) -> case unicode:characters_to_binary(B, utf8, utf8) of B -> true; _ -> false end.

%% ---- sending -------------------------------------------------------------------

send(To, Msg, #st{self = To} = S) -> _ = Msg, S;
send(To, Msg, S) ->
    %% since OTP 21 a send to a node not yet connected does not block: it
    %% queues while the connection is set up (and is dropped if that fails)
    erlang:send({gossip, binary_to_atom(To)}, Msg),
    St = bump(bytes_out, erlang:external_size(Msg), bump(msgs_out, 1, S#st.stats)),
    Members = case maps:find(To, S#st.members) of
                  {ok, M} -> case lists:member(To, S#st.view) of
                                 true -> S#st.members;
                                 false -> (S#st.members)#{To => M#m{contacted = now_ms()}}
                             end;
                  error -> S#st.members
              end,
    S#st{stats = St, members = Members}.

flood(Msg, Skip, S) ->
    lists:foldl(fun(N, Acc) when N =:= Skip -> Acc;
                   (N, Acc) -> send(N, Msg, Acc)
                end, S, S#st.view).

emit(Ev0, #st{self = Self} = S) ->
    Ev = Ev0#{t => os:system_time(microsecond)},
    case S#st.listener of
        undefined -> ok;
        %% the same map a C node's JSON line decodes to
        L -> {ok, J} = cnode_json:decode(cnode_json:encode(Ev)),
             L ! {gossip_event, Self, J}
    end,
    case S#st.out of
        none -> ok;
        json -> io:put_chars([cnode_json:encode(Ev), $\n]);
        text -> text(Ev)
    end,
    S.

text(#{event := chat, from := F, text := T} = E) ->
    Late = case maps:get(late, E, false) of true -> " (late)"; false -> "" end,
    io:format("[~s] ~ts~s~n", [F, T, Late]);
text(#{event := join, initial := true}) -> ok;
text(#{event := join, node := N} = E) ->
    io:format("* ~s ~s~n", [N, case maps:get(rejoin, E, false) of true -> "is back"; _ -> "joined" end]);
text(#{event := leave, node := N}) -> io:format("* ~s left~n", [N]);
text(#{event := dead, node := N, by := B}) -> io:format("* ~s is gone (no answer; found by ~s)~n", [N, B]);
text(#{event := members, members := L}) -> io:format("* ~b members: ~s~n", [length(L), lists:join(" ", L)]);
text(#{event := joined, count := C} = E) ->
    case maps:find(via, E) of
        {ok, V} -> io:format("* joined through ~s: ~b members~n", [V, C]);
        error -> io:format("* chat started~n")
    end;
text(_) -> ok.

%% ---- time ----------------------------------------------------------------------

now_ms() -> erlang:monotonic_time(millisecond).

jitter(Ms, S) ->
    {X, R} = rand:uniform_s(Ms div 5 + 1, S#st.rand),
    {Ms - Ms div 10 + X - 1, S#st{rand = R}}.

start_timers(S0, Now) ->
    P = S0#st.p,
    {A, S1} = jitter(maps:get(period, P), S0),
    {B, S2} = jitter(maps:get(peer_list, P), S1),
    {C, S3} = jitter(maps:get(reconnect, P), S2),
    {D, S4} = jitter(maps:get(sync, P), S3),
    S4#st{next_period = Now + A, next_peer_list = Now + B, next_reconnect = Now + C,
          next_sync = Now + D, next_purge = Now + maps:get(tombstone, P) div 10,
          rotate_at = Now + maps:get(history_ms, P)}.

next_deadline(#st{leaving = true}) -> infinity;
next_deadline(S) ->
    Ds = [S#st.next_peer_list, S#st.next_reconnect, S#st.next_sync, S#st.next_purge,
          S#st.rotate_at]
        ++ [S#st.next_period || S#st.joined]
        ++ [S#st.join_at || S#st.joining]
        ++ [D || {D, _} <- maps:values(S#st.probes)]
        ++ [D || {_, _, D, _, _} <- maps:values(S#st.susp)]
        ++ [E || {_, _, E} <- S#st.relays],
    lists:min(Ds).

%% One timer, for the earliest deadline (armed: infinity or {Deadline, Ref}).
arm(S) ->
    case {next_deadline(S), S#st.armed} of
        {infinity, _} -> S;
        {D, {A, _}} when D >= A -> S;
        {D, Armed} ->
            case Armed of
                {_, Old} -> erlang:cancel_timer(Old);
                infinity -> ok
            end,
            Ref = erlang:start_timer(max(0, D - now_ms()), self(), tick),
            S#st{armed = {D, Ref}}
    end.

tick(#st{leaving = true} = S, _) -> S;
tick(S0, Now) ->
    P = S0#st.p,
    Due = next_deadline(S0),
    Late = Due =/= infinity andalso Now > Due + maps:get(late, P),
    S1 = case Late of
             true -> S0#st{lhm = min(S0#st.lhm + 1, maps:get(lhm_max, P))};
             false -> S0
         end,
    S2 = case S1#st.joining andalso Now >= S1#st.join_at of
             true -> send_join(S1, Now);
             false -> S1
         end,
    S3 = case S2#st.joined andalso Now >= S2#st.next_period of
             true ->
                 {J, Sj} = jitter(maps:get(period, P), S2),
                 prune(Sj, Now),
                 Sv = lists:foldl(fun(N, A) -> probe_start(N, A, Now) end,
                                  Sj#st{next_period = Now + J}, Sj#st.view),
                 %% every member we suspect is told so (at most once a
                 %% period): a suspicion flooded while it was cut off from
                 %% us would otherwise run out after the heal unrefuted
                 lists:foldl(fun(N, A) -> tell_status(N, maps:get(N, A#st.members), A) end,
                             Sv, maps:keys(Sv#st.susp));
             false -> S2
         end,
    S4 = detect_tick(S3, Now, Late),
    S5 = case Now >= S4#st.next_peer_list of
             true ->
                 {J2, Sp} = jitter(maps:get(peer_list, P), S4),
                 Sp2 = Sp#st{next_peer_list = Now + J2},
                 case Sp2#st.joined andalso Sp2#st.view =/= [] of
                     true -> {To, Sp3} = random_one(Sp2#st.view, Sp2),
                             send_peer_list(To, Sp3);
                     false -> Sp2
                 end;
             false -> S4
         end,
    S6 = case Now >= S5#st.next_reconnect of
             true ->
                 {J3, Sr} = jitter(maps:get(reconnect, P), S5),
                 reconnect(Sr#st{next_reconnect = Now + J3});
             false -> S5
         end,
    S7 = case Now >= S6#st.next_sync of
             true ->
                 {J4, Ss} = jitter(maps:get(sync, P), S6),
                 sync(Ss#st{next_sync = Now + J4});
             false -> S6
         end,
    S8 = case Now >= S7#st.next_purge of
             true -> trim_history(purge(S7#st{next_purge = Now + maps:get(tombstone, P) div 10},
                                        Now), Now);
             false -> S7
         end,
    case Now >= S8#st.rotate_at of
        true -> rotate(S8, Now);
        false -> S8
    end.

%% Drops connections to members that are neither neighbours nor in touch
%% lately (3 periods), as the C node does; other nodes are left alone.
prune(S, Now) ->
    Grace = 3 * maps:get(period, S#st.p),
    [erlang:disconnect_node(Node)
     || Node <- nodes(connected),
        Name <- [atom_to_binary(Node)],
        {ok, #m{status = St, heard = H, contacted = C}} <- [maps:find(Name, S#st.members)],
        St =/= unknown, not lists:member(Name, S#st.view),
        not (S#st.joining andalso Name =:= S#st.contact),
        not recent(H, Now, Grace), not recent(C, Now, Grace)],
    ok.

recent(undefined, _, _) -> false;
recent(T, Now, Grace) -> Now - T < Grace.

%% Pings one removed (not departed) node, so that the two sides of a healed
%% partition find each other; and asks one seed we know nothing of any more
%% (purged, or never known) to let us in again, so that sides that have
%% forgotten each other still merge through it (its peer list).
reconnect(#st{joined = false} = S) -> S;
reconnect(S0) ->
    S1 = case [N || {N, #m{status = dead}} <- maps:to_list(S0#st.members)] of
             [] -> S0;
             Dead -> {N, Sd} = random_one(Dead, S0),
                     send(N, {ping, Sd#st.self}, Sd)
         end,
    case [N || N <- S1#st.seeds, N =/= S1#st.self, not maps:is_key(N, S1#st.members)] of
        [] -> S1;
        Lost -> {N2, Sl} = random_one(Lost, S1),
                send(N2, {join, Sl#st.self}, Sl)
    end.

%% Push/pull with one random live member (not only the view): our peer
%% list, and a join so that it answers with its own.
sync(#st{joined = false} = S) -> S;
sync(S0) ->
    case [N || {N, M} <- maps:to_list(S0#st.members), live(M)] of
        [] -> S0;
        Live -> {N, S} = random_one(Live, S0),
                send(N, {join, S#st.self}, send_peer_list(N, S))
    end.

%% Tombstones: a node removed by failure is kept (and pinged by reconnect)
%% for reconnect_timeout, a departed one for tombstone.
purge(S, Now) ->
    P = S#st.p,
    Keep = #{dead => maps:get(reconnect_timeout, P), left => maps:get(tombstone, P)},
    S#st{members = maps:filter(fun(_, #m{status = St, since = Since}) ->
                                       not (maps:is_key(St, Keep) andalso
                                            Now - Since >= maps:get(St, Keep))
                               end, S#st.members)}.

random_one(L, S) ->
    {I, R} = rand:uniform_s(length(L), S#st.rand),
    {lists:nth(I, L), S#st{rand = R}}.

%% ---- membership ------------------------------------------------------------------

live(#m{status = St}) -> St =:= alive orelse St =:= suspect.

live_names(S) -> [S#st.self | [N || {N, M} <- maps:to_list(S#st.members), live(M)]].

to_bin(A) when is_atom(A) -> atom_to_binary(A);
to_bin(B) when is_binary(B) -> B.

%% The entry for Name (new: status unknown); error if ours, or full.
member(Name, #st{self = Name}) -> error;
member(Name, S) ->
    case maps:find(Name, S#st.members) of
        {ok, M} -> {ok, M};
        error ->
            case maps:size(S#st.members) >= maps:get(max_members, S#st.p) of
                true -> error;
                false -> {ok, #m{pos = gossip_ref_ring:positions(Name, maps:get(rings, S#st.p))}}
            end
    end.

put_m(Name, M, S) -> S#st{members = (S#st.members)#{Name => M}}.

%% Status change; refreshes the view when the live set changes.
set_status(Name, M0, St, Inc, S0) ->
    Was = live(M0),
    Lost = case M0#m.status =:= alive andalso (St =:= suspect orelse St =:= dead) of
               true -> M0#m.heard;         % lines since may not have reached us
               false -> M0#m.lost
           end,
    M = M0#m{status = St, inc = Inc, since = now_ms(), lost = Lost},
    S1 = put_m(Name, M, S0),
    S2 = case St of alive -> S1#st{susp = maps:remove(Name, S1#st.susp)}; _ -> S1 end,
    case {Was, live(M)} of
        {false, true} -> refresh_view(S2);
        {true, false} ->
            refresh_view(S2#st{susp = maps:remove(Name, S2#st.susp),
                               probes = maps:remove(Name, S2#st.probes)});
        _ -> S2
    end.

refresh_view(S) ->
    Others = [{N, M#m.pos} || {N, M} <- maps:to_list(S#st.members), live(M)],
    {Ring, View} = gossip_ref_ring:neighbours(S#st.pos, Others, maps:get(rings, S#st.p)),
    S#st{ring = Ring, view = View, probes = maps:with(View, S#st.probes)}.

%% A new live member (unknown or a tombstone before); what we showed since
%% it caught up while removed here, it gets now.
admit(Name, M, Inc, S) ->
    Rejoin = M#m.status =:= dead orelse M#m.status =:= left,
    S0 = set_status(Name, M#m{owed = undefined}, alive, Inc, S),
    S1 = case M#m.owed of
             undefined -> S0;
             Since -> catch_up(Name, Since, S0)
         end,
    Ev = #{event => join, node => Name, incarnation => Inc},
    emit(maps:merge(Ev, maps:from_list([{rejoin, true} || Rejoin] ++
                                           [{initial, true} || not S#st.joined])), S1).

%% A member we suspected or removed as failed refuted with its alive: we
%% may have been cut off from it, so if it is our neighbour we ask it for
%% the lines it showed since we last heard from it before the failure (and
%% two periods more): {catch_up, Self, Ms}, a duration, since our clocks
%% differ.  It answers from its history (catch_up/3).  Only the node that
%% lost touch asks, so a restarted node never gets lines its earlier life
%% showed.  Our clock's zero is our start (C: the event loop's clock), so
%% "never heard" (or heard in our first two periods) asks for the lines it
%% showed since we started.
back_from_failure(Name, Now, S) ->
    case lists:member(Name, S#st.view) of
        false -> S;
        true ->
            Zero = S#st.started,
            #m{lost = Lost} = maps:get(Name, S#st.members),
            Since = case Lost of
                        undefined -> Zero;
                        _ -> max(Zero, Lost - 2 * maps:get(period, S#st.p))
                    end,
            send(Name, {catch_up, S#st.self, Now - Since}, S)
    end.

joined(Via, S0) ->
    S1 = emit(maps:merge(#{event => joined, count => length(live_names(S0))},
                         case Via of undefined -> #{}; _ -> #{via => Via} end),
              S0#st{joining = false, joined = true}),
    S2 = flood({alive, S1#st.self, S1#st.inc}, undefined, S1),
    case Via =/= undefined andalso not lists:member(Via, S2#st.view) of
        true -> send(Via, {alive, S2#st.self, S2#st.inc}, S2);
        false -> S2
    end.

send_join(S, Now) ->
    send(S#st.contact, {join, S#st.self},
         S#st{join_at = Now + maps:get(join_retry, S#st.p)}).

send_peer_list(To, S) ->
    send(To, {peer_list, [S#st.self | [N || N <- live_names(S), N =/= To, N =/= S#st.self]]}, S).

%% We are said to be suspect, dead or gone at incarnation Heard: if that is
%% our current life, start a newer one; either way flood our alive (and tell
%% By), since the claim is spreading.
refute(_, _, #st{leaving = true} = S) -> S;
refute(Heard, By, #st{inc = Inc} = S0) ->
    S = case Heard >= Inc of
            true -> S0#st{inc = Heard + 1, lhm = min(S0#st.lhm + 1, maps:get(lhm_max, S0#st.p))};
            false -> S0
        end,
    New = S#st.inc,
    S1 = S#st{stats = bump(refutations, 1, S#st.stats)},
    S2 = emit(maps:merge(#{event => refute, node => S#st.self, incarnation => New},
                         case By of undefined -> #{}; _ -> #{by => By} end), S1),
    S3 = flood({alive, S#st.self, New}, undefined, S2),
    case By =/= undefined andalso not lists:member(By, S3#st.view) of
        true -> send(By, {alive, S#st.self, New}, S3);
        false -> S3
    end.

%% A node we suspect or removed talks to us: tell it (once a period) so it
%% can refute; it may have missed the flood.
tell_status(_, #m{status = St}, S) when St =:= alive; St =:= unknown -> S;
tell_status(Name, M, S) ->
    Now = now_ms(),
    Msg = case M#m.status of
              suspect -> {suspect, Name, M#m.inc, S#st.self};
              _ -> {dead, Name, M#m.inc, S#st.self}
          end,
    case recent(M#m.told, Now, maps:get(period, S#st.p)) of
        true -> S;
        false -> send(Name, Msg, put_m(Name, M#m{told = Now}, S))
    end.

%% ---- suspicion -------------------------------------------------------------------

suspect(Name, Inc, By, S0) ->
    M = maps:get(Name, S0#st.members),
    Susp = maps:find(Name, S0#st.susp),
    case {M#m.status, Susp} of
        {alive, _} -> new_suspicion(Name, M, Inc, By, S0);
        {suspect, error} -> new_suspicion(Name, M, Inc, By, S0);
        {suspect, _} when Inc > M#m.inc -> new_suspicion(Name, M, Inc, By, S0);
        {suspect, {ok, {Inc, Started, _, Bys, Expect}}} when Inc =:= M#m.inc ->
            case lists:member(By, Bys) of
                true -> S0;
                false ->
                    Bys1 = [By | Bys],
                    S1 = S0#st{susp = (S0#st.susp)#{Name => {Inc, Started,
                                                             susp_deadline(Started, length(Bys1), Expect, S0),
                                                             Bys1, Expect}}},
                    case length(Bys1) =< maps:get(confirm_k, S0#st.p) + 1 of
                        true -> flood({suspect, Name, Inc, By}, undefined, S1);
                        false -> S1
                    end
            end;
        _ -> S0
    end.

new_suspicion(Name, M, Inc, By, S0) ->
    S1 = set_status(Name, M, suspect, Inc, S0),
    Now = now_ms(),
    Monitors = monitors(Name, S1),
    Expect = min(maps:get(confirm_k, S1#st.p), max(0, Monitors - 1)),
    S2 = S1#st{susp = (S1#st.susp)#{Name => {Inc, Now, susp_deadline(Now, 1, Expect, S1),
                                             [By], Expect}},
               stats = bump(suspicions, 1, S1#st.stats)},
    S3 = emit(#{event => suspect, node => Name, by => By, incarnation => Inc}, S2),
    flood({suspect, Name, Inc, By}, undefined, S3).

%% How many live nodes have Name as a neighbour (us included).
monitors(Name, S) ->
    #m{pos = Pos} = maps:get(Name, S#st.members),
    Others = [{S#st.self, S#st.pos} |
              [{N, M#m.pos} || {N, M} <- maps:to_list(S#st.members), N =/= Name, live(M)]],
    {_, View} = gossip_ref_ring:neighbours(Pos, Others, maps:get(rings, S#st.p)),
    length(View).

susp_deadline(Started, NConf, Expect, S) ->
    Min = maps:get(suspect_min, S#st.p),
    Max = maps:get(suspect_max, S#st.p),
    T = case Expect > 0 andalso Max > Min of
            true -> max(Min, Max - (Max - Min) * math:log(NConf) / math:log(Expect + 1));
            false -> Min
        end,
    Started + trunc(T).

declare_dead(Name, Inc, By, S0) ->
    case maps:find(Name, S0#st.members) of
        {ok, M} ->
            case live(M) andalso Inc >= M#m.inc of
                true ->
                    S1 = set_status(Name, M, dead, Inc, S0),
                    S2 = emit(#{event => dead, node => Name, by => By, incarnation => Inc},
                              S1#st{stats = bump(removals, 1, S1#st.stats)}),
                    S3 = flood({dead, Name, Inc, By}, undefined, S2),
                    case By =:= S3#st.self of
                        true -> tell_status(Name, maps:get(Name, S3#st.members), S3);
                        false -> S3
                    end;
                false -> S0
            end;
        error -> S0
    end.

%% ---- probes ----------------------------------------------------------------------

probe_start(Name, S, Now) ->
    case maps:is_key(Name, S#st.probes) of
        true -> S;
        false ->
            S1 = send(Name, {ping, S#st.self}, S),
            D = Now + maps:get(ping_timeout, S#st.p) * (1 + S#st.lhm),
            S1#st{probes = (S1#st.probes)#{Name => {D, direct}}}
    end.

detect_tick(S0, Now, Late) ->
    Relays = [R || {_, _, E} = R <- S0#st.relays, E > Now],
    S1 = S0#st{relays = Relays},
    Scale = 1 + S1#st.lhm,
    S2 = maps:fold(
           fun(Name, {D, _}, A) when D > Now -> _ = Name, A;
              (Name, {_, Stage}, A) when Late ->
                   A#st{probes = (A#st.probes)#{Name => {Now + maps:get(ping_timeout, A#st.p) * Scale, Stage}}};
              (Name, {_, direct}, A) -> probe_indirect(Name, A, Now);
              (Name, {_, indirect}, A) ->
                   A1 = A#st{probes = maps:remove(Name, A#st.probes)},
                   case maps:find(Name, A1#st.members) of
                       {ok, #m{inc = Inc} = M} -> case live(M) of
                                                      true -> suspect(Name, Inc, A1#st.self, A1);
                                                      false -> A1
                                                  end;
                       error -> A1
                   end
           end, S1, S1#st.probes),
    maps:fold(
      fun(Name, {Inc, Started, D, Bys, Ex}, A) when D =< Now ->
              case Late of
                  true -> A#st{susp = (A#st.susp)#{Name => {Inc, Started, Now + maps:get(suspect_min, A#st.p), Bys, Ex}}};
                  false -> declare_dead(Name, Inc, A#st.self, A)
              end;
         (_, _, A) -> A
      end, S2, S2#st.susp).

probe_indirect(Name, S0, Now) ->
    Others = [N || N <- S0#st.view, N =/= Name],
    {Helpers, R} = pick(maps:get(indirect_k, S0#st.p), Others, S0#st.rand, []),
    S1 = lists:foldl(fun(H, A) -> send(H, {ping_req, A#st.self, Name}, A) end,
                     S0#st{rand = R}, Helpers),
    S2 = send(Name, {ping, S1#st.self}, S1),
    D = Now + maps:get(indirect_timeout, S2#st.p) * (1 + S2#st.lhm),
    S2#st{probes = (S2#st.probes)#{Name => {D, indirect}}}.

pick(0, _, R, Acc) -> {Acc, R};
pick(_, [], R, Acc) -> {Acc, R};
pick(K, L, R0, Acc) ->
    {I, R} = rand:uniform_s(length(L), R0),
    X = lists:nth(I, L),
    pick(K - 1, lists:delete(X, L), R, [X | Acc]).

%% ---- receiving -------------------------------------------------------------------

recv(_, #st{leaving = true} = S, _) -> S;
recv({chat, Sender, _, Id} = Msg, S, _Now) ->
    case seen(Sender, Id, S) of
        true -> S#st{stats = bump(duplicates, 1, S#st.stats)};
        false ->
            {chat, _, Text, _} = Msg,
            flood(Msg, Sender, show_chat(Sender, Text, Id, false, S))
    end;
recv({peer_list, L}, S0, Now) ->
    Sender = case L of [F | _] when F =/= S0#st.self -> F; _ -> undefined end,
    S1 = lists:foldl(fun(N, A) ->
                             case member(N, A) of
                                 {ok, #m{status = unknown} = M} -> admit(N, M, 0, A);
                                 {ok, M} when N =/= Sender -> check_tombstone(N, M, Sender, A, Now);
                                 _ -> A
                             end
                     end, S0, L),
    case S1#st.joining of
        true -> joined(case L of [V | _] -> V; [] -> S1#st.contact end, S1);
        false -> S1
    end;
recv({T, Self}, #st{self = Self} = S, _) when T =:= ping; T =:= pong; T =:= join ->
    logger:info("gossip: ~p claiming to be from us dropped", [T]),
    S;
recv({catch_up, Self, _}, #st{self = Self} = S, _) ->
    logger:info("gossip: catch_up claiming to be from us dropped"),
    S;
%% Asked by the node itself, so answered whatever we think of it: it may
%% still be a tombstone here, its refutation on the way.  Until it is back
%% here our new lines go only to our live members, so we owe it the lines
%% we show from now until we take it back (admit/4).
recv({catch_up, N, Ms}, S0, Now) ->
    S = catch_up(N, Now - Ms, S0),
    case maps:find(N, S#st.members) of
        {ok, #m{owed = undefined} = M} ->
            case live(M) of
                true -> S;
                false -> put_m(N, M#m{owed = Now}, S)
            end;
        _ -> S
    end;
recv({ping_req, Self, _}, #st{self = Self} = S, _) -> S;
recv({ping, From}, S0, Now) ->
    S1 = send(From, {pong, S0#st.self}, S0),
    case S1#st.joined of
        true -> heard_from(From, S1, Now);
        false -> S1
    end;
recv({pong, From}, S0, Now) ->
    S1 = case maps:find(From, S0#st.members) of
             {ok, #m{status = unknown}} -> S0;
             {ok, M} -> heard(From, M, Now, S0);
             error -> S0
         end,
    S2 = case maps:is_key(From, S1#st.probes) of
             true -> S1#st{probes = maps:remove(From, S1#st.probes), lhm = max(0, S1#st.lhm - 1)};
             false -> S1
         end,
    {Mine, Rest} = lists:partition(fun({_, T, _}) -> T =:= From end, S2#st.relays),
    lists:foldl(fun({Req, _, _}, A) -> send(Req, {pong, From}, A) end,
                S2#st{relays = Rest}, Mine);
recv({join, J}, S0, Now) ->
    case member(J, S0) of
        {ok, M} ->
            S1 = case live(M) of
                     true -> S0;
                     false -> admit(J, M, M#m.inc, S0)
                 end,
            M1 = maps:get(J, S1#st.members),
            send_peer_list(J, put_m(J, M1#m{heard = Now}, S1));
        error -> S0
    end;
recv({ping_req, Req, Self}, #st{self = Self} = S, _) ->
    send(Req, {pong, Self}, S);
recv({ping_req, Req, Target}, S, Now) ->
    case length(S#st.relays) >= ?MAX_RELAYS of
        true -> S;
        false ->
            send(Target, {ping, S#st.self},
                 S#st{relays = [{Req, Target, Now + maps:get(indirect_timeout, S#st.p)} | S#st.relays]})
    end;
recv({leave, Self}, #st{self = Self} = S, _) -> refute(S#st.inc, undefined, S);
recv({leave, N}, S0, _) ->
    case maps:find(N, S0#st.members) of
        {ok, M} ->
            case live(M) of
                true ->
                    S1 = set_status(N, M, left, M#m.inc, S0),
                    S2 = emit(#{event => leave, node => N, incarnation => M#m.inc},
                              S1#st{stats = bump(removals, 1, S1#st.stats)}),
                    %% to it too: a late leave may be about an earlier life,
                    %% and only the node itself can refute it
                    flood({leave, N}, undefined, S2);
                false -> S0
            end;
        error -> S0
    end;
recv({alive, Self, I}, #st{self = Self} = S, _) ->
    case I > S#st.inc of
        true -> refute(I, undefined, S);
        false -> S
    end;
recv({alive, N, I}, S0, Now) ->
    case member(N, S0) of
        {ok, M} ->
            Tomb = M#m.status =:= dead orelse M#m.status =:= left,
            if
                M#m.status =:= unknown; Tomb andalso I > M#m.inc ->
                    S1 = admit(N, M, I, S0),
                    S2 = case M#m.status of
                             dead -> back_from_failure(N, Now, S1);
                             _ -> S1
                         end,
                    flood({alive, N, I}, N, S2);
                M#m.status =/= unknown, not Tomb, I > M#m.inc ->
                    S1 = set_status(N, M, alive, I, S0),
                    S2 = case M#m.status of
                             suspect -> back_from_failure(N, Now, emit(#{event => alive, node => N,
                                                                         incarnation => I}, S1));
                             _ -> S1
                         end,
                    flood({alive, N, I}, N, S2);
                true -> S0
            end;
        error -> S0
    end;
recv({suspect, Self, I, By}, #st{self = Self} = S, _) -> refute(I, By, S);
recv({suspect, N, I, By}, S, _) ->
    case maps:find(N, S#st.members) of
        {ok, #m{status = unknown}} -> S;
        {ok, #m{status = dead, inc = Inc}} when I =< Inc -> send(By, {dead, N, Inc, S#st.self}, S);
        {ok, M} ->
            case live(M) of
                false -> S;
                true when I < M#m.inc -> send(By, {alive, N, M#m.inc}, S);
                true -> suspect(N, I, By, S)
            end;
        error -> S
    end;
recv({dead, Self, I, By}, #st{self = Self} = S, _) -> refute(I, By, S);
recv({dead, N, I, By}, S, _) ->
    case member(N, S) of
        {ok, #m{status = unknown} = M} -> set_status(N, M, dead, I, S);   % a tombstone, quietly
        {ok, M} ->
            case live(M) of
                false -> S;
                true when I < M#m.inc -> send(By, {alive, N, M#m.inc}, S);
                %% another's verdict is a suspicion (or one more confirmation
                %% of ours): it may come from the far side of a healed
                %% partition, or be about an earlier life of a node we know
                %% only by name.  Only our own suspicion running out removes
                %% a member, and a live one that can reach us refutes first.
                true -> suspect(N, I, By, S)
            end;
        error -> S
    end.

%% The peer list's sender counts as live a node we removed: tell it (once a
%% period per node) as a suspicion, not a removal - our tombstone may be
%% stale (as memberlist's push/pull merge takes a remote dead): the node, if
%% alive, refutes, and a newer life comes back as its alive.
check_tombstone(_, _, undefined, S, _) -> S;
check_tombstone(N, #m{status = St, inc = Inc, told = T} = M, Sender, S, Now)
  when St =:= dead; St =:= left ->
    case recent(T, Now, maps:get(period, S#st.p)) of
        true -> S;
        false -> send(Sender, {suspect, N, Inc, S#st.self}, put_m(N, M#m{told = Now}, S))
    end;
check_tombstone(_, _, _, S, _) -> S.

heard_from(From, S0, Now) ->
    case member(From, S0) of
        {ok, M0} ->
            S1 = case M0#m.status of
                     unknown -> admit(From, M0, 0, S0);
                     _ -> S0
                 end,
            heard(From, maps:get(From, S1#st.members), Now, S1);
        error -> S0
    end.

%% First-hand contact (the lines to ask for after a failure count from
%% `lost`, kept when it failed, so this moves nothing they depend on).
heard(Name, M0, Now, S) ->
    M = M0#m{heard = Now},
    tell_status(Name, M, put_m(Name, M, S)).

%% ---- chat lines shown ------------------------------------------------------------

%% Shows a line (Mine: typed here) and keeps it in the history.  It is late
%% if its sender already had a later one shown (lines from us never are).
show_chat(Sender, Text, Id, Mine, S0) ->
    Self = S0#st.self,
    Top = maps:get(Sender, S0#st.top_id, -1),
    Late = Sender =/= Self andalso Id < Top,
    Ev = maps:from_list([{mine, true} || Mine] ++ [{late, true} || Late]),
    S1 = emit(Ev#{event => chat, from => Sender, text => Text, id => Id},
              mark_seen(Sender, Id, S0)),
    S2 = case Sender =:= Self orelse Late of
             true -> S1;
             false -> S1#st{top_id = (S1#st.top_id)#{Sender => Id}}
         end,
    add_history(Sender, Text, Id, now_ms(), S2).

%% Every line shown (ours too), in show order: at most `history` of them
%% and HISTORY_BYTES of names and text, the oldest dropped first; those
%% shown more than history_ms ago go at the purge tick and before a resend.
add_history(Sender, Text, Id, Now, #st{p = P} = S) ->
    Size = byte_size(Sender) + byte_size(Text),
    Max = maps:get(history, P),
    case Max > 0 andalso Size =< ?HISTORY_BYTES of
        false -> S;
        true ->
            S1 = drop_history(S, fun(#st{history_n = N, history_bytes = B}) ->
                                         N >= Max orelse B + Size > ?HISTORY_BYTES
                                 end),
            S1#st{history = queue:in({Now, Sender, Text, Id}, S1#st.history),
                  history_n = S1#st.history_n + 1, history_bytes = S1#st.history_bytes + Size}
    end.

trim_history(S, Now) ->
    MaxAge = maps:get(history_ms, S#st.p),
    drop_history(S, fun(#st{history = Q}) ->
                            {value, {T, _, _, _}} = queue:peek(Q),
                            Now - T > MaxAge
                    end).

%% Drops the oldest line while there is one and Drop(S) holds.
drop_history(#st{history_n = 0} = S, _) -> S;
drop_history(S, Drop) ->
    case Drop(S) of
        false -> S;
        true ->
            {{value, {_, Sender, Text, _}}, Q} = queue:out(S#st.history),
            drop_history(S#st{history = Q, history_n = S#st.history_n - 1,
                              history_bytes = S#st.history_bytes - byte_size(Sender)
                                  - byte_size(Text)}, Drop)
    end.

%% {catch_up, Name, Ms}: every line we showed at or after Since (our time:
%% Now - Ms), in show order, except Name's own, sent to it as ordinary chat
%% messages.  It shows those it lacks (late if out of its sender's order)
%% and floods them on its side.
catch_up(Name, Since, S0) ->
    S = trim_history(S0, now_ms()),
    lists:foldl(fun({T, Sender, Text, Id}, A) when T >= Since, Sender =/= Name ->
                        send(Name, {chat, Sender, Text, Id}, A);
                   (_, A) -> A
                end, S, queue:to_list(S#st.history)).

%% ---- dedup -----------------------------------------------------------------------

seen(Sender, Id, #st{seen = {Cur, Old}}) ->
    maps:is_key({Sender, Id}, Cur) orelse maps:is_key({Sender, Id}, Old).

mark_seen(Sender, Id, #st{seen = {Cur, _}} = S0) ->
    S = case map_size(Cur) >= ?IDSET_MAX of
            true -> rotate(S0, now_ms());
            false -> S0
        end,
    {Cur1, Old} = S#st.seen,
    S#st{seen = {Cur1#{{Sender, Id} => true}, Old}}.

%% A generation of ids lives history_ms (less if it fills up).
rotate(#st{seen = {Cur, _}} = S, Now) ->
    S#st{seen = {#{}, Cur}, rotate_at = Now + maps:get(history_ms, S#st.p)}.

%% ---- leaving ---------------------------------------------------------------------

leave(#st{leaving = true} = S) -> S;
leave(S) ->
    S1 = flood({leave, S#st.self}, undefined, S),
    S1#st{leaving = true}.

bump(K, N, M) -> maps:update_with(K, fun(V) -> V + N end, N, M).
