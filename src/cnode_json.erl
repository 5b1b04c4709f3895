%% cnode_json - JSON both ways for the Erlang side: the gossip chat's JSON
%% lines, peers.json for the reference peers, cnode-check's histories.
%%
%% OTP 25 has no json module.  This is the small subset the chat's
%% non-interactive mode needs: objects, arrays, strings (with \uXXXX escapes
%% and surrogate pairs), integers, floats, true, false, null.  Objects decode
%% to maps with binary keys; strings to UTF-8 binaries.  The reference peer
%% prints its events with encode/1, in the same shape as the C node's.
-module(cnode_json).

-export([decode/1, encode/1]).

%% ---- decoding -------------------------------------------------------------

decode(Bin) when is_binary(Bin) ->
    try value(skip(Bin)) of
        {V, Rest} ->
            case skip(Rest) of
                <<>> -> {ok, V};
                _ -> {error, trailing_data}
            end
    catch
        throw:Why -> {error, Why};
        error:_ -> {error, malformed}
    end.

skip(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> skip(R);
skip(B) -> B.

value(<<${, R/binary>>) -> object(skip(R), #{});
value(<<$[, R/binary>>) -> array(skip(R), []);
value(<<$", R/binary>>) -> string(R, <<>>);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(<<C, _/binary>> = B) when C =:= $-; C >= $0, C =< $9 -> number(B);
value(_) -> throw(malformed).

object(<<$}, R/binary>>, Acc) -> {Acc, R};
object(<<$", R/binary>>, Acc) ->
    {K, R1} = string(R, <<>>),
    <<$:, R2/binary>> = skip(R1),
    {V, R3} = value(skip(R2)),
    case skip(R3) of
        <<$,, R4/binary>> -> object(skip(R4), Acc#{K => V});
        <<$}, R4/binary>> -> {Acc#{K => V}, R4};
        _ -> throw(malformed)
    end;
object(_, _) -> throw(malformed).

array(<<$], R/binary>>, []) -> {[], R};
array(B, Acc) ->
    {V, R} = value(B),
    case skip(R) of
        <<$,, R1/binary>> -> array(skip(R1), [V | Acc]);
        <<$], R1/binary>> -> {lists:reverse([V | Acc]), R1};
        _ -> throw(malformed)
    end.

string(<<$", R/binary>>, Acc) -> {Acc, R};
string(<<$\\, $u, H:4/binary, R/binary>>, Acc) ->
    case binary_to_integer(H, 16) of
        Hi when Hi >= 16#D800, Hi =< 16#DBFF ->
            <<$\\, $u, L:4/binary, R1/binary>> = R,
            Lo = binary_to_integer(L, 16),
            C = 16#10000 + ((Hi - 16#D800) bsl 10) + (Lo - 16#DC00),
            string(R1, <<Acc/binary, C/utf8>>);
        C ->
            string(R, <<Acc/binary, C/utf8>>)
    end;
string(<<$\\, E, R/binary>>, Acc) ->
    C = case E of
            $" -> $"; $\\ -> $\\; $/ -> $/; $b -> 8; $f -> 12;
            $n -> $\n; $r -> $\r; $t -> $\t; _ -> throw(malformed)
        end,
    string(R, <<Acc/binary, C>>);
string(<<C, R/binary>>, Acc) -> string(R, <<Acc/binary, C>>);
string(<<>>, _) -> throw(malformed).

number(B) ->
    {Num, R} = take_num(B, <<>>),
    V = case binary:match(Num, [<<".">>, <<"e">>, <<"E">>]) of
            nomatch -> binary_to_integer(Num);
            _ -> binary_to_float(fix_float(Num))
        end,
    {V, R}.

take_num(<<C, R/binary>>, Acc)
  when C >= $0, C =< $9; C =:= $-; C =:= $+; C =:= $.; C =:= $e; C =:= $E ->
    take_num(R, <<Acc/binary, C>>);
take_num(R, Acc) -> {Acc, R}.

%% binary_to_float wants a fraction: 1e5 -> 1.0e5
fix_float(N) ->
    case binary:match(N, <<".">>) of
        nomatch ->
            [M, E] = binary:split(N, [<<"e">>, <<"E">>]),
            <<M/binary, ".0e", E/binary>>;
        _ -> N
    end.

%% ---- encoding ---------------------------------------------------------------

encode(M) when is_map(M) ->
    Fields = [[encode(key(K)), $:, encode(V)] || {K, V} <- lists:sort(maps:to_list(M))],
    iolist_to_binary([${, lists:join($,, Fields), $}]);
encode(L) when is_list(L) ->
    iolist_to_binary([$[, lists:join($,, [encode(V) || V <- L]), $]]);
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(null) -> <<"null">>;
encode(A) when is_atom(A) -> encode(atom_to_binary(A));
encode(I) when is_integer(I) -> integer_to_binary(I);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(B) when is_binary(B) -> iolist_to_binary([$", escape(B, <<>>), $"]).

key(K) when is_atom(K) -> atom_to_binary(K);
key(K) -> K.

escape(<<$", R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\"">>);
escape(<<$\\, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\\">>);
escape(<<$\n, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\n">>);
escape(<<$\r, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\r">>);
escape(<<$\t, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\t">>);
escape(<<C, R/binary>>, Acc) when C < 16#20 ->
    H = iolist_to_binary(io_lib:format("\\u~4.16.0b", [C])),
    escape(R, <<Acc/binary, H/binary>>);
escape(<<C, R/binary>>, Acc) -> escape(R, <<Acc/binary, C>>);
escape(<<>>, Acc) -> Acc.
