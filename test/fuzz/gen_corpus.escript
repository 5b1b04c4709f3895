#!/usr/bin/env escript
%% gen_corpus.escript - regenerates the seed corpora in test/fuzz/corpus/
%% from terms and packets made by erl (OTP 25).  The corpus is checked in;
%% run this only to rebuild it:
%%
%%   escript test/fuzz/gen_corpus.escript            (from the repository root)
%%
%% `escript test/fuzz/gen_corpus.escript hex` instead prints, as C string
%% literals, the erl-made packets embedded in test/c/dist_test.c.
%%
%% The handshake seeds match the constants in test/fuzz/fuzz_handshake.c
%% (our name, peer name, cookie, challenge); the epmd seeds include a reply
%% from the local epmd when one is running.

-mode(compile).

-define(COOKIE, "fuzzcookie").
-define(OUR_CHALLENGE, 16#1234abcd).
-define(PEER_NAME, <<"peer@localhost">>).
%% erts_internal:get_dflags() default flags of OTP 25.
-define(OTP25_FLAGS, 16#D07DF7FBC).

main(["hex"]) ->
    hex_table();
main(["wire"]) ->
    Root = filename:join(filename:dirname(escript:script_name()), "corpus"),
    gossip(filename:join(Root, "fuzz_gossip_wire")),
    chatterbox(filename:join(Root, "fuzz_chatterbox_wire")),
    ok;
main([]) ->
    Root = filename:join(filename:dirname(escript:script_name()), "corpus"),
    terms(filename:join(Root, "fuzz_term")),
    dist(filename:join(Root, "fuzz_dist")),
    handshake(filename:join(Root, "fuzz_handshake")),
    epmd(filename:join(Root, "fuzz_epmd")),
    main(["wire"]).

%% ---- the gossip chat's and chatterbox's messages (docs/gossip.md, cb_wire.h)

gossip(Dir) ->
    A = <<"alice@host">>, B = <<"bob@host.example">>,
    Msgs = [{chat, A, <<"hello \xce\xbb"/utf8>>, 1700000000000001},
            {chat, A, <<>>, 0},
            {peer_list, [A, B, <<"c-1_x@h">>]}, {peer_list, []},
            {ping, A}, {pong, B}, {join, A}, {leave, B},
            {alive, A, 1700000000000}, {suspect, A, 5, B}, {dead, B, 1 bsl 63, A},
            {ping_req, A, B}, {catch_up, A, 7800},
            {chat, A, <<255, 254>>, 1}, {ping, <<"nohost">>}, {alive, A, -1},
            {catch_up, A, 1 bsl 64}, {unknown, A}, {peer_list, [A | B]}],
    [write(Dir, "m" ++ integer_to_list(I) ++ ".bin", term_to_binary(M))
     || {I, M} <- lists:zip(lists:seq(1, length(Msgs)), Msgs)].

chatterbox(Dir) ->
    Msgs = [{cb_data, 1, 1700000000000000, 1, <<1:32, 1000000000:32>>},
            {cb_data, 2, 0, 5, <<>>}, {cb_end, 1, 42}, {cb_ack, 3, 10, true},
            {cb_ack, 3, 10, false}, {cb_done, 2},
            {cb_msg, 1, 1, 1700000000000000, 77}, {cb_msg_ack, 2, 9},
            {cb_flush, 1, 3}, {cb_flush_ack, 4, 3}, {cb_hello, 5},
            {cb_data, 1, 1, 1, <<1, 2, 3>>}, {cb_ack, 1, 1, maybe}, {cb_end, -1, 0}],
    [write(Dir, "m" ++ integer_to_list(I) ++ ".bin", term_to_binary(M))
     || {I, M} <- lists:zip(lists:seq(1, length(Msgs)), Msgs)].

write(Dir, Name, Bytes) ->
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    ok = file:write_file(filename:join(Dir, Name), Bytes).

%% ---- fixed pids and refs of a remote node, made by erl from the wire form

pid(Node, Num, Serial, Creation) ->
    N = atom_to_binary(Node, utf8),
    binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary,
                     Num:32, Serial:32, Creation:32>>).

ref(Node, Creation, Words) ->
    N = atom_to_binary(Node, utf8),
    binary_to_term(<<131, 90, (length(Words)):16, 119, (byte_size(N)), N/binary,
                     Creation:32, << <<W:32>> || W <- Words >>/binary>>).

%% ---- terms

terms(Dir) ->
    Self = self(),
    Ref = make_ref(),
    Terms = [
        {tuple, {append_entries, 3, 1, 0, 0,
                 [{1, {log_entry, 3, {put, <<"k">>, <<"v">>}}}], 0,
                 {subject, pid('tgen@vm', 42, 0, 7), ref('tgen@vm', 7, [1, 2, 3])}}},
        {string, "hello world"},
        {small_string, [1, 2, 3]},
        {list, [a, 1, -1, 3.5, <<"b">>, [], {}, "s"]},
        {improper, [a, b | c]},
        {map, #{a => 1, <<"b">> => [1.5], {c} => #{}, 42 => 'A b'}},
        {pid_ref, {Self, Ref, pid('other@host', 1, 2, 3)}},
        {ints, {0, 255, 256, -1, -2147483648, 2147483647, 2147483648,
                1 bsl 40, -(1 bsl 62), 1 bsl 63, 1 bsl 64}},
        {bigs, [1 bsl 100, -(1 bsl 70), 1 bsl 2000]},
        {floats, {3.14, -0.0, 1.0e300, 5.0e-324}},
        {funs, {fun lists:map/2, fun(X) -> {X, Self} end}},
        {bits, {<<>>, <<1, 2, 3:4>>, <<0:1>>}},
        {gen_call, {'$gen_call', {Self, Ref}, {get, key}}},
        {unicode_atoms, {'héllo', 'λx', '', list_to_atom(lists:duplicate(255, $z))}},
        {deep, [[[[[[[[[[[]]]]]]]]]]]},
        {large_tuple, list_to_tuple(lists:seq(1, 300))},
        {port, {hd(erlang:ports()), make_ref()}}
    ],
    [write(Dir, atom_to_list(N) ++ ".bin", term_to_binary(T)) || {N, T} <- Terms],
    %% old encodings: FLOAT_EXT, and a compressed term (which we reject)
    write(Dir, "old_float.bin", term_to_binary({1.5, -2.25e-10}, [{minor_version, 0}])),
    write(Dir, "compressed.bin",
          term_to_binary(lists:duplicate(64, x), [compressed])),
    ok.

%% ---- dist packets

frame(Ctl) -> frame1(<<$p, (term_to_binary(Ctl))/binary>>).
frame(Ctl, Msg) -> frame1(<<$p, (term_to_binary(Ctl))/binary, (term_to_binary(Msg))/binary>>).
frame1(Body) -> <<(byte_size(Body)):32, Body/binary>>.

packets() ->
    F = pid('peer@host', 70, 1, 5),
    T = pid('cn@host', 2, 0, 9),
    R = ref('peer@host', 5, [11, 22, 33]),
    Tok = {0, 1, 2, F, 3},
    Msg = {hello, [1, 2, 3], #{k => <<"v">>}},
    Reason = {shutdown, normal},
    [
        {send, frame({2, '', T}, Msg)},
        {send_tt, frame({12, '', T, Tok}, Msg)},
        {send_sender, frame({22, F, T}, Msg)},
        {send_sender_tt, frame({23, F, T, Tok}, Msg)},
        {reg_send, frame({6, F, '', echo}, Msg)},
        {reg_send_tt, frame({16, F, '', echo, Tok}, Msg)},
        {link, frame({1, F, T})},
        {unlink, frame({4, F, T})},
        {unlink_id, frame({35, 17, F, T})},
        {unlink_id_ack, frame({36, 17, F, T})},
        {exit, frame({3, F, T, Reason})},
        {exit_tt, frame({13, F, T, Tok, Reason})},
        {exit2, frame({8, F, T, kill})},
        {exit2_tt, frame({18, F, T, Tok, kill})},
        {payload_exit, frame({24, F, T}, Reason)},
        {payload_exit_tt, frame({25, F, T, Tok}, Reason)},
        {payload_exit2, frame({26, F, T}, kill)},
        {payload_exit2_tt, frame({27, F, T, Tok}, kill)},
        {monitor_p, frame({19, F, T, R})},
        {monitor_p_name, frame({19, F, echo, R})},
        {demonitor_p, frame({20, F, T, R})},
        {demonitor_p_name, frame({20, F, echo, R})},
        {monitor_p_exit, frame({21, T, F, R, noproc})},
        {monitor_p_exit_name, frame({21, echo, F, R, noproc})},
        {payload_monitor_p_exit, frame({28, T, F, R}, Reason)},
        {payload_monitor_p_exit_name, frame({28, echo, F, R}, noconnection)},
        {group_leader, frame({7, F, T})},
        {node_link, frame({5})},
        {tick, <<0:32>>}
    ].

dist(Dir) ->
    P = maps:from_list(packets()),
    Files = [
        {"send", [send, tick]},
        {"send_variants", [send_tt, send_sender, send_sender_tt]},
        {"reg_send", [reg_send, reg_send_tt]},
        {"links", [link, unlink, unlink_id, unlink_id_ack]},
        {"exits", [exit, exit_tt, exit2, exit2_tt]},
        {"payload_exits", [payload_exit, payload_exit_tt, payload_exit2, payload_exit2_tt]},
        {"monitors", [monitor_p, monitor_p_name, demonitor_p, demonitor_p_name]},
        {"monitor_exits", [monitor_p_exit, monitor_p_exit_name]},
        {"payload_monitor_exits", [payload_monitor_p_exit, payload_monitor_p_exit_name]},
        {"ignored", [group_leader, node_link, tick]}
    ],
    [write(Dir, Name ++ ".bin", [maps:get(K, P) || K <- Ks]) || {Name, Ks} <- Files],
    ok.

%% The erl-made packets used by test/c/dist_test.c, as C string literals.
hex_table() ->
    [io:format("#define PKT_~s \"~s\"~n", [string:uppercase(atom_to_list(N)), hex(Bin)])
     || {N, Bin} <- packets()],
    ok.

hex(Bin) -> [io_lib:format("~2.16.0B", [B]) || <<B>> <= Bin].

%% ---- handshake
%% First byte of each fuzz_handshake input: bit 0 role (0 initiator, 1
%% acceptor), bits 1-3 the cn_hs_decide status (0 ok, 1 ok_simultaneous,
%% 2 nok, 3 alive, 4 not_allowed); the rest is what the peer sends.

hs(Body) -> <<(byte_size(Body)):16, Body/binary>>.

handshake(Dir) ->
    Digest = erlang:md5(?COOKIE ++ integer_to_list(?OUR_CHALLENGE)),
    Name = ?PEER_NAME,
    NameMsg = hs(<<$N, ?OTP25_FLAGS:64, 16#6000001:32, (byte_size(Name)):16, Name/binary>>),
    Challenge = hs(<<$N, ?OTP25_FLAGS:64, 16#77777777:32, 16#6000001:32,
                     (byte_size(Name)):16, Name/binary>>),
    Reply = hs(<<$r, 16#0badf00d:32, Digest/binary>>),
    Ack = hs(<<$a, Digest/binary>>),
    Files = [
        %% acceptor: the peer is an initiator
        {"acceptor_ok", <<1>>, [NameMsg, Reply]},
        {"acceptor_simultaneous", <<(1 bor (1 bsl 1))>>, [NameMsg, Reply]},
        {"acceptor_alive", <<(1 bor (3 bsl 1))>>, [NameMsg, hs(<<"strue">>), Reply]},
        {"acceptor_v5", <<1>>, [hs(<<$n, 5:16, 16#7fffd:32, "peer@localhost">>)]},
        {"acceptor_old_flags", <<1>>,
         [hs(<<$N, 16#4:64, 1:32, (byte_size(Name)):16, Name/binary>>)]},
        %% initiator: the peer is an acceptor
        {"initiator_ok", <<0>>, [hs(<<"sok">>), Challenge, Ack]},
        {"initiator_alive", <<0>>, [hs(<<"salive">>), Challenge, Ack]},
        {"initiator_nok", <<0>>, [hs(<<"snok">>)]},
        {"initiator_not_allowed", <<0>>, [hs(<<"snot_allowed">>)]}
    ],
    [write(Dir, N ++ ".bin", [B | Msgs]) || {N, B, Msgs} <- Files],
    ok.

%% ---- epmd PORT2_RESP

epmd(Dir) ->
    Good = <<119, 0, 40000:16, 77, 0, 6:16, 5:16, 4:16, "peer", 0:16>>,
    Files = [
        {"ok", Good},
        {"ok_extra", <<119, 0, 40001:16, 72, 0, 6:16, 5:16, 4:16, "node", 3:16, "abc">>},
        {"not_registered", <<119, 1>>},
        {"partial", binary:part(Good, 0, 9)},
        {"bad_tag", <<120, 0, 1, 2>>},
        {"port_zero", <<119, 0, 0:16, 77, 0, 6:16, 5:16, 1:16, "p", 0:16>>},
        {"not_tcp", <<119, 0, 1234:16, 77, 1, 6:16, 5:16, 1:16, "p", 0:16>>},
        {"old_version", <<119, 0, 1234:16, 77, 0, 5:16, 5:16, 1:16, "p", 0:16>>}
    ],
    [write(Dir, N ++ ".bin", B) || {N, B} <- Files],
    case real_epmd_reply() of
        {ok, Reply} -> write(Dir, "real_epmd.bin", Reply);
        _ -> ok
    end.

%% Registers this node with the local epmd and asks epmd for it.
real_epmd_reply() ->
    Alive = "cn_fuzz_corpus",
    case net_kernel:start([list_to_atom(Alive), shortnames]) of
        {ok, _} ->
            Port = case os:getenv("ERL_EPMD_PORT") of
                       false -> 4369;
                       P -> list_to_integer(P)
                   end,
            {ok, S} = gen_tcp:connect("localhost", Port, [binary, {active, false}]),
            ok = gen_tcp:send(S, [<<(length(Alive) + 1):16, 122>>, Alive]),
            Reply = recv_all(S, <<>>),
            gen_tcp:close(S),
            net_kernel:stop(),
            {ok, Reply};
        Err ->
            Err
    end.

recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 2000) of
        {ok, B} -> recv_all(S, <<Acc/binary, B/binary>>);
        {error, _} -> Acc
    end.
