%% @doc Erlang reference implementation of the Gleam `raft_kv/node` actor of
%% seed 002, message for message and trace line for trace line.
%%
%% Messages (Gleam-compiled terms, delivered as `{Tag, Message}` through the
%% node's Subject `{subject, Pid, Tag}`):
%%
%%   {set_peers, [{Id, Subject}]}
%%   start_election
%%   {request_vote, Term, CandidateId, LastLogIndex, LastLogTerm, ReplySubject}
%%       reply {vote_granted, Term} | {vote_denied, Term}
%%   {append_entries, Term, LeaderId, PrevLogIndex, PrevLogTerm,
%%                    [{Index, {log_entry, Term, Command}}], LeaderCommit,
%%                    ReplySubject}
%%       reply {append_entries_ok, Term, MatchIndex} |
%%             {append_entries_rejected, Term}
%%   {commit_notification, LeaderCommit}
%%   {client_put, Key, Value, ReplySubject}   reply op_ok | {op_error, Reason}
%%   {client_get, Key, ReplySubject}          reply {ok, Value} | {error, Reason}
%%   {client_delete, Key, ReplySubject}       reply op_ok | {op_error, Reason}
%%
%%   Command = {put, Key, Value} | {get, Key} | {delete, Key} | noop
%%   Keys, values and reasons are UTF-8 binaries.
%%
%% As in the seed: the election and the replication of each client request
%% are synchronous `actor.call`s to every peer in turn (RequestVote with a
%% 1000 ms timeout, AppendEntries with 2000 ms), so the node handles nothing
%% else meanwhile, and a peer that is down or silent makes the node crash
%% (Gleam panic).  A message with the node's tag but of no known shape
%% crashes it too (`case_clause`, as the compiled Gleam `case` does); any
%% other message is logged and dropped by the actor loop.
%%
%% The actor state is the Gleam `State` record, so `sys:get_state(Pid)`
%% returns, as for the Gleam actor,
%%   {state, Id, CurrentTerm, VotedFor, Role, Log, CommitIndex, LastApplied,
%%           Peers, Store, NextIndex, MatchIndex, ClusterSize, Self}
%% with VotedFor `none | {some, Id}`, Role `follower | candidate | leader`,
%% Log `#{Index => {log_entry, Term, Command}}`, Store `#{Key => Value}`.
-module(raft_ref_node).

-export([start/2, put/3, get/2, delete/2]).

-record(state, {id, current_term, voted_for, role, log, commit_index,
                last_applied, peers, store, next_index, match_index,
                cluster_size, self}).

%% ---------------------------------------------------------------------------
%% Public API (node.start, node.put, node.get, node.delete)

%% @doc `node.start(id, cluster_size)`: `{ok, Subject}` or `{error, StartError}`.
%% The node is linked to the caller, as gleam_otp's actor.start links it.
start(Id, ClusterSize) ->
    Init = fun(Self) ->
                   println(["[node ", i2s(Id), "] Starting"]),
                   State = #state{id = Id, current_term = 0, voted_for = none,
                                  role = follower, log = #{}, commit_index = 0,
                                  last_applied = 0, peers = [], store = #{},
                                  next_index = #{}, match_index = #{},
                                  cluster_size = ClusterSize, self = Self},
                   {ok, {initialised, State, none, Self}}
           end,
    raft_ref_actor:start_subject(1000, Init, fun handle_message/2).

%% @doc `node.put`: op_ok | {op_error, Reason}.  Crashes the caller like
%% actor.call if no reply comes within 5000 ms.
put(Node, Key, Value) ->
    raft_ref_actor:call(Node, 5000, fun(R) -> {client_put, Key, Value, R} end).

%% @doc `node.get`: {ok, Value} | {error, Reason}.
get(Node, Key) ->
    raft_ref_actor:call(Node, 5000, fun(R) -> {client_get, Key, R} end).

%% @doc `node.delete`: op_ok | {op_error, Reason}.
delete(Node, Key) ->
    raft_ref_actor:call(Node, 5000, fun(R) -> {client_delete, Key, R} end).

