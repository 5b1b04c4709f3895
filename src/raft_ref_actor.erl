%% @doc Minimal emulation of gleam_erlang's `Subject` and gleam_otp's `actor`
%% (gleam_erlang 1.3 / gleam_otp 1.2) as compiled Gleam code uses them.
%%
%% What is reproduced, because peers (C nodes, real Gleam nodes) can observe it:
%%
%%   * A Subject is `{subject, OwnerPid, Tag}`, Tag a fresh `make_ref()`.
%%   * `send(Subject, Msg)` is `OwnerPid ! {Tag, Msg}`.
%%   * `call(Subject, Timeout, MakeRequest)` creates a reply subject
%%     `{subject, self(), NewRef}`, monitors the subject's owner, sends
%%     `{Tag, MakeRequest(ReplySubject)}` and waits for `{NewRef, Reply}`.
%%     If the owner goes down first it panics with
%%     "callee exited: ProcessDown(...)"; if nothing arrives within Timeout
%%     it fails Gleam's `let assert` with
%%     "callee did not send reply before timeout".  Both are raised as the
%%     error maps compiled Gleam raises (`#{gleam_error => panic | let_assert,
%%     message => ..., module => <<"gleam/erlang/process">>,
%%     function => <<"perform_call">>, line => ...}`).  The caller crashes,
%%     exactly as a Gleam caller does.
%%   * A named subject is `{named_subject, Name}` (`process.named_subject`).
%%     `send` looks Name up on the local node (`erlang:whereis`) and sends
%%     `{Name, Msg}` to that pid, failing Gleam's `let assert` with
%%     "Sending to unregistered name" if nobody holds it; `subject_owner` is
%%     that lookup, so `call` monitors the pid it finds ("Callee subject had
%%     no owner" if none) and sends `{Name, MakeRequest(ReplySubject)}`.
%%   * gleam_erlang 1.3 resolves names on the local node only; a distributed
%%     Gleam program reaches Name on another node with an FFI send,
%%     `{Name, Node} ! {Name, Msg}`.  `send_at/3` is that send, and
%%     `call_at/4` is `call` with the callee monitored as `{Name, Node}` (so
%%     a name nobody holds ends the call at once with a `noproc` DOWN).
%%   * `start/3` spawns the actor with `proc_lib:spawn_link` (linked to the
%%     caller, as `actor.start` does), runs the initialiser in the new process
%%     and waits up to InitTimeout for its acknowledgement.
%%   * The actor loop takes the first message of its mailbox: a `{Tag, Msg}`
%%     2-tuple for one of its own subject tags goes to the handler; a
%%     `{system, From, Request}` message is handled like gleam_otp does
%%     (get_state, get_status, suspend, resume; anything else is logged and
%%     dropped without a reply); everything else (for instance a
%%     `'$gen_call'`) is logged with `logger:warning("Actor discarding
%%     unexpected message: ~s", ...)` and dropped.  While suspended only
%%     system messages are received.
%%   * The handler returns `{continue, State, none}` (see `continue/1`) or
%%     `{stop, Reason}` (see `stop/0`); Reason `normal` ends the process
%%     normally.
%%
%% `sys:get_state(OwnerPid)` therefore returns `{ok, State}`, as it does for
%% a gleam_otp actor (gleam_otp wraps the state in `{ok, _}` where OTP
%% processes reply with the bare state).
-module(raft_ref_actor).

-export([new_subject/0, named_subject/1, subject_owner/1, send/2, call/3,
         send_at/3, call_at/4,
         start/3, start_subject/3, continue/1, stop/0, stop_abnormal/1,
         inspect/1]).

-record(self, {mode = running :: running | suspended,
               parent :: pid(),
               state :: term(),
               tags :: [reference()],
               handler :: fun((term(), term()) -> term())}).

-type subject() :: {subject, pid(), reference()} | {named_subject, atom()}.
-export_type([subject/0]).

%% ---------------------------------------------------------------------------
%% Subjects

%% @doc `process.new_subject()`: a subject owned by the calling process.
-spec new_subject() -> subject().
new_subject() ->
    {subject, self(), make_ref()}.

%% @doc `process.named_subject(Name)`.
-spec named_subject(atom()) -> subject().
named_subject(Name) ->
    {named_subject, Name}.

%% @doc `process.subject_owner(Subject)`: a named subject's owner is whoever
%% holds the name on this node.
subject_owner({subject, Pid, _Tag}) ->
    {ok, Pid};
subject_owner({named_subject, Name}) ->
    case erlang:whereis(Name) of
        Pid when is_pid(Pid) -> {ok, Pid};
        _ -> {error, nil}
    end;
subject_owner(_) ->
    {error, nil}.

%% @doc `process.send(Subject, Msg)`: `OwnerPid ! {Tag, Msg}`, or
%% `whereis(Name) ! {Name, Msg}` for a named subject.
-spec send(subject(), term()) -> nil.
send({subject, Pid, Tag}, Message) ->
    erlang:send(Pid, {Tag, Message}),
    nil;
send({named_subject, Name} = Subject, Message) ->
    case subject_owner(Subject) of
        {ok, Pid} -> erlang:send(Pid, {Name, Message});
        Other ->
            erlang:error(#{gleam_error => let_assert,
                           message => <<"Sending to unregistered name">>,
                           module => <<"gleam/erlang/process">>,
                           function => <<"send">>,
                           line => 220,
                           value => Other})
    end,
    nil.

