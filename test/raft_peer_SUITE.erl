%% raft_peer_SUITE - raft_SUITE's mixed cases with the Erlang side on an erl
%% node of another OTP release: CNODE_PEER_OTP=27 (scripts/otp27.sh).
%%
%% Each case runs raft_SUITE's own function (compiled by that release's
%% erlc) on a peer node of that release: the Erlang reference nodes (the
%% Gleam emulation), the clients that call C leaders as Gleam's
%% process.call does, and set_peers/start_election all run there; the C
%% nodes run on this host (cnode_proc's -cnode_host).  Without
%% CNODE_PEER_OTP (or with the host's release) there are no cases here:
%% raft_SUITE covers the host's OTP.
-module(raft_peer_SUITE).

-compile([export_all, nowarn_export_all]).

suite() -> [{timetrap, {minutes, 3}}].

-define(CASES, [mixed_erlang_leader, mixed_c_leader, seed_semantics, start_election_designates,
                hostile_messages, designated_leader_same_applies]).

all() ->
    case cnode_test_lib:other_peer_otp() of
        true -> [every_mixed_case_listed | ?CASES];
        false -> []
    end.

%% Runs here, on the Common Test node: raft_SUITE's mixed group is all here.
every_mixed_case_listed(_Config) ->
    {mixed, _, Mixed} = lists:keyfind(mixed, 1, raft_SUITE:groups()),
    [] = Mixed -- ?CASES,
    ok.

init_per_suite(Config) ->
    cnode_test_lib:start_body_peer(raft_SUITE:init_per_suite(Config)).

end_per_suite(Config) ->
    cnode_test_lib:stop_body_peer(Config),
    raft_SUITE:end_per_suite(Config).

on_peer(TC, Config) -> cnode_test_lib:on_body_peer(Config, raft_SUITE, peer_case, [TC, Config]).

mixed_erlang_leader(C) -> on_peer(?FUNCTION_NAME, C).
mixed_c_leader(C) -> on_peer(?FUNCTION_NAME, C).
seed_semantics(C) -> on_peer(?FUNCTION_NAME, C).
start_election_designates(C) -> on_peer(?FUNCTION_NAME, C).
hostile_messages(C) -> on_peer(?FUNCTION_NAME, C).
designated_leader_same_applies(C) -> on_peer(?FUNCTION_NAME, C).
