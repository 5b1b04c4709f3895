%% cnode_check_results - the results of a cnode-check run: one row per
%% cluster, printed as a table on stdout and written as results.json, and
%% whether each cluster did what the scenario expects of it.
%%
%% A cluster is expected to pass every check unless the scenario's
%% "expect" names a known limitation for it ("known limitation: ..."):
%% then it is expected to fail at least one, and the table says which.
-module(cnode_check_results).

-export([print/1, to_json/1, as_expected/1, verdict_text/1, summary/1]).

passed(#{checks := Checks}) -> lists:all(fun({_, V}) -> V =:= ok end, Checks).

limitation(#{expect := <<"known limitation", _/binary>>}) -> true;
limitation(_) -> false.

as_expected(Row) -> passed(Row) =/= limitation(Row).

verdict_text(ok) -> <<"ok">>;
verdict_text({failed, Text}) -> iolist_to_binary(["FAILED: ", Text]);
verdict_text({failed, Text, _}) -> iolist_to_binary(["FAILED: ", Text]).

%% `cnode-check summary RESULTS.json...` (make soak): one row per run and
%% cluster - what ran, for how long, operations, faults injected,
%% histories checked, anomalies, acknowledged writes (or lines) lost;
%% exit 0 only if every cluster did what its scenario expects.
summary(Files) ->
    io:format("~n~-18s ~-10s ~8s ~9s ~7s ~10s ~10s ~5s  ~s~n",
              ["run", "cluster", "seconds", "ops", "faults", "histories", "anomalies", "lost",
               "verdict"]),
    Rows = lists:append([summary_rows(F) || F <- Files]),
    [io:format("~-18s ~-10s ~8s ~9b ~7b ~10b ~10s ~5s  ~s~n", R) || R <- Rows],
    case lists:all(fun(R) -> lists:last(R) =:= "as expected" end, Rows) andalso Rows =/= [] of
        true -> 0;
        false -> 1
    end.

summary_rows(File) ->
    {ok, B} = file:read_file(File),
    {ok, Rs} = cnode_json:decode(B),
    Run = filename:basename(filename:dirname(File)),
    [[string:slice(Run, 0, 18), maps:get(<<"cluster">>, R), num(maps:get(<<"seconds">>, R, null)),
      lists:sum(maps:values(maps:get(<<"ops">>, R))), maps:get(<<"faults">>, R), 1,
      num(maps:get(<<"anomalies">>, R, null)), num(maps:get(<<"lost">>, R, null)),
      case maps:get(<<"as_expected">>, R) of true -> "as expected"; false -> "NOT as expected" end]
     || R <- Rs].

num(null) -> "-";
num(N) when is_integer(N) -> integer_to_list(N);
num(N) -> io_lib:format("~p", [N]).

print(Rows) ->
    io:format("~n~-16s ~-22s ~8s ~6s ~6s ~6s ~9s ~4s ~7s  ~s~n",
              ["cluster", "nodes", "ops ok", "fail", "info", "faults", "anomalies", "lost",
               "checks", "verdict"]),
    [print_row(R) || R <- Rows],
    [print_failures(R) || R <- Rows],
    ok.

print_row(R = #{cluster := C, impls := Impls}) ->
    Ops = maps:get(ops, R, #{}),
    Checks = maps:get(checks, R, []),
    Ok = length([x || {_, ok} <- Checks]),
    io:format("~-16s ~-22s ~8b ~6b ~6b ~6b ~9s ~4s ~7s  ~s~n",
              [C, lists:join(" ", Impls), maps:get(ok, Ops, 0), maps:get(fail, Ops, 0),
               maps:get(info, Ops, 0), maps:get(faults, R, 0), count(anomalies, R), count(lost, R),
               io_lib:format("~b/~b", [Ok, length(Checks)]), verdict(R)]).

count(K, R) ->
    case maps:find(K, R) of
        {ok, N} -> integer_to_list(N);
        error -> "-"                            % not checked: the cluster did not run
    end.

verdict(R) ->
    case {passed(R), limitation(R)} of
        {true, false} -> "pass";
        {false, false} -> "FAIL";
        {false, true} -> ["fails as expected (", maps:get(expect, R), ")"];
        {true, true} -> "UNEXPECTED PASS (scenario expects a known limitation)"
    end.

print_failures(R = #{cluster := C}) ->
    [io:format("~n~s: ~s~n~s~n", [C, Label, verdict_text(V)])
     || {Label, V} <- maps:get(checks, R, []), V =/= ok].

to_json(R) ->
    #{cluster => list_to_binary(maps:get(cluster, R)), nodes => maps:get(impls, R),
      ops => maps:get(ops, R, #{}), faults => maps:get(faults, R, 0),
      anomalies => maps:get(anomalies, R, null), lost => maps:get(lost, R, null),
      seconds => maps:get(seconds, R, null),
      expect => maps:get(expect, R),
      checks => maps:from_list([{L, verdict_text(V)} || {L, V} <- maps:get(checks, R, [])]),
      as_expected => as_expected(R),
      report => case maps:get(report, R, none) of none -> null; P -> list_to_binary(P) end}.
