%% cnode_check_report - the HTML report of a cnode-check run.
%%
%% write/3 turns a run's client history (and what the checker found) into
%% RunDir/report.html: one self-contained file, inline SVG and CSS only, no
%% JavaScript, no external resources.  The page shows
%%   - the results table, the seed, run length and operation counts;
%%   - the anomaly, if given: a timeline with one lane per process and each
%%     operation a bar from invocation to completion (open-ended for an
%%     indeterminate op), labelled "put k1=v3 ok";
%%   - latency over time, one plot per operation type (put, get, delete):
%%     x = completion time (s since the start), y = latency (ms, log scale),
%%     points coloured by outcome (ok green, fail blue, info orange); info
%%     ops that never completed sit in a band above the plot, at their
%%     invocation time;
%%   - throughput over time: ops completed per bucket (1 s, finer for short
%%     runs), stacked by outcome;
%%   - fault windows, the per-type operation summary, the scenario and links
%%     to the node logs.
%% Every time plot shades the fault windows (each kind its own colour) and
%% labels them in a strip above the plot.  For big runs a latency plot draws
%% every fail and info op but at most about ?MAX_POINTS ok ops (ok points on
%% the same 2x2-pixel cell merged first, then an even sample); the page says
%% so under the plot.
%%
%% What a test can count: <svg class="plot latency" data-f=F>, <svg
%% class="plot throughput">, <svg class="plot anomaly">; a point is <circle
%% class="op ok|fail|info"> ("op info open" when it never completed); a fault
%% window is <rect class="fault partition|kill|pause"> in every plot it
%% overlaps; an anomaly op is <rect class="span ok|fail|info">.
%%
%% The history (history.jsonl, one JSON object per line, file order), as far
%% as this module relies on it:
%%   - client op: an "invoke" line and a completion line with the same
%%     integer "process"; "type" of the completion is "ok", "fail" or "info";
%%     "f" of the invocation is "put", "get" or "delete"; "error" on fail/info
%%     completions is a reason string; "time" is integer ns since the start.
%%     An invocation without a completion is an info op that never completed.
%%   - nemesis: "process": "nemesis", "f" one of start_partition /
%%     stop_partition, kill / restart, pause / resume; "value" names the node
%%     (kill .. pause) or describes the partition.  A window runs from the
%%     opening event to the closing one of the same kind (and the same node
%%     for kill and pause); a window never closed runs to the end of the run.
%%   - any other line (unknown "process", "f" or "type") is ignored; a line
%%     that is not a JSON object is an error naming its line number.
%% The run ends at the largest "time" in the history.
%%
%% Info (all keys optional): title (binary), scenario (binary, shown as is),
%% seed (integer), results ([{Label, Value}] binaries), anomaly (list of op
%% maps #{process, f, key, value, result, invoke_ns, complete_ns (integer or
%% infinity), node}, as cnode_check_lin:anomaly_ops/1 gives; atom or binary
%% keys; result ok | exists | not_found | info (or fail, or a tuple or
%% binary whose first word is one of these, e.g. {fail, not_found}); an
%% info op's bar is open-ended even when it has a complete_ns),
%% node_logs ([{NodeName, RelativePath}]).
-module(cnode_check_report).

-export([write/3, write_file/3]).

-record(op, {f, outcome, inv, comp, err}).   % comp: ns | infinity

-define(WIDTH, 1100).
-define(LEFT, 84).
-define(RIGHT, 1076).
-define(TITLE_H, 30).
-define(STRIP_LANE, 17).
-define(MAX_LANES, 4).
-define(BAND_H, 16).
-define(BAND_GAP, 8).
-define(AXIS_H, 46).
-define(SPAN_LANE, 34).
-define(MAX_POINTS, 20000).
-define(MIN_MS, 0.001).
-define(FS, [<<"put">>, <<"get">>, <<"delete">>]).
-define(OUTCOMES, [ok, fail, info]).
-define(FAIL_WORDS, [<<"fail">>, <<"exists">>, <<"not_found">>, <<"not_leader">>]).
-define(COMPLETION_TIME, "completion time (s since start)").

%% ---- API ----------------------------------------------------------------------

%% Writes RunDir/report.html; returns {ok, Path}.
write(RunDir, Events, Info) ->
    Path = filename:join(RunDir, "report.html"),
    ok = filelib:ensure_dir(Path),
    ok = file:write_file(Path, page(Events, Info)),
    {ok, Path}.

%% As write/3, the events read from HistoryFile (cnode_check_history:read/1's
%% errors are returned as they are).
write_file(RunDir, HistoryFile, Info) ->
    case cnode_check_history:read(HistoryFile) of
        {ok, Events} -> write(RunDir, Events, Info);
        Error -> Error
    end.

%% ---- the run: operations, fault windows ------------------------------------------

run(Events) ->
    TEnd = max(lists:foldl(fun max_time/2, 0, Events) / 1.0e9, 1.0e-3),
    #{ops => ops(Events), tend => TEnd, windows => windows(Events, TEnd)}.

