%% test_server - ?config (ct.hrl) for suite code on OTP 27 peer nodes; see
%% ct.erl here.
-module(test_server).
-export([lookup_config/2]).

lookup_config(Key, Config) ->
    case lists:keyfind(Key, 1, Config) of
        {Key, Val} -> Val;
        false -> undefined
    end.
