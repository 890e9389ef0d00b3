# k3s-standin.py: a stand-in for k3s (Debian does not package it) with k3s's bring-up rules, for k3s-bringup.sh.
#   python3 k3s-standin.py server | agent
# It reads /etc/rancher/k3s/config.yaml as k3s does. `server` with `cluster-init: true` makes the cluster: it
# writes the join token to /var/lib/rancher/k3s/server/node-token (0600, if absent) and serves its API on 6443 (a
# TCP port: the probe connects and closes; a joiner sends "JOIN <node-ip> <token>" and hears OK or DENIED).
# Otherwise (a joining server, or `agent`) it refuses to start, exit 1, unless the config names
# `server: https://API:6443` (API: $K3S_STANDIN_API, the API VIP) and a token; it then joins through that URL
# (exit 1 when the server denies the token or does not answer within 60 s) and, as a server, serves 6443 too.
# Like k3s it is Type=notify: READY=1 once its API serves (the first server) or it has joined (the others).
# While $K3S_STANDIN_HOLD exists on the first server, its API does not answer yet, or (once it serves) it keeps
# joiners waiting for their answer: k3s takes a while to start, and the test holds the bring-up (or a joiner's
# restart) there for as long as it looks. It never prints the token.
import os
import secrets
import socket
import sys
import threading
import time

CONFIG = "/etc/rancher/k3s/config.yaml"
SERVER_DIR = "/var/lib/rancher/k3s/server"
TOKEN_FILE = SERVER_DIR + "/node-token"
JOINED_FILE = SERVER_DIR + "/joined"


def say(text):
    print("k3s stand-in: " + text, flush=True)


def refuse(text):
    say("refused: " + text)
    sys.exit(1)


def read_config():
    """The config's top-level `key: value` lines and its tls-san list (all this stand-in reads)."""
    try:
        with open(CONFIG) as f:
            lines = f.read().splitlines()
    except OSError as error:
        refuse("cannot read %s: %s" % (CONFIG, error.strerror))
    config, sans, in_sans = {}, [], False
    for line in lines:
        if line.startswith("  - ") and in_sans:
            sans.append(line[4:].strip())
            continue
        in_sans = False
        key, sep, value = line.partition(":")
        if not sep or line.startswith(" "):
            continue
        value = value.strip().strip('"')
        if key == "tls-san":
            in_sans = True
        config[key] = value
    config["tls-san"] = sans
    return config


def notify_ready():
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(path)
        s.sendall(b"READY=1")


def held():
    hold = os.environ.get("K3S_STANDIN_HOLD")
    return bool(hold) and os.path.exists(hold)


def write_token():
    if os.path.exists(TOKEN_FILE):
        return
    os.makedirs(SERVER_DIR, mode=0o700, exist_ok=True)
    token = "K10%s::server:%s" % (secrets.token_hex(32), secrets.token_hex(16))
    old = os.umask(0o077)
    with open(TOKEN_FILE + ".tmp", "w") as f:
        f.write(token + "\n")
    os.umask(old)
    os.rename(TOKEN_FILE + ".tmp", TOKEN_FILE)
    say("cluster initialised, join token written to " + TOKEN_FILE)


def serve(token, node_ip):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 6443))
    listener.listen(16)
    say("API serving on :6443 (node-ip %s)" % node_ip)
    notify_ready()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=answer, args=(conn, token), daemon=True).start()


def answer(conn, token):
    """A probe connects and closes; a joiner sends one JOIN line."""
    with conn:
        conn.settimeout(2)
        try:
            line = conn.makefile().readline().split()
        except OSError:
            return
        if len(line) == 3 and line[0] == "JOIN":
            while held():
                time.sleep(0.1)
            ok = token is not None and secrets.compare_digest(line[2], token)
            if ok:
                with open(JOINED_FILE, "a") as f:
                    f.write(line[1] + "\n")
            say("%s from %s" % ("joined" if ok else "DENIED a join (wrong token)", line[1]))
            try:
                conn.sendall(b"OK\n" if ok else b"DENIED\n")
            except OSError:
                pass  # a joiner that gave up waiting (it asks again)


def join(config):
    api = os.environ.get("K3S_STANDIN_API", "")
    want = "https://%s:6443" % api
    if not api or config.get("server") != want:
        refuse("config.yaml has server %r, not the API VIP's %s" % (config.get("server"), want))
    token = config.get("token", "")
    if not token.startswith("K10") or "::server:" not in token:
        refuse("config.yaml has no join token")
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((api, 6443), timeout=2) as conn:
                conn.sendall(("JOIN %s %s\n" % (config.get("node-ip", "?"), token)).encode())
                reply = conn.makefile().readline().strip()
            if reply == "OK":
                say("joined the cluster at " + want)
                return token
            refuse("the server at %s denied the token" % want)
        except OSError:
            if time.monotonic() > deadline:
                refuse("no server answered at %s within 60 s" % want)
            time.sleep(0.2)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "server"
    config = read_config()
    if mode == "server" and config.get("cluster-init") == "true":
        write_token()
        while held():
            time.sleep(0.1)
        with open(TOKEN_FILE) as f:
            token = f.read().strip()
        serve(token, config.get("node-ip", "?"))
    token = join(config)
    if mode == "server":
        serve(token, config.get("node-ip", "?"))
    notify_ready()
    while True:
        time.sleep(3600)


main()