max_time(#{<<"time">> := T}, Max) when is_integer(T) -> max(T, Max);
max_time(_, Max) -> Max.

s(Ns) -> Ns / 1.0e9.

%% Invocations paired with their completions, by completion time.
ops(Events) -> pair(Events, #{}, []).

pair([E | Es], Open, Acc) ->
    case classify(E) of
        {invoke, P} -> pair(Es, Open#{P => E}, Acc);
        {complete, P, Outcome} ->
            case maps:take(P, Open) of
                {Inv, Open1} -> pair(Es, Open1, [op(Inv, E, Outcome) | Acc]);
                error -> pair(Es, Open, Acc)
            end;
        other -> pair(Es, Open, Acc)
    end;
pair([], Open, Acc) ->
    Unfinished = [op(Inv, #{<<"error">> => <<"no completion">>}, info)
                  || Inv <- maps:values(Open)],
    lists:keysort(#op.comp, Unfinished ++ Acc).

classify(#{<<"process">> := P, <<"type">> := Type, <<"time">> := T} = E)
  when is_integer(P), is_integer(T) ->
    case Type of
        <<"invoke">> -> invoke(P, maps:get(<<"f">>, E, undefined));
        <<"ok">> -> {complete, P, ok};
        <<"fail">> -> {complete, P, fail};
        <<"info">> -> {complete, P, info};
        _ -> other
    end;
classify(_) -> other.

invoke(P, F) ->
    case lists:member(F, ?FS) of
        true -> {invoke, P};
        false -> other
    end.

op(Inv, Comp, Outcome) ->
    #op{f = maps:get(<<"f">>, Inv), outcome = Outcome, inv = maps:get(<<"time">>, Inv),
        comp = maps:get(<<"time">>, Comp, infinity),
        err = json_text(maps:get(<<"error">>, Comp, <<>>))}.

lat_ms(#op{inv = I, comp = C}) -> max((C - I) / 1.0e6, ?MIN_MS).

%% Fault windows #{kind, target, from, to (s), open}, by start.
windows(Events, TEnd) ->
    {Open, Closed} = lists:foldl(fun nemesis/2, {#{}, []}, Events),
    Unclosed = [W#{to => TEnd, open => true} || W <- maps:values(Open)],
    lists:sort(fun(A, B) -> maps:get(from, A) =< maps:get(from, B) end, Closed ++ Unclosed).

nemesis(#{<<"process">> := <<"nemesis">>, <<"f">> := F, <<"time">> := T} = E, Acc)
  when is_integer(T) ->
    Target = json_text(maps:get(<<"value">>, E, <<>>)),
    case fault_event(F) of
        {open, Kind} ->
            W = #{kind => Kind, target => Target, from => s(T), open => false},
            open_window(window_key(Kind, Target), W, Acc);
        {close, Kind} -> close_window(window_key(Kind, Target), s(T), Acc);
        none -> Acc
    end;
nemesis(_, Acc) -> Acc.

fault_event(<<"start_partition">>) -> {open, partition};
fault_event(<<"stop_partition">>) -> {close, partition};
fault_event(<<"kill">>) -> {open, kill};
fault_event(<<"restart">>) -> {close, kill};
fault_event(<<"pause">>) -> {open, pause};
fault_event(<<"resume">>) -> {close, pause};
fault_event(_) -> none.

window_key(partition, _) -> partition;
window_key(Kind, Target) -> {Kind, Target}.

open_window(Key, W, {Open, Closed}) ->
    case maps:is_key(Key, Open) of
        true -> {Open, Closed};
        false -> {Open#{Key => W}, Closed}
    end.

close_window(Key, T, {Open, Closed}) ->
    case maps:take(Key, Open) of
        {W, Open1} -> {Open1, [W#{to => T} | Closed]};
        error -> {Open, Closed}
    end.

window_label(#{kind := K, target := T, open := Open}) ->
    iolist_to_binary([atom_to_binary(K), " ", T, [" (never ended)" || Open]]).

%% ---- the page ----------------------------------------------------------------------

page(Events, Info) ->
    Run = run(Events),
    Title = text(maps:get(title, Info, <<"cnode-check report">>)),
    ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", esc(Title),
     "</title>\n<style>", css(), "</style>\n</head>\n<body>\n<h1>", esc(Title), "</h1>\n",
     overview(Run, Info), results_section(Info), anomaly_section(Run, Info),
     latency_section(Run), throughput_section(Run), faults_section(Run), ops_section(Run),
     scenario_section(Info), logs_section(Info), "</body>\n</html>\n"].

overview(#{ops := Ops, tend := TEnd, windows := Ws}, Info) ->
    Seed = case maps:find(seed, Info) of {ok, S} -> text(S); error -> <<"-">> end,
    Counts = [[integer_to_binary(count(O, Ops)), " ", atom_to_binary(O)] || O <- ?OUTCOMES],
    ["<p class=\"meta\">Seed <b>", esc(Seed), "</b> &middot; run ", fmt(TEnd, 1), " s &middot; ",
     integer_to_binary(length(Ops)), " client operations (", lists:join(", ", Counts),
     ") &middot; ", integer_to_binary(length(Ws)), " fault windows</p>\n"].

count(Outcome, Ops) -> length([O || O = #op{outcome = X} <- Ops, X =:= Outcome]).

results_section(Info) ->
    case maps:get(results, Info, []) of
        [] -> [];
        Rows ->
            ["<h2>Results</h2>\n<table class=\"results\">\n",
             [["<tr><th>", esc(text(L)), "</th>", value_cell(text(V)), "</tr>\n"]
              || {L, V} <- Rows],
             "</table>\n"]
    end.

value_cell(V) ->
    Class = case string:lowercase(V) of
                G when G =:= <<"true">>; G =:= <<"ok">>; G =:= <<"valid">>;
                       G =:= <<"linearizable">> -> " class=\"good\"";
                B when B =:= <<"false">>; B =:= <<"fail">>; B =:= <<"invalid">>;
                       B =:= <<"not linearizable">> -> " class=\"bad\"";
                _ -> ""
            end,
    ["<td", Class, ">", esc(V), "</td>"].

latency_section(#{ops := Ops} = Run) ->
    Fs = [F || F <- ?FS, lists:keymember(F, #op.f, Ops)],
    Plots = [latency_plot(F, [O || O = #op{f = X} <- Ops, X =:= F], Run, log_domain(Ops))
             || F <- Fs],
    ["<h2>Latency</h2>\n<p class=\"explain\">One point per operation, at its completion time; "
     "y is its latency on a log scale.  Info operations that never completed are hollow "
     "points in the band above each plot, at their invocation time.  Shaded: fault "
     "windows.</p>\n",
     case Plots of
         [] -> "<p>No client operations.</p>\n";
         _ -> [[Svg, Note] || {Svg, Note} <- Plots]
     end].

throughput_section(Run) ->
    ["<h2>Throughput</h2>\n", throughput_plot(Run)].

faults_section(#{windows := []}) -> ["<h2>Faults</h2>\n<p>No fault windows.</p>\n"];
faults_section(#{windows := Ws}) ->
    Rows = [["<tr><td><span class=\"swatch ", atom_to_binary(K), "\"></span>", atom_to_binary(K),
             "</td><td>", esc(T), "</td><td class=\"num\">", fmt(From, 3),
             "</td><td class=\"num\">", fmt(To, 3), [" (end)" || Open],
             "</td><td class=\"num\">", fmt(To - From, 3), "</td></tr>\n"]
            || #{kind := K, target := T, from := From, to := To, open := Open} <- Ws],
    ["<h2>Faults</h2>\n<table>\n<tr><th>kind</th><th>target</th><th>from (s)</th>"
     "<th>to (s)</th><th>length (s)</th></tr>\n", Rows, "</table>\n"].

ops_section(#{ops := []}) -> [];
ops_section(#{ops := Ops}) ->
    ["<h2>Operations</h2>\n<table>\n<tr><th>f</th><th>ok</th><th>fail</th><th>info</th>"
     "<th>total</th><th>ok latency p50 / p99 / max (ms)</th><th>errors</th></tr>\n",
     [ops_row(F, [O || O = #op{f = X} <- Ops, X =:= F]) || F <- ?FS], "</table>\n"].

ops_row(_, []) -> [];
ops_row(F, Ops) ->
    Counts = [["<td class=\"num\">", integer_to_binary(count(O, Ops)), "</td>"] || O <- ?OUTCOMES],
    ["<tr><td>", F, "</td>", Counts, "<td class=\"num\">", integer_to_binary(length(Ops)),
     "</td><td class=\"num\">", percentiles([lat_ms(O) || O = #op{outcome = ok} <- Ops]),
     "</td><td>", esc(errors(Ops)), "</td></tr>\n"].

percentiles([]) -> "-";
percentiles(Lats) ->
    Sorted = lists:sort(Lats),
    N = length(Sorted),
    At = fun(P) -> fmt(lists:nth(max(1, ceil(P * N)), Sorted), 1) end,
    [At(0.5), " / ", At(0.99), " / ", At(1.0)].

%% "fail: exists 3, not_found 5; info: timeout 2"
errors(Ops) ->
    PerOutcome = [{O, reasons([E || #op{outcome = X, err = E} <- Ops, X =:= O, E =/= <<>>])}
                  || O <- [fail, info]],
    iolist_to_binary(lists:join("; ", [[atom_to_binary(O), ": ", R]
                                       || {O, R} <- PerOutcome, R =/= []])).

reasons(Errs) ->
    lists:join(", ", [[E, " ", integer_to_binary(N)]
                      || {E, N} <- lists:sort(maps:to_list(tally(Errs)))]).

%% #{Item => how many times it occurs}
tally(Items) ->
    lists:foldl(fun(I, M) -> maps:update_with(I, fun(N) -> N + 1 end, 1, M) end, #{}, Items).

scenario_section(Info) ->
    case maps:find(scenario, Info) of
        {ok, S} -> ["<h2>Scenario</h2>\n<pre>", esc(text(S)), "</pre>\n"];
        error -> []
    end.

logs_section(Info) ->
    case maps:get(node_logs, Info, []) of
        [] -> [];
        Logs ->
            ["<h2>Node logs</h2>\n<ul class=\"logs\">\n",
             [["<li><a href=\"", esc(text(P)), "\">", esc(text(N)), "</a> <span class=\"path\">",
               esc(text(P)), "</span></li>\n"] || {N, P} <- Logs], "</ul>\n"]
    end.

%% ---- latency plots ------------------------------------------------------------------

%% {Svg, Note} for the ops of type F.
latency_plot(F, Ops, #{tend := TEnd, windows := Ws}, {Lo, Hi}) ->
    Scale = fun(Top, Bottom) -> fun(Ms) -> log_y(Ms, Lo, Hi, Top, Bottom) end end,
    {Fr, Strip} = frame(0.0, TEnd, Ws, ?BAND_H + ?BAND_GAP, 240, Scale),
    {Drawn, Note} = thin([point(Fr, O) || O <- Ops]),
    Legend = [{circle, "op ok", "ok"}, {circle, "op fail", "fail"}, {circle, "op info", "info"},
              {circle, "op info open", "info, no completion"} | fault_legend(Ws, Fr)],
    Body = [plot_frame(Fr, Ws),
            y_axis(Fr, [{V, fmt(V, decimals(V))} || V <- log_ticks(Lo, Hi)], "latency (ms)"),
            x_axis(Fr, ?COMPLETION_TIME), no_reply_band(Fr),
            points(Drawn), Strip,
            title_row([F, " latency (", integer_to_binary(length(Ops)), " ops)"], Legend)],
    Attrs = [{"data-f", F}, {"data-ops", length(Ops)}, {"data-drawn", length(Drawn)}],
    {svg("latency", Fr, Attrs, Body), thin_note(F, Note)}.

%% {Lo, Hi}: log10 of the latency range (ms), Lo a whole decade, Hi a
%% little above the largest latency.
log_domain(Ops) ->
    case [lat_ms(O) || O = #op{comp = C} <- Ops, is_integer(C)] of
        [] -> {0, 3.0};
        Lats ->
            Lo = floor(math:log10(lists:min(Lats))),
            {Lo, max(math:log10(lists:max(Lats)) + 0.1, Lo + 1.0)}
    end.

log_y(Ms, Lo, Hi, Top, Bottom) ->
    Bottom - (math:log10(max(Ms, ?MIN_MS)) - Lo) / (Hi - Lo) * (Bottom - Top).

%% Decades; 2 and 5 too when there are few decades.
log_ticks(Lo, Hi) ->
    Mults = case Hi - Lo =< 2.5 of true -> [1, 2, 5]; false -> [1] end,
    [V || E <- lists:seq(Lo, floor(Hi)), M <- Mults, V <- [M * math:pow(10, E)],
          math:log10(V) =< Hi].

point(Fr, #op{outcome = info, inv = I, comp = infinity}) ->
    {open, sx(Fr, s(I)), band_mid(Fr)};
point(#{sy := Sy} = Fr, #op{outcome = O, comp = C} = Op) ->
    {O, sx(Fr, s(C)), Sy(lat_ms(Op))}.

%% Keeps every fail and info point and at most about ?MAX_POINTS ok points:
%% ok points on one 2x2-pixel cell merged, then an even sample if still too
%% many.  {Drawn, all | {Ok, KeptOk, Other, Sampled}}
thin(Points) ->
    {Ok, Other} = lists:partition(fun(P) -> element(1, P) =:= ok end, Points),
    Budget = max(?MAX_POINTS - length(Other), ?MAX_POINTS div 4),
    case length(Ok) =< Budget of
        true -> {Ok ++ Other, all};
        false ->
            Merged = merge_cells(Ok),
            Kept = sample(Merged, Budget),
            {Kept ++ Other, {length(Ok), length(Kept), length(Other), Kept =/= Merged}}
    end.

merge_cells(Points) ->
    Cells = maps:from_list([{{round(X / 2), round(Y / 2)}, P} || {_, X, Y} = P <- Points]),
    lists:keysort(2, maps:values(Cells)).

sample(Points, Budget) when length(Points) =< Budget -> Points;
sample(Points, Budget) ->
    Every = ceil(length(Points) / Budget),
    [P || {I, P} <- lists:enumerate(Points), I rem Every =:= 0].

thin_note(_, all) -> [];
thin_note(F, {Ok, Kept, Other, Sampled}) ->
    ["<p class=\"note\">", F, ": ", integer_to_binary(Kept), " of ", integer_to_binary(Ok),
     " ok operations drawn (ok points on the same 2&times;2-pixel cell merged",
     [", then an even sample of those" || Sampled], "); all ", integer_to_binary(Other),
     " fail and info operations drawn.</p>\n"].

points(Drawn) ->
    [[point_svg(P) || P <- Drawn, element(1, P) =:= Class] || Class <- [ok, fail, info, open]].

point_svg({Class, X, Y}) ->
    ["<circle class=\"op ", point_class(Class), "\" cx=\"", n(X), "\" cy=\"", n(Y),
     "\" r=\"", point_r(Class), "\"/>\n"].

point_class(open) -> "info open";
point_class(C) -> atom_to_binary(C).

point_r(ok) -> "2.2";
point_r(_) -> "2.8".

%% The band above a latency plot for the ops that never completed.
band_mid(#{top := Top}) -> Top - ?BAND_GAP - ?BAND_H / 2.

no_reply_band(Fr) ->
    Mid = band_mid(Fr),
    [tag("rect", [{"class", "band"}, {"x", ?LEFT}, {"y", Mid - ?BAND_H / 2},
                  {"width", ?RIGHT - ?LEFT}, {"height", ?BAND_H}]),
     tag("text", [{"class", "tick"}, {"x", ?LEFT - 6}, {"y", Mid + 4},
                  {"text-anchor", "end"}], "no reply")].

%% ---- throughput -----------------------------------------------------------------

throughput_plot(#{ops := Ops, tend := TEnd, windows := Ws}) ->
    W = bucket_width(TEnd),
    N = max(1, ceil(TEnd / W - 1.0e-9)),
    Done = [O || O = #op{comp = C} <- Ops, is_integer(C)],
    Rates = [rates(Done, O, W, N) || O <- ?OUTCOMES],
    YMax = y_max(lists:foldl(fun add/2, lists:duplicate(N, 0.0), Rates)),
    Scale = fun(Top, Bottom) -> fun(V) -> Bottom - V / YMax * (Bottom - Top) end end,
    {Fr, Strip} = frame(0.0, TEnd, Ws, 6, 200, Scale),
    Legend = [{rect, "rate " ++ atom_to_list(O), atom_to_list(O)} || O <- ?OUTCOMES]
        ++ fault_legend(Ws, Fr),
    {_, Ticks} = lin_ticks(0.0, YMax, 5),
    Body = [plot_frame(Fr, Ws), y_axis(Fr, [{V, fmt(V, decimals(V))} || V <- Ticks], "ops/s"),
            x_axis(Fr, ?COMPLETION_TIME), stacked(Fr, W, Rates), Strip,
            title_row(["operations completed per ", fmt(W, decimals(W)), " s, by outcome"],
                      Legend)],
    Attrs = [{"data-completed", length(Done)}, {"data-buckets", N}, {"data-bucket-s", fmt(W, 3)}],
    [svg("throughput", Fr, Attrs, Body),
     ["<p class=\"note\">", integer_to_binary(length(Ops) - length(Done)),
      " info operations never completed and are not counted.</p>\n"]].

%% 1 s buckets; finer for short runs, coarser beyond 2000 buckets.
bucket_width(TEnd) ->
    W = min(1.0, nice_up(TEnd / 50)),
    case TEnd / W > 2000 of
        true -> nice_up(TEnd / 2000);
        false -> W
    end.

%% ops/s per bucket for one outcome
rates(Ops, Outcome, W, N) ->
    Idx = [min(N - 1, floor(s(C) / W)) || #op{outcome = O, comp = C} <- Ops, O =:= Outcome],
    Counts = tally(Idx),
    [maps:get(I, Counts, 0) / W || I <- lists:seq(0, N - 1)].

add(As, Bs) -> lists:zipwith(fun(A, B) -> A + B end, As, Bs).

y_max(Totals) ->
    Max = lists:max([0.0 | Totals]),
    case Max > 0 of
        true -> Step = nice_up(Max / 5), Step * ceil(Max / Step - 1.0e-9);
        false -> 1.0
    end.

%% One step-shaped polygon per outcome, each on top of the ones before.
stacked(Fr, W, Rates) ->
    Zero = lists:duplicate(length(hd(Rates)), 0.0),
    {Polys, _} = lists:mapfoldl(
                   fun({O, R}, Lower) ->
                           Upper = add(Lower, R),
                           {area(Fr, W, Lower, Upper, O), Upper}
                   end, Zero, lists:zip(?OUTCOMES, Rates)),
    Polys.

area(#{sy := Sy, t1 := T1} = Fr, W, Lower, Upper, Outcome) ->
    Steps = fun(Vs) ->
                    lists:append([[{sx(Fr, I * W), Sy(V)}, {sx(Fr, min((I + 1) * W, T1)), Sy(V)}]
                                  || {I, V} <- lists:zip(lists:seq(0, length(Vs) - 1), Vs)])
            end,
    Pts = Steps(Upper) ++ lists:reverse(Steps(Lower)),
    tag("polygon", [{"class", ["rate ", atom_to_binary(Outcome)]},
                    {"points", lists:join(" ", [[n(X), ",", n(Y)] || {X, Y} <- Pts])}]).

%% ---- anomaly -------------------------------------------------------------------

anomaly_section(#{windows := Ws}, Info) ->
    case maps:get(anomaly, Info, []) of
        [_ | _] = Anomaly ->
            Ops = [anomaly_op(M) || M <- Anomaly],
            ["<h2 class=\"anomaly\">Anomaly</h2>\n<p class=\"explain\">A minimal "
             "non-linearizable sub-history: no order of these ", integer_to_binary(length(Ops)),
             " operations that respects their real-time order is a legal key-value history.  "
             "One lane per process; each bar runs from invocation to completion.  An info "
             "operation may take effect at any time after its invocation: its bar is "
             "open-ended, with a tick where its reply came, if one did.</p>\n",
             anomaly_plot(Ops, Ws), anomaly_table(Ops)];
        _ -> []
    end.

anomaly_op(M) ->
    Comp = case field(complete_ns, M) of
               C when is_integer(C) -> s(C);
               _ -> infinity
           end,
    #{process => field(process, M), inv => s(field(invoke_ns, M)), comp => Comp,
      outcome => outcome_of(field(result, M)), label => op_label(M), node => field(node, M)}.

field(K, M) -> maps:get(K, M, maps:get(atom_to_binary(K), M, undefined)).

%% By the result's first word: ok; fail or a reason for failing; else info.
outcome_of(Result) ->
    [First | _] = string:split(text(Result), " "),
    case lists:member(First, ?FAIL_WORDS) of
        true -> fail;
        false when First =:= <<"ok">> -> ok;
        false -> info
    end.

%% "put k1=v3 ok", "get k1 fail not_found" (from not_found or {fail, not_found})
op_label(M) ->
    Value = case field(value, M) of
                V when V =:= undefined; V =:= null -> [];
                V -> ["=", text(V)]
            end,
    Result = text(field(result, M)),
    Fail = [<<"fail ">> || outcome_of(Result) =:= fail, string:prefix(Result, "fail") =:= nomatch],
    iolist_to_binary([text(field(f, M)), " ", text(field(key, M)), Value, " ", Fail, Result]).

anomaly_plot(Ops, Ws) ->
    Procs = lists:usort([P || #{process := P} <- Ops]),
    {T0, T1} = anomaly_range(Ops),
    {Fr, Strip} = frame(T0, T1, Ws, 4, ?SPAN_LANE * length(Procs), fun(_, _) -> none end),
    Lanes = lists:zip(Procs, lists:seq(0, length(Procs) - 1)),
    Legend = [{rect, "span ok", "ok"}, {rect, "span fail", "fail"}, {rect, "span info", "info"}
              | fault_legend(Ws, Fr)],
    Body = [plot_frame(Fr, Ws), x_axis(Fr, "time (s since start)"),
            [lane(Fr, P, I, [O || O = #{process := X} <- Ops, X =:= P]) || {P, I} <- Lanes],
            Strip, title_row("operations of the anomaly", Legend)],
    svg("anomaly", Fr, [{"data-ops", length(Ops)}], Body).

%% From the first invocation to the last completion, padded; more room on
%% the right when a bar is open-ended.
anomaly_range(Ops) ->
    T0 = lists:min([I || #{inv := I} <- Ops]),
    T1 = lists:max([I || #{inv := I} <- Ops] ++ [C || #{comp := C} <- Ops, C =/= infinity]),
    Span = max(T1 - T0, 1.0e-4),
    Open = lists:any(fun(#{comp := C}) -> C =:= infinity end, Ops),
    Extra = case Open of true -> 0.2 * Span; false -> 0.0 end,
    {T0 - 0.05 * Span, T1 + 0.05 * Span + Extra}.

lane(#{top := Top} = Fr, P, I, Ops) ->
    Y = Top + I * ?SPAN_LANE,
    [tag("line", [{"class", "grid"}, {"x1", ?LEFT}, {"x2", ?RIGHT}, {"y1", Y + ?SPAN_LANE},
                  {"y2", Y + ?SPAN_LANE}]),
     tag("text", [{"class", "tick"}, {"x", ?LEFT - 6}, {"y", Y + 27}, {"text-anchor", "end"}],
         esc(["process ", text(P)])),
     [span(Fr, Y, O) || O <- Ops]].

%% A bar from invocation to completion.  An info op may take effect at any
%% time after its invocation: its bar is open-ended, with a tick where its
%% reply came, if one did.
span(Fr, Y, #{inv := I, comp := C, outcome := O, label := L} = Op) ->
    X1 = sx(Fr, I),
    {X2, Class} = case O of
                      info -> {?RIGHT, "info open"};
                      _ -> {max(sx(Fr, C), X1 + 2), atom_to_binary(O)}
                  end,
    [tag("rect", [{"class", ["span ", Class]}, {"x", X1}, {"y", Y + 18}, {"width", X2 - X1},
                  {"height", 12}, {"rx", 2}], tag("title", [], esc(span_title(Op)))),
     [tag("line", [{"class", "reply"}, {"x1", X}, {"x2", X}, {"y1", Y + 15}, {"y2", Y + 33}])
      || O =:= info, C =/= infinity, X <- [sx(Fr, C)]],
     label_at(X1, Y + 14, L, "span-label")].

span_title(#{label := L, process := P, node := N, inv := I, comp := C}) ->
    Done = case C of infinity -> "no completion"; _ -> ["completed ", fmt(C, 6), " s"] end,
    [L, " - process ", text(P), " via ", opt_text(N), ", invoked ", fmt(I, 6), " s, ", Done].

anomaly_table(Ops) ->
    Rows = [["<tr><td>", esc(text(P)), "</td><td><span class=\"swatch ", atom_to_binary(O),
             "\"></span>", esc(L), "</td><td class=\"num\">", fmt(I, 6), "</td><td class=\"num\">",
             case C of infinity -> "-"; _ -> fmt(C, 6) end, "</td><td>", esc(opt_text(N)),
             "</td></tr>\n"]
            || #{process := P, outcome := O, label := L, inv := I, comp := C, node := N} <- Ops],
    ["<table>\n<tr><th>process</th><th>operation</th><th>invoked (s)</th><th>completed (s)</th>"
     "<th>node</th></tr>\n", Rows, "</table>\n"].

%% ---- shared plot parts ------------------------------------------------------------

%% A frame maps times t0..t1 (s) to ?LEFT..?RIGHT and has its plot area
%% between top and bottom (px); sy maps a value to y.  Built with the fault
%% strip above the plot area, Gap px between them; Scale(Top, Bottom) -> sy.
%% {Frame, StripSvg}
frame(T0, T1, Ws, Gap, Height, Scale) ->
    Base = #{t0 => T0, t1 => T1},
    {Strip, StripH} = fault_strip(Ws, Base, ?TITLE_H),
    Top = ?TITLE_H + StripH + Gap,
    {Base#{top => Top, bottom => Top + Height, sy => Scale(Top, Top + Height)}, Strip}.

sx(#{t0 := T0, t1 := T1}, T) -> ?LEFT + (T - T0) / (T1 - T0) * (?RIGHT - ?LEFT).

svg(Class, #{bottom := Bottom}, Attrs, Body) ->
    H = integer_to_binary(round(Bottom + ?AXIS_H)),
    W = integer_to_binary(?WIDTH),
    ["<svg class=\"plot ", Class, "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"", W,
     "\" height=\"", H, "\" viewBox=\"0 0 ", W, " ", H, "\"", attrs(Attrs), ">\n", Body,
     "</svg>\n"].

%% The plot area and the fault windows shaded in it.
plot_frame(#{top := Top, bottom := Bottom} = Fr, Ws) ->
    [tag("rect", [{"class", "area"}, {"x", ?LEFT}, {"y", Top}, {"width", ?RIGHT - ?LEFT},
                  {"height", Bottom - Top}]),
     [tag("rect", [{"class", ["fault ", atom_to_binary(K)]}, {"x", X1}, {"y", Top},
                   {"width", X2 - X1}, {"height", Bottom - Top}],
          tag("title", [], esc(window_label(W))))
      || {#{kind := K} = W, X1, X2} <- clip(Ws, Fr)]].

%% Windows overlapping the frame, with their x extent clipped to it.
clip(Ws, #{t0 := T0, t1 := T1} = Fr) ->
    [{W, sx(Fr, max(F, T0)), max(sx(Fr, min(T, T1)), sx(Fr, max(F, T0)) + 1.5)}
     || #{from := F, to := T} = W <- Ws, T >= T0, F =< T1].

%% Labelled bars above the plot, one lane per overlap (at most
%% ?MAX_LANES); returns {Svg, Height}.
fault_strip(Ws, Fr, Y0) ->
    {Placed, Ends} = lists:mapfoldl(fun place/2, [], clip(Ws, Fr)),
    Svg = [[tag("rect", [{"class", ["faultbar ", atom_to_binary(K)]}, {"x", X1},
                         {"y", Y0 + L * ?STRIP_LANE + 12}, {"width", X2 - X1}, {"height", 4}]),
            [label_at(X1, Y0 + L * ?STRIP_LANE + 10, window_label(W),
                      ["faultlabel ", atom_to_binary(K)]) || Labelled]]
           || {L, Labelled, {#{kind := K} = W, X1, X2}} <- Placed],
    {Svg, length(Ends) * ?STRIP_LANE}.

%% The first lane whose last bar and label end before this window starts;
%% when all ?MAX_LANES are taken, the lane that ends first, without a label
%% (the Faults table has them all).  Ends: where each lane is taken up to.
place({W, X1, X2} = C, Ends) ->
    Full = max(X2, X1 + text_width(window_label(W))) + 8,
    case first_free(Ends, X1, 0) of
        none when length(Ends) < ?MAX_LANES -> {{length(Ends), true, C}, Ends ++ [Full]};
        none ->
            {End, L} = lists:min(lists:zip(Ends, lists:seq(0, length(Ends) - 1))),
            {{L, false, C}, set_nth(L, max(End, X2 + 8), Ends)};
        L -> {{L, true, C}, set_nth(L, Full, Ends)}
    end.

set_nth(I, V, L) -> lists:sublist(L, I) ++ [V | lists:nthtail(I + 1, L)].

first_free([], _, _) -> none;
first_free([E | _], X, L) when E =< X -> L;
first_free([_ | Es], X, L) -> first_free(Es, X, L + 1).

%% Text starting at X, or ending at ?RIGHT when it would run past it.
label_at(X, Y, Text, Class) ->
    {X1, Anchor} = case X + text_width(Text) > ?RIGHT of
                       true -> {?RIGHT, "end"};
                       false -> {X, "start"}
                   end,
    tag("text", [{"class", Class}, {"x", X1}, {"y", Y}, {"text-anchor", Anchor}], esc(Text)).

text_width(Text) -> 6.6 * string:length(Text).

x_axis(#{t0 := T0, t1 := T1, top := Top, bottom := B} = Fr, Label) ->
    {D, Ticks} = lin_ticks(T0, T1, 10),
    [[[tag("line", [{"class", "grid"}, {"x1", X}, {"x2", X}, {"y1", Top}, {"y2", B}]),
       tag("line", [{"class", "axis"}, {"x1", X}, {"x2", X}, {"y1", B}, {"y2", B + 5}]),
       tag("text", [{"class", "tick"}, {"x", X}, {"y", B + 18}, {"text-anchor", "middle"}],
           fmt(T, D))]
      || T <- Ticks, X <- [sx(Fr, T)]],
     tag("line", [{"class", "axis"}, {"x1", ?LEFT}, {"x2", ?RIGHT}, {"y1", B}, {"y2", B}]),
     tag("text", [{"class", "axis-label"}, {"x", (?LEFT + ?RIGHT) / 2}, {"y", B + 38},
                  {"text-anchor", "middle"}], Label)].

%% Ticks: [{Value, Text}]
y_axis(#{sy := Sy, top := Top, bottom := B}, Ticks, Label) ->
    Mid = (Top + B) / 2,
    [[[tag("line", [{"class", "grid"}, {"x1", ?LEFT}, {"x2", ?RIGHT}, {"y1", Y}, {"y2", Y}]),
       tag("text", [{"class", "tick"}, {"x", ?LEFT - 6}, {"y", Y + 4}, {"text-anchor", "end"}],
           Text)]
      || {V, Text} <- Ticks, Y <- [Sy(V)]],
     tag("line", [{"class", "axis"}, {"x1", ?LEFT}, {"x2", ?LEFT}, {"y1", Top}, {"y2", B}]),
     tag("text", [{"class", "axis-label"}, {"x", 16}, {"y", Mid}, {"text-anchor", "middle"},
                  {"transform", ["rotate(-90 16 ", n(Mid), ")"]}], Label)].

%% The plot's title on the left, the legend on the right.
title_row(Title, Legend) ->
    Widths = [26 + text_width(L) || {_, _, L} <- Legend],
    [tag("text", [{"class", "title"}, {"x", ?LEFT}, {"y", 18}], esc(Title)),
     [legend_item(X, Item) || {X, Item} <- lists:zip(starts(Widths), Legend)]].

starts(Widths) ->
    {Xs, _} = lists:mapfoldl(fun(W, X) -> {X, X + W} end, ?RIGHT - lists:sum(Widths), Widths),
    Xs.

%% A legend's swatch has the class of what it stands for, and "key".
legend_item(X, {Shape, Class0, Label}) ->
    Class = [Class0, " key"],
    Swatch = case Shape of
                 circle -> tag("circle", [{"class", Class}, {"cx", X + 6}, {"cy", 14}, {"r", 4}]);
                 rect -> tag("rect", [{"class", Class}, {"x", X}, {"y", 8}, {"width", 12},
                                      {"height", 12}])
             end,
    [Swatch, tag("text", [{"class", "legend"}, {"x", X + 17}, {"y", 18}], esc(Label))].

%% The kinds of the fault windows the frame shows.
fault_legend(Ws, Fr) ->
    Kinds = [K || {#{kind := K}, _, _} <- clip(Ws, Fr)],
    [{rect, ["fault ", atom_to_binary(K)], atom_to_binary(K)} || K <- [partition, kill, pause],
                                                                 lists:member(K, Kinds)].

%% ---- numbers and ticks ----------------------------------------------------------

%% The smallest of 1, 2, 5 times a power of ten that is >= X.
nice_up(X) when X =< 0 -> 1.0;
nice_up(X) ->
    B = math:pow(10, floor(math:log10(X))),
    hd([M * B || M <- [1, 2, 5, 10], M * B >= X * (1 - 1.0e-9)]).

%% {Decimals, Values} for about N ticks over Lo..Hi
lin_ticks(Lo, Hi, N) ->
    Step = nice_up((Hi - Lo) / N),
    Ks = lists:seq(ceil(Lo / Step - 1.0e-9), floor(Hi / Step + 1.0e-9)),
    {decimals(Step), [K * Step || K <- Ks]}.

%% Decimals that show a step (or a tick value) of this size.
decimals(V) when V =< 0 -> 0;
decimals(V) -> max(0, ceil(-math:log10(V) - 1.0e-9)).

fmt(V, 0) -> integer_to_binary(round(V));
fmt(V, D) -> float_to_binary(float(V), [{decimals, D}]).

n(V) when is_integer(V) -> integer_to_binary(V);
n(V) -> float_to_binary(V, [{decimals, 1}, compact]).

%% ---- text and markup ------------------------------------------------------------

tag(Name, Attrs) -> ["<", Name, attrs(Attrs), "/>\n"].
tag(Name, Attrs, Content) -> ["<", Name, attrs(Attrs), ">", Content, "</", Name, ">\n"].

attrs(Attrs) -> [[" ", K, "=\"", attr_value(V), "\""] || {K, V} <- Attrs].

attr_value(V) when is_number(V) -> n(V);
attr_value(V) -> esc(iolist_to_binary(V)).

esc(Text) -> << <<(esc_char(C))/binary>> || <<C>> <= iolist_to_binary(Text) >>.

esc_char($&) -> <<"&amp;">>;
esc_char($<) -> <<"&lt;">>;
esc_char($>) -> <<"&gt;">>;
esc_char($") -> <<"&quot;">>;
esc_char($') -> <<"&#39;">>;
esc_char(C) -> <<C>>.

%% Info values as text.
text(B) when is_binary(B) -> B;
text(A) when is_atom(A) -> atom_to_binary(A);
text(I) when is_integer(I) -> integer_to_binary(I);
text(T) when is_tuple(T) -> iolist_to_binary(lists:join(" ", [text(E) || E <- tuple_to_list(T)]));
text(L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) of
        true -> unicode:characters_to_binary(L);
        false -> iolist_to_binary(io_lib:format("~0tp", [L]))
    end;
text(T) -> iolist_to_binary(io_lib:format("~0tp", [T])).

opt_text(V) when V =:= undefined; V =:= null -> <<"-">>;
opt_text(V) -> text(V).

%% History values as text: strings as they are, anything else as JSON.
json_text(B) when is_binary(B) -> B;
json_text(V) -> cnode_json:encode(V).

css() ->
    <<"
body{font:14px/1.45 'DejaVu Sans',system-ui,sans-serif;color:#212529;max-width:1100px;
 margin:24px auto;padding:0 20px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:30px 0 8px;padding-bottom:4px;border-bottom:1px solid #dee2e6}
h2.anomaly{color:#c92a2a}
p.meta{color:#495057;margin-top:0}
p.explain{color:#495057;font-size:13px;max-width:900px}
p.note{color:#868e96;font-size:12px;margin:-10px 0 16px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #dee2e6;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f1f3f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.good{color:#2b8a3e;font-weight:600}
td.bad{color:#c92a2a;font-weight:600}
pre{background:#f8f9fa;border:1px solid #dee2e6;padding:10px;overflow:auto;font-size:12px}
ul.logs .path{color:#868e96;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
.swatch.ok{background:#2f9e44}.swatch.fail{background:#1c7ed6}.swatch.info{background:#f08c00}
.swatch.partition{background:#e03131}.swatch.kill{background:#7048e8}
.swatch.pause{background:#0c8599}
svg.plot{display:block;max-width:100%;height:auto;margin:6px 0 18px}
svg text{font-size:12px;fill:#343a40}
svg text.title{font-size:14px;font-weight:600;fill:#212529}
svg text.tick{font-size:11px;fill:#495057}
svg text.axis-label{fill:#495057}
svg text.span-label{font-size:12px;fill:#212529}
svg text.faultlabel{font-size:11px}
svg .area{fill:#fff;stroke:#ced4da}
svg .grid{stroke:#f1f3f5}
svg .axis{stroke:#868e96}
svg .band{fill:#fff4e6}
.op{stroke:none}
.op.ok{fill:#2f9e44;fill-opacity:.55}
.op.fail{fill:#1c7ed6;fill-opacity:.85}
.op.info{fill:#f08c00}
.op.info.open{fill:#fff;stroke:#e8590c;stroke-width:1.5}
.rate.ok{fill:#2f9e44;fill-opacity:.75}
.rate.fail{fill:#1c7ed6;fill-opacity:.8}
.rate.info{fill:#f08c00;fill-opacity:.9}
.span.ok{fill:#2f9e44}.span.fail{fill:#1c7ed6}.span.info{fill:#f08c00}
.span.open{fill-opacity:.35;stroke:#f08c00;stroke-dasharray:4 3}
.reply{stroke:#d9480f;stroke-width:2}
.fault{fill-opacity:.10}
.fault.partition,.faultbar.partition{fill:#e03131}
.fault.kill,.faultbar.kill{fill:#7048e8}
.fault.pause,.faultbar.pause{fill:#0c8599}
.fault.key{fill-opacity:.35}
svg text.faultlabel.partition{fill:#c92a2a}
svg text.faultlabel.kill{fill:#5f3dc4}
svg text.faultlabel.pause{fill:#0b7285}
">>.
