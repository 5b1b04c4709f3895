%% chatterbox_ref_json - the small JSON reader the chatterbox reference needs
%% for peers.json (OTP 25 has no json module).  Objects become maps with
%% binary keys, arrays lists, strings binaries, numbers integers or floats,
%% true/false/null atoms.  decode/1 returns {ok, Term} or {error, Why}.
-module(chatterbox_ref_json).

-export([decode/1]).

decode(Bin) when is_binary(Bin) ->
    try value(ws(Bin)) of
        {V, Rest} ->
            case ws(Rest) of
                <<>> -> {ok, V};
                _ -> {error, trailing_data}
            end
    catch
        throw:Why -> {error, Why}
    end.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(B) -> B.

value(<<${, R/binary>>) -> object(ws(R), #{});
value(<<$[, R/binary>>) -> array(ws(R), []);
value(<<$", R/binary>>) -> string(R, <<>>);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(<<C, _/binary>> = B) when C =:= $-; C >= $0, C =< $9 -> number(B);
value(_) -> throw(bad_value).

object(<<$}, R/binary>>, M) when map_size(M) =:= 0 -> {M, R};
object(<<$", R/binary>>, M) ->
    {K, R1} = string(R, <<>>),
    case ws(R1) of
        <<$:, R2/binary>> ->
            {V, R3} = value(ws(R2)),
            case ws(R3) of
                <<$,, R4/binary>> -> object(ws(R4), M#{K => V});
                <<$}, R4/binary>> -> {M#{K => V}, R4};
                _ -> throw(bad_object)
            end;
        _ -> throw(bad_object)
    end;
object(_, _) -> throw(bad_object).

array(<<$], R/binary>>, []) -> {[], R};
array(B, Acc) ->
    {V, R} = value(B),
    case ws(R) of
        <<$,, R1/binary>> -> array(ws(R1), [V | Acc]);
        <<$], R1/binary>> -> {lists:reverse([V | Acc]), R1};
        _ -> throw(bad_array)
    end.

string(<<$", R/binary>>, Acc) -> {Acc, R};
string(<<$\\, C, R/binary>>, Acc) when C =:= $"; C =:= $\\; C =:= $/ ->
    string(R, <<Acc/binary, C>>);
string(<<$\\, $n, R/binary>>, Acc) -> string(R, <<Acc/binary, $\n>>);
string(<<$\\, $t, R/binary>>, Acc) -> string(R, <<Acc/binary, $\t>>);
string(<<$\\, $r, R/binary>>, Acc) -> string(R, <<Acc/binary, $\r>>);
string(<<$\\, $b, R/binary>>, Acc) -> string(R, <<Acc/binary, $\b>>);
string(<<$\\, $f, R/binary>>, Acc) -> string(R, <<Acc/binary, $\f>>);
string(<<$\\, $u, H:4/binary, R/binary>>, Acc) ->
    Cp = try binary_to_integer(H, 16) catch _:_ -> throw(bad_escape) end,
    string(R, <<Acc/binary, Cp/utf8>>);
string(<<$\\, _/binary>>, _) -> throw(bad_escape);
string(<<C, _/binary>>, _) when C < 16#20 -> throw(control_character_in_string);
string(<<C, R/binary>>, Acc) -> string(R, <<Acc/binary, C>>);
string(<<>>, _) -> throw(unterminated_string).

number(B) ->
    {Text, Rest} = number_chars(B, []),
    case catch list_to_integer(Text) of
        I when is_integer(I) -> {I, Rest};
        _ ->
            case catch list_to_float(Text) of
                F when is_float(F) -> {F, Rest};
                _ -> throw(bad_number)
            end
    end.

number_chars(<<C, R/binary>>, Acc) when C =:= $-; C =:= $+; C =:= $.; C =:= $e; C =:= $E;
                                         C >= $0, C =< $9 ->
    number_chars(R, [C | Acc]);
number_chars(R, Acc) ->
    {lists:reverse(Acc), R}.
