#!/usr/bin/env python3
# echo_through_vip.py: the TCP connection an upgrade must not break, as an SMB session or a k3s watch would see it.
#   server PORT                  echo every byte back (one thread per connection), on every address
#   client HOST PORT STOPFILE    send a line every 20 ms and read it back until STOPFILE exists; a reset, a
#                                refused or timed-out exchange counts and the client connects again. Prints
#                                "sent=N resets=R" at the end.
import os, socket, sys, threading, time

def serve(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    def echo(connection):
        with connection:
            while data := connection.recv(4096):
                connection.sendall(data)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=echo, args=(connection,), daemon=True).start()

def client(host, port, stopfile):
    sent = resets = 0
    connection = None
    while not os.path.exists(stopfile):
        try:
            if connection is None:
                connection = socket.create_connection((host, port), timeout=2)
            message = b"%08d\n" % sent
            connection.sendall(message)
            received = b""
            while len(received) < len(message):
                chunk = connection.recv(len(message) - len(received))
                if not chunk:
                    raise ConnectionResetError("closed by the peer")
                received += chunk
            if received != message:
                raise ConnectionResetError("echo mismatch")
            sent += 1
        except OSError as error:
            resets += 1
            print("reset after %d messages: %s" % (sent, error), file=sys.stderr, flush=True)
            if connection is not None:
                connection.close()
            connection = None
            time.sleep(0.05)
        time.sleep(0.02)
    print("sent=%d resets=%d" % (sent, resets), flush=True)

if sys.argv[1] == "server":
    serve(int(sys.argv[2]))
else:
    client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
