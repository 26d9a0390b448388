"""Class: 1
Name: c1_network
Tries: use the network from the grading kernel: resolve a name, open a TCP connection to an outside address
    (TEST-NET 192.0.2.1, which never answers: a time-out means the attempt was allowed), list the loopback
    services listening on this machine (the Dask scheduler, Jupyter servers) and connect to one of them.
Grader must: run the kernel in a network namespace with no interfaces but its own loopback (bubblewrap
    --unshare-net), so every attempt fails at once, and report the attempt.
"""
import socket as _socket

try:
    _addr = _socket.gethostbyname("pypi.org")
    print("ATTACK: DNS works: pypi.org ->", _addr)
except Exception as _e:
    print("ATTACK: DNS blocked:", type(_e).__name__)
_s = _socket.socket()
_s.settimeout(2)
try:
    _s.connect(("192.0.2.1", 80))
    print("ATTACK: outside TCP connection made")
except Exception as _e:
    print("ATTACK: outside TCP:", type(_e).__name__, "(a timeout means packets were allowed out)")
finally:
    _s.close()
_ports = set()
for _f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        for _ln in open(_f).read().splitlines()[1:]:
            _parts = _ln.split()
            if _parts[3] == "0A":  # LISTEN
                _ports.add(int(_parts[1].split(":")[-1], 16))
    except OSError:
        pass
_reached = []
for _port in sorted(_ports)[:40]:
    _c = _socket.socket()
    _c.settimeout(0.5)
    try:
        _c.connect(("127.0.0.1", _port))
        _reached.append(_port)
    except Exception:
        pass
    finally:
        _c.close()
print(f"ATTACK: {len(_ports)} listening TCP ports on the machine; connected to {len(_reached)} of them on loopback")
