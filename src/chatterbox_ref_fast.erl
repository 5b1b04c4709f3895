%% chatterbox_ref_fast - the fast chatterbox protocol as a pure reducer: the
%% Erlang reference of c_src/chatterbox/cb_fast.c, same rules, same wire
%% terms (docs/chatterbox.md).
%%
%% Batches of up to `batch` messages share a send time Ts (strictly rising
%% per sender) and go to every peer as {cb_data, From, Ts, First, Values};
%% receivers take each stream in order and answer with cumulative
%% {cb_ack, From, UpTo, EndSeen}; senders keep at most `window` messages
%% unacked and end with {cb_end, From, Last}.  Nothing is sent to a peer
%% whose connection is busy (the glue says so with a busy event, naming
%% what it could not send; the next tick tries again).  A peer that has
%% acked nothing for its timeout (`rto_us`, doubled on each expiry up to 8
%% times, reset by progress) is reconnected ({reconnect, Id}: the old
%% connection and what it holds go), and when a peer comes up everything
%% unacked goes to it once, from the first unacked batch.  Messages
%% are folded into (|m|, sum) in (Ts, Id, Seq) order as soon as no earlier
%% message can still arrive; once every stream is complete the node prints,
%% says {cb_done, From} when every peer acked all of its messages, and is
%% finished when every peer said so.
%%
%% new/1 takes #{me, ids, seed, batch, window, max_rate, rto_us}; step/2 takes
%%   {tick, Now} | {msg, Now, Term} | {up, Now, Id} | {down, Now, Id}
%%   | {phase, Now, wait | 'end'} | {busy, Now, Id, NotSent}
%% (NotSent: the terms for Id the glue dropped, the connection being busy)
%% and returns {Actions, State}, Actions being, in order,
%%   {send, ToId, Term} | {created, Ts, First, ValuesBin}
%%   | {output, Count, Sum, Complete} | {reconnect, Id}.
-module(chatterbox_ref_fast).

-export([new/1, step/2, finished/1, stats/1, describe/1]).

-record(p, {next = 1, wm = 0, has_end = false, last = 0, q = queue:new(),
            up = false, acked = 0, end_acked = false, end_sent = false, sent = 0,
            t_progress = 0, rto = 0, busy = false, done = false}).
-record(s, {me, peers, key, seq = 0, ts = 0, log = queue:new(), phase = send,
            allowance = 0, t_rate = 0, count = 0, sum = 0, printed = false,
            done_sent = false, t_done = 0, batch, window, max_rate, rto,
            stats = #{created => 0, received => 0, committed => 0, resent => 0,
                      reconnects => 0, rejected => 0}}).

new(#{me := Me, ids := Ids, seed := Seed} = P) ->
    #s{me = Me, peers = maps:from_list([{Id, #p{}} || Id <- Ids]),
       key = chatterbox_ref_lib:key(Seed, Me),
       batch = maps:get(batch, P, 4096), window = maps:get(window, P, 262144),
       max_rate = maps:get(max_rate, P, 0), rto = maps:get(rto_us, P, 1000000)}.

step(Ev, S0) ->
    put(acts, []),
    S1 = event(Ev, S0),
    S = settle(now_of(Ev), S1),
    {lists:reverse(erase(acts)), S}.

now_of(Ev) -> element(2, Ev).

act(A) -> put(acts, [A | get(acts)]).

