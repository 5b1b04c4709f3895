%% gossip_chat on a real terminal (issue 13 item 6): nodes run in tmux panes,
%% keys go in with send-keys and the screen is read with capture-pane,
%% polled until the expected text is there (tmux has no event for it).
%%
%% Each case starts its own tmux server on a private socket (-L, a unique
%% name) with its nodes in its windows (unique names, the suite's cookie);
%% the nodes stop through /quit or Ctrl-C, and end_per_testcase stops that
%% server (kill-server on its own socket), which ends whatever a failed case
%% left in its panes.  A pane runs "gossip_chat ...; echo exit status $?", so
%% the exit status is on the screen.
-module(gossip_tty_SUITE).

-include_lib("common_test/include/ct.hrl").

-compile([export_all, nowarn_export_all]).

-define(T, 15000).
%% "HH:MM:SS " in front of every line on a terminal
-define(TIME, "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] ").

all() -> [{group, terminal}].

groups() ->
    [{terminal, [], [typing_while_lines_arrive, quit_before_joining, wrong_cookie_shown,
                     membership_does_not_flap]}].

init_per_suite(Config0) ->
    case os:find_executable("tmux") of
        false ->
            {skip, "tmux is not installed (scripts/deps.sh installs it)"};
        Tmux ->
            Config = cnode_test_lib:init_dist(Config0),
            true = filelib:is_regular(cnode_test_lib:bin("gossip_chat")),
            [{tmux, Tmux} | Config]
    end.

end_per_suite(Config) ->
    Config.

init_per_group(_, Config) -> Config.
end_per_group(_, _Config) -> ok.

init_per_testcase(_Case, Config0) ->
    Config = [{sock, cnode_test_lib:unique("gossip_tty")} | Config0],
    {0, _} = tmux(Config, ["-f", "/dev/null", "new-session", "-d", "-s", "t",
                           "-x", "200", "-y", "50"]),
    {0, _} = tmux(Config, ["set-option", "-g", "remain-on-exit", "on"]),
    Config.

end_per_testcase(_Case, Config) ->
    [ct:log("window ~s:~n~s", [W, tmux_out(Config, ["capture-pane", "-p", "-S", "-",
                                                    "-t", "t:" ++ W])])
     || W <- string:lexemes(tmux_out(Config, ["list-windows", "-F", "#{window_name}"]),
                            "\n"), W =/= "bash", W =/= "sh"],
    tmux(Config, ["kill-server"]),
    ok.

%% ---- tmux ----------------------------------------------------------------

tmux(Config, Args) ->
    cnode_test_lib:run(?config(tmux, Config), ["-L", ?config(sock, Config) | Args], ?T,
                       [{"TERM", "xterm-256color"}, {"TMUX", false}]).

tmux_out(Config, Args) ->
    {_, Out} = tmux(Config, Args),
    binary_to_list(Out).

%% gossip_chat NAME ARGS in a new window W.
start_pane(Config, W, Name, Args) ->
    Cmd = string:join([cnode_test_lib:bin("gossip_chat"), Name, "--cookie",
                       atom_to_list(?config(cookie, Config)) | Args], " ")
        ++ "; echo \"exit status $?\"",
    {0, _} = tmux(Config, ["new-window", "-d", "-n", W, Cmd]),
    full(Name).

keys(Config, W, Text) ->
    {0, _} = tmux(Config, ["send-keys", "-t", "t:" ++ W, "-l", Text]).

key(Config, W, Key) ->
    {0, _} = tmux(Config, ["send-keys", "-t", "t:" ++ W, Key]).

type_line(Config, W, Text) ->
    keys(Config, W, Text),
    key(Config, W, "Enter").

%% The pane's rows, trailing spaces and empty rows at the end removed.
screen(Config, W) ->
    Rows = [string:trim(R, trailing) || R <- string:split(
                                              tmux_out(Config, ["capture-pane", "-p",
                                                                "-t", "t:" ++ W]),
                                              "\n", all)],
    lists:reverse(lists:dropwhile(fun(R) -> R =:= "" end, lists:reverse(Rows))).

%% Polls W's screen until Pred(Rows) holds; fails with the screen at ?T.
await(Config, W, Pred) ->
    await(Config, W, Pred, erlang:monotonic_time(millisecond) + ?T).
await(Config, W, Pred, Deadline) ->
    Rows = screen(Config, W),
    case Pred(Rows) of
        true -> Rows;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> ct:fail({screen_of, W, Rows});
                false -> timer:sleep(100), await(Config, W, Pred, Deadline)
            end
    end.

%% Rows matching the regular expression Re.
rows(Rows, Re) -> [R || R <- Rows, re:run(R, Re) =/= nomatch].

has(Re) -> fun(Rows) -> rows(Rows, Re) =/= [] end.

last_row(Rows) -> lists:last(Rows).

%% A regular expression matching S literally.
q(S) -> "\\Q" ++ S ++ "\\E".

full(Name) -> Name ++ "@" ++ cnode_test_lib:host().

%% ---- cases ---------------------------------------------------------------

%% Three nodes on terminals: a half-typed line stays intact while lines
%% arrive; they appear above the prompt with the time; our own line shows
%% once; warnings go to the status line and the log, not the chat; /quit
%% and Ctrl-C say that we left and exit 0.
typing_while_lines_arrive(Config) ->
    [A, B, C] = [cnode_test_lib:unique(P) || P <- ["tta", "ttb", "ttc"]],
    Log = filename:join(?config(priv_dir, Config), A ++ ".log"),
    FA = start_pane(Config, "a", A, ["--log", Log]),
    await(Config, "a", has("^" ?TIME "\\* chat started")),
    FB = start_pane(Config, "b", B, ["--join", A]),
    FC = start_pane(Config, "c", C, ["--join", B]),
    await(Config, "a", fun(R) -> rows(R, q(FB) ++ " joined") =/= [] andalso
                                     rows(R, q(FC) ++ " joined") =/= [] end),
    await(Config, "c", has("^" ?TIME "\\* joined through " ++ q(FB))),
    %% a half-typed line, then lines from the others arrive
    keys(Config, "a", "half typed"),
    await(Config, "a", fun(R) -> last_row(R) =:= "> half typed" end),
    {ok, _} = gen_server:call({gossip, list_to_atom(FB)}, {say, <<"hello from bob">>}),
    {ok, _} = gen_server:call({gossip, list_to_atom(FC)}, {say, <<"and from carol">>}),
    Rows1 = await(Config, "a", fun(R) ->
                                        rows(R, "^" ?TIME "\\[" ++ q(FB) ++ "\\] hello from bob$") =/= []
                                            andalso rows(R, "^" ?TIME "\\[" ++ q(FC) ++ "\\] and from carol$") =/= []
                                end),
    "> half typed" = last_row(Rows1),
    %% editing keeps working: finish the line, fix a typo, send it
    keys(Config, "a", " and donee"),
    key(Config, "a", "BSpace"),
    key(Config, "a", "Enter"),
    Mine = "^" ?TIME "\\[" ++ q(FA) ++ "\\] half typed and done$",
    Rows2 = await(Config, "a", has(Mine)),
    [_] = rows(Rows2, "half typed and done"),            % once, not echoed too
    ">" = last_row(await(Config, "a", fun(R) -> last_row(R) =:= ">" end)),
    await(Config, "b", has("^" ?TIME "\\[" ++ q(FA) ++ "\\] half typed and done$")),
    await(Config, "c", has("^" ?TIME "\\[" ++ q(FA) ++ "\\] half typed and done$")),
    %% a warning (junk sent to the chat process): on the status line, just
    %% above the prompt, and in the log file; never a chat line
    {gossip, list_to_atom(FA)} ! {chat, 1, 2, 3},
    Rows3 = await(Config, "a", fun(R) ->
                                        length(R) >= 2 andalso
                                            re:run(lists:nth(length(R) - 1, R),
                                                   "^! .*junk dropped") =/= nomatch
                                end),
    [_] = rows(Rows3, "junk"),
    {ok, LogText} = file:read_file(Log),
    {match, _} = re:run(LogText, "junk dropped"),
    %% /quit on b: confirmed there, and a shows b left (once)
    type_line(Config, "b", "/quit"),
    await(Config, "b", fun(R) -> rows(R, "^" ?TIME "\\* you left the chat$") =/= [] andalso
                                     lists:member("exit status 0", R) end),
    Rows4 = await(Config, "a", has("^" ?TIME "\\* " ++ q(FB) ++ " left$")),
    [] = rows(Rows4, q(FB) ++ " is back"),
    %% Ctrl-C on c, /quit on a
    key(Config, "c", "C-c"),
    await(Config, "c", fun(R) -> rows(R, "you left the chat") =/= [] andalso
                                     lists:member("exit status 0", R) end),
    type_line(Config, "a", "/quit"),
    await(Config, "a", fun(R) -> rows(R, "^" ?TIME "\\* you left the chat$") =/= [] andalso
                                     lists:member("exit status 0", R) end),
    ok.

%% Joining through a node that is not there: the status line says why,
%% lines typed meanwhile wait, and /quit leaves at once.
quit_before_joining(Config) ->
    D = cnode_test_lib:unique("ttd"),
    Nobody = cnode_test_lib:unique("nobody"),
    start_pane(Config, "d", D, ["--join", Nobody]),
    await(Config, "d", has("^waiting for " ++ q(full(Nobody)) ++
                               ": node is not registered with epmd")),
    type_line(Config, "d", "an early line"),
    await(Config, "d", has("1 line to send once joined")),
    type_line(Config, "d", "/quit"),
    Rows = await(Config, "d", fun(R) -> lists:member("exit status 0", R) end),
    [_] = rows(Rows, "^" ?TIME "\\* 1 line not sent \\(not joined yet\\)$"),
    [_] = rows(Rows, "^" ?TIME "\\* you left the chat$"),
    [] = rows(Rows, "an early line"),
    ok.

%% A joiner with the wrong cookie says why it waits (its contact refuses
%% the handshake), and its contact is not flooded with warnings.
wrong_cookie_shown(Config) ->
    A = cnode_test_lib:unique("ttg"),
    FA = start_pane(Config, "a", A, []),
    await(Config, "a", has("chat started")),
    W = cnode_test_lib:unique("tth"),
    start_pane(Config, "w", W, ["--join", A, "--cookie", "not_the_cookie"]),
    await(Config, "w", has("^waiting for " ++ q(FA) ++ ": .*cookie")),
    %% the contact: one warning on its status line, none in its chat
    Rows = await(Config, "a", has("^! .*" ++ q(full(W)) ++ ".*cookie")),
    [] = rows(Rows, "^" ?TIME ".*cookie"),
    type_line(Config, "w", "/quit"),
    await(Config, "w", fun(R) -> lists:member("exit status 0", R) end),
    type_line(Config, "a", "/quit"),
    await(Config, "a", fun(R) -> lists:member("exit status 0", R) end),
    ok.

%% A node that leaves and is back within GC_OUT_SETTLE_MS (3 s) is shown
%% neither as left nor as back; when it leaves for good, "left" shows once.
membership_does_not_flap(Config) ->
    A = cnode_test_lib:unique("tte"),
    FA = start_pane(Config, "a", A, []),
    await(Config, "a", has("chat started")),
    E = cnode_test_lib:unique("ttf"),
    FE = full(E),
    Pipe = fun() ->
                   cnode_proc:start(cnode_test_lib:bin("gossip_chat"),
                                    ["--sname", E, "--cookie", atom_to_list(?config(cookie, Config)),
                                     "--join", FA, "--json", "--stay"],
                                    #{log => filename:join(?config(priv_dir, Config), E ++ ".log")})
           end,
    E1 = Pipe(),
    await(Config, "a", has(q(FE) ++ " joined$")),
    0 = cnode_test_lib:stop(E1),                   % SIGTERM: it leaves
    E2 = Pipe(),                                   % and is back at once
    try
        wait_members(FA, 2)
    after
        0 = cnode_test_lib:stop(E2)                % and leaves for good
    end,
    Rows = await(Config, "a", has(q(FE) ++ " left$")),
    [_] = rows(Rows, q(FE) ++ " joined$"),
    [_] = rows(Rows, q(FE) ++ " left$"),
    [] = rows(Rows, q(FE) ++ " is back"),
    type_line(Config, "a", "/quit"),
    await(Config, "a", fun(R) -> lists:member("exit status 0", R) end),
    ok.

%% Polls the members of {gossip, Node} until there are N.
wait_members(Node, N) ->
    wait_members(Node, N, erlang:monotonic_time(millisecond) + ?T).
wait_members(Node, N, Deadline) ->
    case length(gen_server:call({gossip, list_to_atom(Node)}, members)) of
        N -> ok;
        M when M =/= N ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> ct:fail({members, Node, M, N});
                false -> timer:sleep(100), wait_members(Node, N, Deadline)
            end
    end.