%% @doc A named subject on another node, as distributed Gleam programs
%% send to it (an FFI `erlang:send`): `{Name, Node} ! {Name, Msg}`.
-spec send_at({named_subject, atom()}, node(), term()) -> nil.
send_at({named_subject, Name}, Node, Message) ->
    erlang:send({Name, Node}, {Name, Message}),
    nil.

%% @doc `actor.call(Subject, Timeout, MakeRequest)` (= `process.call`).
%% MakeRequest gets the reply subject and returns the message to send.
-spec call(subject(), non_neg_integer(), fun((subject()) -> term())) -> term().
call(Subject, Timeout, MakeRequest) ->
    Callee = case subject_owner(Subject) of
                 {ok, Pid} -> Pid;
                 Other ->
                     erlang:error(#{gleam_error => let_assert,
                                    message => <<"Callee subject had no owner">>,
                                    module => <<"gleam/erlang/process">>,
                                    function => <<"perform_call">>,
                                    line => 611,
                                    value => Other})
             end,
    perform_call(Callee, fun(Request) -> send(Subject, Request) end, Timeout, MakeRequest).

%% @doc `call` on the named subject Name of Node: the callee monitored as
%% `{Name, Node}`, the request sent as `send_at/3` does.
-spec call_at({named_subject, atom()}, node(), non_neg_integer(),
              fun((subject()) -> term())) -> term().
call_at({named_subject, Name} = Subject, Node, Timeout, MakeRequest) ->
    perform_call({Name, Node}, fun(Request) -> send_at(Subject, Node, Request) end,
                 Timeout, MakeRequest).

%% process.perform_call: monitor Callee, Send the request made with a fresh
%% reply subject, wait for the reply, the DOWN or the timeout.
perform_call(Callee, Send, Timeout, MakeRequest) ->
    ReplySubject = {subject, _, ReplyTag} = new_subject(),
    Monitor = erlang:monitor(process, Callee),
    Send(MakeRequest(ReplySubject)),
    receive
        {ReplyTag, Reply} ->
            erlang:demonitor(Monitor, [flush]),
            Reply;
        {'DOWN', Monitor, process, DownPid, Reason} ->
            Down = {process_down, Monitor, DownPid, exit_reason(Reason)},
            erlang:error(#{gleam_error => panic,
                           message => iolist_to_binary(["callee exited: ",
                                                        inspect(Down)]),
                           module => <<"gleam/erlang/process">>,
                           function => <<"perform_call">>,
                           line => 626})
    after Timeout ->
            erlang:error(#{gleam_error => let_assert,
                           message => <<"callee did not send reply before timeout">>,
                           module => <<"gleam/erlang/process">>,
                           function => <<"perform_call">>,
                           line => 630,
                           value => {error, nil}})
    end.

exit_reason(normal) -> normal;
exit_reason(killed) -> killed;
exit_reason(Other) -> {abnormal, Other}.

%% ---------------------------------------------------------------------------
%% Actors

%% @doc `actor.continue(State)`.
continue(State) -> {continue, State, none}.

%% @doc `actor.stop()`.
stop() -> {stop, normal}.

