%% @doc Erlang reference implementation of the Gleam `raft_kv/client` actor of
%% seed 002.
%%
%% The client gets the leader's Subject, and on `start` (Gleam `Start`) prints
%% "[client] Starting — will send 5 requests" and issues its requests one at
%% a time with `node.put/get/delete` (actor.call, 5000 ms timeout), printing
%% each result; between requests it sends itself `continue` (Gleam
%% `Continue`).  When none remain it prints "[client] Finished all 5 requests"
%% and stops normally.
%%
%% Random operations, with the seed's distribution: op = int.random(3)
%% (0 = get, 1 = put, 2 = delete), then key = one of "a".."e"
%% (int.random(5)), then for a put the value "val_" <> int.random(100).
%% `int.random(N)` is `floor(rand:uniform() * N)`, as in gleam_stdlib.
%%
%% Reproducibility (an extension; the seed uses the process's unseeded
%% generator): with a seed S, client number C draws from the generator
%% `rand:seed_s(exsss, {S, C, 0})`, so `ops(S, C)` is exactly the list of
%% 5 commands client C sends.  A client can also be given an explicit op list.
%%
%% Test-only extension: with `report_to => Pid` the client sends
%% `{raft_ref_client_done, ClientPid, ClientId, [{Command, Reply}]}` to Pid
%% just before it stops.  Nothing of this is visible to the nodes.
-module(raft_ref_client).

-export([start/1, start/2, ops/2, ops/3]).

-record(client, {leader, remaining, self, id, source, results = [], report_to}).

-define(KEYS, {<<"a">>, <<"b">>, <<"c">>, <<"d">>, <<"e">>}).
-define(REQUESTS, 5).

%% @doc `client.start(leader)`: unseeded random ops, like the seed.
%% Returns `{ok, ClientSubject}`; send it `start` to begin.
start(Leader) ->
    start(Leader, #{}).

%% @doc Options: `id` (client number, default 1), `seed` (ops = ops(Seed, Id)),
%% `ops` (an explicit list of commands, overrides seed), `report_to` (pid).
start(Leader, Opts) ->
    Id = maps:get(id, Opts, 1),
    Source = case Opts of
                 #{ops := Ops} -> {ops, Ops};
                 #{seed := Seed} -> {ops, ops(Seed, Id)};
                 _ -> random
             end,
    Remaining = case Source of
                    {ops, L} -> length(L);
                    random -> ?REQUESTS
                end,
    Init = fun(Self) ->
                   State = #client{leader = Leader, remaining = Remaining,
                                   self = Self, id = Id, source = Source,
                                   report_to = maps:get(report_to, Opts, undefined)},
                   {ok, {initialised, State, none, Self}}
           end,
    raft_ref_actor:start_subject(1000, Init, fun handle_message/2).

%% @doc The 5 commands client ClientId sends for Seed.
ops(Seed, ClientId) ->
    ops(Seed, ClientId, ?REQUESTS).

%% @doc The first N commands of client ClientId's sequence for Seed.
ops(Seed, ClientId, N) ->
    gen_ops(rand:seed_s(exsss, {Seed, ClientId, 0}), N).

gen_ops(_Rand, 0) ->
    [];
gen_ops(Rand0, N) ->
    {Op, Rand} = random_op(fun(Max, R) -> int_random_s(Max, R) end, Rand0),
    [Op | gen_ops(Rand, N - 1)].

%% Draw one command.  Draw order as in the seed: op kind, key, then value.
random_op(Draw, R0) ->
    {Kind, R1} = Draw(3, R0),
    {KeyIx, R2} = Draw(5, R1),
    Key = element(KeyIx + 1, ?KEYS),
    case Kind of
        0 -> {{get, Key}, R2};
        1 ->
            {V, R3} = Draw(100, R2),
            {{put, Key, <<"val_", (integer_to_binary(V))/binary>>}, R3};
        _ -> {{delete, Key}, R2}
    end.

int_random_s(Max, Rand0) ->
    {F, Rand} = rand:uniform_s(Rand0),
    {trunc(math:floor(F * Max)), Rand}.

int_random(Max, nil) ->
    {trunc(math:floor(rand:uniform() * Max)), nil}.

next_op(#client{source = random} = S) ->
    {Op, nil} = random_op(fun int_random/2, nil),
    {Op, S};
next_op(#client{source = {ops, [Op | Rest]}} = S) ->
    {Op, S#client{source = {ops, Rest}}}.

handle_message(State, Message) ->
    case Message of
        start ->
            println(<<"[client] Starting — will send 5 requests"/utf8>>),
            send_next_request(State);
        continue ->
            send_next_request(State)
    end.

send_next_request(#client{remaining = 0} = State) ->
    println("[client] Finished all 5 requests"),
    case State#client.report_to of
        undefined -> ok;
        Pid -> Pid ! {raft_ref_client_done, self(), State#client.id,
                      lists:reverse(State#client.results)}
    end,
    raft_ref_actor:stop();
send_next_request(#client{remaining = N, leader = Leader} = State0) ->
    {Op, State} = next_op(State0),
    Reply = case Op of
                {get, Key} ->
                    R = raft_ref_node:get(Leader, Key),
                    case R of
                        {ok, Value} ->
                            println(["[client] GET \"", Key, "\" -> \"", Value, "\""]);
                        {error, Reason} ->
                            println(["[client] GET \"", Key, "\" -> ", Reason])
                    end,
                    R;
                {put, Key, Value} ->
                    R = raft_ref_node:put(Leader, Key, Value),
                    case R of
                        op_ok ->
                            println(["[client] PUT \"", Key, "\" = \"", Value,
                                     "\" -> OK"]);
                        {op_error, Reason} ->
                            println(["[client] PUT \"", Key, "\" = \"", Value,
                                     "\" -> ", Reason])
                    end,
                    R;
                {delete, Key} ->
                    R = raft_ref_node:delete(Leader, Key),
                    case R of
                        op_ok ->
                            println(["[client] DELETE \"", Key, "\" -> OK"]);
                        {op_error, Reason} ->
                            println(["[client] DELETE \"", Key, "\" -> ", Reason])
                    end,
                    R
            end,
    raft_ref_actor:send(State#client.self, continue),
    raft_ref_actor:continue(State#client{remaining = N - 1,
                                         results = [{Op, Reply} | State#client.results]}).

println(Chars) ->
    io:format("~ts~n", [Chars]).
