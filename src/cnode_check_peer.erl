%% cnode_check_peer - the Erlang reference peers as standalone nodes, the
%% "erlang" implementation of a cnode-check scenario.
%%
%%   erl -name NAME -setcookie C -pa EBIN -noshell -eval 'cnode_check_peer:raft(Id, Size)'
%%
%% runs one reference raft_kv node (raft_ref_node, the Gleam emulation's
%% actor) and registers `cnode_check_raft`, which answers
%% gen_server:call(subject) with the node's Subject, as a Gleam program
%% would hand it to its main.  It deliberately does not register `raft_kv`:
%% C nodes take a peer with that name for a C node and send it extensions.
%% The reference node is linked to its host as gleam_otp links an actor to
%% its starter; when it crashes (the seed's panic on a silent peer) the
%% whole program exits, as the compiled Gleam program does, and the log
%% says why.
-module(cnode_check_peer).

-export([raft/2]).

raft(Id, Size) ->
    process_flag(trap_exit, true),
    {Id, Subject} = raft_ref_main:start_node(Id, Size),
    true = register(cnode_check_raft, self()),
    io:format("ready ~s~n", [node()]),
    serve(Subject).

serve(Subject) ->
    receive
        {'$gen_call', From, subject} ->
            gen:reply(From, Subject),
            serve(Subject);
        {'$gen_call', From, status} ->
            %% the node answers sys:get_state between messages; one busy in
            %% the seed's synchronous calls may not answer in time
            gen:reply(From, catch raft_ref_main:status(Subject)),
            serve(Subject);
        {'$gen_call', From, Other} ->
            gen:reply(From, {error, {unknown_call, Other}}),
            serve(Subject);
        {'EXIT', _, Reason} ->
            io:format("reference node crashed: ~p~n", [Reason]),
            erlang:halt(127, [{flush, true}]);
        _ ->
            serve(Subject)
    end.