%% @doc `actor.stop_abnormal(Reason)`.
stop_abnormal(Reason) -> {stop, {abnormal, Reason}}.

%% @doc start/3 |> result.map(fn(started) { started.data }): the Subject the
%% initialiser returned, as both the node and the client start.
start_subject(InitTimeout, Initialise, Handler) ->
    case start(InitTimeout, Initialise, Handler) of
        {ok, {started, _Pid, Subject}} -> {ok, Subject};
        {error, _} = Error -> Error
    end.

%% @doc `actor.new_with_initialiser(InitTimeout, Initialise)
%% |> actor.on_message(Handler) |> actor.start`.
%%
%% Initialise(SelfSubject) must return
%% `{ok, {initialised, State, Selector, Return}}` or `{error, Reason}`, where
%% Selector is `none` (receive on SelfSubject) or `{some, [Subject]}` (receive
%% on those subjects, which must be owned by the actor).  Returns
%% `{ok, {started, Pid, Return}}` or `{error, init_timeout |
%% {init_failed, Reason} | {init_exited, ExitReason}}`.
start(InitTimeout, Initialise, Handler) ->
    AckTag = make_ref(),
    Parent = self(),
    Child = proc_lib:spawn_link(
              fun() -> initialise_actor(Parent, AckTag, Initialise, Handler) end),
    Monitor = erlang:monitor(process, Child),
    Result = receive
                 {AckTag, {ok, Return}} -> {ok, Return};
                 {AckTag, {error, Reason}} -> {error, {init_failed, Reason}};
                 {'DOWN', Monitor, process, Child, Reason} ->
                     {error, {init_exited, exit_reason(Reason)}}
             after InitTimeout ->
                     unlink(Child),
                     exit(Child, kill),
                     {error, init_timeout}
             end,
    erlang:demonitor(Monitor, [flush]),
    case Result of
        {ok, Data} -> {ok, {started, Child, Data}};
        {error, _} = Error -> Error
    end.

initialise_actor(Parent, AckTag, Initialise, Handler) ->
    Subject = new_subject(),
    case Initialise(Subject) of
        {ok, {initialised, State, Selector, Return}} ->
            Tags = case Selector of
                       none -> [element(3, Subject)];
                       {some, Subjects} -> [T || {subject, _, T} <- Subjects]
                   end,
            Parent ! {AckTag, {ok, Return}},
            loop(#self{parent = Parent, state = State, tags = Tags,
                       handler = Handler});
        {error, Reason} ->
            Parent ! {AckTag, {error, Reason}},
            ok
    end.

