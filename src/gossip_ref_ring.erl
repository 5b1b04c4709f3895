%% gossip_ref_ring - node positions on the gossip chat's hash rings, bit for
%% bit as the C core computes them (c_src/gossip/gc_members.c), so C and
%% Erlang nodes agree on who neighbours whom.
%%
%%   hash(Name)     FNV-1a, 64 bits, over the name's bytes
%%   pos(Hash, R)   splitmix64's finalizer of Hash + (R + 1) * 0x9e3779b97f4a7c15
-module(gossip_ref_ring).

-export([hash/1, pos/2, positions/2, neighbours/3]).

-define(M64, 16#FFFFFFFFFFFFFFFF).

hash(Name) when is_binary(Name) ->
    hash(Name, 16#cbf29ce484222325).

hash(<<B, R/binary>>, H) -> hash(R, ((H bxor B) * 16#100000001b3) band ?M64);
hash(<<>>, H) -> H.

mix64(Z0) ->
    Z1 = ((Z0 bxor (Z0 bsr 30)) * 16#bf58476d1ce4e5b9) band ?M64,
    Z2 = ((Z1 bxor (Z1 bsr 27)) * 16#94d049bb133111eb) band ?M64,
    Z2 bxor (Z2 bsr 31).

pos(Hash, R) -> mix64((Hash + (R + 1) * 16#9e3779b97f4a7c15) band ?M64).

%% A tuple of the name's positions on rings 0..Rings-1.
positions(Name, Rings) ->
    H = hash(Name),
    list_to_tuple([pos(H, R) || R <- lists:seq(0, Rings - 1)]).

%% The distinct neighbours of Center (positions CPos) among Others, a list
%% of {Name, Pos}: on each ring the successor (smallest clockwise distance)
%% and the predecessor (smallest anticlockwise).  Distance 0 never wins;
%% ties go to the smaller name.  Returns [{Ring, Succ, Pred}] and the set.
neighbours(CPos, Others, Rings) ->
    PerRing = [ring(CPos, Others, R) || R <- lists:seq(0, Rings - 1)],
    View = lists:usort([N || {_, S, P} <- PerRing, N <- [S, P], N =/= undefined]),
    {PerRing, View}.

ring(CPos, Others, R) ->
    C = element(R + 1, CPos),
    {S, P} = lists:foldl(
               fun({Name, Pos}, {Succ, Pred}) ->
                       X = element(R + 1, Pos),
                       {better({(X - C) band ?M64, Name}, Succ),
                        better({(C - X) band ?M64, Name}, Pred)}
               end, {undefined, undefined}, Others),
    {R, name(S), name(P)}.

better({0, _}, Cur) -> Cur;
better(New, undefined) -> New;
better(New, Cur) -> min(New, Cur).

name(undefined) -> undefined;
name({_, N}) -> N.
