%% cnode_certs - certificates for TLS distribution tests and benchmarks,
%% made with the openssl command: a CA and a certificate it signs for a
%% host (both sides of every connection present it), and a rogue
%% certificate for the same host signed by another CA.
-module(cnode_certs).
-export([make/2]).

%% Writes them into Dir; returns their files: ca, cert, key, rogue_cert,
%% rogue_key.  The certificates name Host, localhost, 127.0.0.1 and ::1.
make(Dir, Host) ->
    F = fun(Name) -> filename:join(Dir, Name) end,
    ok = filelib:ensure_dir(F("x")),
    CA = fun(Name, Subject) ->
                 openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                          "-subj", Subject, "-keyout", F(Name ++ ".key"), "-out", F(Name ++ ".pem")])
         end,
    CA("ca", "/CN=cnode test CA"),
    CA("rogue_ca", "/CN=rogue CA"),
    ok = file:write_file(F("ext.cnf"),
                         ["subjectAltName=DNS:", Host, ",DNS:localhost,IP:127.0.0.1,IP:::1\n",
                          "extendedKeyUsage=serverAuth,clientAuth\n"]),
    Leaf = fun(Name, Signer) ->
                   openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" ++ Host,
                            "-keyout", F(Name ++ ".key"), "-out", F(Name ++ ".csr")]),
                   openssl(["x509", "-req", "-days", "2", "-in", F(Name ++ ".csr"),
                            "-CA", F(Signer ++ ".pem"), "-CAkey", F(Signer ++ ".key"),
                            "-CAcreateserial", "-extfile", F("ext.cnf"),
                            "-out", F(Name ++ ".pem")])
           end,
    Leaf("node", "ca"),
    Leaf("rogue", "rogue_ca"),
    #{ca => F("ca.pem"), cert => F("node.pem"), key => F("node.key"),
      rogue_cert => F("rogue.pem"), rogue_key => F("rogue.key")}.

%% Runs openssl with Args; fails with its output unless it exits 0.
openssl(Args) ->
    P = open_port({spawn_executable, os:find_executable("openssl")},
                  [{args, Args}, exit_status, stderr_to_stdout, binary]),
    case collect(P, <<>>) of
        {0, _} -> ok;
        {S, Out} -> error({openssl, Args, S, Out})
    end.

collect(P, Acc) ->
    receive
        {P, {data, D}} -> collect(P, <<Acc/binary, D/binary>>);
        {P, {exit_status, S}} -> {S, Acc}
    after 60000 -> error({openssl_silent, Acc})
    end.
