%% chatterbox_ref_lib - what every chatterbox implementation must compute
%% the same way: message values, the fold into (|m|, sum), its printing.
%%
%% A value is a fixed-point integer K in 1..10^9 (the number K / 10^9):
%%   key(Seed, Id)      = mix64(Seed + GOLDEN * Id)
%%   value(Key, Seq)    = ((mix64(Key + GOLDEN * Seq) * 10^9) bsr 64) + 1
%% mod 2^64, mix64 being SplitMix64's finaliser (c_src/chatterbox/cb_rng.h).
%% The sum of I * K_I over the ordered messages is an exact integer in units
%% of 10^-9, printed as "(N, W.FFFFFFFFF)".
-module(chatterbox_ref_lib).

-export([key/2, value/2, value/3, values/3, fold/3, fold_values/2, format/2, expected/1]).

-define(M64, 16#FFFFFFFFFFFFFFFF).
-define(GOLDEN, 16#9E3779B97F4A7C15).
-define(SCALE, 1000000000).

mix64(Z0) ->
    Z1 = ((Z0 bxor (Z0 bsr 30)) * 16#BF58476D1CE4E5B9) band ?M64,
    Z2 = ((Z1 bxor (Z1 bsr 27)) * 16#94D049BB133111EB) band ?M64,
    Z2 bxor (Z2 bsr 31).

-spec key(non_neg_integer(), integer()) -> non_neg_integer().
key(Seed, Id) -> mix64((Seed + ?GOLDEN * Id) band ?M64).

-spec value(non_neg_integer(), pos_integer()) -> pos_integer().
value(Key, Seq) -> ((mix64((Key + ?GOLDEN * Seq) band ?M64) * ?SCALE) bsr 64) + 1.

value(Seed, Id, Seq) -> value(key(Seed, Id), Seq).

%% Values First..First+N-1 as a binary of 32-bit big-endian words.
values(Key, First, N) ->
    << <<(value(Key, S)):32>> || S <- lists:seq(First, First + N - 1) >>.

%% Folds a binary of values into {Count, Sum}: message Count+J adds
%% (Count+J) * K_J.  Summed per batch with small integers, added once.
fold(Bin, Count, Sum) ->
    {N, SV, SJV} = batch_sums(Bin, 0, 0, 0),
    {Count + N, Sum + Count * SV + SJV}.

batch_sums(<<V:32, Rest/binary>>, J, SV, SJV) ->
    batch_sums(Rest, J + 1, SV + V, SJV + (J + 1) * V);
batch_sums(<<>>, J, SV, SJV) ->
    {J, SV, SJV}.

%% Folds a list of values in order.
fold_values(Values, {Count, Sum}) ->
    lists:foldl(fun(V, {C, S}) -> {C + 1, S + (C + 1) * V} end, {Count, Sum}, Values).

-spec format(non_neg_integer(), non_neg_integer()) -> string().
format(Count, Sum) ->
    lists:flatten(io_lib:format("(~b, ~b.~9..0b)", [Count, Sum div ?SCALE, Sum rem ?SCALE])).

%% The result of a list of messages {Ts, Id, Seq, Value} in any order.
expected(Msgs) ->
    Sorted = lists:sort(Msgs),
    {C, S} = fold_values([V || {_, _, _, V} <- Sorted], {0, 0}),
    format(C, S).
