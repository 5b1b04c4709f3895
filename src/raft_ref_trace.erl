%% @doc A capturing io server for trace lines.
%%
%% Make it the group leader of a process before that process starts
%% reference nodes and clients: they inherit it, and every line they print
%% (`io:format`, `io:put_chars`) is recorded as a UTF-8 binary without its
%% newline, in the order the io requests arrived.  Each reference node and
%% client prints whole lines with one io request each, so the lines of one
%% process keep their order.  Output can also be forwarded to another io
%% device (for instance the previous group leader) so it still shows.
%%
%%   {ok, T} = raft_ref_trace:start(#{forward => group_leader()}),
%%   Old = raft_ref_trace:capture(T),      % group_leader(T, self())
%%   ... start nodes, run clients, stop nodes ...
%%   raft_ref_trace:release(Old),
%%   Lines = raft_ref_trace:lines(T),
%%   raft_ref_trace:stop(T).
%%
%% Stop the capturing server only after the processes printing to it are
%% gone: printing to a dead group leader raises in the printing process.
-module(raft_ref_trace).

-export([start/0, start/1, capture/1, release/1, lines/1, stop/1]).

%% @doc Start a capture server (not linked). Options: `forward => IoDevice`.
start() ->
    start(#{}).

start(Opts) ->
    Forward = maps:get(forward, Opts, none),
    Pid = spawn(fun() -> loop(#{forward => Forward, buf => <<>>, lines => []}) end),
    {ok, Pid}.

%% @doc Make T the caller's group leader; returns the previous one.
capture(T) ->
    Old = group_leader(),
    true = group_leader(T, self()),
    Old.

%% @doc Restore the caller's group leader.
release(Old) ->
    true = group_leader(Old, self()),
    ok.

%% @doc All complete lines captured so far, oldest first.
lines(T) ->
    Ref = erlang:monitor(process, T),
    T ! {raft_ref_trace_lines, self(), Ref},
    receive
        {Ref, Lines} ->
            erlang:demonitor(Ref, [flush]),
            Lines;
        {'DOWN', Ref, process, T, Reason} ->
            erlang:error({trace_server_down, Reason})
    end.

stop(T) ->
    Ref = erlang:monitor(process, T),
    exit(T, kill),
    receive {'DOWN', Ref, process, T, _} -> ok end.

loop(S) ->
    receive
        {io_request, From, ReplyAs, Request} ->
            {Reply, S1} = request(Request, S),
            From ! {io_reply, ReplyAs, Reply},
            loop(S1);
        {raft_ref_trace_lines, From, Ref} ->
            From ! {Ref, lists:reverse(maps:get(lines, S))},
            loop(S);
        _Other ->
            loop(S)
    end.

request({put_chars, Enc, Chars}, S) ->
    put_chars(Enc, Chars, S);
request({put_chars, Enc, M, F, A}, S) ->
    try apply(M, F, A) of
        Chars -> put_chars(Enc, Chars, S)
    catch _:_ -> {{error, F}, S}
    end;
request({put_chars, Chars}, S) ->
    request({put_chars, latin1, Chars}, S);
request({put_chars, M, F, A}, S) ->
    request({put_chars, latin1, M, F, A}, S);
request({requests, Reqs}, S) ->
    lists:foldl(fun(R, {ok, Acc}) -> request(R, Acc);
                   (_, Err) -> Err
                end, {ok, S}, Reqs);
request(getopts, S) ->
    {[{binary, false}, {encoding, unicode}], S};
request({setopts, _}, S) ->
    {ok, S};
request({get_geometry, _}, S) ->
    {{error, enotsup}, S};
request(_Other, S) ->
    {{error, request}, S}.

put_chars(Enc, Chars, #{buf := Buf, lines := Lines, forward := Fwd} = S) ->
    case unicode:characters_to_binary(Chars, enc(Enc), utf8) of
        Bin when is_binary(Bin) ->
            case Fwd of
                none -> ok;
                _ -> catch io:put_chars(Fwd, unicode:characters_to_list(Bin))
            end,
            Parts = binary:split(<<Buf/binary, Bin/binary>>, <<"\n">>, [global]),
            {Complete, [Rest]} = lists:split(length(Parts) - 1, Parts),
            {ok, S#{buf := Rest, lines := lists:reverse(Complete, Lines)}};
        _ ->
            {{error, put_chars}, S}
    end.

enc(latin1) -> latin1;
enc(_) -> unicode.
