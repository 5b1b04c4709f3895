%% cnode_check_history - the run's history file (history.jsonl): one JSON
%% object per line in Jepsen's shape (docs/check.md), written by one
%% process in the order events reach it.  Times are nanoseconds since the
%% run began, taken by the caller when the event happens (not when it is
%% written), so an invocation's time precedes its send.
-module(cnode_check_history).

-export([open/1, now_ns/0, add/1, add/2, close/0, read/1]).

-define(NAME, cnode_check_history).

open(Path) ->
    persistent_term:put({?MODULE, t0}, erlang:monotonic_time(nanosecond)),
    Self = self(),
    Pid = spawn_link(fun() -> init(Self, Path) end),
    receive {Pid, opened} -> ok end,
    Pid.

now_ns() ->
    erlang:monotonic_time(nanosecond) - persistent_term:get({?MODULE, t0}).

%% Event: a map with atom or binary keys; "time" is added (now) unless given.
add(Event) -> add(Event, now_ns()).
add(Event, Time) ->
    ?NAME ! {event, Event#{time => Time}},
    ok.

%% Flushes and closes the file; returns once it is on disk.
close() ->
    Ref = monitor(process, ?NAME),
    ?NAME ! {close, self()},
    receive {'DOWN', Ref, _, _, _} -> ok end.

%% Every event of a history file, in order, as maps with binary keys:
%% {ok, Events} | {error, {line, N, Why}} | {error, Posix}.  Blank lines
%% are skipped; anything else that is not a JSON object is an error that
%% names its line.
read(Path) ->
    case file:read_file(Path) of
        {ok, Bin} -> decode_lines(binary:split(Bin, <<"\n">>, [global]), 1, []);
        {error, _} = E -> E
    end.

decode_lines([], _, Acc) -> {ok, lists:reverse(Acc)};
decode_lines([Line | Rest], N, Acc) ->
    case string:trim(Line) of
        <<>> -> decode_lines(Rest, N + 1, Acc);
        Text ->
            case cnode_json:decode(Text) of
                {ok, E} when is_map(E) -> decode_lines(Rest, N + 1, [E | Acc]);
                {ok, _} -> {error, {line, N, "not a JSON object"}};
                {error, _} -> {error, {line, N, "malformed JSON"}}
            end
    end.

init(Parent, Path) ->
    register(?NAME, self()),
    {ok, F} = file:open(Path, [write, raw, binary, delayed_write]),
    Parent ! {self(), opened},
    loop(F).

loop(F) ->
    receive
        {event, E} ->
            ok = file:write(F, [cnode_json:encode(E), $\n]),
            loop(F);
        {close, _} ->
            ok = file:close(F)
    end.
