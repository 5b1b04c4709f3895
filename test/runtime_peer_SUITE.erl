%% runtime_peer_SUITE - runtime_SUITE's interop cases with the Erlang side on
%% an erl node of another OTP release: CNODE_PEER_OTP=27 (scripts/otp27.sh).
%%
%% In runtime_SUITE the Common Test node itself is the Erlang side: it pings
%% the C node, sends, monitors, links and calls.  Here each case runs the
%% very same function (runtime_SUITE:Case/1, compiled by OTP 27's erlc) on
%% a peer node of that release, through erpc; what the C node talks to is
%% then OTP 27.  The C test node still runs on this host (started here, and
%% C nodes a case starts are started through the peer's -cnode_host, i.e.
%% by this node: cnode_proc).  Without CNODE_PEER_OTP (or with the host's
%% release) the suite has no cases: runtime_SUITE covers the host's OTP.
-module(runtime_peer_SUITE).

-include_lib("common_test/include/ct.hrl").

-compile([export_all, nowarn_export_all]).

%% runtime_SUITE's cases that are interop with an erl node (not flag
%% parsing, raw-socket hostility, or floods and scale, which do not depend
%% on the peer's release and would only add minutes).
%%
%% Not here: bad_flags (flag parsing of the C binary).
%% sys_state_and_status is here: since OTP 26.1 sys:get_state/1,2 accepts
%% only {ok, State} ({error, R} aside) where OTP 25's took the answer as the
%% State; the C process tells the caller's release from its call tag
%% (sys.c wants_ok), so on OTP 27 too sys:get_state(CPid) is the State.
-define(CASES,
        [ping_and_hidden, echo_node_example, c_to_c_nodes, graceful_stop,
         stop_with_unreachable_peer, name_in_use, epmd_started_if_absent,
         send_to_pid, send_to_name, send_from_c, cast_to_c, big_and_odd_terms,
         one_way_stream, one_way_stream_unbatched,
         monitor_name_reason, monitor_pid_reason, monitor_missing_name, monitor_dead_pid,
         demonitor_from_erlang, c_monitors_erlang, c_monitors_erlang_name, c_demonitor,
         link_c_exit_to_erlang, link_erlang_exit_to_c, link_normal_ignored, link_trap_exit,
         unlink_from_erlang, exit2_semantics, c_links_missing,
         call_missing_name, call_into_c, c_calls_erlang, c_calls_c_local, c_call_timeout,
         c_call_callee_dies,
         subject_receive, subject_call_from_erlang, subject_send_from_c, gleam_call_from_c,
         named_subject_to_c, named_call_into_c, named_call_missing_c_name, named_send_from_c,
         named_call_from_c, named_call_from_c_noproc, named_subject_terms,
         idle_timeout, unhandled_log, unhandled_stop, unhandled_forward, deferred_reply,
         sys_state_and_status, sys_suspend_resume, sys_unknown_request, fmt_terms_reused,
         c_node_killed, erlang_node_killed, wrong_cookie]).

suite() -> [{timetrap, {minutes, 2}}].

%% runtime_SUITE's groups whose cases are all here but the ones named
%% below: a case added to them must be added here or to that list.
-define(INTEROP_GROUPS, [node, messages, monitors, links, calls, gleam, named_subjects,
                         managed, faults]).
-define(NOT_HERE, [bad_flags]).

all() ->
    case cnode_test_lib:other_peer_otp() of
        true -> [every_interop_case_listed | ?CASES];
        false -> []
    end.

%% Runs here, on the Common Test node: the list above is runtime_SUITE's.
every_interop_case_listed(_Config) ->
    Groups = runtime_SUITE:groups(),
    Interop = lists:append([Cs || {G, _, Cs} <- Groups, lists:member(G, ?INTEROP_GROUPS)]),
    [] = (Interop -- ?NOT_HERE) -- ?CASES,
    [] = ?CASES -- Interop,
    ok.

init_per_suite(Config0) ->
    cnode_test_lib:start_body_peer(runtime_SUITE:init_per_suite(Config0)).

end_per_suite(Config) ->
    cnode_test_lib:stop_body_peer(Config),
    runtime_SUITE:end_per_suite(Config).

init_per_testcase(_, Config) -> Config.
end_per_testcase(_, _Config) -> ok.

%% Case Name of runtime_SUITE, run on the peer; its failure is this case's.
on_peer(Name, Config) -> cnode_test_lib:on_body_peer(Config, runtime_SUITE, Name, [Config]).

ping_and_hidden(C) -> on_peer(?FUNCTION_NAME, C).
echo_node_example(C) -> on_peer(?FUNCTION_NAME, C).
c_to_c_nodes(C) -> on_peer(?FUNCTION_NAME, C).
graceful_stop(C) -> on_peer(?FUNCTION_NAME, C).
stop_with_unreachable_peer(C) -> on_peer(?FUNCTION_NAME, C).
name_in_use(C) -> on_peer(?FUNCTION_NAME, C).
epmd_started_if_absent(C) -> on_peer(?FUNCTION_NAME, C).
send_to_pid(C) -> on_peer(?FUNCTION_NAME, C).
send_to_name(C) -> on_peer(?FUNCTION_NAME, C).
send_from_c(C) -> on_peer(?FUNCTION_NAME, C).
cast_to_c(C) -> on_peer(?FUNCTION_NAME, C).
big_and_odd_terms(C) -> on_peer(?FUNCTION_NAME, C).
one_way_stream(C) -> on_peer(?FUNCTION_NAME, C).
one_way_stream_unbatched(C) -> on_peer(?FUNCTION_NAME, C).
monitor_name_reason(C) -> on_peer(?FUNCTION_NAME, C).
monitor_pid_reason(C) -> on_peer(?FUNCTION_NAME, C).
monitor_missing_name(C) -> on_peer(?FUNCTION_NAME, C).
monitor_dead_pid(C) -> on_peer(?FUNCTION_NAME, C).
demonitor_from_erlang(C) -> on_peer(?FUNCTION_NAME, C).
c_monitors_erlang(C) -> on_peer(?FUNCTION_NAME, C).
c_monitors_erlang_name(C) -> on_peer(?FUNCTION_NAME, C).
c_demonitor(C) -> on_peer(?FUNCTION_NAME, C).
link_c_exit_to_erlang(C) -> on_peer(?FUNCTION_NAME, C).
link_erlang_exit_to_c(C) -> on_peer(?FUNCTION_NAME, C).
link_normal_ignored(C) -> on_peer(?FUNCTION_NAME, C).
link_trap_exit(C) -> on_peer(?FUNCTION_NAME, C).
unlink_from_erlang(C) -> on_peer(?FUNCTION_NAME, C).
exit2_semantics(C) -> on_peer(?FUNCTION_NAME, C).
c_links_missing(C) -> on_peer(?FUNCTION_NAME, C).
call_missing_name(C) -> on_peer(?FUNCTION_NAME, C).
call_into_c(C) -> on_peer(?FUNCTION_NAME, C).
c_calls_erlang(C) -> on_peer(?FUNCTION_NAME, C).
c_calls_c_local(C) -> on_peer(?FUNCTION_NAME, C).
c_call_timeout(C) -> on_peer(?FUNCTION_NAME, C).
c_call_callee_dies(C) -> on_peer(?FUNCTION_NAME, C).
subject_receive(C) -> on_peer(?FUNCTION_NAME, C).
subject_call_from_erlang(C) -> on_peer(?FUNCTION_NAME, C).
subject_send_from_c(C) -> on_peer(?FUNCTION_NAME, C).
gleam_call_from_c(C) -> on_peer(?FUNCTION_NAME, C).
named_subject_to_c(C) -> on_peer(?FUNCTION_NAME, C).
named_call_into_c(C) -> on_peer(?FUNCTION_NAME, C).
named_call_missing_c_name(C) -> on_peer(?FUNCTION_NAME, C).
named_send_from_c(C) -> on_peer(?FUNCTION_NAME, C).
named_call_from_c(C) -> on_peer(?FUNCTION_NAME, C).
named_call_from_c_noproc(C) -> on_peer(?FUNCTION_NAME, C).
named_subject_terms(C) -> on_peer(?FUNCTION_NAME, C).
idle_timeout(C) -> on_peer(?FUNCTION_NAME, C).
unhandled_log(C) -> on_peer(?FUNCTION_NAME, C).
unhandled_stop(C) -> on_peer(?FUNCTION_NAME, C).
unhandled_forward(C) -> on_peer(?FUNCTION_NAME, C).
deferred_reply(C) -> on_peer(?FUNCTION_NAME, C).
sys_state_and_status(C) -> on_peer(?FUNCTION_NAME, C).
sys_suspend_resume(C) -> on_peer(?FUNCTION_NAME, C).
sys_unknown_request(C) -> on_peer(?FUNCTION_NAME, C).
fmt_terms_reused(C) -> on_peer(?FUNCTION_NAME, C).
c_node_killed(C) -> on_peer(?FUNCTION_NAME, C).
erlang_node_killed(C) -> on_peer(?FUNCTION_NAME, C).
wrong_cookie(C) -> on_peer(?FUNCTION_NAME, C).
