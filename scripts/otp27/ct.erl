%% ct - the few Common Test functions the suites' code calls, for OTP 27
%% peer nodes (scripts/otp27.sh), whose chroot has no common_test.  Suite
%% code run on such a peer (erpc from the Common Test node) logs through its
%% group leader, which erpc sets to the calling test case's: the lines land
%% in that case's log.  Compiled only into the OTP 27 ebin, never on the
%% Common Test node's code path.
-module(ct).
-export([fail/1, fail/2, log/1, log/2, log/3, log/4, log/5, pal/1, pal/2, pal/3,
         comment/1, comment/2]).

fail(Reason) ->
    try exit({test_case_failed, Reason})
    catch Class:R:S -> erlang:raise(Class, R, tl(S))
    end.

fail(Format, Args) ->
    fail(lists:flatten(io_lib:format(Format, Args))).

log(Format) -> log(Format, []).
log(Format, Args) when is_list(Args) -> out(Format, Args);
log(_Category, Format) -> log(Format, []).
log(_X, Format, Args) -> log(Format, Args).
log(_X, _Y, Format, Args) -> log(Format, Args).
log(_X, _Y, Format, Args, _Opts) -> log(Format, Args).

pal(Format) -> pal(Format, []).
pal(Format, Args) when is_list(Args) -> out(Format, Args);
pal(_Category, Format) -> pal(Format, []).
pal(_X, Format, Args) -> pal(Format, Args).

comment(C) -> out("comment: ~tp", [C]).
comment(Format, Args) -> out("comment: " ++ Format, Args).

out(Format, Args) ->
    io:format("[~s] " ++ Format ++ "~n", [node() | Args]).
