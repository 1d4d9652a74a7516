"""Open a TCP connection to a port listening on the host (stopped by the network namespace or the audit hook)."""
import socket

sock = socket.create_connection(("127.0.0.1", __PORT__), timeout=2)
sock.sendall(b"exfiltrated")
print("connected")