count(K, N, #s{stats = St} = S) -> S#s{stats = maps:update_with(K, fun(V) -> V + N end, St)}.

peer(Id, #s{peers = Ps}) -> maps:get(Id, Ps).
set_peer(Id, P, #s{peers = Ps} = S) -> S#s{peers = Ps#{Id := P}}.
others(#s{me = Me, peers = Ps}) -> [Id || Id <- maps:keys(Ps), Id =/= Me].

%% ---- events ----------------------------------------------------------------

event({tick, Now}, S0) ->
    Retry = S0#s{peers = maps:map(fun(_, P) -> P#p{busy = false} end, S0#s.peers)},
    S1 = create(Now, false, Retry),
    S2 = lists:foldl(fun(Id, S) ->
                             Sp = pump(Id, Now, S),
                             P = peer(Id, Sp),
                             case P#p.up andalso in_flight(P, Sp) andalso
                                  Now - P#p.t_progress >= rto(P, Sp) of
                                 true -> timeout(Id, Now, Sp);
                                 false -> Sp
                             end
                     end, S1, others(S1)),
    case S2#s.done_sent andalso Now - S2#s.t_done >= S2#s.rto of
        true -> say_done(Now, S2);
        false -> S2
    end;
event({msg, Now, Term}, S) ->
    case catch on_msg(Term, Now, S) of
        #s{} = S1 -> S1;
        _ -> count(rejected, 1, S)
    end;
event({up, Now, Id}, S) ->
    case maps:find(Id, S#s.peers) of
        {ok, #p{up = false} = P} when Id =/= S#s.me ->
            Up = P#p{up = true, rto = 0, t_progress = Now, busy = false},
            S1 = resend(Id, Now, set_peer(Id, Up, S)),
            [act({send, Id, {cb_done, S1#s.me}}) || S1#s.done_sent],
            S1;
        _ -> S
    end;
event({down, _Now, Id}, S) ->
    case maps:find(Id, S#s.peers) of
        {ok, P} when Id =/= S#s.me -> set_peer(Id, P#p{up = false}, S);
        _ -> S
    end;
event({busy, _Now, Id, NotSent}, S) ->
    case maps:find(Id, S#s.peers) of
        {ok, P} when Id =/= S#s.me ->
            Sent = lists:min([P#p.sent | [First - 1 || {cb_data, _, _, First, _} <- NotSent]]),
            EndLost = lists:keymember(cb_end, 1, NotSent),
            set_peer(Id, P#p{busy = true, sent = Sent,
                             end_sent = P#p.end_sent andalso not EndLost}, S);
        _ -> S
    end;
event({phase, Now, wait}, #s{phase = send, me = Me, seq = Seq} = S0) ->
    MeP = peer(Me, S0),
    S1 = set_peer(Me, MeP#p{has_end = true, last = Seq}, S0#s{phase = wait}),
    lists:foldl(fun(Id, S) -> pump(Id, Now, S) end, S1, others(S1));
event({phase, Now, 'end'}, #s{phase = send} = S) ->
    event({phase, Now, 'end'}, event({phase, Now, wait}, S));
event({phase, _Now, 'end'}, #s{phase = wait} = S0) ->
    S1 = fold(S0#s{phase = 'end'}),
    case S1#s.printed of
        true -> S1;
        false -> output(all_complete(S1), S1)
    end;
event({phase, _, _}, S) ->
    S.

on_msg({cb_data, From, Ts, First, Bin}, _Now, S) when is_integer(Ts), is_integer(First),
                                                      is_binary(Bin) ->
    P = known(From, S),
    N = byte_size(Bin) div 4,
    true = N > 0 andalso N =< 65536 andalso byte_size(Bin) rem 4 =:= 0 andalso First > 0,
    S1 = case First =:= P#p.next of
             true ->
                 Last = First + N - 1,
                 Bad = (P#p.has_end andalso Last > P#p.last) orelse
                     (P#p.next > 1 andalso Ts =< P#p.wm) orelse Ts =< 0,
                 case Bad of
                     true -> count(rejected, 1, S);
                     false ->
                         P1 = P#p{q = queue:in({Ts, First, N, Bin}, P#p.q), next = Last + 1,
                                  wm = Ts},
                         count(received, N, set_peer(From, P1, S))
                 end;
             false -> S
         end,
    ack(From, S1);
on_msg({cb_end, From, Last}, _Now, S) when is_integer(Last) ->
    P = known(From, S),
    case Last + 1 < P#p.next orelse (P#p.has_end andalso P#p.last =/= Last) of
        true -> count(rejected, 1, S);
        false -> ack(From, set_peer(From, P#p{has_end = true, last = Last}, S))
    end;
on_msg({cb_ack, From, UpTo, EndSeen}, Now, S0) when is_integer(UpTo), is_boolean(EndSeen) ->
    P0 = known(From, S0),
    case UpTo > S0#s.seq orelse (EndSeen andalso S0#s.phase =:= send) of
        true -> count(rejected, 1, S0);
        false ->
            Progress = UpTo > P0#p.acked orelse (EndSeen andalso not P0#p.end_acked),
            P1 = case Progress of
                     true -> P0#p{acked = max(UpTo, P0#p.acked), t_progress = Now, rto = 0};
                     false -> P0
                 end,
            P2 = P1#p{end_acked = P1#p.end_acked orelse EndSeen},
            S1 = release(set_peer(From, P2, S0)),
            pump(From, Now, create(Now, true, S1))
    end;
on_msg({cb_done, From}, _Now, S) ->
    P = known(From, S),
    set_peer(From, P#p{done = true}, S);
on_msg(_, _, S) ->
    count(rejected, 1, S).

known(Id, #s{me = Me} = S) when Id =/= Me -> peer(Id, S).

ack(From, #s{me = Me} = S) ->
    P = peer(From, S),
    act({send, From, {cb_ack, Me, P#p.next - 1, P#p.has_end}}),
    S.

%% ---- sending ---------------------------------------------------------------

min_acked(S) ->
    lists:min([S#s.seq | [(peer(Id, S))#p.acked || Id <- others(S)]]).

release(S) ->
    M = min_acked(S),
    S#s{log = drop_acked(S#s.log, M)}.

drop_acked(Log, M) ->
    case queue:peek(Log) of
        {value, {_, First, N, _}} when First + N - 1 =< M -> drop_acked(queue:drop(Log), M);
        _ -> Log
    end.

in_flight(P, S) ->
    P#p.sent > P#p.acked orelse (S#s.phase =/= send andalso not P#p.end_acked).

%% Sends peer Id what it has not been sent on this connection yet: every
%% logged batch after what it acked, then (after the send phase) cb_end.
%% Nothing while its connection is busy.
pump(Id, Now, #s{me = Me} = S) ->
    P0 = peer(Id, S),
    From = max(P0#p.sent, P0#p.acked),
    Todo = [B || {_, First, _, _} = B <- queue:to_list(S#s.log), First > From],
    EndDue = S#s.phase =/= send andalso not P0#p.end_acked andalso not P0#p.end_sent,
    case P0#p.up andalso not P0#p.busy andalso (Todo =/= [] orelse EndDue) of
        false -> S;
        true ->
            P1 = case in_flight(P0#p{sent = From}, S) of
                     true -> P0;
                     false -> P0#p{t_progress = Now}     % the retransmit clock starts
                 end,
            Sent = lists:foldl(fun({Ts, First, N, Bin}, _) ->
                                       act({send, Id, {cb_data, Me, Ts, First, Bin}}),
                                       First + N - 1
                               end, From, Todo),
            [act({send, Id, {cb_end, Me, S#s.seq}}) || EndDue],
            set_peer(Id, P1#p{sent = Sent, end_sent = P1#p.end_sent orelse EndDue}, S)
    end.

%% Go-back-N, on a new connection: everything unacked goes again.
resend(Id, Now, S0) ->
    P = peer(Id, S0),
    S1 = case P#p.sent > P#p.acked of
             true -> count(resent, P#p.sent - P#p.acked, S0);
             false -> S0
         end,
    pump(Id, Now, set_peer(Id, P#p{sent = P#p.acked, end_sent = false}, S1)).

rto(#p{rto = 0}, S) -> S#s.rto;
rto(#p{rto = R}, _) -> R.

%% Peer Id acked nothing for its timeout while something was in flight: a
%% new connection (everything unacked goes once it is up), and twice as
%% long to wait next time.
timeout(Id, Now, S) ->
    P = peer(Id, S),
    act({reconnect, Id}),
    count(reconnects, 1, set_peer(Id, P#p{rto = min(2 * rto(P, S), 8 * S#s.rto),
                                          t_progress = Now}, S)).

%% ---- creating messages -----------------------------------------------------

create(_Now, _WholeOnly, #s{phase = Phase} = S) when Phase =/= send -> S;
create(Now, WholeOnly, S0) ->
    Backlog = S0#s.seq - min_acked(S0),
    Room0 = max(0, S0#s.window - Backlog),
    {Room, S1} = rate_limit(Now, Room0, S0),
    S2 = create_batches(Now, Room, WholeOnly, S1),
    lists:foldl(fun(Id, S) -> pump(Id, Now, S) end, S2, others(S2)).

rate_limit(_Now, Room, #s{max_rate = 0} = S) -> {Room, S};
rate_limit(Now, Room, #s{max_rate = R, t_rate = T0, allowance = A0, batch = B} = S) ->
    T = case T0 =:= 0 orelse Now < T0 of true -> Now; false -> T0 end,
    Add = (Now - T) * R div 1000000,
    {A, T1} = case Add > 0 of
                  true -> {min(A0 + Add, max(R div 10, B)), T + Add * 1000000 div R};
                  false -> {A0, T}
              end,
    {min(Room, A), S#s{allowance = A, t_rate = T1}}.

create_batches(_Now, Room, _, S) when Room =< 0 -> S;
create_batches(_Now, Room, true, #s{batch = B} = S) when Room < B -> S;
create_batches(Now, Room, WholeOnly, #s{batch = B, me = Me} = S0) ->
    N = min(Room, B),
    Ts = max(Now, S0#s.ts + 1),
    First = S0#s.seq + 1,
    Bin = chatterbox_ref_lib:values(S0#s.key, First, N),
    MeP = peer(Me, S0),
    MeP1 = MeP#p{q = queue:in({Ts, First, N, Bin}, MeP#p.q), next = First + N, wm = Ts},
    act({created, Ts, First, Bin}),
    S1 = S0#s{seq = First + N - 1, ts = Ts, log = queue:in({Ts, First, N, Bin}, S0#s.log),
              allowance = case S0#s.max_rate of 0 -> 0; _ -> S0#s.allowance - N end},
    S2 = count(created, N, set_peer(Me, MeP1, S1)),
    create_batches(Now, Room - N, WholeOnly, S2).

%% ---- folding ---------------------------------------------------------------

complete(#p{has_end = H, next = Next, last = Last}) -> H andalso Next > Last.

%% Folds every stable batch in (Ts, Id) order.
fold(#s{peers = Ps} = S) ->
    Heads = [{Ts, Id} || {Id, P} <- maps:to_list(Ps),
                         {value, {Ts, _, _, _}} <- [queue:peek(P#p.q)]],
    case Heads of
        [] -> S;
        _ ->
            {Ts, Best} = lists:min(Heads),
            Stable = lists:all(fun({Id, P}) ->
                                       Id =:= Best orelse not queue:is_empty(P#p.q) orelse
                                           complete(P) orelse P#p.wm >= Ts
                               end, maps:to_list(Ps)),
            case Stable of
                false -> S;
                true ->
                    P = maps:get(Best, Ps),
                    {{value, {_, _, N, Bin}}, Q} = queue:out(P#p.q),
                    {C, Sum} = chatterbox_ref_lib:fold(Bin, S#s.count, S#s.sum),
                    fold(count(committed, N, S#s{peers = Ps#{Best := P#p{q = Q}},
                                                 count = C, sum = Sum}))
            end
    end.

all_complete(#s{peers = Ps}) ->
    lists:all(fun(P) -> complete(P) andalso queue:is_empty(P#p.q) end, maps:values(Ps)).

all_acked(#s{phase = send}) -> false;
all_acked(S) ->
    lists:all(fun(Id) ->
                      P = peer(Id, S),
                      P#p.acked >= S#s.seq andalso P#p.end_acked
              end, others(S)).

output(Complete, S) ->
    act({output, S#s.count, S#s.sum, Complete}),
    S#s{printed = true}.

say_done(Now, S) ->
    [act({send, Id, {cb_done, S#s.me}}) || Id <- others(S), (peer(Id, S))#p.up],
    S#s{done_sent = true, t_done = Now}.

settle(Now, S0) ->
    S1 = fold(S0),
    S2 = case not S1#s.printed andalso all_complete(S1) of
             true -> output(true, S1);
             false -> S1
         end,
    case S2#s.printed andalso not S2#s.done_sent andalso all_acked(S2) of
        true -> say_done(Now, S2);
        false -> S2
    end.

%% ---- queries ---------------------------------------------------------------

finished(#s{phase = 'end'}) -> true;
finished(#s{printed = true, done_sent = true} = S) ->
    lists:all(fun(Id) -> (peer(Id, S))#p.done end, others(S));
finished(_) -> false.

stats(#s{stats = St, printed = Pr}) -> St#{output_done => Pr}.

describe(S) ->
    Parts = [describe_peer(Id, peer(Id, S), S) || Id <- lists:sort(others(S))],
    case [P || P <- Parts, P =/= ""] of
        [] -> "nothing outstanding";
        Ps -> lists:flatten(lists:join("; ", Ps))
    end.

describe_peer(Id, P, S) ->
    case complete(P) of
        false ->
            io_lib:format("id ~b: have 1..~b, ~s", [Id, P#p.next - 1,
                                                     case P#p.has_end of
                                                         true -> "more to come";
                                                         false -> "no end yet"
                                                     end]);
        true when S#s.phase =/= send, (P#p.acked < S#s.seq orelse not P#p.end_acked) ->
            io_lib:format("id ~b acked 1..~b of our ~b", [Id, P#p.acked, S#s.seq]);
        true when S#s.printed, not P#p.done ->
            io_lib:format("id ~b not done", [Id]);
        true -> ""
    end.
