%% raft_kv_bridge - the two calls a Gleam or Erlang program makes to a C
%% raft_kv node, as plain functions for Gleam's @external:
%%
%%   @external(erlang, "raft_kv_bridge", "c_node_subject")
%%   fn c_node_subject(node: Atom) -> Subject(Message)
%%
%% c_node_subject/1 returns the node's Subject ({subject, Pid, Ref}), ready for
%% set_peers; c_node_status/1 its state as a map (id, role, term, leader,
%% commit_index, last_applied, log_length, voted_for, mode, store).
-module(raft_kv_bridge).
-export([c_node_subject/1, c_node_status/1]).

-spec c_node_subject(node()) -> {subject, pid(), reference()}.
c_node_subject(Node) ->
    gen_server:call({raft_kv, Node}, subject).

-spec c_node_status(node()) -> map().
c_node_status(Node) ->
    gen_server:call({raft_kv, Node}, status).
