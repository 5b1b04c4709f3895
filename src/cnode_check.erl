%% cnode_check - the conformance and fault workbench (docs/check.md): runs
%% a scenario's clusters on hosts of their own under a seeded nemesis,
%% records every client operation, checks the history and the nodes, and
%% writes a report folder per run.
%%
%% priv/bin/cnode-check (a shell script) calls cli/1 in three stages, so
%% that the controller can live inside the hosts' network:
%%   prepare SCENARIO [flags]  (host namespace) makes the run folder and the
%%                             hosts, prints "RUN_DIR CTL_NS CTL_ADDR"
%%   exec RUN_DIR              (inside CTL_NS, distributed) runs every cluster
%%   teardown RUN_DIR          removes every process and namespace made
%% and check FILE / clean directly.
-module(cnode_check).

-export([cli/1, fill/3]).

-define(READY_MS, 30000).
-define(LEADER_MS, 20000).

cli(Args) ->
    Code = try main(Args)
           catch
               throw:{usage, Msg} ->
                   io:format(standard_error, "cnode-check: ~s (see cnode-check --help)~n", [Msg]),
                   2;
               throw:{error, Msg} ->
                   io:format(standard_error, "cnode-check: ~s~n", [Msg]),
                   1;
               C:E:St ->
                   io:format(standard_error, "cnode-check: internal error ~0p:~0P~n  at ~0P~n",
                             [C, E, 30, St, 30]),
                   3
           end,
    erlang:halt(Code, [{flush, true}]).

main(["check", File]) -> cnode_check_lin:main([File]);
main(["summary" | Files]) when Files =/= [] -> cnode_check_results:summary(Files);
main(["clean"]) ->
    N = cnode_check_hosts:clean_all(),
    io:format("~b run(s) cleaned~n", [N]),
    0;
