%% chatterbox_ref_seed - the seed's stop-and-wait chatterbox protocol as a
%% pure reducer: the Erlang reference of c_src/chatterbox/cb_seed.c.
%%
%% One message in flight, {cb_msg, From, Seq, Ts, Value}, sent to every peer
%% on every tick until each answers {cb_msg_ack, From, Seq}; then it is
%% committed and the next one goes out at once.  Receivers keep one message
%% per sender: a newer one commits the buffered one, a repeat changes
%% nothing, every copy is acked.  After the send phase the last message is
%% committed by {cb_flush, From, Seq} (acked by {cb_flush_ack, From, Seq})
%% once every peer holds it.  At the deadline the node prints its committed
%% messages in (Ts, Id, Seq) order.
%%
%% Beyond the seed, as cb_seed.c: a peer that has owed us an ack for
%% rto_us (doubled on each expiry, reset by an ack) is reconnected
%% ({reconnect, Id}), so that a connection black-holed by a partition is
%% replaced once it heals.
%%
%% Same interface as chatterbox_ref_fast (new/1, step/2, finished/1,
%% stats/1, describe/1); a busy event changes nothing here, as every tick
%% sends again what is not acked.
-module(chatterbox_ref_seed).

-export([new/1, step/2, finished/1, stats/1, describe/1]).

-record(p, {buf = none, committed = 0, up = false, acked = false, flush_acked = false,
            t_owed = 0, rto = 0}).
-record(s, {me, peers, key, cur = none, cur_committed = false, flushing = false,
            phase = send, log = [], rto = 0,
            stats = #{created => 0, received => 0, committed => 0, resent => 0,
                      reconnects => 0, rejected => 0}}).

new(#{me := Me, ids := Ids, seed := Seed} = P) ->
    #s{me = Me, peers = maps:from_list([{Id, #p{}} || Id <- Ids, Id =/= Me]),
       key = chatterbox_ref_lib:key(Seed, Me), rto = maps:get(rto_us, P, 0)}.

step(Ev, S0) ->
    put(acts, []),
    S = event(Ev, S0),
    {lists:reverse(erase(acts)), S}.

act(A) -> put(acts, [A | get(acts)]).

