%% bench_lib - what every `make bench` driver shares: naming, the project
%% root, settings from the environment, the machine's description, CPU time
%% of OS processes, number formatting.
-module(bench_lib).
-export([root/0, uniq/1, env_int/2, host/0, machine/0, fmt_int/1, cpu/1, os_pid/1]).

root() ->
    case os:getenv("CNODE_ROOT") of
        false -> {ok, D} = file:get_cwd(), D;
        R -> R
    end.

%% A name no other run on this machine uses.
uniq(P) -> P ++ "_" ++ os:getpid() ++ "_" ++ integer_to_list(erlang:unique_integer([positive])).

env_int(K, D) ->
    case os:getenv(K) of
        false -> D;
        V -> list_to_integer(V)
    end.

host() ->
    [_, H] = string:split(atom_to_list(node()), "@"),
    H.

machine() ->
    Cpu = string:trim(os:cmd("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")),
    io_lib:format("~s, ~b cores, OTP ~s",
                  [Cpu, erlang:system_info(logical_processors_online),
                   erlang:system_info(otp_release)]).

%% 1234567 -> "1,234,567"
fmt_int(N) ->
    lists:reverse(group(lists:reverse(integer_to_list(N)))).
group([A, B, C, D | R]) -> [A, B, C, $, | group([D | R])];
group(L) -> L.

%% User + system CPU seconds an OS process has used so far (all threads).
cpu(OsPid) ->
    {ok, Bin} = file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat"),
    %% the fields after the command name, which is in parentheses
    [_, After] = binary:split(Bin, <<") ">>),
    Fields = binary:split(After, <<" ">>, [global]),
    Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
    Ticks / clock_ticks().

clock_ticks() ->
    case persistent_term:get({?MODULE, clk_tck}, undefined) of
        undefined ->
            T = list_to_integer(string:trim(os:cmd("getconf CLK_TCK"))),
            persistent_term:put({?MODULE, clk_tck}, T),
            T;
        T -> T
    end.

os_pid(Node) -> list_to_integer(erpc:call(Node, os, getpid, [])).