loop(#self{mode = suspended} = Self) ->
    receive
        {system, _, _} = System -> handle_system(Self, System)
    end;
loop(#self{tags = Tags, handler = Handler, state = State} = Self) ->
    receive
        {system, _, _} = System ->
            handle_system(Self, System);
        {Tag, Message} = Any when is_reference(Tag) ->
            case lists:member(Tag, Tags) of
                true ->
                    case Handler(State, Message) of
                        {continue, NewState, none} ->
                            loop(Self#self{state = NewState});
                        {continue, NewState, {some, Subjects}} ->
                            loop(Self#self{state = NewState,
                                           tags = [T || {subject, _, T} <- Subjects]});
                        {stop, Reason} ->
                            exit_process(Reason)
                    end;
                false ->
                    discard(Any),
                    loop(Self)
            end;
        Any ->
            discard(Any),
            loop(Self)
    end.

exit_process(normal) -> normal;
exit_process(killed) -> exit(self(), kill);
exit_process({abnormal, Reason}) -> exit(self(), {abnormal, Reason}).

discard(Message) ->
    logger:warning("Actor discarding unexpected message: ~s",
                   [unicode:characters_to_list(inspect(Message))]).

%% gleam_otp_external:convert_system_message/1 has a single clause guarded by
%% is_pid(From): a malformed system message crashes a Gleam actor too.
handle_system(Self, {system, {From, _Ref} = Caller, Request}) when is_pid(From) ->
    case Request of
        get_state ->
            gen:reply(Caller, {ok, Self#self.state}),
            loop(Self);
        get_status ->
            gen:reply(Caller, status(Self)),
            loop(Self);
        suspend ->
            gen:reply(Caller, ok),
            loop(Self#self{mode = suspended});
        resume ->
            gen:reply(Caller, ok),
            loop(Self#self{mode = running});
        Other ->
            discard(Other),
            loop(Self)
    end;
handle_system(_Self, System) ->
    erlang:error(function_clause, [System]).

status(#self{mode = Mode, parent = Parent, state = State}) ->
    Module = 'gleam@otp@actor',
    Data = [get(), Mode, Parent, [],
            [{header, "Status for Gleam process " ++ pid_to_list(self())},
             {data, [{'Status', Mode}, {'Parent', Parent},
                     {'Modules', [Module]}]},
             {data, [{"State", State}]}]],
    {status, self(), {module, Module}, Data}.

%% ---------------------------------------------------------------------------
%% An approximation of gleam's string.inspect, used for log lines only.

%% @doc Render a term the way Gleam's `string.inspect` would (approximately):
%% `{client_put, <<"k">>, ...}` is `ClientPut("k", ...)`, `nil` is `Nil`.
-spec inspect(term()) -> binary().
inspect(Term) ->
    unicode:characters_to_binary(do_inspect(Term)).

do_inspect(true) -> "True";
do_inspect(false) -> "False";
do_inspect(nil) -> "Nil";
do_inspect(A) when is_atom(A) ->
    Name = atom_to_list(A),
    case is_snake(Name) of
        true -> pascal(Name);
        false -> ["atom.create(\"", Name, "\")"]
    end;
do_inspect(I) when is_integer(I) -> integer_to_list(I);
do_inspect(F) when is_float(F) -> io_lib:format("~p", [F]);
do_inspect(B) when is_binary(B) ->
    case unicode:characters_to_list(B) of
        L when is_list(L) -> [$", escape(L), $"];
        _ -> ["<<", lists:join(", ", [integer_to_list(X) || <<X>> <= B]), ">>"]
    end;
do_inspect(B) when is_bitstring(B) -> io_lib:format("~p", [B]);
do_inspect(L) when is_list(L) ->
    case is_proper(L) of
        true -> ["[", lists:join(", ", [do_inspect(X) || X <- L]), "]"];
        false -> io_lib:format("~p", [L])
    end;
do_inspect(T) when is_tuple(T), tuple_size(T) > 1, is_atom(element(1, T)),
                   element(1, T) =/= true, element(1, T) =/= false,
                   element(1, T) =/= nil ->
    [Tag | Args] = tuple_to_list(T),
    Name = atom_to_list(Tag),
    case is_snake(Name) of
        true -> [pascal(Name), "(", lists:join(", ", [do_inspect(X) || X <- Args]), ")"];
        false -> tuple(T)
    end;
do_inspect(T) when is_tuple(T) -> tuple(T);
do_inspect(M) when is_map(M) ->
    ["dict.from_list([",
     lists:join(", ", [["#(", do_inspect(K), ", ", do_inspect(V), ")"]
                       || {K, V} <- maps:to_list(M)]),
     "])"];
do_inspect(P) when is_pid(P) -> ["//erl(", pid_to_list(P), ")"];
do_inspect(R) when is_reference(R) -> ["//erl(", ref_to_list(R), ")"];
do_inspect(P) when is_port(P) -> ["//erl(", port_to_list(P), ")"];
do_inspect(F) when is_function(F) ->
    {arity, N} = erlang:fun_info(F, arity),
    Args = [[$a + I] || I <- lists:seq(0, N - 1)],
    ["//fn(", lists:join(", ", Args), ") { ... }"].

tuple(T) ->
    ["#(", lists:join(", ", [do_inspect(X) || X <- tuple_to_list(T)]), ")"].

is_proper([]) -> true;
is_proper([_ | T]) -> is_proper(T);
is_proper(_) -> false.

is_snake([C | Rest]) when C >= $a, C =< $z ->
    lists:all(fun(X) -> (X >= $a andalso X =< $z) orelse (X >= $0 andalso X =< $9)
                            orelse X =:= $_ end, Rest);
is_snake(_) -> false.

pascal(Name) ->
    lists:append([[string:to_upper(H) | T] || [H | T] <- string:split(Name, "_", all)]).

escape(L) ->
    lists:map(fun($") -> "\\\"";
                 ($\\) -> "\\\\";
                 ($\n) -> "\\n";
                 ($\r) -> "\\r";
                 ($\t) -> "\\t";
                 (C) -> C
              end, L).