count(K, N, #s{stats = St} = S) -> S#s{stats = maps:update_with(K, fun(V) -> V + N end, St)}.

peer(Id, #s{peers = Ps}) -> maps:get(Id, Ps).
set_peer(Id, P, #s{peers = Ps} = S) -> S#s{peers = Ps#{Id := P}}.

commit({_Ts, _Id, _Seq, _V} = M, #s{log = L} = S) -> count(committed, 1, S#s{log = [M | L]}).

%% ---- events ----------------------------------------------------------------

event({tick, Now}, S) ->
    check_owed(Now, tick(Now, S));
event({msg, _Now, _}, #s{phase = 'end'} = S) ->
    S;
event({msg, Now, Term}, S) ->
    case catch on_msg(Term, Now, S) of
        #s{} = S1 -> S1;
        _ -> count(rejected, 1, S)
    end;
event({up, Now, Id}, S) ->
    case maps:find(Id, S#s.peers) of
        {ok, #p{up = false} = P} ->
            S1 = set_peer(Id, P#p{up = true, t_owed = Now, rto = 0}, S),
            send_pending(Id, S1),
            S1;
        _ -> S
    end;
event({down, _Now, Id}, S) ->
    case maps:find(Id, S#s.peers) of
        {ok, P} -> set_peer(Id, P#p{up = false}, S);
        error -> S
    end;
event({phase, Now, wait}, #s{phase = send} = S0) ->
    S = S0#s{phase = wait},
    case S#s.cur_committed andalso S#s.cur =/= none of
        true ->                                  % alone: nothing to flush to
            S1 = owed_from(Now, S#s{flushing = true}),
            send_pending_all(S1),
            S1;
        false -> S
    end;
event({phase, Now, 'end'}, #s{phase = send} = S) ->
    event({phase, Now, 'end'}, event({phase, Now, wait}, S));
event({phase, _Now, 'end'}, #s{phase = wait} = S0) ->
    S = S0#s{phase = 'end'},
    Values = [V || {_, _, _, V} <- lists:sort(S#s.log)],
    {C, Sum} = chatterbox_ref_lib:fold_values(Values, {0, 0}),
    Buffered = [x || #p{buf = B} <- maps:values(S#s.peers), B =/= none],
    Pending = S#s.cur =/= none andalso not S#s.cur_committed,
    act({output, C, Sum, Buffered =:= [] andalso not Pending}),
    S;
event({busy, _Now, _Id, _NotSent}, S) ->
    S;                                  % what was dropped goes again next tick
event({phase, _, _}, S) ->
    S.

on_msg({cb_msg, From, Seq, Ts, V}, _Now, S0) when is_integer(Seq), Seq > 0, is_integer(Ts),
                                                  is_integer(V), V > 0, V =< 1000000000 ->
    P = peer(From, S0),
    In = {Ts, From, Seq, V},
    S = case P#p.buf of
            {_, _, Seq, _} -> S0;                              % the same again
            {_, _, BSeq, _} = Buf when Seq > BSeq ->           % commit on next
                count(received, 1,
                      set_peer(From, P#p{buf = In, committed = BSeq}, commit(Buf, S0)));
            none when Seq > P#p.committed ->
                count(received, 1, set_peer(From, P#p{buf = In}, S0));
            _ -> S0
        end,
    act({send, From, {cb_msg_ack, S#s.me, Seq}}),
    S;
on_msg({cb_msg_ack, From, Seq}, Now, #s{cur = {_, _, Seq, _}, cur_committed = false} = S) ->
    P = peer(From, S),
    advance(Now, set_peer(From, P#p{acked = true, rto = 0}, S));
on_msg({cb_msg_ack, From, _}, _Now, S) ->
    _ = peer(From, S),
    S;
on_msg({cb_flush, From, Seq}, _Now, S0) when is_integer(Seq) ->
    P = peer(From, S0),
    S = case P#p.buf of
            {_, _, Seq, _} = Buf ->
                set_peer(From, P#p{buf = none, committed = Seq}, commit(Buf, S0));
            _ -> S0
        end,
    act({send, From, {cb_flush_ack, S#s.me, Seq}}),
    S;
on_msg({cb_flush_ack, From, Seq}, _Now, #s{flushing = true, cur = {_, _, Seq, _}} = S) ->
    P = peer(From, S),
    set_peer(From, P#p{flush_acked = true, rto = 0}, S);
on_msg({cb_flush_ack, From, _}, _Now, S) ->
    _ = peer(From, S),
    S;
on_msg(_, _, S) ->
    count(rejected, 1, S).

new_message(Now, #s{me = Me, cur = Cur, peers = Ps} = S) ->
    {Seq, Ts} = case Cur of
                    none -> {1, Now};
                    {T0, _, Seq0, _} -> {Seq0 + 1, max(Now, T0 + 1)}
                end,
    V = chatterbox_ref_lib:value(S#s.key, Seq),
    act({created, Ts, Seq, <<V:32>>}),
    S1 = count(created, 1,
               S#s{cur = {Ts, Me, Seq, V}, cur_committed = false,
                   peers = maps:map(fun(_, P) -> P#p{acked = false, t_owed = Now} end, Ps)}),
    send_pending_all(S1),
    S1.

all_acked(#s{peers = Ps}) -> lists:all(fun(#p{acked = A}) -> A end, maps:values(Ps)).

%% Everyone holds the current message: commit it, then the next (or flush).
advance(Now, #s{cur = Cur, cur_committed = false} = S0) when Cur =/= none ->
    case all_acked(S0) of
        false -> S0;
        true ->
            S1 = (commit(Cur, S0))#s{cur_committed = true},
            case S1#s.phase of
                send when map_size(S1#s.peers) > 0 -> new_message(Now, S1);
                send -> S1;
                wait ->
                    S2 = owed_from(Now, S1#s{flushing = true}),
                    send_pending_all(S2),
                    S2;
                'end' -> S1
            end
    end;
advance(_Now, S) ->
    S.

tick(Now, #s{phase = send, cur = Cur, cur_committed = Done} = S0) when Cur =:= none; Done ->
    advance(Now, new_message(Now, S0));
tick(Now, S0) ->
    S1 = case S0#s.cur =/= none andalso not S0#s.cur_committed andalso not all_acked(S0) of
             true -> count(resent, 1, S0);
             false -> S0
         end,
    send_pending_all(S1),
    advance(Now, S1).

%% Every peer owes us an ack from now on (a new message, or its flush).
owed_from(Now, #s{peers = Ps} = S) ->
    S#s{peers = maps:map(fun(_, P) -> P#p{t_owed = Now} end, Ps)}.

owes(P, #s{cur = Cur, cur_committed = Done, flushing = Fl}) ->
    Cur =/= none andalso ((not Done andalso not P#p.acked) orelse (Fl andalso not P#p.flush_acked)).

%% Reconnects the peers that have owed us an ack for their timeout.
check_owed(_Now, #s{rto = 0} = S) -> S;
check_owed(Now, #s{peers = Ps} = S) ->
    maps:fold(fun(Id, P, Acc) ->
                      Rto = case P#p.rto of 0 -> S#s.rto; R -> R end,
                      case P#p.up andalso owes(P, Acc) andalso Now - P#p.t_owed >= Rto of
                          true ->
                              act({reconnect, Id}),
                              count(reconnects, 1,
                                    set_peer(Id, P#p{rto = min(2 * Rto, 8 * S#s.rto),
                                                     t_owed = Now}, Acc));
                          false -> Acc
                      end
              end, S, Ps).

send_pending_all(S) ->
    [send_pending(Id, S) || Id <- maps:keys(S#s.peers)],
    ok.

send_pending(Id, #s{cur = {Ts, Me, Seq, V}} = S) ->
    P = peer(Id, S),
    if
        not P#p.up -> ok;
        not S#s.cur_committed, not P#p.acked -> act({send, Id, {cb_msg, Me, Seq, Ts, V}});
        S#s.flushing, not P#p.flush_acked -> act({send, Id, {cb_flush, Me, Seq}});
        true -> ok
    end;
send_pending(_, _) ->
    ok.

%% ---- queries ---------------------------------------------------------------

finished(#s{phase = Phase}) -> Phase =:= 'end'.

stats(#s{stats = St, phase = Phase}) -> St#{output_done => Phase =:= 'end'}.

describe(#s{peers = Ps} = S) ->
    Parts = [case P of
                 #p{buf = {_, _, Seq, _}} -> io_lib:format("id ~b: seq ~b still buffered", [Id, Seq]);
                 #p{acked = false} when S#s.cur =/= none, not S#s.cur_committed ->
                     io_lib:format("id ~b has not acked our seq ~b", [Id, element(3, S#s.cur)]);
                 _ -> ""
             end || {Id, P} <- lists:sort(maps:to_list(Ps))],
    case [P || P <- Parts, P =/= ""] of
        [] -> "nothing outstanding";
        L -> lists:flatten(lists:join("; ", L))
    end.