main(["prepare", ScenarioFile | Flags]) -> prepare(ScenarioFile, flags(Flags, #{}));
main(["exec", RunDir]) -> exec(RunDir);
main(["teardown", RunDir]) ->
    cnode_check_hosts:down(read_term(RunDir, "hosts")),
    0;
main(Args) -> throw({usage, io_lib:format("bad arguments: ~s", [lists:join(" ", Args)])}).

flags([], Acc) -> Acc;
flags(["--seed", S | R], Acc) -> flags(R, Acc#{seed => int("--seed", S)});
flags(["--seconds", S | R], Acc) -> flags(R, Acc#{seconds => int("--seconds", S)});
flags(["--out", D | R], Acc) -> flags(R, Acc#{out => D});
flags(["--cluster", C | R], Acc) ->
    flags(R, Acc#{clusters => maps:get(clusters, Acc, []) ++ [C]});
flags(["--loopback" | R], Acc) -> flags(R, Acc#{loopback => true});
flags([F | _], _) -> throw({usage, "unknown flag " ++ F}).

int(Flag, S) ->
    try list_to_integer(S) catch _:_ -> throw({usage, Flag ++ " needs an integer, not " ++ S}) end.

%% ---- prepare: run folder, hosts --------------------------------------------

prepare(ScenarioFile, Flags) ->
    Scenario = cnode_check_scenario:load(ScenarioFile, Flags),
    Run = run_id(),
    Out = maps:get(out, Flags, filename:join([root(), "_build", "check"])),
    RunDir = filename:absname(filename:join(Out, [maps:get(name, Scenario), "-", Run])),
    ok = filelib:ensure_path(RunDir),
    {ok, _} = file:copy(ScenarioFile, filename:join(RunDir, "scenario.json")),
    N = lists:max([length(Impls) || {_, Impls} <- maps:get(clusters, Scenario)]),
    Hosts0 = case maps:get(loopback, Flags, false) of
                 true -> loopback_hosts(Run, N, RunDir);
                 false -> cnode_check_hosts:up(Run, N, RunDir)
             end,
    Hosts = Hosts0#{ctl_epmd => start_ctl_epmd(Hosts0)},
    write_term(RunDir, "hosts", Hosts),
    write_term(RunDir, "scenario", Scenario),
    io:format("~s ~s ~s~n", [RunDir, case cnode_check_hosts:ctl_ns(Hosts) of none -> "none";
                                                                         Ns -> Ns end,
                             cnode_check_hosts:ctl_addr(Hosts)]),
    0.

loopback_hosts(Run, N, RunDir) ->
    Record = filename:join(cnode_check_hosts:records_dir(), Run),
    ok = cnode_check_hosts:new_record(Record, RunDir),
    #{run => Run, n => N, record => Record, dir => RunDir, mode => loopback}.

run_id() ->
    <<A:24>> = crypto:strong_rand_bytes(3),
    string:lowercase(integer_to_list(A, 16)).

%% The controller's namespace needs an epmd before its erl starts.
start_ctl_epmd(Hosts = #{mode := netns}) ->
    Ns = cnode_check_hosts:ctl_ns(Hosts),
    Log = filename:join(maps:get(dir, Hosts), "epmd_ctl.log"),
    Port = open_port({spawn, "ip netns exec " ++ Ns ++ " epmd >>" ++ Log ++ " 2>&1"}, []),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    cnode_check_hosts:record_pid(Hosts, OsPid),
    wait_epmd(Ns, 50),
    OsPid;
start_ctl_epmd(_) -> none.

wait_epmd(_, 0) -> throw({error, "epmd did not start in the controller's namespace"});
wait_epmd(Ns, K) ->
    case os:cmd("ip netns exec " ++ Ns ++ " epmd -names >/dev/null 2>&1; echo $?") of
        "0\n" -> ok;
        _ -> receive after 20 -> wait_epmd(Ns, K - 1) end
    end.

%% ---- exec: every cluster of the scenario -------------------------------------

exec(RunDir) ->
    Hosts = read_term(RunDir, "hosts"),
    Scenario = read_term(RunDir, "scenario"),
    ets:new(cnode_check_nodes, [named_table, public]),
    erlang:set_cookie(list_to_atom(maps:get(cookie, Scenario))),
    io:format("cnode-check: ~s, seed ~b, hosts: ~s~n",
              [maps:get(name, Scenario), maps:get(seed, Scenario), maps:get(mode, Hosts)]),
    _ = cnode_check_nodes:start_epmds(Hosts, Scenario),
    Rows = [run_cluster(Hosts, Scenario, Cluster) || Cluster <- maps:get(clusters, Scenario)],
    cnode_check_results:print(Rows),
    ok = file:write_file(filename:join(RunDir, "results.json"),
                         cnode_json:encode([cnode_check_results:to_json(R) || R <- Rows])),
    io:format("run folder: ~s~n", [RunDir]),
    case lists:all(fun cnode_check_results:as_expected/1, Rows) of
        true -> 0;
        false -> 1
    end.

run_cluster(Hosts, Scenario, {Name, Impls}) ->
    Dir = filename:join(maps:get(dir, Hosts), Name),
    ok = filelib:ensure_path(Dir),
    io:format("== cluster ~s: ~s~n", [Name, lists:join(" ", [impl_name(I) || I <- Impls])]),
    Ctx0 = context(Hosts#{dir => Dir}, Scenario, Impls),
    Specs = [cnode_check_nodes:spec(Hosts#{dir => Dir}, Scenario, I, Impl,
                                    maps:get(protocol, Scenario))
             || {I, Impl} <- lists:zip(lists:seq(1, length(Impls)), Impls)],
    Ctx = Ctx0#{nodes => Specs, peers_file => peers_file(Dir, Specs, Scenario)},
    Row0 = #{cluster => Name, impls => [impl_name(I) || I <- Impls],
             expect => maps:get(list_to_binary(Name), maps:get(expect, Scenario), <<"pass">>),
             dir => Dir},
    ets:delete_all_objects(cnode_check_nodes),
    try
        start_all(Ctx, Specs),
        Row = cnode_check_workload:run(Ctx, Dir),
        maps:merge(Row0, Row)
    catch
        throw:{error, Why} ->
            io:format("   could not run: ~s~n", [Why]),
            Row0#{checks => [{<<"cluster ran">>, {failed, Why}}]}
    after
        [cnode_check_nodes:stop(S) || {_, S} <- ets:tab2list(cnode_check_nodes)],
        cnode_check_hosts:heal(Hosts)
    end.

start_all(Ctx, Specs) ->
    Mod = workload_module(Ctx),
    Started = [cnode_check_nodes:start(S, Mod:argv(S, Ctx)) || S <- Specs],
    [ets:insert(cnode_check_nodes, {maps:get(id, S), S}) || S <- Started],
    [case Mod:ready(S, ?READY_MS) of
         ok -> ok;
         {error, _} -> throw({error, io_lib:format("~s did not come up (see ~s)",
                                                   [maps:get(name, S), maps:get(log, S)])})
     end || S <- Started],
    ok.

workload_module(Ctx) -> cnode_check_workload:module(Ctx).

context(Hosts, Scenario, Impls) ->
    Root = root(),
    Scenario#{hosts => Hosts, root => Root,
              ebin => filename:join([Root, "_build", "default", "lib", "cnode", "ebin"]),
              bin_dir => case os:getenv("CNODE_CHECK_BIN") of
                             false -> filename:join(Root, "priv/bin");
                             B -> B
                         end,
              impls => Impls}.

%% An all-C cluster is formed from a peers file, as operators run it.
peers_file(Dir, Specs, Scenario) ->
    case lists:all(fun(#{impl := I}) -> I =:= <<"c">> end, Specs) of
        false -> none;
        true ->
            F = filename:join(Dir, "peers.json"),
            ok = file:write_file(F, cnode_json:encode(
                                      #{cookie => list_to_binary(maps:get(cookie, Scenario)),
                                        nodes => [#{name => list_to_binary(N), id => I}
                                                  || #{name := N, id := I} <- Specs]})),
            F
    end.

impl_name({cmd, _}) -> <<"cmd">>;
impl_name(I) -> I.

%% A start command template with its placeholders filled in.
fill(Template, Spec, Ctx) ->
    Vals = [{"{name}", maps:get(name, Spec)}, {"{cookie}", maps:get(cookie, Spec)},
            {"{id}", integer_to_list(maps:get(id, Spec))},
            {"{data_dir}", maps:get(data_dir, Spec)}, {"{addr}", maps:get(addr, Spec)},
            {"{peers_file}", case maps:get(peers_file, Ctx, none) of none -> ""; F -> F end},
            {"{root}", maps:get(root, Ctx)}],
    lists:foldl(fun({K, V}, T) -> string:replace(T, K, V, all) end,
                binary_to_list(Template), Vals).

root() ->
    case os:getenv("CNODE_ROOT") of
        %% <root>/_build/default/lib/cnode/ebin/cnode_check.beam
        false -> up(code:which(?MODULE), 6);
        R -> R
    end.

up(Path, 0) -> Path;
up(Path, K) -> up(filename:dirname(Path), K - 1).

write_term(Dir, Name, T) ->
    ok = file:write_file(filename:join(Dir, Name ++ ".term"), term_to_binary(T)).
read_term(Dir, Name) ->
    {ok, B} = file:read_file(filename:join(Dir, Name ++ ".term")),
    binary_to_term(B).
