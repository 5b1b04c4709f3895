%% cnode_check_report_SUITE - the HTML report of cnode-check
%% (cnode_check_report).
%%
%% A synthetic run - 300 client ops by 6 client slots over about 30 s, a
%% partition, a kill and restart, a pause never resumed, info ops with and
%% without a completion, and lines the report must ignore - is written to
%% history.jsonl and turned into a report with write_file/3, with an anomaly
%% of four ops.  The page is checked as text (three plot kinds, one point
%% per op of each type and outcome, one shaded rect per fault window and
%% plot), then rendered by headless Chromium: the dumped DOM must pass the
%% same checks and a screenshot must show the plots' colours.  Chromium
%% ($CHROMIUM, default /usr/bin/chromium, Debian package chromium) is
%% required: without it the render case fails.  Every Chromium run is bounded
%% by timeout(1) and by a deadline here, uses a fresh user-data-dir that is
%% removed afterwards, and is stopped by its OS pid if it hangs.
-module(cnode_check_report_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([structure/1, renders_in_chromium/1, big_run_thinned/1, bad_line_named/1,
         empty_run/1]).

-define(S, 1000000000).
-define(MS, 1000000).
-define(PARTITION, {8 * ?S, 14 * ?S}).
-define(KILL, {18 * ?S, 22 * ?S}).
-define(PAUSE, 24 * ?S).
-define(FS, [<<"put">>, <<"get">>, <<"delete">>]).
-define(RIGHT, 1076).
-define(CHROMIUM_FLAGS, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync"]).
-define(CHROMIUM_TIMEOUT_S, 60).

all() -> [structure, renders_in_chromium, big_run_thinned, bad_line_named, empty_run].

%% One report for structure and renders_in_chromium.
init_per_suite(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "run"),
    {Events, Expected} = history(),
    History = filename:join(Dir, "history.jsonl"),
    ok = filelib:ensure_dir(History),
    ok = file:write_file(History, history_file(Events)),
    {ok, Report} = cnode_check_report:write_file(Dir, History, info()),
    [{report, Report}, {expected, Expected} | Config].

end_per_suite(_Config) -> ok.

%% ---- cases ----------------------------------------------------------------------

structure(Config) ->
    {ok, Html} = file:read_file(?config(report, Config)),
    check_page(Html, ?config(expected, Config)),
    self_contained(Html),
    [true = contains(Html, S) || S <- [<<"<title>raft_kv under partitions</title>">>,
                                       <<"linearizable">>, <<"Seed <b>42</b>">>,
                                       <<"&quot;nemesis&quot;">>, <<"href=\"logs/n1.log\"">>,
                                       <<"pause n2 (never ended)">>]],
    ok.

renders_in_chromium(Config) ->
    Url = "file://" ++ ?config(report, Config),
    Dom = chromium(["--dump-dom", Url], Config),
    check_page(Dom, ?config(expected, Config)),
    Png = filename:join(?config(priv_dir, Config), "report.png"),
    _ = chromium(["--screenshot=" ++ Png, "--window-size=1200,2600", Url], Config),
    {ok, PngBin} = file:read_file(Png),
    ct:log("screenshot ~s (~b bytes)", [Png, byte_size(PngBin)]),
    true = byte_size(PngBin) > 30000,
    check_colours(png_pixels(PngBin)).

%% 30000 puts: every fail and info point drawn, ok points thinned, and the
%% page says so.
big_run_thinned(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "big"),
    rand:seed(exsss, {3, 5, 7}),
    Ops = [big_op(I) || I <- lists:seq(1, 30000)],
    Events = lists:keysort(1, lists:append([op_events(O) || O <- Ops])),
    {ok, Path} = cnode_check_report:write(Dir, [E || {_, E} <- Events], #{}),
    {ok, Html} = file:read_file(Path),
    [{Attrs, Body}] = [P || {A, _} = P <- plots(Html), class(A) =:= <<"plot latency">>],
    Drawn = binary_to_integer(attr(<<"data-drawn">>, Attrs)),
    [Ok, 200, 50, 50] = [with_class(Body, C) || C <- [<<"op ok">>, <<"op fail">>, <<"op info">>,
                                                    <<"op info open">>]],
    Drawn = Ok + 300,
    true = Drawn =< 20000 + 300,
    true = contains(Html, <<"ok operations drawn">>),
    ct:log("~b of 30000 points drawn, report ~b bytes", [Drawn, byte_size(Html)]),
    true = byte_size(Html) < 4000000,
    ok.

bad_line_named(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "bad"),
    History = filename:join(Dir, "history.jsonl"),
    ok = filelib:ensure_dir(History),
    ok = file:write_file(History, [history_file(element(1, history())), "{\"process\": 1,\n"]),
    {ok, Bin} = file:read_file(History),
    Line = length(binary:split(Bin, <<"\n">>, [global])) - 1,
    {error, {line, Line, _}} = cnode_check_report:write_file(Dir, History, #{}),
    false = filelib:is_file(filename:join(Dir, "report.html")),
    ok.

empty_run(Config) ->
    Dir = filename:join(?config(priv_dir, Config), "empty"),
    {ok, Path} = cnode_check_report:write(Dir, [], #{}),
    {ok, Html} = file:read_file(Path),
    [<<"plot throughput">>] = [class(A) || {A, _} <- plots(Html)],
    true = contains(Html, <<"No client operations.">>),
    ok.

%% ---- checking a page (the file or Chromium's DOM) --------------------------------

%% The anomaly, one latency plot per f, the throughput plot; one point per
%% op; every plot shades each fault window it overlaps.
check_page(Html, Exp) ->
    Plots = plots(Html),
    [<<"plot anomaly">>, <<"plot latency">>, <<"plot latency">>, <<"plot latency">>,
     <<"plot throughput">>] = [class(A) || {A, _} <- Plots],
    ?FS = [attr(<<"data-f">>, A) || {A, _} <- Plots, class(A) =:= <<"plot latency">>],
    [check_plot(class(A), A, Body, Exp) || {A, Body} <- Plots],
    ok.

check_plot(<<"plot latency">>, Attrs, Body, Exp) ->
    F = attr(<<"data-f">>, Attrs),
    Counts = [with_class(Body, C)
              || C <- [<<"op ok">>, <<"op fail">>, <<"op info">>, <<"op info open">>]],
    Counts = [maps:get({F, C}, Exp, 0) || C <- [ok, fail, info, open]],
    check_faults(Body, [1, 1, 1]);
check_plot(<<"plot throughput">>, Attrs, Body, Exp) ->
    Completed = integer_to_binary(maps:get(completed, Exp)),
    Completed = attr(<<"data-completed">>, Attrs),
    [1, 1, 1] = [with_class(Body, C) || C <- [<<"rate ok">>, <<"rate fail">>, <<"rate info">>]],
    check_faults(Body, [1, 1, 1]),
    %% the pause is never resumed: its window runs to the end of the run
    [Pause] = [A || {A, _} <- tags(<<"rect">>, Body), class(A) =:= <<"fault pause">>],
    true = abs(num(<<"x">>, Pause) + num(<<"width">>, Pause) - ?RIGHT) < 1;
check_plot(<<"plot anomaly">>, _, Body, _) ->
    [1, 1, 2, 1] = [with_class(Body, C)
                    || C <- [<<"span ok">>, <<"span fail">>, <<"span info open">>, <<"reply">>]],
    [true = contains(Body, L) || L <- [<<"put k1=v-a ok">>, <<"get k1 fail not_found">>,
                                      <<"put k1=v-b info timeout">>,
                                      <<"delete k1 info nodedown">>]],
    check_faults(Body, [1, 0, 0]).

%% Shaded rects for partition, kill, pause.
check_faults(Body, Expected) ->
    Expected = [with_class(Body, <<"fault ", K/binary>>)
                || K <- [<<"partition">>, <<"kill">>, <<"pause">>]].

%% No scripts, no external resources: the only URL is the SVG namespace.
self_contained(Html) ->
    0 = count(Html, <<"<script">>) + count(Html, <<"src=">>) + count(Html, <<"url(">>),
    Ns = count(Html, <<"xmlns=\"http://www.w3.org/2000/svg\"">>),
    Ns = count(Html, <<"http">>).

%% [{OpenTagAttrs, Body}] of every <svg>, in page order
plots(Html) ->
    {match, Ms} = re:run(Html, "<svg ([^>]*)>(.*?)</svg>",
                         [global, dotall, {capture, all_but_first, binary}]),
    [{A, B} || [A, B] <- Ms].

tags(Name, Body) ->
    case re:run(Body, <<"<", Name/binary, " ([^>]*?)/?>">>,
                [global, {capture, all_but_first, binary}]) of
        {match, Ms} -> [{A, <<>>} || [A] <- Ms];
        nomatch -> []
    end.

class(Attrs) -> attr(<<"class">>, Attrs).

attr(Name, Attrs) ->
    {match, [V]} = re:run(Attrs, <<"(?:^|\\s)", Name/binary, "=\"([^\"]*)\"">>,
                          [{capture, all_but_first, binary}]),
    V.

num(Name, Attrs) ->
    V = attr(Name, Attrs),
    try binary_to_float(V) catch error:badarg -> binary_to_integer(V) end.

count(Bin, Pattern) -> length(binary:matches(Bin, Pattern)).

tally(Items) ->
    lists:foldl(fun(I, M) -> maps:update_with(I, fun(N) -> N + 1 end, 1, M) end, #{}, Items).

%% Elements whose class is exactly Class (a legend's swatch is "Class key").
with_class(Bin, Class) -> count(Bin, <<"class=\"", Class/binary, "\"">>).

contains(Bin, Pattern) -> binary:match(Bin, Pattern) =/= nomatch.

%% ---- the synthetic run ------------------------------------------------------------

%% {Events, Expected}; Expected: #{{F, ok | fail | info | open} => N, completed => N}.
history() ->
    rand:seed(exsss, {7, 11, 13}),
    Ops = lists:append([slot(S, 40 * ?MS * S, S, 50) || S <- lists:seq(0, 5)]),
    Client = lists:append([op_events(O) || O <- Ops]),
    Events = [E || {_, E} <- lists:keysort(1, Client ++ nemesis() ++ ignored())],
    {Events, expected(Ops)}.

%% N ops of one client slot from time T, process P; after an info op the slot
%% goes on as a new process; the last op of slots 0 and 1 never completes.
slot(_, _, _, 0) -> [];
slot(S, T, P, 1) when S < 2 -> [{P, pick(?FS), open, T, infinity, <<>>}];
slot(S, T, P, N) ->
    F = pick(?FS),
    {Outcome, Lat, Err} = outcome(F, T),
    Next = case Outcome of info -> P + 100; _ -> P end,
    Gap = (300 + rand:uniform(500)) * ?MS,
    [{P, F, Outcome, T, T + Lat, Err} | slot(S, T + Lat + Gap, Next, N - 1)].

outcome(F, T) ->
    {From, To} = ?PARTITION,
    R = rand:uniform(),
    if
        T >= From, T < To, R < 0.35 -> {info, 1000 * ?MS, <<"timeout">>};
        T >= From, T < To, R < 0.6 -> {fail, ms(2, 10), <<"not_leader">>};
        R < 0.04 -> {info, ms(1, 50), <<"nodedown">>};
        R < 0.14 -> {fail, ms(1, 20), fail_reason(F)};
        true -> {ok, ms(0.3, 30), <<>>}
    end.

fail_reason(<<"put">>) -> <<"exists">>;
fail_reason(_) -> <<"not_found">>.

%% log-uniform in Lo..Hi ms, in ns
ms(Lo, Hi) -> round(Lo * math:pow(Hi / Lo, rand:uniform()) * ?MS).

pick(L) -> lists:nth(rand:uniform(length(L)), L).

%% [{Time, Event}]: the invocation and, unless open, the completion.
op_events({P, F, Outcome, Inv, Comp, Err}) ->
    Key = <<"k", (integer_to_binary(P rem 5))/binary>>,
    Value = <<"v-", (integer_to_binary(P))/binary, "-", (integer_to_binary(Inv))/binary>>,
    Common = #{<<"process">> => P, <<"f">> => F, <<"key">> => Key,
               <<"node">> => <<"n1@10.99.0.11">>},
    Invoke = Common#{<<"type">> => <<"invoke">>, <<"time">> => Inv},
    [{Inv, case F of <<"put">> -> Invoke#{<<"value">> => Value}; _ -> Invoke end}
     | completion(Common, Outcome, Comp, Err)].

completion(_, open, _, _) -> [];
completion(Common, Outcome, Comp, Err) ->
    E = Common#{<<"type">> => atom_to_binary(Outcome), <<"time">> => Comp},
    [{Comp, case Err of <<>> -> E; _ -> E#{<<"error">> => Err} end}].

nemesis() ->
    {P0, P1} = ?PARTITION,
    {K0, K1} = ?KILL,
    [nemesis(P0, <<"start_partition">>, <<"{n1 n2} | {n3 n4 n5}">>),
     nemesis(P1, <<"stop_partition">>, <<"healed">>),
     nemesis(K0, <<"kill">>, <<"n3">>), nemesis(K1, <<"restart">>, <<"n3">>),
     nemesis(?PAUSE, <<"pause">>, <<"n2">>)].

nemesis(T, F, V) ->
    {T, #{<<"process">> => <<"nemesis">>, <<"type">> => <<"info">>, <<"f">> => F,
          <<"value">> => V, <<"time">> => T}}.

%% Lines the report must ignore: unknown kinds, an unknown f, a nemesis
%% event it does not know, a completion nobody invoked.
ignored() ->
    [{0, #{<<"type">> => <<"log">>, <<"msg">> => <<"warming up">>, <<"time">> => 0}},
     {5 * ?S, #{<<"process">> => 999, <<"type">> => <<"invoke">>, <<"f">> => <<"cas">>,
                <<"key">> => <<"k1">>, <<"time">> => 5 * ?S}},
     {5 * ?S + 1, #{<<"process">> => 999, <<"type">> => <<"ok">>, <<"f">> => <<"cas">>,
                    <<"key">> => <<"k1">>, <<"time">> => 5 * ?S + 1}},
     {6 * ?S, #{<<"process">> => 998, <<"type">> => <<"ok">>, <<"f">> => <<"get">>,
                <<"time">> => 6 * ?S}},
     {7 * ?S, #{<<"process">> => <<"nemesis">>, <<"type">> => <<"info">>,
                <<"f">> => <<"clock_skew">>, <<"value">> => [1, 2], <<"time">> => 7 * ?S}}].

expected(Ops) ->
    Counts = tally([{F, O} || {_, F, O, _, _, _} <- Ops]),
    Counts#{completed => length([O || {_, _, O, _, _, _} <- Ops, O =/= open])}.

history_file(Events) ->
    [[cnode_json:encode(E), "\n"] || E <- Events] ++ ["\n"].

info() ->
    #{title => <<"raft_kv under partitions">>,
      scenario => <<"{\n  \"cluster\": \"raft_kv\",\n  \"nodes\": 5,\n"
                    "  \"nemesis\": [\"partition\", \"kill\", \"pause\"]\n}">>,
      seed => 42,
      results => [{<<"linearizable">>, <<"false">>}, {<<"operations">>, <<"300">>},
                  {<<"checker time">>, <<"0.8 s">>}],
      anomaly => anomaly(),
      node_logs => [{<<"n1@10.99.0.11">>, <<"logs/n1.log">>}, {'n2@10.99.0.12', "logs/n2.log"}]}.

%% Four ops inside the partition window, the first two shaped as
%% cnode_check_lin:anomaly_ops/1 gives them; the info ones are open-ended,
%% one with a reply.
anomaly() ->
    [#{process => 3, f => put, key => <<"k1">>, value => <<"v-a">>, result => ok,
       invoke_ns => 9000 * ?MS, complete_ns => 9200 * ?MS, node => <<"n1@10.99.0.11">>},
     #{process => 4, f => get, key => <<"k1">>, value => null, result => not_found,
       invoke_ns => 9250 * ?MS, complete_ns => 9300 * ?MS, node => <<"n4@10.99.0.14">>},
     #{process => 5, f => <<"put">>, key => <<"k1">>, value => <<"v-b">>,
       result => {info, timeout}, invoke_ns => 9100 * ?MS, complete_ns => infinity,
       node => <<"n2@10.99.0.12">>},
     #{<<"process">> => 6, <<"f">> => <<"delete">>, <<"key">> => <<"k1">>,
       <<"result">> => <<"info nodedown">>, <<"invoke_ns">> => 9150 * ?MS,
       <<"complete_ns">> => 9280 * ?MS}].

%% Op I of the big run: 29700 ok, 200 fail, 50 info, 50 never completed.
big_op(I) ->
    T = I * ?MS,
    if
        I rem 150 =:= 0 -> {I, <<"put">>, fail, T, T + ms(1, 20), <<"exists">>};
        I rem 600 =:= 1 -> {I, <<"put">>, info, T, T + ms(100, 1000), <<"timeout">>};
        I rem 600 =:= 2 -> {I, <<"put">>, open, T, infinity, <<>>};
        true -> {I, <<"put">>, ok, T, T + ms(0.3, 30), <<>>}
    end.

%% ---- Chromium ------------------------------------------------------------------

%% Runs Chromium headless with Args; its stdout.  Fails the case when
%% Chromium is missing or does not exit with 0.
chromium(Args, Config) ->
    Exe = os:getenv("CHROMIUM", "/usr/bin/chromium"),
    filelib:is_regular(Exe) orelse
        ct:fail("Chromium not found at ~s: the report's render test needs it "
                "(Debian: apt-get install -y chromium; or set $CHROMIUM)", [Exe]),
    Profile = filename:join("/tmp", "cnode_report_chromium_" ++ os:getpid() ++ "_" ++
                                integer_to_list(erlang:unique_integer([positive]))),
    Log = filename:join(?config(priv_dir, Config), "chromium.log"),
    Argv = ["-k", "5", integer_to_list(?CHROMIUM_TIMEOUT_S), Exe | ?CHROMIUM_FLAGS]
        ++ ["--user-data-dir=" ++ Profile | Args],
    try run_bounded(os:find_executable("timeout"), Argv, Log) of
        {0, Out} -> Out;
        {S, _} -> ct:fail("Chromium exited with status ~b (124: stopped by timeout after ~b s); "
                          "its stderr is in ~s", [S, ?CHROMIUM_TIMEOUT_S, Log])
    after
        file:del_dir_r(Profile)
    end.

%% Exe's stdout; stderr goes to Log.  Past the deadline the process is sent
%% SIGTERM (timeout(1) passes it on to Chromium), then SIGKILL.
run_bounded(Exe, Argv, Log) ->
    Port = open_port({spawn_executable, "/bin/sh"},
                     [{args, ["-c", "exec \"$0\" \"$@\" 2>>\"$REPORT_CHROMIUM_LOG\"", Exe | Argv]},
                      {env, [{"REPORT_CHROMIUM_LOG", Log}]}, exit_status, use_stdio, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    Deadline = erlang:monotonic_time(millisecond) + (?CHROMIUM_TIMEOUT_S + 20) * 1000,
    collect(Port, OsPid, Deadline, []).

collect(Port, OsPid, Deadline, Acc) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, D}} -> collect(Port, OsPid, Deadline, [D | Acc]);
        {Port, {exit_status, S}} -> {S, iolist_to_binary(lists:reverse(Acc))}
    after Left ->
            stop_hung(Port, OsPid),
            ct:fail("Chromium (OS pid ~b) did not finish in time", [OsPid])
    end.

stop_hung(Port, OsPid) ->
    _ = os:cmd("kill -TERM " ++ integer_to_list(OsPid)),
    receive
        {Port, {exit_status, _}} -> ok
    after 10000 ->
            _ = os:cmd("kill -KILL " ++ integer_to_list(OsPid)),
            catch port_close(Port)
    end.

%% ---- the screenshot -------------------------------------------------------------

%% Not blank, and the outcome colours are there: green (ok), blue (fail),
%% orange (info).
check_colours(Pixels) ->
    Counts = tally([hue(P) || P <- Pixels]),
    ct:log("screenshot pixels by colour: ~p", [Counts]),
    NonWhite = length(Pixels) - maps:get(white, Counts, 0),
    true = NonWhite > length(Pixels) div 30,
    [true = maps:get(H, Counts, 0) > 100 || H <- [green, blue, orange]],
    ok.

hue({R, G, B}) when R > 235, G > 235, B > 235 -> white;
hue({R, G, B}) when G > R + 40, G > B + 20 -> green;
hue({R, G, B}) when B > R + 60, B > G + 20 -> blue;
hue({R, G, B}) when R > 200, G > 90, G < 200, B < 100 -> orange;
hue(_) -> other.

%% [{R, G, B}] of an 8-bit RGB or RGBA, non-interlaced PNG.
png_pixels(<<137, "PNG", 13, 10, 26, 10, Rest/binary>>) ->
    Chunks = chunks(Rest),
    <<W:32, _H:32, 8, Type, _, _, 0>> = proplists:get_value(<<"IHDR">>, Chunks),
    Bpp = case Type of 2 -> 3; 6 -> 4 end,
    Raw = zlib:uncompress(iolist_to_binary([D || {<<"IDAT">>, D} <- Chunks])),
    Rows = unfilter(Raw, W * Bpp, Bpp, binary:copy(<<0>>, W * Bpp)),
    lists:append([rgb(Row, Bpp) || Row <- Rows]).

chunks(<<Len:32, Type:4/binary, Data:Len/binary, _Crc:32, Rest/binary>>) ->
    [{Type, Data} | chunks(Rest)];
chunks(<<>>) -> [].

rgb(Row, 3) -> [{R, G, B} || <<R, G, B>> <= Row];
rgb(Row, 4) -> [{R, G, B} || <<R, G, B, _>> <= Row].

unfilter(<<>>, _, _, _) -> [];
unfilter(Raw, Stride, Bpp, Prev) ->
    <<Filter, Row:Stride/binary, Rest/binary>> = Raw,
    PrevL = binary_to_list(Prev),
    Cur = list_to_binary(lists:reverse(
                           unfilter_row(Filter, binary_to_list(Row), PrevL,
                                        lists:duplicate(Bpp, 0) ++ PrevL, Bpp, 0, []))),
    [Cur | unfilter(Rest, Stride, Bpp, Cur)].

%% X: filtered byte I, B: byte above, C: byte above-left, A (from Acc): left
unfilter_row(_, [], _, _, _, _, Acc) -> Acc;
unfilter_row(F, [X | Xs], [B | Bs], [C | Cs], Bpp, I, Acc) ->
    A = case I < Bpp of true -> 0; false -> lists:nth(Bpp, Acc) end,
    unfilter_row(F, Xs, Bs, Cs, Bpp, I + 1, [(X + predict(F, A, B, C)) band 255 | Acc]).

predict(0, _, _, _) -> 0;
predict(1, A, _, _) -> A;
predict(2, _, B, _) -> B;
predict(3, A, B, _) -> (A + B) div 2;
predict(4, A, B, C) ->
    P = A + B - C,
    {PA, PB, PC} = {abs(P - A), abs(P - B), abs(P - C)},
    if PA =< PB, PA =< PC -> A; PB =< PC -> B; true -> C end.