%% ---------------------------------------------------------------------------
%% Message handling

handle_message(State, Message) ->
    case Message of
        {set_peers, Peers} ->
            println(["[node ", i2s(State#state.id), "] Peers configured (",
                     i2s(length(Peers)), " peers)"]),
            continue(State#state{peers = Peers});
        start_election ->
            handle_start_election(State);
        {request_vote, Term, CandidateId, LastIdx, LastTerm, ReplyWith} ->
            handle_request_vote(State, Term, CandidateId, LastIdx, LastTerm,
                                ReplyWith);
        {append_entries, Term, LeaderId, PrevIndex, PrevTerm, Entries,
         LeaderCommit, ReplyWith} ->
            handle_append_entries(State, Term, LeaderId, PrevIndex, PrevTerm,
                                  Entries, LeaderCommit, ReplyWith);
        {commit_notification, LeaderCommit} ->
            handle_commit_notification(State, LeaderCommit);
        {client_put, Key, Value, ReplyWith} ->
            handle_client_request(State, {put, Key, Value},
                                  fun(R) -> send(ReplyWith, R) end,
                                  fun(_) -> nil end);
        {client_get, Key, ReplyWith} ->
            handle_client_request(State, {get, Key},
                                  fun(_) -> nil end,
                                  fun(R) -> send(ReplyWith, R) end);
        {client_delete, Key, ReplyWith} ->
            handle_client_request(State, {delete, Key},
                                  fun(R) -> send(ReplyWith, R) end,
                                  fun(_) -> nil end)
    end.

%% Last log index (0 if the log is empty).
last_log_index(Log) ->
    lists:foldl(fun erlang:max/2, 0, maps:keys(Log)).

%% Term of the entry at Index (0 if absent).
log_term_at(Log, Index) ->
    case maps:find(Index, Log) of
        {ok, {log_entry, Term, _Command}} -> Term;
        error -> 0
    end.

quorum_size(ClusterSize) ->
    ClusterSize div 2 + 1.

%% StartElection: new term, vote for self, RequestVote to each peer in turn.
handle_start_election(State) ->
    NewTerm = State#state.current_term + 1,
    IdStr = i2s(State#state.id),
    println(["[node ", IdStr, "] Starting election for term ", i2s(NewTerm)]),
    MyLastIndex = last_log_index(State#state.log),
    MyLastTerm = log_term_at(State#state.log, MyLastIndex),
    VotesNeeded = quorum_size(State#state.cluster_size),
    PeerVotes =
        filter_map(
          fun({PeerId, PeerSubject}) ->
                  Response = raft_ref_actor:call(
                               PeerSubject, 1000,
                               fun(R) ->
                                       {request_vote, NewTerm, State#state.id,
                                        MyLastIndex, MyLastTerm, R}
                               end),
                  case Response of
                      {vote_granted, _} ->
                          println(["[node ", IdStr, "] Received vote from node ",
                                   i2s(PeerId)]),
                          {ok, nil};
                      {vote_denied, _} ->
                          {error, nil}
                  end
          end, State#state.peers),
    TotalVotes = 1 + length(PeerVotes),
    println(["[node ", IdStr, "] Election result: ", i2s(TotalVotes),
             " votes (need ", i2s(VotesNeeded), ")"]),
    case TotalVotes >= VotesNeeded of
        true ->
            println(["[node ", IdStr, "] Became LEADER for term ", i2s(NewTerm)]),
            NextIdx = last_log_index(State#state.log) + 1,
            NewNextIndex = lists:foldl(fun({PId, _}, Acc) -> Acc#{PId => NextIdx} end,
                                       #{}, State#state.peers),
            NewMatchIndex = lists:foldl(fun({PId, _}, Acc) -> Acc#{PId => 0} end,
                                        #{}, State#state.peers),
            continue(State#state{current_term = NewTerm,
                                 voted_for = {some, State#state.id},
                                 role = leader,
                                 next_index = NewNextIndex,
                                 match_index = NewMatchIndex});
        false ->
            println(["[node ", IdStr, "] Election FAILED, staying follower"]),
            continue(State#state{current_term = NewTerm,
                                 voted_for = {some, State#state.id},
                                 role = follower})
    end.

%% RequestVote RPC.
handle_request_vote(State, Term, CandidateId, CandLastIndex, CandLastTerm, ReplyWith) ->
    IdStr = i2s(State#state.id),
    case Term < State#state.current_term of
        true ->
            println(["[node ", IdStr, "] Denying vote to ", i2s(CandidateId),
                     " (stale term)"]),
            send(ReplyWith, {vote_denied, State#state.current_term}),
            continue(State);
        false ->
            Updated = case Term > State#state.current_term of
                          true -> State#state{current_term = Term, voted_for = none,
                                              role = follower};
                          false -> State
                      end,
            CanVote = case Updated#state.voted_for of
                          none -> true;
                          {some, Id} -> Id =:= CandidateId
                      end,
            MyLastIndex = last_log_index(Updated#state.log),
            MyLastTerm = log_term_at(Updated#state.log, MyLastIndex),
            LogOk = CandLastTerm > MyLastTerm
                orelse (CandLastTerm =:= MyLastTerm
                        andalso CandLastIndex >= MyLastIndex),
            case CanVote andalso LogOk of
                true ->
                    println(["[node ", IdStr, "] Granting vote to ",
                             i2s(CandidateId), " for term ", i2s(Term)]),
                    send(ReplyWith, {vote_granted, Term}),
                    continue(Updated#state{voted_for = {some, CandidateId}});
                false ->
                    println(["[node ", IdStr, "] Denying vote to ", i2s(CandidateId)]),
                    send(ReplyWith, {vote_denied, Updated#state.current_term}),
                    continue(Updated)
            end
    end.

%% AppendEntries RPC (from the leader).
handle_append_entries(State, Term, LeaderId, PrevLogIndex, PrevLogTerm, Entries,
                      LeaderCommit, ReplyWith) ->
    IdStr = i2s(State#state.id),
    case Term < State#state.current_term of
        true ->
            println(["[node ", IdStr, "] Rejecting AppendEntries from node ",
                     i2s(LeaderId), " (stale term)"]),
            send(ReplyWith, {append_entries_rejected, State#state.current_term}),
            continue(State);
        false ->
            VotedFor = case Term > State#state.current_term of
                           true -> none;
                           false -> State#state.voted_for
                       end,
            Updated = State#state{current_term = Term, role = follower,
                                  voted_for = VotedFor},
            PrevOk = case PrevLogIndex of
                         0 -> true;
                         _ -> log_term_at(Updated#state.log, PrevLogIndex) =:= PrevLogTerm
                     end,
            case PrevOk of
                false ->
                    println(["[node ", IdStr, "] AppendEntries log mismatch at index ",
                             i2s(PrevLogIndex)]),
                    send(ReplyWith, {append_entries_rejected, Updated#state.current_term}),
                    continue(Updated);
                true ->
                    NewLog = lists:foldl(fun({Index, LogEntry}, Log) ->
                                                 Log#{Index => LogEntry}
                                         end, Updated#state.log, Entries),
                    NewCommitIndex =
                        case LeaderCommit > Updated#state.commit_index of
                            true ->
                                LastNewIndex = case Entries of
                                                   [] -> Updated#state.commit_index;
                                                   _ -> element(1, lists:last(Entries))
                                               end,
                                min(LeaderCommit, LastNewIndex);
                            false ->
                                Updated#state.commit_index
                        end,
                    MatchIdx = last_log_index(NewLog),
                    println(["[node ", IdStr, "] AppendEntries OK from leader ",
                             i2s(LeaderId), ", match_index=", i2s(MatchIdx)]),
                    send(ReplyWith, {append_entries_ok, Updated#state.current_term,
                                     MatchIdx}),
                    continue(apply_committed(Updated#state{log = NewLog,
                                                           commit_index = NewCommitIndex}))
            end
    end.

%% CommitNotification (fire-and-forget from the leader).
handle_commit_notification(State, LeaderCommit) ->
    NewCommitIndex = case LeaderCommit > State#state.commit_index of
                         true -> LeaderCommit;
                         false -> State#state.commit_index
                     end,
    println(["[node ", i2s(State#state.id),
             "] CommitNotification: commit_index updated to ", i2s(NewCommitIndex)]),
    continue(apply_committed(State#state{commit_index = NewCommitIndex})).

%% Apply committed entries last_applied+1 .. commit_index, in order, stopping
%% at the first missing one.
apply_committed(State) ->
    Next = State#state.last_applied + 1,
    case Next > State#state.commit_index of
        true ->
            State;
        false ->
            case maps:find(Next, State#state.log) of
                error ->
                    State;
                {ok, {log_entry, _Term, Command}} ->
                    Pre = ["[node ", i2s(State#state.id), "] slot ", i2s(Next), ": "],
                    Store = State#state.store,
                    NewStore =
                        case Command of
                            {put, Key, Value} ->
                                case maps:is_key(Key, Store) of
                                    true ->
                                        println([Pre, "PUT \"", Key,
                                                 "\" -> REJECTED (key exists)"]),
                                        Store;
                                    false ->
                                        println([Pre, "PUT \"", Key, "\" = \"", Value,
                                                 "\" -> OK"]),
                                        Store#{Key => Value}
                                end;
                            {get, Key} ->
                                case maps:find(Key, Store) of
                                    {ok, Value} ->
                                        println([Pre, "GET \"", Key, "\" -> \"", Value,
                                                 "\""]);
                                    error ->
                                        println([Pre, "GET \"", Key, "\" -> NOT FOUND"])
                                end,
                                Store;
                            {delete, Key} ->
                                case maps:is_key(Key, Store) of
                                    true ->
                                        println([Pre, "DELETE \"", Key, "\" -> OK"]),
                                        maps:remove(Key, Store);
                                    false ->
                                        println([Pre, "DELETE \"", Key,
                                                 "\" -> NOT FOUND"]),
                                        Store
                                end;
                            noop ->
                                println([Pre, "NOOP"]),
                                Store
                        end,
                    apply_committed(State#state{store = NewStore, last_applied = Next})
            end
    end.

%% Apply a command on the leader: {NewStore, OpResult, GetResult}.
apply_command_result(Command, Store, IdStr) ->
    Pre = ["[node ", IdStr, "] "],
    case Command of
        {put, Key, Value} ->
            case maps:is_key(Key, Store) of
                true ->
                    println([Pre, "PUT \"", Key, "\" -> REJECTED (key exists)"]),
                    {Store, {op_error, <<"key already exists: ", Key/binary>>},
                     {error, <<>>}};
                false ->
                    println([Pre, "PUT \"", Key, "\" = \"", Value, "\" -> OK"]),
                    {Store#{Key => Value}, op_ok, {error, <<>>}}
            end;
        {get, Key} ->
            case maps:find(Key, Store) of
                {ok, Value} ->
                    println([Pre, "GET \"", Key, "\" -> \"", Value, "\""]),
                    {Store, op_ok, {ok, Value}};
                error ->
                    println([Pre, "GET \"", Key, "\" -> NOT FOUND"]),
                    {Store, op_ok, {error, <<"key not found: ", Key/binary>>}}
            end;
        {delete, Key} ->
            case maps:is_key(Key, Store) of
                true ->
                    println([Pre, "DELETE \"", Key, "\" -> OK"]),
                    {maps:remove(Key, Store), op_ok, {error, <<>>}};
                false ->
                    println([Pre, "DELETE \"", Key, "\" -> NOT FOUND"]),
                    {Store, {op_error, <<"key not found: ", Key/binary>>}, {error, <<>>}}
            end;
        noop ->
            {Store, op_ok, {error, <<>>}}
    end.

%% Client request: leader only.  Append, AppendEntries to every peer in turn
%% (synchronous), on a majority apply + reply + CommitNotification.
handle_client_request(State, Command, ReplyPut, ReplyGet) ->
    IdStr = i2s(State#state.id),
    case State#state.role of
        leader ->
            Log = State#state.log,
            Term = State#state.current_term,
            NewIndex = last_log_index(Log) + 1,
            Entry = {log_entry, Term, Command},
            NewLog = Log#{NewIndex => Entry},
            println(["[node ", IdStr, "] Appending entry at index ", i2s(NewIndex),
                     " (term ", i2s(Term), ")"]),
            PrevIndex = NewIndex - 1,
            PrevTerm = log_term_at(Log, PrevIndex),
            EntriesToSend = [{NewIndex, Entry}],
            Acks =
                filter_map(
                  fun({PeerId, PeerSubject}) ->
                          Response = raft_ref_actor:call(
                                       PeerSubject, 2000,
                                       fun(R) ->
                                               {append_entries, Term, State#state.id,
                                                PrevIndex, PrevTerm, EntriesToSend,
                                                State#state.commit_index, R}
                                       end),
                          case Response of
                              {append_entries_ok, _, MatchIdx} ->
                                  println(["[node ", IdStr,
                                           "] AppendEntries ACK from node ",
                                           i2s(PeerId), " (match=", i2s(MatchIdx), ")"]),
                                  {ok, {PeerId, MatchIdx}};
                              {append_entries_rejected, _} ->
                                  println(["[node ", IdStr,
                                           "] AppendEntries NACK from node ",
                                           i2s(PeerId)]),
                                  {error, nil}
                          end
                  end, State#state.peers),
            TotalAcks = 1 + length(Acks),
            Needed = quorum_size(State#state.cluster_size),
            println(["[node ", IdStr, "] Replication: ", i2s(TotalAcks), "/",
                     i2s(Needed), " acks"]),
            case TotalAcks >= Needed of
                true ->
                    NewCommitIndex = NewIndex,
                    {NewStore, OpResult, GetResult} =
                        apply_command_result(Command, State#state.store, IdStr),
                    ReplyPut(OpResult),
                    ReplyGet(GetResult),
                    NewMatchIndex = lists:foldl(fun({PId, M}, Acc) -> Acc#{PId => M} end,
                                                State#state.match_index, Acks),
                    lists:foreach(fun({_, PeerSubject}) ->
                                          send(PeerSubject,
                                               {commit_notification, NewCommitIndex})
                                  end, State#state.peers),
                    continue(State#state{log = NewLog,
                                         commit_index = NewCommitIndex,
                                         last_applied = NewIndex,
                                         store = NewStore,
                                         match_index = NewMatchIndex});
                false ->
                    println(["[node ", IdStr, "] Replication FAILED for index ",
                             i2s(NewIndex)]),
                    ReplyPut({op_error, <<"replication failed">>}),
                    ReplyGet({error, <<"replication failed">>}),
                    continue(State#state{log = NewLog})
            end;
        _ ->
            println(["[node ", IdStr, "] Not leader, rejecting client request"]),
            ReplyPut({op_error, <<"not leader">>}),
            ReplyGet({error, <<"not leader">>}),
            continue(State)
    end.

%% ---------------------------------------------------------------------------
%% Helpers

continue(State) -> raft_ref_actor:continue(State).

send(Subject, Message) -> raft_ref_actor:send(Subject, Message).

%% gleam list.filter_map: Fun is applied to the elements from first to last
%% (the order of the seed's calls to peers); keep Y for each {ok, Y}.
filter_map(Fun, List) ->
    lists:reverse(lists:foldl(fun(X, Acc) ->
                                      case Fun(X) of
                                          {ok, Y} -> [Y | Acc];
                                          {error, _} -> Acc
                                      end
                              end, [], List)).

i2s(I) -> integer_to_binary(I).

%% io.println: one line, UTF-8 text.
println(Chars) ->
    io:format("~ts~n", [Chars]).
